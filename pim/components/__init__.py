"""recpim.pim.components"""

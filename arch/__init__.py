"""recpim.arch"""

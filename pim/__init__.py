"""recpim.pim"""

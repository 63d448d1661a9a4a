"""recpim.mapping"""

"""recpim.search"""

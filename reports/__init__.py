"""recpim.reports"""

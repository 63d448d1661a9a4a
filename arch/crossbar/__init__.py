"""recpim.arch.crossbar: crossbar arithmetic. The torch-free numbers of a chip that decide it
(arithmetic.py) and its simulation in torch (matmul.py)."""

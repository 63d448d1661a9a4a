"""recpim: co-design of recommender models and ReRAM processing-in-memory chips.

Layers (imports flow one way): recpim.arch, recpim.pim -> recpim.mapping -> recpim.search
-> recpim.reports; recpim.cli and recpim.api sit on top.
"""

__version__ = "0.1.0"

"""recpim.mapping: layers onto ReRAM crossbars, PEs and tiles; digital ops onto vector units;
embedding tables onto on-chip ReRAM or DRAM; and the mesh traffic that results.

Entry point: map_model(graph, chip) -> MappingResult. The rules and conventions are documented in
the module that applies them: crossbar.py (bit slices, encodings, conversions; the lossless ADC
width is recpim/crossbar_numbers.py),
placement.py (PEs, tiles, snake walk, time-multiplexed rounds), replication.py (pipeline
balancing), layer_placement.py (copies, homes, input rows per tile), digital.py, embedding.py,
traffic.py, occupancy.py (ADC load, write cost); cost.py (the cost of a model on a chip: map, build
stages, run an engine). recpim.mapping.arithmetic (a chip's crossbar arithmetic for the accuracy
simulation) is torch-free too: it builds the CrossbarArithmetic record that arch/crossbar/matmul.py
simulates; only that simulation loads torch.
"""

from recpim.pim.workload import Transfer, TransferKind

from .crossbar import CrossbarMapping, isaac_adc_bits, lossless_adc_bits, map_mvm
from .embedding import EmbeddingPlacement, place_embeddings
from .mapper import map_model
from .result import (
    DigitalMapping,
    IoSource,
    IoTransfer,
    LayerPlacement,
    MappingResult,
    MvmLayerMapping,
    Reprogramming,
    TileUsage,
)

__all__ = [
    "CrossbarMapping",
    "DigitalMapping",
    "EmbeddingPlacement",
    "IoSource",
    "IoTransfer",
    "LayerPlacement",
    "MappingResult",
    "MvmLayerMapping",
    "Reprogramming",
    "TileUsage",
    "Transfer",
    "TransferKind",
    "isaac_adc_bits",
    "lossless_adc_bits",
    "map_model",
    "map_mvm",
    "place_embeddings",
]

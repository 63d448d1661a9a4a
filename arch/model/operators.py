"""The operator registry: one entry per NASRec operator (as NASRec's `_node_choices` is one table),
holding what every consumer needs of it: its lowering to graph nodes, which also counts its
digital cost (with the per-element table of arch/graph/digital_cost.py, shared with the torch.fx path),
and its torch module. The standalone model, the supernet and the lowering all dispatch through
here; none of them switches on the operator itself.

Why the torch module is named by import path ("recpim.arch.model.modules:FCOp"), not held as a class: this
module must import without torch, so that lowering a subnet JSON (`recpim map subnet.json`) never
pays torch's start-up. The class is imported on first use by `Operator.module_class()`, which
only the torch-side consumers (arch/model/standalone.py, arch/model/supernet.py) call. Every module class
shares one interface (arch/model/modules.py): `build(OperatorDims)`, `run(OperatorInputs, width, quant)`
and `inherit(source, OperatorSegments)` (copying the supernet's slices into a standalone model).

Pure shape arithmetic shared by lowering and torch (the Dot-Product's balanced row count, pair
counts) lives here too, for the same reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from math import sqrt

from recpim.arch.graph.builder import GraphBuilder
from recpim.arch.graph.workload import OpKind
from recpim.arch.model.space import BINARY_DENSE_OPS, DenseOp, SparseOp
from recpim.arch.model.subnet import BlockConfig

Segments = Sequence[tuple[int, int]]


# ---- shape arithmetic (torch-free: lowering and the torch modules both use it)
def gram_rows(width: int) -> int:
    """Dot-Product's operator balancing: the sparse rows are projected to round(sqrt(2 * width))
    rows, so the n(n-1)/2 pairwise dots are about `width` features."""
    return round(sqrt(2 * width))


def num_pairs(rows: int) -> int:
    return rows * (rows - 1) // 2


# ---- what an operator is built for, and which input columns it reads
@dataclass(frozen=True)
class OperatorDims:
    """The dims an operator module is built with: exact ones (standalone model) or maxima
    (supernet). `width` is the output width: dense features of a dense operator, rows of a
    sparse one. dense_in: the concatenated dense inputs of FC / Dot-Product; left_in/right_in:
    Gating / Sum's two inputs; rows_in: the concatenated sparse rows."""

    dense_in: int
    left_in: int
    right_in: int
    rows_in: int
    width: int
    dim: int      # embedding dim (every sparse row's columns)
    heads: int    # attention heads


@dataclass(frozen=True)
class OperatorSegments:
    """Columns of the shared weights each input occupies (arch/model/modules.py's segments); None: the
    input occupies columns [0, in), as in a standalone model."""

    dense: Segments | None = None
    left: Segments | None = None
    right: Segments | None = None
    rows: Segments | None = None


# ---- lowering
@dataclass(frozen=True)
class LoweringInputs:
    """The producers of one block operator in a graph under construction, with their widths."""

    key: str                  # node-name prefix, e.g. "block3.dense"
    block: BlockConfig
    sparse_in: str            # the concatenated sparse inputs: [rows_in, dim]
    rows_in: int
    dim: int
    heads: int
    dense_in: str | None = None    # FC / Dot-Product: the concatenated dense inputs
    dense_in_width: int = 0
    left: str | None = None        # Gating / Sum
    left_width: int = 0
    right: str | None = None
    right_width: int = 0


def _mvm(g: GraphBuilder, name: str, source: str, k: int, n: int, shape: tuple[int, ...], vectors: int,
         block: BlockConfig, bias: bool) -> str:
    return g.mvm(name, source, k, n, shape, vectors, block.weight_bits, block.activation_bits, bias)


def _lower_fc(g: GraphBuilder, x: LoweringInputs) -> str:
    width, bits = x.block.dense_width, x.block.activation_bits
    fc = _mvm(g, f"{x.key}.fc", x.dense_in, x.dense_in_width, width, (width,), 1, x.block, bias=False)
    norm = g.elementwise(f"{x.key}.norm", OpKind.LAYERNORM, [fc], bits)
    return g.elementwise(f"{x.key}.relu", OpKind.RELU, [norm], bits)


def _lower_dot_product(g: GraphBuilder, x: LoweringInputs) -> str:
    width, bits, dim = x.block.dense_width, x.block.activation_bits, x.dim
    n = gram_rows(width)
    pairs = num_pairs(n)
    proj = _mvm(g, f"{x.key}.row_proj", x.sparse_in, x.rows_in, n, (n, dim), dim, x.block, bias=True)
    dots = g.add(f"{x.key}.pair_dots", OpKind.ACT_MATMUL, [proj], (pairs,), bits, macs=n * n * dim,
                 extra={"gram_rows": n, "pairs": pairs, "useful_macs": pairs * dim})
    k = x.dense_in_width
    cat = g.add(f"{x.key}.concat", OpKind.CONCAT, [x.dense_in, dots], (k + pairs,), bits)
    out = _mvm(g, f"{x.key}.out_proj", cat, k + pairs, width, (width,), 1, x.block, bias=False)
    return g.elementwise(f"{x.key}.norm", OpKind.LAYERNORM, [out], bits)


def _lower_gating(g: GraphBuilder, x: LoweringInputs) -> str:
    width, bits = x.block.dense_width, x.block.activation_bits
    gate = _mvm(g, f"{x.key}.gate_proj", x.left, x.left_width, width, (width,), 1, x.block, bias=True)
    gate = g.elementwise(f"{x.key}.sigmoid", OpKind.SIGMOID, [gate], bits)
    value = _mvm(g, f"{x.key}.value_proj", x.right, x.right_width, width, (width,), 1, x.block, bias=True)
    combined = g.elementwise(f"{x.key}.mul", OpKind.MUL, [gate, value], bits)
    return g.elementwise(f"{x.key}.norm", OpKind.LAYERNORM, [combined], bits)


def _lower_sum(g: GraphBuilder, x: LoweringInputs) -> str:
    width, bits = x.block.dense_width, x.block.activation_bits
    a = _mvm(g, f"{x.key}.left_proj", x.left, x.left_width, width, (width,), 1, x.block, bias=False)
    b = _mvm(g, f"{x.key}.right_proj", x.right, x.right_width, width, (width,), 1, x.block, bias=False)
    combined = g.elementwise(f"{x.key}.add", OpKind.ADD, [a, b], bits)
    return g.elementwise(f"{x.key}.norm", OpKind.LAYERNORM, [combined], bits)


def _lower_efc(g: GraphBuilder, x: LoweringInputs) -> str:
    sw, bits, dim = x.block.sparse_width, x.block.activation_bits, x.dim
    efc = _mvm(g, f"{x.key}.efc", x.sparse_in, x.rows_in, sw, (sw, dim), dim, x.block, bias=False)
    norm = g.elementwise(f"{x.key}.norm", OpKind.LAYERNORM, [efc], bits)
    return g.elementwise(f"{x.key}.relu", OpKind.RELU, [norm], bits)


def _lower_attention(g: GraphBuilder, x: LoweringInputs) -> str:
    sw, bits, dim, heads = x.block.sparse_width, x.block.activation_bits, x.dim, x.heads
    proj = _mvm(g, f"{x.key}.row_proj", x.sparse_in, x.rows_in, sw, (sw, dim), dim, x.block, bias=True)
    q, k, v = (_mvm(g, f"{x.key}.{p}_proj", proj, dim, dim, (sw, dim), sw, x.block, bias=True) for p in "qkv")
    scores = g.add(f"{x.key}.scores", OpKind.ACT_MATMUL, [q, k], (heads, sw, sw), bits, macs=sw * sw * dim,
                   extra={"heads": heads})
    probs = g.elementwise(f"{x.key}.softmax", OpKind.SOFTMAX, [scores], bits)
    context = g.add(f"{x.key}.context", OpKind.ACT_MATMUL, [probs, v], (sw, dim), bits, macs=sw * sw * dim,
                    extra={"heads": heads})
    out = _mvm(g, f"{x.key}.out_proj", context, dim, dim, (sw, dim), sw, x.block, bias=True)
    residual = g.elementwise(f"{x.key}.residual", OpKind.ADD, [proj, out], bits)
    return g.elementwise(f"{x.key}.norm", OpKind.LAYERNORM, [residual], bits)


# ---- the registry
@dataclass(frozen=True)
class Operator:
    op: DenseOp | SparseOp
    module: str                                            # torch module class, "package.module:Class"
    lower: Callable[[GraphBuilder, LoweringInputs], str]   # its nodes and their costs; returns the output node
    reads_sparse: bool                                     # reads the block's sparse input

    @property
    def reads_left_right(self) -> bool:
        """Gating / Sum read one left and one right dense source instead of a concatenated set."""
        return self.op in BINARY_DENSE_OPS

    def module_class(self) -> type:
        """The torch module class (imports torch: only the torch-side consumers call this)."""
        return _resolve(self.module)


@cache
def _resolve(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


DENSE_OPERATORS: dict[DenseOp, Operator] = {
    DenseOp.FC: Operator(DenseOp.FC, "recpim.arch.model.modules:FCOp", _lower_fc, reads_sparse=False),
    DenseOp.DOT_PRODUCT: Operator(DenseOp.DOT_PRODUCT, "recpim.arch.model.modules:DotProductOp", _lower_dot_product,
                                  reads_sparse=True),
    DenseOp.GATING: Operator(DenseOp.GATING, "recpim.arch.model.modules:GatingOp", _lower_gating, reads_sparse=False),
    DenseOp.SUM: Operator(DenseOp.SUM, "recpim.arch.model.modules:SumOp", _lower_sum, reads_sparse=False),
}
SPARSE_OPERATORS: dict[SparseOp, Operator] = {
    SparseOp.EFC: Operator(SparseOp.EFC, "recpim.arch.model.modules:EFCOp", _lower_efc, reads_sparse=True),
    SparseOp.ATTENTION: Operator(SparseOp.ATTENTION, "recpim.arch.model.modules:AttentionOp", _lower_attention,
                                 reads_sparse=True),
}


def operator(op: DenseOp | SparseOp) -> Operator:
    return DENSE_OPERATORS[op] if isinstance(op, DenseOp) else SPARSE_OPERATORS[op]

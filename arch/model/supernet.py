"""The weight-sharing supernet of a NASRec search space.

One module holds, per block, EVERY operator of the space (all dense and sparse operators, both
mergers) at its maximum size, plus the embedding tables and the logit. `forward(..., subnet)`
computes exactly that subnet: each operator slices its shared weights to the active widths and
input columns (arch/model/modules.py), nothing runs at full width behind masks.

Column slots (why weights are shared across connections): the input of block i's dense operator is
laid out, for the shared weight, as one slot per earlier source j = 0..i-1, sized for that
source's maximum width (raw dense width for j = 0, the largest dense width otherwise). A subnet
that reads sources {1, 3} at widths 64 and 256 uses columns [slot1, slot1 + 64) and
[slot3, slot3 + 256): the same source always meets the same weights, whatever else is active. The
sparse (rows) input works the same way with row slots; a block's dense->sparse merger rows sit at
a fixed position at the end of its slot (after room for the widest sparse output), so they too
meet the same weights at every sparse width. The logit reads the last block's dense output and
flattened sparse output with the same slot layout.

Input sharing (`input_sharing`, why there are two): with "per_source" (the layout above) a consumer
reads source j through the same columns whichever operator produced j, though an FC's feature k and
a Dot-Product's feature k have nothing in common, so the shared consumer weights learn an average
that suits no producer (issue 11's hypothesis for the supernet's bias against FC). With
"per_operator" each source's slot holds one sub-slot per operator of the space
(dense operators for the dense slot, sparse operators for the rows), and a consumer reads the
sub-slot of the operator that produced the source: weights are still shared across widths,
connections and every other choice, not across producing operators. It costs parameters (the
input weights grow by the number of operators), not time: a step still slices one subnet. On
benchmarks/bench_ranking.py the two rank alike (README); "per_operator" is TrainConfig's default.

The full forward (`forward_full`, NASRec's warm-up path) runs every operator of every block at its
maximum width on every earlier source, both mergers on: with "per_operator" a source's full output
is every operator's output side by side in its sub-slots (the consumers then use their whole,
unsliced weights); with "per_source" it is the sum of its operators' outputs, as NASRec sums them.

`extract_standalone(supernet, subnet)` copies those slices into a StandaloneModel: its forward
equals the supernet's forward of the subnet, which is what "inheriting weights" means.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
from torch import nn

from recpim.arch.crossbar.matmul import CrossbarArithmetic, CrossbarMode
from recpim.arch.data.schema import DatasetSchema
from recpim.arch.model.embeddings import EmbeddingTables
from recpim.arch.model.modules import (
    DenseToSparseMerger,
    FMMerger,
    LogitOp,
    OperatorInputs,
    QuantBits,
    SlicedLinear,
    copy_linear_slice,
    copy_norm_slice,
)
from recpim.arch.model.operators import DENSE_OPERATORS, SPARSE_OPERATORS, OperatorDims, OperatorSegments
from recpim.arch.model.sharing import INPUT_SHARING, InputSharing
from recpim.arch.model.space import SearchSpace, SparseOp
from recpim.arch.model.standalone import StandaloneModel
from recpim.arch.model.subnet import BlockConfig, SubnetConfig, raw_dense_width
from recpim.errors import ConfigError

EMBEDDING_INIT_BOUND = 0.01  # uniform(-b, b): small, NASRec-like CTR embedding initialisation


def init_embeddings(tables: EmbeddingTables, bound: float = EMBEDDING_INIT_BOUND) -> None:
    for table in tables.tables:
        nn.init.uniform_(table.weight, -bound, bound)


@dataclass(frozen=True)
class SourceShape:
    """What one source (raw features or a block output) looks like in the current subnet."""

    dense: int          # dense width
    sparse: int         # sparse operator rows (without merger rows)
    merger: bool        # has dense->sparse merger rows after them
    dense_slot: int = 0   # sub-slot of the producing dense operator ("per_operator" sharing)
    sparse_slot: int = 0  # sub-slot of the producing sparse operator

    def rows(self, merger_rows: int) -> int:
        return self.sparse + (merger_rows if self.merger else 0)


class SlotLayout:
    """Column offsets of the shared weights: a slot per source, see the module docstring.
    dense_stride/sparse_stride: the size of one operator's sub-slot in source j's slot (0: one
    sub-slot, per-source sharing); max_sparse[j]: where j's merger rows start in its row slot."""

    def __init__(self, dense_slots: list[int], sparse_slots: list[int], max_sparse: list[int], merger_rows: int,
                 dense_stride: list[int] | None = None, sparse_stride: list[int] | None = None):
        self.dense_slots, self.sparse_slots = dense_slots, sparse_slots
        self.max_sparse, self.merger_rows = max_sparse, merger_rows
        self.dense_stride = dense_stride or [0] * len(dense_slots)
        self.sparse_stride = sparse_stride or [0] * len(sparse_slots)
        self.dense_offsets = _offsets(dense_slots)
        self.sparse_offsets = _offsets(sparse_slots)

    def dense(self, sources: tuple[int, ...] | list[int] | range, shapes: list[SourceShape]) -> list[tuple[int, int]]:
        return [(self.dense_offsets[j] + shapes[j].dense_slot * self.dense_stride[j], shapes[j].dense)
                for j in sources]

    def rows(self, sources: tuple[int, ...] | list[int] | range, shapes: list[SourceShape]) -> list[tuple[int, int]]:
        segments = []
        for j in sources:
            segments.append((self.sparse_offsets[j] + shapes[j].sparse_slot * self.sparse_stride[j],
                             shapes[j].sparse))
            if shapes[j].merger:
                segments.append((self.sparse_offsets[j] + self.max_sparse[j], self.merger_rows))
        return segments

    def full_shapes(self) -> list[SourceShape]:
        """Every source at its whole slot: what the full forward passes on (module docstring)."""
        return [SourceShape(dense, maximum, j > 0 and self.merger_rows > 0 and slot > maximum)
                for j, (dense, slot, maximum) in enumerate(zip(self.dense_slots, self.sparse_slots, self.max_sparse,
                                                               strict=True))]


def _offsets(slots: list[int]) -> list[int]:
    offsets = [0]
    for slot in slots:
        offsets.append(offsets[-1] + slot)
    return offsets


class SupernetBlock(nn.Module):
    """Every operator of block `index` (1-based) at maximum size, reading sources 0..index-1."""

    def __init__(self, space: SearchSpace, layout: SlotLayout, index: int, dim: int):
        super().__init__()
        self.index = index
        dense_in = sum(layout.dense_slots[:index])
        rows_in = sum(layout.sparse_slots[:index])
        width, sparse_width = max(space.dense_widths), max(space.sparse_widths)
        self.max_width = width
        # every operator of the space at maximum size (arch/model/operators.py); Gating/Sum may read any source
        # on either side, so both of their inputs span every slot
        dims = OperatorDims(dense_in=dense_in, left_in=dense_in, right_in=dense_in, rows_in=rows_in, width=width,
                            dim=dim, heads=space.attention_heads)
        dense_ops = {op.value: DENSE_OPERATORS[op].module_class().build(dims) for op in space.dense_ops}
        sparse_ops = {op.value: SPARSE_OPERATORS[op].module_class().build(replace(dims, width=sparse_width))
                      for op in space.sparse_ops}
        self.dense_ops = nn.ModuleDict(dense_ops)
        self.sparse_ops = nn.ModuleDict(sparse_ops)
        self.dense_to_sparse = (DenseToSparseMerger(width, space.merger_rows, dim)
                                if space.allow_dense_to_sparse else None)
        self.fm = FMMerger(dim, width) if space.allow_sparse_to_dense_fm else None

    def forward_full(self, layout: SlotLayout, shapes: list[SourceShape], dense_outs: list[torch.Tensor],
                     sparse_outs: list[torch.Tensor], per_operator: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Every operator at maximum width on every earlier source (module docstring), in float."""
        sources = range(self.index)
        dense_in = torch.cat([dense_outs[j] for j in sources], dim=1)
        sparse_in = torch.cat([sparse_outs[j] for j in sources], dim=1)
        dense_segments, row_segments = layout.dense(sources, shapes), layout.rows(sources, shapes)
        width = self.max_width
        # Gating / Sum: every source on both sides
        inputs = OperatorInputs(dense=dense_in, left=dense_in, right=dense_in, sparse=sparse_in,
                                segments=OperatorSegments(dense=dense_segments, left=dense_segments,
                                                          right=dense_segments, rows=row_segments))
        outs = [op.run(inputs, width, None) for op in self.dense_ops.values()]
        sparse_results = [op.run(inputs, None, None) for op in self.sparse_ops.values()]
        s = torch.cat(sparse_results, dim=1) if per_operator else torch.stack(sparse_results).sum(0)
        d_sum = torch.stack(outs).sum(0)
        pseudo_rows = self.dense_to_sparse(d_sum) if self.dense_to_sparse is not None else None
        if self.fm is not None:
            fm = self.fm(s, width)
            outs, d_sum = [o + fm for o in outs], d_sum + fm
        d = torch.cat(outs, dim=1) if per_operator else d_sum
        if pseudo_rows is not None:
            s = torch.cat([s, pseudo_rows], dim=1)
        return d, s

    def forward(self, config: BlockConfig, layout: SlotLayout, shapes: list[SourceShape],
                dense_outs: list[torch.Tensor], sparse_outs: list[torch.Tensor],
                quant: QuantBits | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The block as StandaloneBlock computes it (arch/model/standalone.py), on sliced shared weights."""
        sparse_in = torch.cat([sparse_outs[j] for j in config.sparse_inputs], dim=1)
        segments = block_segments(config, layout, shapes)
        if DENSE_OPERATORS[config.dense_op].reads_left_right:
            inputs = OperatorInputs(left=dense_outs[config.dense_left], right=dense_outs[config.dense_right],
                                    sparse=sparse_in, segments=segments)
        else:
            inputs = OperatorInputs(dense=torch.cat([dense_outs[j] for j in config.dense_inputs], dim=1),
                                    sparse=sparse_in, segments=segments)
        width = config.dense_width
        d = self.dense_ops[config.dense_op.value].run(inputs, width, quant)
        s = self.sparse_ops[config.sparse_op.value].run(inputs, config.sparse_width, quant)
        pseudo_rows = self.dense_to_sparse(d, None, quant) if config.dense_to_sparse else None
        if config.sparse_to_dense_fm:
            d = d + self.fm(s, width, quant)
        if pseudo_rows is not None:
            s = torch.cat([s, pseudo_rows], dim=1)
        return d, s


class Supernet(nn.Module):
    """forward(dense [B, num_dense] float, sparse [B, num_sparse] ids, subnet) -> logits [B]."""

    def __init__(self, space: SearchSpace, schema: DatasetSchema, input_sharing: InputSharing = "per_source"):
        super().__init__()
        if input_sharing not in INPUT_SHARING:
            raise ConfigError("supernet", [("input_sharing", f"{input_sharing!r}: allowed are "
                                                             f"{', '.join(INPUT_SHARING)}")])
        self.input_sharing = input_sharing
        per_operator = input_sharing == "per_operator"
        dense_ops = len(space.dense_ops) if per_operator else 1
        sparse_ops = len(space.sparse_ops) if per_operator else 1
        if schema.embedding_dim % space.attention_heads and SparseOp.ATTENTION in space.sparse_ops:
            raise ConfigError("supernet", [("schema.embedding_dim", f"{schema.embedding_dim} is not divisible by "
                                                                    f"the space's {space.attention_heads} heads")])
        if space.embedding_dims and max(space.embedding_dims) > schema.embedding_dim:
            raise ConfigError("supernet", [("space.embedding_dims", f"{list(space.embedding_dims)}: a subnet reads "
                                            f"the leading columns of tables of the data's embedding_dim "
                                            f"{schema.embedding_dim}; allowed: dims up to {schema.embedding_dim}")])
        self.space, self.schema = space, schema
        dim = schema.embedding_dim
        max_dense, max_sparse = max(space.dense_widths), max(space.sparse_widths)
        merger_rows = space.merger_rows if space.allow_dense_to_sparse else 0
        blocks = space.num_blocks
        self.layout = SlotLayout(
            dense_slots=[raw_dense_width(schema)] + [max_dense * dense_ops] * blocks,
            sparse_slots=[schema.num_sparse] + [max_sparse * sparse_ops + merger_rows] * blocks,
            max_sparse=[schema.num_sparse] + [max_sparse * sparse_ops] * blocks,
            merger_rows=space.merger_rows,
            dense_stride=[0] + [max_dense if per_operator else 0] * blocks,
            sparse_stride=[0] + [max_sparse if per_operator else 0] * blocks,
        )
        self.embeddings = EmbeddingTables(schema.vocab_sizes, dim)
        init_embeddings(self.embeddings)
        self.blocks = nn.ModuleList(SupernetBlock(space, self.layout, i, dim) for i in range(1, blocks + 1))
        self.logit = LogitOp(self.layout.dense_slots[-1] + self.layout.sparse_slots[-1] * dim)

    # ---- shapes
    def _check(self, subnet: SubnetConfig) -> None:
        if subnet.space != self.space.name:
            raise ConfigError("supernet", [("subnet.space",
                                            f"{subnet.space!r}; this supernet is of {self.space.name!r}")])

    def source_shapes(self, subnet: SubnetConfig) -> list[SourceShape]:
        per_operator = self.input_sharing == "per_operator"
        shapes = [SourceShape(raw_dense_width(self.schema), self.schema.num_sparse, False)]
        shapes += [SourceShape(b.dense_width, b.sparse_width, b.dense_to_sparse,
                               self.space.dense_ops.index(b.dense_op) if per_operator else 0,
                               self.space.sparse_ops.index(b.sparse_op) if per_operator else 0)
                   for b in subnet.blocks]
        return shapes

    def logit_segments(self, subnet: SubnetConfig | None) -> list[tuple[int, int]]:
        """Columns of the shared logit weight that concat(d_N, flatten(s_N)) of `subnet` uses
        (None: the full forward's, every column): the last source's slots, rows flattened by dim."""
        shapes = self.source_shapes(subnet) if subnet is not None else self.layout.full_shapes()
        last, dim, layout = len(shapes) - 1, self.schema.embedding_dim, self.layout
        segments = [(start - layout.dense_offsets[last], length) for start, length in layout.dense([last], shapes)]
        segments += [(layout.dense_slots[last] + (start - layout.sparse_offsets[last]) * dim, rows * dim)
                     for start, rows in layout.rows([last], shapes)]
        return segments

    @staticmethod
    def block_bits(subnet: SubnetConfig, quant: bool) -> list[QuantBits | None]:
        """Bits per block; the logit runs at the last block's bits (as StandaloneModel)."""
        return [QuantBits(b.weight_bits, b.activation_bits) if quant else None for b in subnet.blocks]

    # ---- forward
    def _prepare(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        problems = []
        if dense.dim() != 2 or dense.shape[1] != self.schema.num_dense:
            problems.append(("dense", f"shape {tuple(dense.shape)}; expected [B, {self.schema.num_dense}]"))
        if sparse.dim() != 2 or sparse.shape[1] != self.schema.num_sparse:
            problems.append(("sparse", f"shape {tuple(sparse.shape)}; expected [B, {self.schema.num_sparse}]"))
        if problems:
            raise ConfigError(f"supernet input for schema {self.schema.name!r}", problems)
        if self.schema.num_dense == 0:  # one all-zero pseudo feature, see raw_dense_width
            return dense.new_zeros(dense.shape[0], raw_dense_width(self.schema))
        return dense

    def last_outputs(self, dense: torch.Tensor, sparse: torch.Tensor, subnet: SubnetConfig, quant: bool = False,
                     mode: CrossbarMode | None = None,
                     rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(d_N, s_N): the last block's dense and sparse outputs, what the logit reads. `rows`: the
        embedding rows of `sparse` when the caller looked them up already (self.embeddings(sparse): a
        split step looks its whole batch up once, arch/train/sandwich.py); float reads at the full dim only."""
        self._check(subnet)
        dense = self._prepare(dense, sparse)
        shapes = self.source_shapes(subnet)
        dense_outs = [dense]
        if rows is not None:
            if quant or mode is not None or subnet.dim(self.schema.embedding_dim) != self.schema.embedding_dim or \
                    rows.shape != (*sparse.shape, self.schema.embedding_dim):
                raise ValueError("rows looked up beforehand serve float reads of every column only, of "
                                 f"shape {(*sparse.shape, self.schema.embedding_dim)}; got {tuple(rows.shape)} with "
                                 f"quant={quant}, embedding dim {subnet.dim(self.schema.embedding_dim)}")
            sparse_outs = [rows]
        else:
            sparse_outs = [self.embeddings(sparse, subnet.embedding_bits if quant else None,
                                           subnet.dim(self.schema.embedding_dim),
                                           mode.arith if mode is not None else None)]
        for config, block, bits in zip(subnet.blocks, self.blocks, self.block_bits(subnet, quant), strict=True):
            with mode.at_bits(bits) if mode is not None else nullcontext():
                d, s = block(config, self.layout, shapes, dense_outs, sparse_outs, bits)
            dense_outs.append(d)
            sparse_outs.append(s)
        return dense_outs[-1], sparse_outs[-1]

    def forward_full(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        """Logits of the full supernet (module docstring): NASRec's warm-up path, in float."""
        dense = self._prepare(dense, sparse)
        shapes = self.layout.full_shapes()
        dense_outs, sparse_outs = [dense], [self.embeddings(sparse)]
        for block in self.blocks:
            d, s = block.forward_full(self.layout, shapes, dense_outs, sparse_outs,
                                      self.input_sharing == "per_operator")
            dense_outs.append(d)
            sparse_outs.append(s)
        return self.logit(dense_outs[-1], sparse_outs[-1], self.logit_segments(None))

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, subnet: SubnetConfig, quant: bool = False,
                crossbar: CrossbarArithmetic | None = None, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of `subnet` on inherited weights. quant: fake-quantise at the subnet's bits.
        crossbar: also run every MVM on simulated crossbars (implies quant; inference only).
        rows: the embedding rows of `sparse`, looked up beforehand (last_outputs)."""
        quant = quant or crossbar is not None
        mode = CrossbarMode(crossbar) if crossbar is not None else None
        with mode if mode is not None else nullcontext():
            d, s = self.last_outputs(dense, sparse, subnet, quant, mode, rows)
            bits = self.block_bits(subnet, quant)[-1]
            with mode.at_bits(bits) if mode is not None else nullcontext():
                return self.logit(d, s, self.logit_segments(subnet), bits)

    def logit_head(self, subnet: SubnetConfig) -> SlicedLinear:
        """A detached copy of the logit's active weights for `subnet` (for fine-tuning it alone)."""
        segments = self.logit_segments(subnet)
        features = sum(length for _, length in segments)
        head = SlicedLinear(features, 1)
        with torch.no_grad():
            head.weight.copy_(self.logit.linear.active_weight(1, features, segments))
            head.bias.copy_(self.logit.linear.bias[:1])
        return head


# ---- weight inheritance into a standalone model
def block_segments(config: BlockConfig, layout: SlotLayout, shapes: list[SourceShape]) -> OperatorSegments:
    """The shared-weight columns block `config`'s operators read (module docstring)."""
    rows = layout.rows(config.sparse_inputs, shapes)
    if DENSE_OPERATORS[config.dense_op].reads_left_right:
        return OperatorSegments(left=layout.dense([config.dense_left], shapes),
                                right=layout.dense([config.dense_right], shapes), rows=rows)
    return OperatorSegments(dense=layout.dense(config.dense_inputs, shapes), rows=rows)


def _copy_block(dst: nn.Module, src: SupernetBlock, config: BlockConfig, layout: SlotLayout,
                shapes: list[SourceShape]) -> None:
    segments = block_segments(config, layout, shapes)
    dst.dense.inherit(src.dense_ops[config.dense_op.value], segments)
    dst.sparse.inherit(src.sparse_ops[config.sparse_op.value], segments)
    if config.dense_to_sparse:
        copy_linear_slice(dst.dense_to_sparse.linear, src.dense_to_sparse.linear, None)
        copy_norm_slice(dst.dense_to_sparse.norm, src.dense_to_sparse.norm)
    if config.sparse_to_dense_fm:
        copy_linear_slice(dst.fm.linear, src.fm.linear, None)
        copy_norm_slice(dst.fm.norm, src.fm.norm)


def extract_standalone(supernet: Supernet, subnet: SubnetConfig, quantize: bool = False) -> StandaloneModel:
    """A StandaloneModel of `subnet` holding copies of the supernet's slices (inherited weights)."""
    supernet._check(subnet)
    model = StandaloneModel(subnet, supernet.schema, quantize=quantize)
    shapes = supernet.source_shapes(subnet)
    with torch.no_grad():
        for dst, src in zip(model.embeddings.tables, supernet.embeddings.tables, strict=True):
            dst.weight.copy_(src.weight)
        for dst, src, config in zip(model.blocks, supernet.blocks, subnet.blocks, strict=True):
            _copy_block(dst, src, config, supernet.layout, shapes)
        copy_linear_slice(model.logit.linear, supernet.logit.linear, supernet.logit_segments(subnet))
    return model


__all__ = ["Supernet", "SupernetBlock", "SlotLayout", "SourceShape", "extract_standalone", "init_embeddings",
           "INPUT_SHARING", "InputSharing"]

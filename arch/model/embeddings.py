"""The embedding tables: one table per sparse field, the tables' rows kept in one tensor.

Why one tensor (issue 23 item 6): a supernet step that splits its batch among 8 subnets looks the
tables up 8 times; with one nn.Embedding call per field that was 26 lookups, 26 autograd nodes and
26 sparse optimizer updates per subnet, ~18 ms of a ~170 ms step on the wide ranking space. Each
table is still its own nn.Parameter (`tables[f].weight`: state dicts, optimizers, clipping and
checkpoints see the same 26 tensors as before), but the parameters are consecutive row blocks of
one storage, so a lookup is one gather (`ids + offsets` into the whole block) and the batched
optimizers (arch/train/fused_sparse.py) update every table's rows with one set of calls.

Bit for bit what the per-field lookups computed: the gather copies the same rows; each table's
gradient is made by the same aten call with the same arguments that F.embedding's backward makes
(`embedding_backward` of that field's column of ids and of the gradient), so it is the same sparse
(or dense) tensor, and autograd accumulates the subnets' gradients in the same order
(tests/test_fused_embeddings.py compares every table's gradient and a training run with the
per-field path).

The shared storage can be lost: module.to(), .half() or assigning .data give each parameter a
storage of its own. `joined_rows` notices (it checks the parameters' storage and offsets, a few
microseconds) and the forward joins them again (values kept, the same Parameter objects), so
nothing outside has to know.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from recpim.arch.model.modules import fake_quantize, quantization_scale

if TYPE_CHECKING:
    from recpim.arch.crossbar.arithmetic import CrossbarArithmetic


def joined_rows(params: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """The one tensor whose consecutive row blocks are `params` (2-D, contiguous, same width, dtype
    and device, each starting where the previous ends in one storage), as a view without autograd
    history; None when they are not laid out so."""
    if not params:
        return None
    first = params[0]
    if first.dim() != 2 or first.is_sparse:
        return None
    storage, width = first.untyped_storage().data_ptr(), first.shape[1]
    offset, rows = first.storage_offset(), 0
    for param in params:
        if param.dim() != 2 or param.shape[1] != width or param.dtype != first.dtype or \
                param.device != first.device or not param.is_contiguous() or \
                param.untyped_storage().data_ptr() != storage or param.storage_offset() != offset + rows * width:
            return None
        rows += param.shape[0]
    return first.detach().as_strided((rows, width), (width, 1))


@torch.no_grad()
def join_rows(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Make `params` consecutive row blocks of one new storage (their values kept, the same tensor
    objects: their .data is rebound) and return that storage's tensor (joined_rows)."""
    joined = joined_rows(params)
    if joined is not None:
        return joined
    whole = torch.cat([param.detach() for param in params])
    start = 0
    for param in params:
        param.data = whole[start:start + param.shape[0]]
        start += param.shape[0]
    return joined_rows(params)


class _FieldLookup(torch.autograd.Function):
    """rows [B, fields, dim] of every field's table, gathered at once from the joined tables; the
    backward gives each table the gradient F.embedding's backward gives it (module docstring)."""

    @staticmethod
    def forward(ctx, ids: torch.Tensor, offsets: torch.Tensor, whole: torch.Tensor, sparse: bool,
                *weights: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.sizes, ctx.sparse = [weight.shape[0] for weight in weights], sparse
        return F.embedding(ids + offsets, whole)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (ids,) = ctx.saved_tensors
        # torch.stack's backward hands field f grad.select(1, f), and F.embedding(ids[:, f], weight)'s
        # backward is embedding_backward(that, ids[:, f], rows, padding_idx=-1, scale_grad_by_freq=False, sparse).
        # The same call, not an equal sparse tensor built from contiguous copies: how autograd then adds the
        # subnets' sparse gradients (in place or not, hence coalesced or not) depends on their layout
        # (tests/test_fused_embeddings.py caught a table whose gradient came out coalesced the other way).
        grads = [torch.ops.aten.embedding_backward(grad.select(1, field), ids.select(1, field), size, -1, False,
                                                   ctx.sparse) if ctx.needs_input_grad[4 + field] else None
                 for field, size in enumerate(ctx.sizes)]
        return (None, None, None, None, *grads)


def _read_in_crossbar(rows: torch.Tensor, table: torch.Tensor, bits: int, arith: CrossbarArithmetic) -> torch.Tensor:
    """Rows [B, D] of `table` as an in-crossbar read returns them: their codes on fake_quantize's
    grid (the table's scale), each row a bag of one driven row, digitised by the chip's ADC."""
    from recpim.arch.crossbar.bag_read import crossbar_bag_sum

    scale, levels = quantization_scale(table.float(), bits)
    codes = torch.clamp(torch.round(rows.detach().float() / scale), -levels, levels).to(torch.int64)
    read = crossbar_bag_sum(codes.unsqueeze(1), arith, max(bits, 2))   # |codes| <= levels fit max(bits, 2) bits
    return (read.to(torch.float64) * float(scale)).to(rows.dtype)


class EmbeddingTables(nn.Module):
    """One table per sparse field; ids [B, fields] -> rows [B, fields, dim]. With `bits`, the rows
    read are fake-quantised with their table's scale (symmetric, per table, straight-through).

    sparse_gradients (off until optimizers.make_optimizer switches it on, pairing the tables with
    sparse Adagrad or SparseAdam): backward gives each table a sparse gradient (only the rows
    looked up), so a step costs O(batch x fields), not O(vocabulary). The tables share one storage
    (module docstring)."""

    def __init__(self, vocab_sizes: Sequence[int], dim: int):
        super().__init__()
        # the tables are made as row blocks of one tensor from the start (no second copy of Criteo-sized
        # tables), each initialised as nn.Embedding initialises its own (normal_), in the same order: the
        # same draws, so the same weights as separate nn.Embedding tables
        whole, tables, start = torch.empty(sum(vocab_sizes), dim), [], 0
        for size in vocab_sizes:
            rows = whole[start:start + size]
            nn.init.normal_(rows)
            tables.append(nn.Embedding(size, dim, _weight=rows))
            start += size
        self.tables = nn.ModuleList(tables)
        self.sparse_gradients = False
        starts = [0]
        for size in vocab_sizes[:-1]:
            starts.append(starts[-1] + size)
        # row offset of each field's table in the joined tensor, and each table's rows (for the id check)
        self.register_buffer("field_offsets", torch.tensor(starts, dtype=torch.int64), persistent=False)
        self.register_buffer("vocab_sizes", torch.tensor(list(vocab_sizes), dtype=torch.int64), persistent=False)

    def _check_ids(self, ids: torch.Tensor) -> None:
        """One gather reads every table, so an id past its own table would read the next one: refuse it,
        as F.embedding refuses an id past its table."""
        if ids.dim() != 2 or ids.shape[1] != len(self.tables):
            raise ValueError(f"embedding ids of shape {tuple(ids.shape)}; expected [batch, {len(self.tables)}]")
        bad = (ids < 0) | (ids >= self.vocab_sizes)
        if bool(bad.any()):
            row, field = (int(i) for i in bad.nonzero()[0])
            rows = int(self.vocab_sizes[field])
            raise IndexError(f"embedding id {int(ids[row, field])} of field {field} (row {row}) is out of range: "
                             f"its table has {rows} rows (ids 0..{rows - 1})")

    def forward(self, ids: torch.Tensor, bits: int | None = None, dim: int | None = None,
                crossbar: CrossbarArithmetic | None = None) -> torch.Tensor:
        """`dim` (a subnet's searched embedding dim, SubnetConfig.embedding_dim): only the leading
        `dim` columns of each table are read (quantised with the scale of those columns); the rows
        come back zero past `dim`, so every operator after them keeps the table's full dim and the
        missing columns carry nothing, as a chip whose tables store `dim` columns computes.
        `crossbar` (with `bits`): the fields in crossbar.embedding_fields are read in crossbars, each
        row through the chip's ADC as a bag of one row (arch/crossbar/bag_read.py); inference only."""
        full = self.tables[0].embedding_dim if len(self.tables) else 0
        read_dim = full if dim is None else dim
        # under torch.fx tracing (graph lowering) the per-field loop below runs instead: the joined gather is
        # a custom autograd function fx cannot see into, and the lowered graph reads one table per field
        if not bits and read_dim == full and len(self.tables) and not isinstance(ids, torch.fx.Proxy):
            return self._lookup_all(ids)
        rows = []
        for field, table in enumerate(self.tables):
            looked_up = F.embedding(ids[:, field], table.weight, sparse=self.sparse_gradients)
            if read_dim < full:
                looked_up = looked_up[:, :read_dim]
            reference = table.weight if read_dim == full else table.weight[:, :read_dim]
            if bits and crossbar is not None and field in crossbar.embedding_fields:
                rows.append(_read_in_crossbar(looked_up, reference, bits, crossbar))
                continue
            rows.append(fake_quantize(looked_up, bits, reference=reference) if bits else looked_up)
        stacked = torch.stack(rows, dim=1)
        return F.pad(stacked, (0, full - read_dim)) if read_dim < full else stacked

    def _lookup_all(self, ids: torch.Tensor) -> torch.Tensor:
        """Every field's rows in one gather (module docstring); the same values and gradients as the loop."""
        self._check_ids(ids)
        weights = [table.weight for table in self.tables]
        whole = joined_rows(weights)
        if whole is None:                       # .to(), .half(), a .data assignment: join them again
            whole = join_rows(weights)
        return _FieldLookup.apply(ids, self.field_offsets, whole, self.sparse_gradients, *weights)

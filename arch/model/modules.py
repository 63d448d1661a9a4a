"""NASRec operators in torch, written once for both the standalone model and the supernet.

Weight sharing without masks: every operator holds parameters sized for its MAXIMUM input and
output dims, and its forward takes the active dims and slices the weights, so one module serves
every width and connection and a sampled step computes only the sampled subnet. The standalone
model builds the same classes with exact dims and calls them without slicing arguments.

Slicing arguments:
- an output width (`width`): rows weight[:width] of the output projection;
- input `segments`: (start, length) column ranges of the shared weight, one per piece of the
  concatenated input, in order. The supernet gives each source block a fixed column slot sized for
  its maximum width, so the same source meets the same weights whatever else is active;
  `source_segments` builds them. None means "the input occupies columns [0, in)".

Shapes: dense tensors are [B, features]; sparse tensors are [B, rows, dim] (dim = embedding dim).
Row-wise operators (EFC, the row projections) act on the rows axis, once per embedding dim.

Every operator normalises its output with a LayerNorm, as NASRec's models do (use_layernorm);
linears followed directly by a norm drop their bias (the norm's bias replaces it).

Every block operator also has the registry's interface (arch/model/operators.py), so the standalone
model and the supernet build, call and copy each operator without switching on which it is:
`build(OperatorDims)`, `run(OperatorInputs, width, quant)` and `inherit(source, OperatorSegments)`.

Quantisation hook: every forward takes `quant` (QuantBits or None). Weights and the activations
entering each matrix-vector product are fake-quantised (symmetric, per tensor, straight-through
gradient); None runs in float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import sqrt
from typing import Self

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

from recpim.arch.model.operators import OperatorDims, OperatorSegments, Segments, gram_rows, num_pairs
from recpim.arch.model.shared_gradients import active_columns, columns


def source_segments(active: Sequence[int], widths: Sequence[int], slots: Sequence[int]) -> list[tuple[int, int]]:
    """Column segments of the concatenation of sources `active` (in order), where source j is
    `widths[j]` wide now and owns a slot of `slots[j]` columns in the shared weight."""
    offsets = [0]
    for slot in slots:
        offsets.append(offsets[-1] + slot)
    return [(offsets[j], widths[j]) for j in active]


# ---- quantisation
@dataclass(frozen=True)
class QuantBits:
    weight_bits: int | None = None
    activation_bits: int | None = None


def fake_quantize(x: torch.Tensor, bits: int | None, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric per-tensor uniform quantisation to `bits` (sign included), with a straight-through
    gradient. The scale maps max|reference| (default: max|x|) to the largest level 2^(bits-1) - 1."""
    if bits is None or bits >= 32:
        return x
    if x.dtype in (torch.float16, torch.bfloat16):  # mixed precision: the levels are exact in fp32 only
        x = x.float()
    scale, levels = quantization_scale(x if reference is None else reference.float(), bits)
    q = torch.clamp(torch.round(x / scale), -levels, levels) * scale
    return x + (q - x).detach()


def quantization_scale(reference: torch.Tensor, bits: int) -> tuple[torch.Tensor, int]:
    """fake_quantize's grid: (the step that maps max|reference| to the largest level, that level)."""
    levels = max(2 ** (bits - 1) - 1, 1)
    return reference.detach().abs().amax().clamp_min(1e-12) / levels, levels


# ---- the registry's calling convention
@dataclass(frozen=True)
class OperatorInputs:
    """What a block operator may read: the concatenated dense inputs (FC, Dot-Product), the left
    and right dense inputs (Gating, Sum), the concatenated sparse rows, and their weight columns."""

    dense: torch.Tensor | None = None
    left: torch.Tensor | None = None
    right: torch.Tensor | None = None
    sparse: torch.Tensor | None = None
    segments: OperatorSegments = OperatorSegments()


def copy_linear_slice(dst: SlicedLinear, src: SlicedLinear, segments: Segments | None) -> None:
    """Weight inheritance: `dst` (exact dims) takes the slice of `src` (shared) that it computes with."""
    dst.weight.copy_(src.active_weight(dst.max_out, dst.max_in, segments))
    if dst.bias is not None:
        dst.bias.copy_(src.bias[: dst.max_out])


def copy_norm_slice(dst: nn.Module, src: nn.Module) -> None:
    size = dst.weight.shape[0]
    dst.weight.copy_(src.weight[:size])
    dst.bias.copy_(src.bias[:size])


# ---- the shared building block
class SlicedLinear(nn.Module):
    """y = x W[:out, segments]^T + b[:out], with W sized [max_out, max_in]."""

    def __init__(self, max_in: int, max_out: int, bias: bool = True):
        super().__init__()
        self.max_in, self.max_out = max_in, max_out
        self.weight = nn.Parameter(torch.empty(max_out, max_in))
        self.bias = nn.Parameter(torch.empty(max_out)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's initialisation.
        nn.init.kaiming_uniform_(self.weight, a=sqrt(5))
        if self.bias is not None:
            bound = 1 / sqrt(self.max_in) if self.max_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def active_weight(self, out: int, in_features: int, segments: Segments | None) -> torch.Tensor:
        if is_fx_symbolic_tracing():
            # torch.fx traces a standalone model (arch/graph/fx_import.py): the input's width is
            # symbolic, so plain slicing records the graph (sliced even at full width, a free view)
            return self.weight[:out][:, :in_features] if segments is None else columns(self.weight, out, segments)
        if segments is None:
            segments = ((0, in_features),)
        elif sum(length for _, length in segments) != in_features:
            raise ValueError(f"segments {list(segments)} do not cover {in_features} input features")
        if not (torch.is_grad_enabled() and self.weight.requires_grad):
            return columns(self.weight, out, segments)
        return active_columns(self.weight, out, segments)

    def forward(self, x: torch.Tensor, out: int | None = None, segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        out = self.max_out if out is None else out
        weight = self.active_weight(out, x.shape[-1], segments)
        bias = None if self.bias is None else self.bias[:out]
        if quant is not None:
            weight = fake_quantize(weight, quant.weight_bits)
            x = fake_quantize(x, quant.activation_bits)
        return F.linear(x, weight, bias)


class SlicedLayerNorm(nn.Module):
    """LayerNorm over the last axis with affine parameters sized for `max_dim`; a narrower input
    uses the first entries (weight[:d], bias[:d])."""

    def __init__(self, max_dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(max_dim))
        self.bias = nn.Parameter(torch.zeros(max_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        return F.layer_norm(x, (d,), self.weight[:d], self.bias[:d], self.eps)


def _rows_linear(layer: SlicedLinear, sparse: torch.Tensor, out: int | None, segments: Segments | None,
                 quant: QuantBits | None, norm: SlicedLayerNorm | None = None) -> torch.Tensor:
    """A linear layer across the rows of [B, rows, dim]: rows -> out rows, once per dim; `norm`
    normalises over the new rows (per dim) before transposing back."""
    out_t = layer(sparse.transpose(1, 2), out, segments, quant)
    return (norm(out_t) if norm is not None else out_t).transpose(1, 2)


# ---- dense operators
class FCOp(nn.Module):
    """ReLU(LayerNorm(W x)) over the concatenated dense inputs (NASRec's linear-2d with layer norm;
    the norm's bias replaces the linear one)."""

    def __init__(self, max_in: int, max_width: int):
        super().__init__()
        self.linear = SlicedLinear(max_in, max_width, bias=False)
        self.norm = SlicedLayerNorm(max_width)

    def forward(self, dense: torch.Tensor, width: int | None = None, segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        return F.relu(self.norm(self.linear(dense, width, segments, quant)))

    @classmethod
    def build(cls, dims: OperatorDims) -> Self:
        return cls(dims.dense_in, dims.width)

    def run(self, x: OperatorInputs, width: int | None, quant: QuantBits | None) -> torch.Tensor:
        return self(x.dense, width, x.segments.dense, quant)

    def inherit(self, src: FCOp, segments: OperatorSegments) -> None:
        copy_linear_slice(self.linear, src.linear, segments.dense)
        copy_norm_slice(self.norm, src.norm)


class GatingOp(nn.Module):
    """LayerNorm(sigmoid(W_g left + b_g) * (W_v right + b_v)): the left input gates a projection of
    the right one; both are projected to `width`, which also aligns inputs of different widths."""

    def __init__(self, max_left: int, max_right: int, max_width: int):
        super().__init__()
        self.gate = SlicedLinear(max_left, max_width)
        self.value = SlicedLinear(max_right, max_width)
        self.norm = SlicedLayerNorm(max_width)

    def forward(self, left: torch.Tensor, right: torch.Tensor, width: int | None = None,
                left_segments: Segments | None = None, right_segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(left, width, left_segments, quant))
        return self.norm(gate * self.value(right, width, right_segments, quant))

    @classmethod
    def build(cls, dims: OperatorDims) -> Self:
        return cls(dims.left_in, dims.right_in, dims.width)

    def run(self, x: OperatorInputs, width: int | None, quant: QuantBits | None) -> torch.Tensor:
        return self(x.left, x.right, width, x.segments.left, x.segments.right, quant)

    def inherit(self, src: GatingOp, segments: OperatorSegments) -> None:
        copy_linear_slice(self.gate, src.gate, segments.left)
        copy_linear_slice(self.value, src.value, segments.right)
        copy_norm_slice(self.norm, src.norm)


class SumOp(nn.Module):
    """LayerNorm(W_l left + W_r right): both inputs projected to `width` (aligning their widths),
    added and normalised. No activation, as in NASRec; the norm's bias replaces the linear ones."""

    def __init__(self, max_left: int, max_right: int, max_width: int):
        super().__init__()
        self.left = SlicedLinear(max_left, max_width, bias=False)
        self.right = SlicedLinear(max_right, max_width, bias=False)
        self.norm = SlicedLayerNorm(max_width)

    def forward(self, left: torch.Tensor, right: torch.Tensor, width: int | None = None,
                left_segments: Segments | None = None, right_segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        summed = self.left(left, width, left_segments, quant) + self.right(right, width, right_segments, quant)
        return self.norm(summed)

    @classmethod
    def build(cls, dims: OperatorDims) -> Self:
        return cls(dims.left_in, dims.right_in, dims.width)

    def run(self, x: OperatorInputs, width: int | None, quant: QuantBits | None) -> torch.Tensor:
        return self(x.left, x.right, width, x.segments.left, x.segments.right, quant)

    def inherit(self, src: SumOp, segments: OperatorSegments) -> None:
        copy_linear_slice(self.left, src.left, segments.left)
        copy_linear_slice(self.right, src.right, segments.right)
        copy_norm_slice(self.norm, src.norm)


class DotProductOp(nn.Module):
    """NASRec's Dot-Product with operator balancing:
    P = row projection of the sparse input to n = round(sqrt(2 width)) rows (linear across rows);
    G = P P^T (a batched matmul over all n x n pairs); Z = strict lower triangle of G, n(n-1)/2 dots;
    out = LayerNorm(W [dense, Z]), projected to `width`, no activation.
    Pairs are ordered by their larger row index, so the pairs of n rows are a prefix of those of
    any larger n and the shared output weights see the same pair at the same column."""

    def __init__(self, max_dense_in: int, max_rows_in: int, max_width: int):
        super().__init__()
        self.max_dense_in, self.max_width = max_dense_in, max_width
        max_rows = gram_rows(max_width)
        self.row_proj = SlicedLinear(max_rows_in, max_rows)
        self.out_proj = SlicedLinear(max_dense_in + num_pairs(max_rows), max_width, bias=False)
        self.norm = SlicedLayerNorm(max_width)
        rows, cols = torch.tril_indices(max_rows, max_rows, offset=-1)
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, width: int | None = None,
                dense_segments: Segments | None = None, row_segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        width = self.max_width if width is None else width
        rows = gram_rows(width)
        projected = _rows_linear(self.row_proj, sparse, rows, row_segments, quant)  # [B, n, dim]
        gram = torch.bmm(projected, projected.transpose(1, 2))                      # [B, n, n]
        pairs = num_pairs(rows)
        dots = gram[:, self.pair_rows[:pairs], self.pair_cols[:pairs]]              # [B, n(n-1)/2]
        features = torch.cat([dense, dots], dim=1)
        # None: the standalone model, whose dense input is exactly max_dense_in wide (a constant, so
        # torch.fx can trace it: the traced width is symbolic)
        dense_segments = [(0, self.max_dense_in)] if dense_segments is None else list(dense_segments)
        segments = [*dense_segments, (self.max_dense_in, pairs)]
        return self.norm(self.out_proj(features, width, segments, quant))

    @classmethod
    def build(cls, dims: OperatorDims) -> Self:
        return cls(dims.dense_in, dims.rows_in, dims.width)

    def run(self, x: OperatorInputs, width: int | None, quant: QuantBits | None) -> torch.Tensor:
        return self(x.dense, x.sparse, width, x.segments.dense, x.segments.rows, quant)

    def inherit(self, src: DotProductOp, segments: OperatorSegments) -> None:
        copy_linear_slice(self.row_proj, src.row_proj, segments.rows)
        pairs = num_pairs(gram_rows(self.max_width))   # this copy's pairs sit after the shared dense columns
        copy_linear_slice(self.out_proj, src.out_proj, [*(segments.dense or [(0, self.max_dense_in)]),
                                                        (src.max_dense_in, pairs)])
        copy_norm_slice(self.norm, src.norm)


# ---- sparse operators
class EFCOp(nn.Module):
    """ReLU(LayerNorm(W S)) with W a linear layer across embedding rows: rows_in -> `width` rows,
    applied per embedding dim, normalised over the `width` new rows (NASRec's linear-3d)."""

    def __init__(self, max_rows_in: int, max_width: int):
        super().__init__()
        self.linear = SlicedLinear(max_rows_in, max_width, bias=False)
        self.norm = SlicedLayerNorm(max_width)

    def forward(self, sparse: torch.Tensor, width: int | None = None, row_segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        return F.relu(_rows_linear(self.linear, sparse, width, row_segments, quant, self.norm))

    @classmethod
    def build(cls, dims: OperatorDims) -> Self:
        return cls(dims.rows_in, dims.width)

    def run(self, x: OperatorInputs, width: int | None, quant: QuantBits | None) -> torch.Tensor:
        return self(x.sparse, width, x.segments.rows, quant)

    def inherit(self, src: EFCOp, segments: OperatorSegments) -> None:
        copy_linear_slice(self.linear, src.linear, segments.rows)
        copy_norm_slice(self.norm, src.norm)


class AttentionOp(nn.Module):
    """Multi-head self-attention over embedding rows (NASRec's Transformer, without its FFN):
    P = row projection rows_in -> `width` rows (linear across rows, per dim);
    Q, K, V = P W_q, P W_k, P W_v (dim -> dim each, `heads` heads of dim/heads);
    A = softmax(Q_h K_h^T / sqrt(dim/heads)) per head; C = A_h V_h, heads concatenated;
    out = LayerNorm(P + C W_o): `width` rows of `dim`."""

    def __init__(self, max_rows_in: int, max_width: int, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"embedding dim {dim} is not divisible by {heads} attention heads")
        self.dim, self.heads = dim, heads
        self.row_proj = SlicedLinear(max_rows_in, max_width)
        self.query = SlicedLinear(dim, dim)
        self.key = SlicedLinear(dim, dim)
        self.value = SlicedLinear(dim, dim)
        self.output = SlicedLinear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, sparse: torch.Tensor, width: int | None = None, row_segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        projected = _rows_linear(self.row_proj, sparse, width, row_segments, quant)  # [B, w, dim]
        batch, rows, _ = projected.shape
        head_dim = self.dim // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, rows, self.heads, head_dim).transpose(1, 2)     # [B, h, w, dh]

        q = split(self.query(projected, quant=quant))
        k = split(self.key(projected, quant=quant))
        v = split(self.value(projected, quant=quant))
        # torch's fused kernel computes softmax(q k^T / sqrt(dh)) v exactly as written out above
        # (to float rounding); measured 3x faster than matmul + softmax for NASRec's 2-dim heads.
        context = F.scaled_dot_product_attention(q, k, v)                            # [B, h, w, dh]
        context = context.transpose(1, 2).reshape(batch, rows, self.dim)
        return self.norm(projected + self.output(context, quant=quant))

    @classmethod
    def build(cls, dims: OperatorDims) -> Self:
        return cls(dims.rows_in, dims.width, dims.dim, dims.heads)

    def run(self, x: OperatorInputs, width: int | None, quant: QuantBits | None) -> torch.Tensor:
        return self(x.sparse, width, x.segments.rows, quant)

    def inherit(self, src: AttentionOp, segments: OperatorSegments) -> None:
        copy_linear_slice(self.row_proj, src.row_proj, segments.rows)
        for name in ("query", "key", "value", "output"):
            copy_linear_slice(getattr(self, name), getattr(src, name), None)
        copy_norm_slice(self.norm, src.norm)


# ---- mergers, embeddings, logit
class DenseToSparseMerger(nn.Module):
    """LayerNorm(W d) from the block's dense output to `rows` pseudo-embedding rows of `dim`
    (normalised over all rows * dim values), appended to the block's sparse output (NASRec)."""

    def __init__(self, max_in: int, rows: int, dim: int):
        super().__init__()
        self.rows, self.dim = rows, dim
        self.linear = SlicedLinear(max_in, rows * dim, bias=False)
        self.norm = SlicedLayerNorm(rows * dim)

    def forward(self, dense: torch.Tensor, segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        pseudo = self.norm(self.linear(dense, None, segments, quant))
        return pseudo.reshape(dense.shape[0], self.rows, self.dim)


class FMMerger(nn.Module):
    """Sparse->dense factorisation machine: f = 0.5 * ((sum_r s_r)^2 - sum_r s_r^2) over the rows of
    the block's sparse output ([B, dim]), projected to `width` and normalised, LayerNorm(W f);
    the block adds it to its dense output (NASRec's FactorizationMachine3D)."""

    def __init__(self, dim: int, max_width: int):
        super().__init__()
        self.linear = SlicedLinear(dim, max_width, bias=False)
        self.norm = SlicedLayerNorm(max_width)

    def forward(self, sparse: torch.Tensor, width: int | None = None, quant: QuantBits | None = None) -> torch.Tensor:
        interaction = 0.5 * (sparse.sum(dim=1).square() - sparse.square().sum(dim=1))
        return self.norm(self.linear(interaction, width, None, quant))


class LogitOp(nn.Module):
    """The final logit: a linear layer over concat(last dense output, flattened last sparse output)."""

    def __init__(self, max_in: int):
        super().__init__()
        self.linear = SlicedLinear(max_in, 1)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, segments: Segments | None = None,
                quant: QuantBits | None = None) -> torch.Tensor:
        features = torch.cat([dense, sparse.flatten(1)], dim=1)
        return self.linear(features, None, segments, quant).squeeze(-1)

"""Crossbar arithmetic, simulated: what an integer MVM becomes on ReRAM crossbars with DACs and ADCs.

`crossbar_matmul(x, w, arith)` computes x @ w for signed integer activations x [M, K] and weights
w [K, N] the way a weight-stationary crossbar does, so the ADC's resolution shows up as error:

1. Inputs. An `a`-bit signed input x (|x| <= 2^(a-1) - 1, as fake_quantize produces) is streamed as
   the unsigned a-bit value x_u = x + 2^(a-1) through d-bit DACs, least significant slice first:
   T = ceil(a / d) input cycles, slice t = (x_u >> d t) & (2^d - 1). The offset's contribution
   2^(a-1) * sum_k w[k, n] is a per-column constant known when the weights are programmed, so it
   is subtracted digitally, exactly.
2. Weights. A `wb`-bit signed weight is split into S = ceil(wb / c) slices of c-bit cells
   (slice s = bits c s .. c s + c - 1, one physical column per slice), signed by `encoding`:
   - "differential": a column pair per slice holding w+ = max(w, 0) and w- = max(-w, 0); the two
     digitised partial sums are subtracted;
   - "sign_magnitude": the same pair holding |w| in S = ceil((wb - 1) / c) slices (the sign picks
     the column), one slice fewer where c divides wb - 1;
   - with `analog_subtraction` (pair encodings only) the pair's two currents are subtracted before
     the ADC, which digitises the signed difference in [-P_max, P_max] (one bit more to be exact,
     codes clamp(round(P / D), -2^(b-1), 2^(b-1) - 1));
   - "offset": one column per slice holding w_u = w + 2^(wb-1) (unsigned); the bias
     2^(wb-1) * sum_k x_u[k] is measured by a reference column whose cells all hold the offset's
     top-slice level 2^((wb-1) mod c), shifted by 2^(c floor((wb-1)/c)) -- that column's reading
     goes through the ADC like any other (as in mapping/crossbar.py: one correction column per
     crossbar).
3. Rows. The K rows are laid out on crossbars of `rows` rows (row tiles); inside a tile
   `rows_read_at_once` rows are read together (a row group). Each row group's column currents are
   digitised separately, so a partial sum P covers the R_g rows of one group.
4. ADC. A group's partial sum lies in [0, P_max], P_max = R_g (2^d - 1)(2^c - 1) (unsigned input
   slices times unsigned cell levels), which needs L_g = bitlength(P_max) bits to be exact. An ADC
   of `adc_bits` = b bits spans that same range with 2^b levels: step D = 2^max(0, L_g - b),
   code = clamp(round(P / D), 0, 2^b - 1) (an ideal mid-tread converter: round to the nearest
   level, ties to even; a sum above the top level clips to it), value = code * D. So an ADC of at
   least L_g bits is lossless (D = 1) and each bit less doubles the step: the error grows as the
   ADC narrows, until the result carries no signal at all. The step is a power of two, so
   shift-and-add stays exact digitally.
5. Shift-and-add: sum over groups, slices and cycles of sign * 2^(c s) * 2^(d t) * value, minus the
   reference column and the input-offset constant, all in exact integer arithmetic.

With b >= max_g L_g the result equals the exact integer matmul; `crossbar_matmul` then skips the
simulation (exact_if_lossless=True) and returns the exact product directly.

Real cells: when the arithmetic carries device effects (arith.device: off current, programming
variation, read noise, stuck-at faults, drift, IR drop) the product is simulated by
recpim.arch.crossbar.device_sim instead, which perturbs each cell's conductance before the ADC; with
every effect off (device None or all zero) nothing here changes.

Cost: the simulation runs T x S (x2 for differential) small matmuls per call -- e.g. 32x the MACs
of the plain matmul at 8-bit activations, 1-bit DACs, 8-bit weights and 2-bit cells -- as float
BLAS calls on small integers (exact below 2^24, float64 otherwise), in row chunks that bound memory.

`CrossbarMode` applies this to a torch model: inside it every F.linear (each MVM: FC, EFC,
projections, mergers, attention Q/K/V/O, the logit) whose bits are set is recomputed on the
crossbar from the integer codes of its (fake-quantised) input and weight, then dequantised.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# the arithmetic's numbers are torch-free (what the search's cost side and the CLI build without torch)
from recpim.arch.crossbar.arithmetic import CrossbarArithmetic
from recpim.arch.crossbar.device_sim import simulate_on_devices
from recpim.crossbar_numbers import partial_sum_max
from recpim.errors import ConfigError
from recpim.units import ceil_div

FLOAT32_EXACT = 2**24          # float32 holds every integer below this exactly
CHUNK_ELEMENTS = 1 << 21       # partial sums held at once per chunk (8 MB of float32: cache-friendly)


def _row_groups(k: int, rows: int, per_read: int) -> list[tuple[int, int]]:
    """(start, length) of every row group: K rows on row tiles of `rows`, each tile read
    `per_read` rows at a time."""
    groups = []
    for tile_start in range(0, k, rows):
        tile_end = min(tile_start + rows, k)
        groups += [(s, min(per_read, tile_end - s)) for s in range(tile_start, tile_end, per_read)]
    return groups


def signed_bits_needed(values: torch.Tensor) -> int:
    """Smallest b with |values| <= 2^(b-1) - 1 (at least 2)."""
    largest = int(values.abs().max().item()) if values.numel() else 0
    return max(largest.bit_length() + 1, 2)


def _check_integer_operand(name: str, values: torch.Tensor, bits: int) -> None:
    limit = 2 ** (bits - 1) - 1
    if values.numel() and int(values.abs().max().item()) > limit:
        raise ConfigError("crossbar_matmul", [(name, f"holds |values| up to {int(values.abs().max().item())}; "
                                                     f"{bits}-bit signed operands allow |v| <= {limit}")])


def crossbar_matmul(x: torch.Tensor, w: torch.Tensor, arith: CrossbarArithmetic, input_bits: int | None = None,
                    weight_bits: int | None = None, exact_if_lossless: bool = True, layer: int = 0) -> torch.Tensor:
    """x [M, K] @ w [K, N] (signed integer values, any dtype) on simulated crossbars (see the module
    docstring); int64 [M, N]. input_bits / weight_bits: the signed operand widths (default: the
    fewest bits that hold the values). layer: which layer of the chip this is (keys the device
    effects' draws; unused with ideal cells)."""
    if x.dim() != 2 or w.dim() != 2 or x.shape[1] != w.shape[0]:
        raise ConfigError("crossbar_matmul", [("shapes", f"x {tuple(x.shape)} and w {tuple(w.shape)}; "
                                                         "expected [M, K] and [K, N]")])
    x, w = x.to(torch.int64), w.to(torch.int64)
    a = signed_bits_needed(x) if input_bits is None else input_bits
    wb = signed_bits_needed(w) if weight_bits is None else weight_bits
    _check_integer_operand("x", x, a)
    _check_integer_operand("w", w, wb)
    m, k = x.shape
    n = w.shape[1]
    groups = _row_groups(k, arith.rows, arith.rows_read_at_once)
    group_bits = [partial_sum_max(length, arith.dac_bits, arith.cell_bits).bit_length() + arith.sign_bit
                  for _, length in groups]
    if m == 0 or n == 0 or k == 0:
        return _exact_matmul(x, w)
    if not arith.ideal_cells:
        return simulate_on_devices(x, w, arith, a, wb, groups, group_bits, layer)
    if exact_if_lossless and arith.adc_bits >= max(group_bits, default=0):
        return _exact_matmul(x, w)
    return _simulate(x, w, arith, a, wb, groups, group_bits)


def _exact_matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exact integer product through float64 BLAS (exact while sums stay below 2^53)."""
    return torch.matmul(x.to(torch.float64), w.to(torch.float64)).round().to(torch.int64)


def _simulate(x: torch.Tensor, w: torch.Tensor, arith: CrossbarArithmetic, a: int, wb: int,
              groups: list[tuple[int, int]], group_bits: list[int]) -> torch.Tensor:
    m, k = x.shape
    n = w.shape[1]
    d, c, b = arith.dac_bits, arith.cell_bits, arith.adc_bits
    cycles = ceil_div(a, d)
    slices = ceil_div(wb - 1 if arith.encoding == "sign_magnitude" else wb, c)

    # Weight planes [P, K, N] with their sign * shift coefficients; plus the reference column.
    if arith.encoding in ("differential", "sign_magnitude"):
        magnitudes = [w.clamp(min=0), (-w).clamp(min=0)]
        signs = [1.0, -1.0]
    else:
        magnitudes = [w + 2 ** (wb - 1)]
        signs = [1.0]
    planes, plane_coef = [], []
    for magnitude, sign in zip(magnitudes, signs, strict=True):
        for s in range(slices):
            planes.append((magnitude >> (c * s)) & (2**c - 1))
            plane_coef.append(sign * 2.0 ** (c * s))
    columns = torch.stack(planes).permute(1, 0, 2).reshape(k, len(planes) * n)  # [K, P*N]
    reference = arith.encoding == "offset"
    if reference:
        level = 2 ** ((wb - 1) % c)
        ref_shift = 2.0 ** (c * ((wb - 1) // c))
        columns = torch.cat([columns, torch.full((k, 1), level, dtype=torch.int64)], dim=1)

    # Row groups, padded to a common height so one batched matmul serves them all.
    height = max(length for _, length in groups)
    index = torch.full((len(groups), height), k, dtype=torch.int64)  # k = an all-zero padding row
    for g, (start, length) in enumerate(groups):
        index[g, :length] = torch.arange(start, start + length)
    psum_max = max(partial_sum_max(length, d, c) for _, length in groups)
    dtype = torch.float32 if psum_max * len(groups) < FLOAT32_EXACT else torch.float64
    padded_cols = torch.cat([columns, columns.new_zeros(1, columns.shape[1])]).to(dtype)
    grouped_cols = padded_cols[index]                                               # [G, H, C]
    inverse_step = torch.tensor([2.0 ** -max(0, bits - b) for bits in group_bits], dtype=dtype).view(-1, 1, 1)
    step = 1.0 / inverse_step
    top_code = float(2**b - 1)

    x_u = x + 2 ** (a - 1)
    cycle_coef = torch.tensor([2.0 ** (d * t) for t in range(cycles)], dtype=torch.float64)
    coef = torch.tensor(plane_coef, dtype=torch.float64)
    out = torch.empty(m, n, dtype=torch.float64)
    per_row = len(groups) * cycles * grouped_cols.shape[2]
    chunk = max(1, CHUNK_ELEMENTS // max(per_row, 1))
    for start in range(0, m, chunk):
        xs = x_u[start:start + chunk]
        rows_here = xs.shape[0]
        bits = torch.stack([(xs >> (d * t)) & (2**d - 1) for t in range(cycles)])   # [T, m, K]
        bits = torch.cat([bits, bits.new_zeros(cycles, rows_here, 1)], dim=2).to(dtype)
        grouped_x = bits[:, :, index].permute(2, 0, 1, 3).reshape(len(groups), cycles * rows_here, height)
        psums = torch.bmm(grouped_x, grouped_cols)                                  # [G, T*m, C]
        if arith.analog_subtraction:   # + minus - column before the ADC; the - planes then read 0
            half = slices * n
            psums = torch.cat([psums[:, :, :half] - psums[:, :, half:], torch.zeros_like(psums[:, :, half:])], dim=2)
            codes = psums.mul_(inverse_step).round_().clamp_(min=-float(2 ** (b - 1)), max=float(2 ** (b - 1) - 1))
        else:
            codes = psums.mul_(inverse_step).round_().clamp_(max=top_code)         # the ADC
        summed = codes.mul_(step).sum(dim=0).to(torch.float64).view(cycles, rows_here, -1)  # over groups
        main = summed[:, :, : len(planes) * n].reshape(cycles, rows_here, len(planes), n)
        result = torch.einsum("tmpn,t,p->mn", main, cycle_coef, coef)
        if reference:
            result -= ref_shift * torch.einsum("tm,t->m", summed[:, :, -1], cycle_coef).unsqueeze(1)
        out[start:start + rows_here] = result
    out -= 2.0 ** (a - 1) * w.sum(dim=0).to(torch.float64)  # the input offset, digitally
    return out.round().to(torch.int64)


# ---- applying it to a torch model
def integer_codes(t: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(codes, scale, signed bits) of symmetric per-tensor quantisation, the grid of
    ops.fake_quantize: codes = round(t / scale), scale = max|t| / (2^(bits-1) - 1). Applied to a
    tensor that fake_quantize already produced it returns that tensor's codes exactly."""
    levels = max(2 ** (bits - 1) - 1, 1)
    scale = t.detach().abs().amax().clamp_min(1e-12) / levels
    codes = torch.clamp(torch.round(t.detach() / scale), -levels, levels).to(torch.int64)
    return codes, scale, max(levels.bit_length() + 1, 2)


class CrossbarMode(TorchFunctionMode):
    """Inside this mode every F.linear runs on simulated crossbars at the current `bits`
    (QuantBits-like: weight_bits, activation_bits); callers set `bits` per block (`at_bits`).
    Activation x and weight W are mapped to integer codes on ops.fake_quantize's grid,
    y = crossbar_matmul(codes_x, codes_W^T) * scale_x * scale_W + bias. Inference only. The MVMs
    are numbered from 0 in the order they run after entering the mode (`layer`, which keys the draws
    of the device effects), so one forward pass per `with mode:` gives each layer the same cells."""

    def __init__(self, arith: CrossbarArithmetic):
        super().__init__()
        self.arith = arith
        self.bits: Any = None
        self.layer = 0

    def __enter__(self):
        self.layer = 0
        return super().__enter__()

    @contextmanager
    def at_bits(self, bits: Any):
        previous, self.bits = self.bits, bits
        try:
            yield
        finally:
            self.bits = previous

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not F.linear:
            return func(*args, **kwargs)
        if self.bits is None or self.bits.weight_bits is None or self.bits.activation_bits is None:
            raise ConfigError("crossbar simulation", [("bits", "a linear layer ran without weight/activation bits; "
                                                               "crossbar arithmetic needs quantised operands")])
        x, weight = args[0], args[1]
        bias = args[2] if len(args) > 2 else kwargs.get("bias")
        x_codes, x_scale, a = integer_codes(x, self.bits.activation_bits)
        w_codes, w_scale, wb = integer_codes(weight, self.bits.weight_bits)
        flat = x_codes.reshape(-1, x.shape[-1])
        y = crossbar_matmul(flat, w_codes.t(), self.arith, input_bits=a, weight_bits=wb, layer=self.layer)
        self.layer += 1
        y = (y.to(torch.float64) * float(x_scale) * float(w_scale)).to(x.dtype)
        y = y.reshape(*x.shape[:-1], weight.shape[0])
        return y if bias is None else y + bias

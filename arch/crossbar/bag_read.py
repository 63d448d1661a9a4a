"""In-crossbar embedding reads, simulated: what a ReCross-style pooled lookup returns through the ADC.

With chip.embedding.mode "in_crossbar" a table sits in crossbars (its rows on word lines, each
D-column row sliced into cells as an MVM weight is, arch/crossbar/matmul.py step 2) and a bag's L
rows are driven together with a 1 on their word lines (one input cycle): each column's current
is the sum of the L rows' cell levels, which the chip's ADC digitises. mapping/embedding_lookup.py
prices exactly this (a ceil(pooling) x D matrix at 1-bit input, once per bag); here is its value.

`crossbar_bag_sum(codes, arith, weight_bits)` takes the bags' signed integer rows [B, L, D] and
returns the int64 [B, D] sums as read. The rows of a bag are grouped as the MVM's rows are (row
tiles of `rows`, `rows_read_at_once` at a time; the bag's rows are assumed to share a row block,
as the cost model assumes); each group's partial sum goes through the same ideal mid-tread ADC as
crossbar_matmul's: its range is the group's largest sum partial_sum_max(L_g, dac_bits, cell_bits)
(the converter is sized for the chip's DAC, whatever the input), step 2^max(0, L_g' - b) with L_g'
that range's bit length (plus a sign bit with analog subtraction), codes clamped to the b-bit range.
The weight encodings are matmul's: offset (w + 2^(wb-1), a reference column of the top slice's
level whose reading, L_g x level, goes through the ADC too), differential and sign_magnitude (a
column pair), analog subtraction (the pair's difference digitised signed). An ADC of at least the
lossless width returns the exact sum; each bit less doubles the step.

Ideal cells only: device effects (crossbar.nonideal) are simulated for MVMs, not for these reads.
"""

from __future__ import annotations

import torch

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic
from recpim.arch.crossbar.matmul import _row_groups
from recpim.crossbar_numbers import partial_sum_max
from recpim.errors import ConfigError
from recpim.units import ceil_div


def crossbar_bag_sum(codes: torch.Tensor, arith: CrossbarArithmetic, weight_bits: int) -> torch.Tensor:
    """Sum over axis 1 of signed integer rows `codes` [B, L, D] (|v| <= 2^(wb-1) - 1) as an
    in-crossbar pooled read returns it (module docstring); int64 [B, D]."""
    if codes.dim() != 3:
        raise ConfigError("crossbar_bag_sum", [("codes", f"shape {tuple(codes.shape)}; expected [bags, rows, dim]")])
    codes = codes.to(torch.int64)
    wb, c, b = weight_bits, arith.cell_bits, arith.adc_bits
    limit = 2 ** (wb - 1) - 1
    if codes.numel() and int(codes.abs().max()) > limit:
        raise ConfigError("crossbar_bag_sum", [("codes", f"hold |values| up to {int(codes.abs().max())}; "
                                                         f"{wb}-bit signed rows allow |v| <= {limit}")])
    if arith.encoding in ("differential", "sign_magnitude"):
        magnitudes, signs = [codes.clamp(min=0), (-codes).clamp(min=0)], [1, -1]
    else:
        magnitudes, signs = [codes + 2 ** (wb - 1)], [1]
    slices = ceil_div(wb - 1 if arith.encoding == "sign_magnitude" else wb, c)
    out = torch.zeros(codes.shape[0], codes.shape[2], dtype=torch.int64)
    for start, length in _row_groups(codes.shape[1], arith.rows, arith.rows_read_at_once):
        step = 2 ** max(0, partial_sum_max(length, arith.dac_bits, c).bit_length() + arith.sign_bit - b)

        def adc(psum: torch.Tensor, signed: bool, step: int = step) -> torch.Tensor:
            low, high = (-(2 ** (b - 1)), 2 ** (b - 1) - 1) if signed else (0, 2**b - 1)
            # float64 holds these small sums exactly; round() is half-to-even, as crossbar_matmul's
            return (psum.to(torch.float64) / step).round().clamp(low, high).to(torch.int64) * step

        group = slice(start, start + length)
        for s in range(slices):
            shift = 2 ** (c * s)
            planes = [((m[:, group] >> (c * s)) & (2**c - 1)).sum(dim=1) for m in magnitudes]
            if arith.analog_subtraction:   # the pair's currents subtracted before the ADC
                out += shift * adc(planes[0] - planes[1], signed=True)
            else:
                for plane, sign in zip(planes, signs, strict=True):
                    out += sign * shift * adc(plane, signed=False)
        if arith.encoding == "offset":    # the reference column: L_g cells at the top slice's level
            level, ref_shift = 2 ** ((wb - 1) % c), 2 ** (c * ((wb - 1) // c))
            reading = adc(torch.full((codes.shape[0], 1), length * level, dtype=torch.int64), signed=False)
            out -= ref_shift * reading
    return out


__all__ = ["crossbar_bag_sum"]

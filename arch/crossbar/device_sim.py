"""Crossbar arithmetic on real ReRAM cells: the simulation of recpim.arch.crossbar.matmul (read its module
docstring first) with each cell's conductance drawn from the device model (DeviceEffects).

Conductances are in level spacings dG = (G_on - G_off) / (2^c - 1): a cell programmed to level l
conducts g = g_off + l ideally, g_off = G_off / dG (0 without off_current). On top of that:

1. Placement. Each weight array (one for offset, a + and a - array for the pair encodings) holds a
   weight's S slice columns side by side; a crossbar of `cols` columns holds floor((cols - dummies) / S)
   weights, then its dummy columns: the offset encoding's reference column and, with off current, a
   G_off column (all cells at level 0). Rows are laid out on crossbars of `rows` rows.
2. Programming (once per programmed chip). Each crossbar draws a standard normal z and a uniform u for
   each of its rows x cols cells from a generator seeded by (chip seed, layer, array, row tile, column
   tile): the same chip gives the same cells, another seed another chip, and a cell's draw does not
   depend on how wide the layer is. Variation: Gaussian g + sigma z (clipped at 0: no negative
   conductance), or lognormal g exp(s z - s^2 / 2) with s^2 = ln(1 + (sigma / g)^2) (same mean and
   standard deviation; g = 0 stays 0), sigma in level spacings, windows (2^c - 1 spacings) or relative
   to g. Stuck-at: u < p0 -> g_off (SA0), p0 <= u < p0 + p1 -> g_off + 2^c - 1 (SA1). Drift: every
   cell times (t / t0)^-nu.
3. IR drop (first order, mean field). A row is driven from its left end, a column sensed below its
   last row. The row wire's segment m (before column m) carries the currents of the cells at columns
   >= m, the column wire's segment below row q the currents of the group's active rows at <= q; each
   cell carries the mean conductance (weight_on_fraction) at the full read voltage (a worst case:
   every active row driven). A cell at column j and row p keeps the share
   alpha = max(0, 1 - r (sum_{m<=j} (cols - m) + sum_{q>=p} active rows at <= q)) of its current,
   r = wire resistance per cell x mean cell conductance: far from the driver and the sense amplifier
   loses most, r = 0 loses nothing.
4. Reading. A column's partial sum is sum_k x_k g_k alpha_k (the G_off current of "0" cells included).
   Read noise: each conducting cell adds an independent N(0, (sigma_r (2^c - 1))^2) per read, so a
   conversion gets N(0, sigma_r^2 (2^c - 1)^2 sum_k x_k^2), drawn per conversion from a generator
   seeded by (chip seed, layer, the input codes).
5. The G_off offset, per encoding. Pair encodings with analog subtraction: the + and - columns carry
   the same g_off sum x, so the analog difference cancels it exactly (ideal cells). Pair encodings
   without it: both columns are digitised with their offset and the digital + minus - subtraction
   cancels it up to the two conversions' rounding. Offset encoding: the reference column carries it
   too (removing ref_shift of it); the crossbar's G_off column measures g_off sum x, and its digitised
   value times (sum_s 2^(c s) - ref_shift) is subtracted, so the offset is removed up to the ADC's step.
   (The cost model counts one correction column per crossbar; the G_off column is a second one.)
6. The ADC digitises the perturbed sum exactly as for ideal cells (mid-tread, codes clipped to the
   ADC's range, at 0 below for a one-sided sum), and shift-and-add runs in exact integers.

With every effect off this computes exactly what the ideal simulation does (tests check it).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic
from recpim.arch.crossbar.device_effects import DeviceEffects
from recpim.crossbar_numbers import PAIR_ENCODINGS, partial_sum_max
from recpim.errors import ConfigError
from recpim.units import ceil_div

FLOAT32_EXACT = 2**24          # float32 holds every integer below this exactly
CHUNK_ELEMENTS = 1 << 21       # partial sums held at once per chunk
# A layer's programmed cells are the same for every batch scored on one chip: keep the latest ones
# (grouped, attenuated, in the matmul's dtype), up to this many elements (128 MB of float32).
CACHE_ELEMENTS = 1 << 25
_PROGRAMMED: OrderedDict[tuple, torch.Tensor] = OrderedDict()


def draw_seed(*key: object) -> int:
    """A 63-bit generator seed from a key of ints and strings, the same on every machine and run."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def programmed_conductances(levels: torch.Tensor, array: torch.Tensor, tile: torch.Tensor, position: torch.Tensor,
                            device: DeviceEffects, rows: int, cell_bits: int, layer: int) -> torch.Tensor:
    """Conductances [K, C] (float64, level spacings) of cells programmed to `levels` [K, C] on one chip
    (step 2 of the module docstring). array / tile / position [C]: each column's weight array, column
    tile (crossbar) and place in its crossbar; row k sits on row tile k // rows at row k % rows."""
    k = levels.shape[0]
    top = 2**cell_bits - 1
    g = levels.to(torch.float64) + device.off_conductance
    vary = device.programming_sigma > 0
    stuck = device.stuck_at_off_rate > 0 or device.stuck_at_on_rate > 0
    if vary or stuck:
        row = torch.arange(k)
        shape = (int(array.max()) + 1, ceil_div(k, rows), int(tile.max()) + 1, rows, device.cols)
        normal = torch.empty(shape) if vary else None
        uniform = torch.empty(shape) if stuck else None
        for a in range(shape[0]):
            for row_tile in range(shape[1]):
                for col_tile in range(shape[2]):
                    generator = torch.Generator().manual_seed(draw_seed(device.chip_seed, layer, a, row_tile, col_tile))
                    if normal is not None:
                        normal[a, row_tile, col_tile] = torch.randn(rows, device.cols, generator=generator)
                    if uniform is not None:
                        uniform[a, row_tile, col_tile] = torch.rand(rows, device.cols, generator=generator)
        cells = (array.unsqueeze(0), (row // rows).unsqueeze(1), tile.unsqueeze(0), (row % rows).unsqueeze(1),
                 position.unsqueeze(0))
        if normal is not None:
            z = normal[cells].to(torch.float64)
            sigma = device.programming_sigma * (g if device.programming_sigma_unit == "relative"
                                                else top if device.programming_sigma_unit == "window" else 1.0)
            if device.programming_distribution == "gaussian":
                g = (g + sigma * z).clamp_(min=0.0)
            else:
                spread = torch.log1p((sigma / g.clamp(min=1e-300)) ** 2)
                g = torch.where(g > 0, g * torch.exp(spread.sqrt() * z - spread / 2), g)
        if uniform is not None:
            u = uniform[cells]
            low, high = device.stuck_at_off_rate, device.stuck_at_off_rate + device.stuck_at_on_rate
            g = torch.where(u < low, torch.full_like(g, device.off_conductance), g)
            g = torch.where((u >= low) & (u < high), torch.full_like(g, device.off_conductance + top), g)
    if device.drift_factor != 1.0:
        g = g * device.drift_factor
    return g


def ir_drop_attenuation(groups: list[tuple[int, int]], height: int, rows: int, position: torch.Tensor,
                        device: DeviceEffects) -> torch.Tensor:
    """alpha [G, H, C]: the share of its current each cell of each row group keeps (step 3)."""
    column_term = torch.zeros(len(groups), height, dtype=torch.float64)
    q = torch.arange(rows, dtype=torch.float64)
    for g, (start, length) in enumerate(groups):
        first = start % rows                                  # the group's first row inside its crossbar
        active_at_or_above = (q - first + 1).clamp(0, length)  # active rows the segment below row q carries
        below = active_at_or_above.flip(0).cumsum(0).flip(0)    # summed over the segments from row p down
        column_term[g, :length] = below[first:first + length]
    j = position.to(torch.float64)
    row_term = (j + 1) * device.cols - j * (j + 1) / 2
    return (1 - device.ir_drop_per_cell * (column_term.unsqueeze(2) + row_term.view(1, 1, -1))).clamp_(min=0.0)


def _remember(key: tuple, programmed: torch.Tensor) -> None:
    _PROGRAMMED[key] = programmed
    while sum(t.numel() for t in _PROGRAMMED.values()) > CACHE_ELEMENTS and len(_PROGRAMMED) > 1:
        _PROGRAMMED.popitem(last=False)


def _input_digest(x: torch.Tensor) -> str:
    """A fingerprint of integer codes (keys the read noise by the inputs, the programmed cells by the weights)."""
    return hashlib.blake2b(x.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()


def simulate_on_devices(x: torch.Tensor, w: torch.Tensor, arith: CrossbarArithmetic, a: int, wb: int,
                        groups: list[tuple[int, int]], group_bits: list[int], layer: int = 0,
                        device: DeviceEffects | None = None) -> torch.Tensor:
    """x [M, K] @ w [K, N] (int64 codes of `a` / `wb` signed bits) on crossbars whose cells follow
    `device` (default arith.device), `layer` keying the draws; int64 [M, N]."""
    device = device or arith.device or DeviceEffects()
    m, k = x.shape
    n = w.shape[1]
    d, c, b = arith.dac_bits, arith.cell_bits, arith.adc_bits
    cycles = ceil_div(a, d)
    slices = ceil_div(wb - 1 if arith.encoding == "sign_magnitude" else wb, c)
    pair = arith.encoding in PAIR_ENCODINGS
    reference = not pair
    zero_column = reference and device.off_conductance > 0
    per_crossbar = (device.cols - int(reference) - int(zero_column)) // slices
    if per_crossbar < 1:
        raise ConfigError("crossbar_matmul", [("device.cols", f"{device.cols} columns cannot hold the {slices} slice "
                                                              "columns of one weight and the dummy columns")])
    tiles = ceil_div(n, per_crossbar)

    # Levels [K, P*N] (plane-major, as the ideal simulation) and where each column sits.
    magnitudes = [w.clamp(min=0), (-w).clamp(min=0)] if pair else [w + 2 ** (wb - 1)]
    signs = [1.0, -1.0] if pair else [1.0]
    planes, plane_coef = [], []
    for magnitude, sign in zip(magnitudes, signs, strict=True):
        for s in range(slices):
            planes.append((magnitude >> (c * s)) & (2**c - 1))
            plane_coef.append(sign * 2.0 ** (c * s))
    levels = torch.stack(planes).permute(1, 0, 2).reshape(k, len(planes) * n)
    plane = torch.arange(len(planes)).repeat_interleave(n)
    weight = torch.arange(n).repeat(len(planes))
    array, tile = plane // slices, weight // per_crossbar
    position = (weight % per_crossbar) * slices + plane % slices
    if reference:
        ref_level = 2 ** ((wb - 1) % c)
        ref_shift = 2.0 ** (c * ((wb - 1) // c))
        dummy_levels = [torch.full((k, tiles), ref_level, dtype=torch.int64)]
        if zero_column:
            dummy_levels.append(torch.zeros(k, tiles, dtype=torch.int64))
        levels = torch.cat([levels, *dummy_levels], dim=1)
        for i in range(len(dummy_levels)):
            array = torch.cat([array, torch.zeros(tiles, dtype=torch.int64)])
            tile = torch.cat([tile, torch.arange(tiles)])
            position = torch.cat([position, torch.full((tiles,), per_crossbar * slices + i, dtype=torch.int64)])
    # Row groups, padded to a common height (padding rows conduct nothing).
    height = max(length for _, length in groups)
    index = torch.full((len(groups), height), k, dtype=torch.int64)
    for g, (start, length) in enumerate(groups):
        index[g, :length] = torch.arange(start, start + length)
    bound = max(partial_sum_max(length, d, c) for _, length in groups) * (1 + device.off_conductance)
    dtype = torch.float32 if bound * len(groups) < FLOAT32_EXACT else torch.float64
    key = (device, arith, layer, wb, tuple(w.shape), _input_digest(w))
    grouped_g = _PROGRAMMED.get(key)
    if grouped_g is None:
        conductance = programmed_conductances(levels, array, tile, position, device, arith.rows, c, layer)
        padded = torch.cat([conductance, conductance.new_zeros(1, conductance.shape[1])])
        grouped_g = padded[index]                                                   # [G, H, C]
        if device.ir_drop_per_cell > 0:
            grouped_g = grouped_g * ir_drop_attenuation(groups, height, arith.rows, position, device)
        grouped_g = grouped_g.to(dtype)
        _remember(key, grouped_g)
    else:
        _PROGRAMMED.move_to_end(key)
    inverse_step = torch.tensor([2.0 ** -max(0, bits - b) for bits in group_bits], dtype=dtype).view(-1, 1, 1)
    step = 1.0 / inverse_step
    read_sigma = device.read_noise_sigma * (2**c - 1)

    x_u = x + 2 ** (a - 1)
    digest = _input_digest(x_u) if read_sigma > 0 else 0
    cycle_coef = torch.tensor([2.0 ** (d * t) for t in range(cycles)], dtype=torch.float64)
    coef = torch.tensor(plane_coef, dtype=torch.float64)
    data_columns = len(planes) * n
    tile_of_weight = torch.arange(n) // per_crossbar
    out = torch.empty(m, n, dtype=torch.float64)
    chunk = max(1, CHUNK_ELEMENTS // max(len(groups) * cycles * grouped_g.shape[2], 1))
    for start in range(0, m, chunk):
        xs = x_u[start:start + chunk]
        rows_here = xs.shape[0]
        bits = torch.stack([(xs >> (d * t)) & (2**d - 1) for t in range(cycles)])   # [T, m, K]
        bits = torch.cat([bits, bits.new_zeros(cycles, rows_here, 1)], dim=2).to(dtype)
        grouped_x = bits[:, :, index].permute(2, 0, 1, 3).reshape(len(groups), cycles * rows_here, height)
        psums = torch.bmm(grouped_x, grouped_g)                                     # [G, T*m, C]
        if read_sigma > 0:
            generator = torch.Generator().manual_seed(draw_seed(device.chip_seed, layer, "read", digest, start))
            spread = grouped_x.square().sum(dim=2, keepdim=True).sqrt_().mul_(read_sigma)
            psums += spread * torch.randn(psums.shape, generator=generator, dtype=dtype)
        if arith.analog_subtraction:   # + minus - column before the ADC; the - planes then read 0
            half = slices * n
            psums = torch.cat([psums[:, :, :half] - psums[:, :, half:], torch.zeros_like(psums[:, :, half:])], dim=2)
            codes = psums.mul_(inverse_step).round_().clamp_(min=-float(2 ** (b - 1)), max=float(2 ** (b - 1) - 1))
        else:
            codes = psums.mul_(inverse_step).round_().clamp_(min=0.0, max=float(2**b - 1))
        summed = codes.mul_(step).sum(dim=0).to(torch.float64).view(cycles, rows_here, -1)
        main = summed[:, :, :data_columns].reshape(cycles, rows_here, len(planes), n)
        result = torch.einsum("tmpn,t,p->mn", main, cycle_coef, coef)
        if reference:
            dummies = torch.einsum("tmc,t->mc", summed[:, :, data_columns:], cycle_coef)   # [m, tiles (x2)]
            result -= ref_shift * dummies[:, :tiles][:, tile_of_weight]
            if zero_column:
                result -= (coef.sum().item() - ref_shift) * dummies[:, tiles:][:, tile_of_weight]
        out[start:start + rows_here] = result
    out -= 2.0 ** (a - 1) * w.sum(dim=0).to(torch.float64)  # the input offset, digitally
    return out.round().to(torch.int64)

"""Real ReRAM cells in the crossbar arithmetic (issue 24): the chip section, its conversion, and what each
effect does to the products -- checked against closed forms, not against the code's own output."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.crossbar.device_effects import DeviceEffects
from recpim.arch.crossbar.device_sim import ir_drop_attenuation, programmed_conductances, simulate_on_devices
from recpim.arch.crossbar.matmul import CrossbarArithmetic, _row_groups, _simulate, crossbar_matmul
from recpim.crossbar_numbers import partial_sum_max
from recpim.errors import ConfigError
from recpim.mapping.arithmetic import crossbar_arithmetic
from recpim.pim.config import ChipConfig, chip_config_from_dict
from recpim.pim.presets import load_chip as load_preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _operands(seed: int, m: int, k: int, n: int, a: int, wb: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_limit, w_limit = 2 ** (a - 1) - 1, 2 ** (wb - 1) - 1
    return (torch.randint(-x_limit, x_limit + 1, (m, k), generator=g),
            torch.randint(-w_limit, w_limit + 1, (k, n), generator=g))


def _groups(arith: CrossbarArithmetic, k: int) -> tuple[list[tuple[int, int]], list[int]]:
    groups = _row_groups(k, arith.rows, arith.rows_read_at_once)
    bits = [partial_sum_max(length, arith.dac_bits, arith.cell_bits).bit_length() + arith.sign_bit
            for _, length in groups]
    return groups, bits


# ---- the chip section
def test_defaults_are_ideal_and_leave_the_chip_dump_unchanged():
    chip = ChipConfig()
    assert chip.crossbar.nonideal.ideal
    assert "nonideal" not in chip.model_dump()["crossbar"]       # sweep / search JSON as before
    assert crossbar_arithmetic(chip).device is None
    for name in ("isaac", "puma"):
        assert load_preset(name).crossbar.nonideal.ideal          # their sources give none


def test_neurosim_preset_models_its_on_off_ratio():
    chip = load_preset("neurosim-rram-22nm")
    assert chip.crossbar.nonideal.off_current and chip.crossbar.nonideal.programming_sigma == 0
    device = crossbar_arithmetic(chip).device
    # 1-bit cells: dG = G_on - G_off, so g_off = G_off / dG = 1 / (r_off / r_on - 1) = 1 / 16
    assert device.off_conductance == pytest.approx(1 / 16)


@pytest.mark.parametrize(("section", "key"), [
    ({"programming_sigma": -0.1}, "crossbar.nonideal.programming_sigma"),
    ({"read_noise_sigma": "high"}, "crossbar.nonideal.read_noise_sigma"),
    ({"programming_sigma_unit": "percent"}, "crossbar.nonideal.programming_sigma_unit"),
    ({"stuck_at_off_rate": 0.7, "stuck_at_on_rate": 0.4}, "crossbar.nonideal"),
    ({"wire_resistance": 1.0}, "crossbar.nonideal.wire_resistance"),
    ({"stuck_at_on_rate": True}, "crossbar.nonideal.stuck_at_on_rate"),
])
def test_bad_values_name_the_key(section, key):
    with pytest.raises(ConfigError) as error:
        chip_config_from_dict({"crossbar": {"nonideal": section}})
    assert key in str(error.value) and "allowed" in str(error.value)


def test_conversion_to_level_spacings():
    chip = ChipConfig().with_overrides({"crossbar.nonideal.off_current": True,
                                        "crossbar.nonideal.wire_resistance_ohm": 2.0,
                                        "crossbar.nonideal.drift_nu": 0.1, "crossbar.nonideal.drift_time_s": 100.0})
    device = crossbar_arithmetic(chip).device
    r_on, r_off = chip.crossbar.device.r_on_ohm, chip.crossbar.device.r_off_ohm
    assert device.off_conductance == pytest.approx(3 / (r_off / r_on - 1))     # 2-bit cells: 3 spacings
    assert device.drift_factor == pytest.approx(100.0 ** -0.1)
    mean_g = 0.5 / r_on + 0.5 / r_off                                          # weight_on_fraction 0.5
    assert device.ir_drop_per_cell == pytest.approx(2.0 * mean_g)
    assert crossbar_arithmetic(chip, cell_bits=1).device.off_conductance == pytest.approx(1 / (r_off / r_on - 1))


# ---- with every effect off: today's arithmetic, bit for bit
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6), k=st.integers(1, 70), n=st.integers(1, 9),
       a=st.integers(2, 8), wb=st.integers(2, 8), rows=st.sampled_from([8, 16, 32]), per_read=st.integers(1, 8),
       cell_bits=st.integers(1, 4), dac_bits=st.integers(1, 3), adc_drop=st.integers(0, 4),
       encoding=st.sampled_from(["offset", "differential", "sign_magnitude"]), subtract=st.booleans(),
       cols=st.sampled_from([16, 64, 128]))
def test_device_path_with_every_effect_off_is_bit_identical(seed, m, k, n, a, wb, rows, per_read, cell_bits, dac_bits,
                                                            adc_drop, encoding, subtract, cols):
    """The device simulation (own placement, per-crossbar reference columns, draws) with all effects
    at zero reproduces the ideal simulation exactly, lossless and lossy ADCs, every encoding."""
    x, w = _operands(seed, m, k, n, a, wb)
    subtract = subtract and encoding != "offset"
    geometry = dict(rows=rows, rows_read_at_once=per_read, cell_bits=cell_bits, dac_bits=dac_bits,
                    encoding=encoding, analog_subtraction=subtract)
    adc = max(1, CrossbarArithmetic(**geometry).lossless_adc_bits() - adc_drop)
    arith = CrossbarArithmetic(**geometry, adc_bits=adc)
    groups, bits = _groups(arith, k)
    ideal = _simulate(x.long(), w.long(), arith, a, wb, groups, bits)
    on_devices = simulate_on_devices(x.long(), w.long(), arith, a, wb, groups, bits, layer=3,
                                     device=DeviceEffects(cols=cols, chip_seed=seed))
    assert torch.equal(ideal, on_devices)
    # and an all-zero DeviceEffects on the arithmetic takes today's path
    zero = CrossbarArithmetic(**geometry, adc_bits=adc, device=DeviceEffects())
    assert torch.equal(crossbar_matmul(x, w, zero, input_bits=a, weight_bits=wb),
                       crossbar_matmul(x, w, arith, input_bits=a, weight_bits=wb))


# ---- the offset current of "0" cells
def test_differential_pairs_cancel_the_off_current_exactly():
    x, w = _operands(1, 20, 48, 10, 8, 8)
    for subtract in (True, False):
        geometry = dict(rows=32, rows_read_at_once=16, cell_bits=2, dac_bits=1, encoding="differential",
                        analog_subtraction=subtract)
        lossless = CrossbarArithmetic(**geometry).lossless_adc_bits()
        for adc in ([lossless, lossless - 3] if subtract else [lossless]):
            # g_off = 1/64 spacing: the digital pair's roundings never meet a tie (g_off sum x < 1/2)
            device = DeviceEffects(off_conductance=1 / 64 if not subtract else 3 / 16)
            ideal = crossbar_matmul(x, w, CrossbarArithmetic(**geometry, adc_bits=adc), input_bits=8, weight_bits=8,
                                    exact_if_lossless=False)
            real = crossbar_matmul(x, w, CrossbarArithmetic(**geometry, adc_bits=adc, device=device),
                                   input_bits=8, weight_bits=8)
            assert torch.equal(ideal, real), (subtract, adc)
    assert torch.equal(ideal, x @ w)


def test_offset_encoding_removes_the_off_current_up_to_the_adc_step():
    x, w = _operands(2, 30, 64, 12, 8, 8)
    geometry = dict(rows=64, rows_read_at_once=32, cell_bits=2, dac_bits=1, encoding="offset")
    g_off = 3 / 16                                                    # r_off / r_on = 17, 2-bit cells
    slice_sum, ref_shift, cycle_sum = 1 + 4 + 16 + 64, 64, 2**8 - 1
    x_u = (x + 128).to(torch.float64)
    uncorrected = g_off * x_u.sum(dim=1, keepdim=True) * (slice_sum - ref_shift)   # what the G_off column removes
    for drop in (0, 2, 4):
        lossless = CrossbarArithmetic(**geometry).lossless_adc_bits()
        arith = CrossbarArithmetic(**geometry, adc_bits=lossless - drop)
        step = 2**drop
        ideal = crossbar_matmul(x, w, arith, input_bits=8, weight_bits=8, exact_if_lossless=False)
        real = crossbar_matmul(x, w, CrossbarArithmetic(**geometry, adc_bits=lossless - drop,
                                                        device=DeviceEffects(off_conductance=g_off)),
                               input_bits=8, weight_bits=8)
        error = (real - ideal).abs().to(torch.float64)
        # each of the 2 row groups x 8 cycles: 4 slice columns, the reference and the G_off column,
        # each off by at most one ADC step more than on ideal cells
        bound = 2 * cycle_sum * step * (slice_sum + ref_shift + (slice_sum - ref_shift))
        assert error.max() <= bound
        if drop == 0:   # a lossless ADC: what is left is the rounding of fractional currents, not the offset
            assert (real - x @ w).abs().to(torch.float64).mean() < 0.02 * uncorrected.mean()


# ---- programming variation
def test_gaussian_variation_matches_the_closed_form_variance():
    """Relative sigma: g' = g (1 + sigma z), so a column's error has variance sigma^2 sum_k (x_k g_k)^2."""
    sigma, k, n, draws = 0.05, 64, 100, 20
    x, w = _operands(3, 1, k, n, 2, 8)                    # one input row; x_u = x + 2 in {1, 2, 3}
    geometry = dict(rows=64, rows_read_at_once=64, cell_bits=8, dac_bits=2, encoding="differential")
    arith = CrossbarArithmetic(**geometry, adc_bits=CrossbarArithmetic(**geometry).lossless_adc_bits())
    x_u = (x[0] + 2).to(torch.float64)
    predicted = sigma * (x_u.unsqueeze(1) * w.abs().to(torch.float64)).square().sum(dim=0).sqrt()   # [N]
    exact = (x @ w)[0].to(torch.float64)
    device = DeviceEffects(programming_sigma=sigma, programming_sigma_unit="relative", cols=128)
    normalised = torch.cat([(crossbar_matmul(x, w, CrossbarArithmetic(**geometry, adc_bits=arith.adc_bits,
                                                                        device=device.with_chip_seed(seed)),
                                             input_bits=2, weight_bits=8)[0].to(torch.float64) - exact) / predicted
                            for seed in range(draws)])
    assert abs(normalised.mean().item()) < 0.06                  # unbiased: 2000 samples, se 0.022
    assert normalised.var().item() == pytest.approx(1.0, abs=0.1)  # se of the variance 0.032


def test_same_seed_same_chip_other_seed_other_chip():
    x, w = _operands(4, 8, 40, 6, 8, 8)
    device = DeviceEffects(programming_sigma=0.2, stuck_at_off_rate=0.01, read_noise_sigma=0.01, cols=32)
    arith = CrossbarArithmetic(rows=32, rows_read_at_once=16, adc_bits=6, device=device)
    first = crossbar_matmul(x, w, arith, input_bits=8, weight_bits=8, layer=2)
    assert torch.equal(first, crossbar_matmul(x, w, arith, input_bits=8, weight_bits=8, layer=2))
    assert not torch.equal(first, crossbar_matmul(x, w, arith.with_chip_seed(1), input_bits=8, weight_bits=8, layer=2))
    assert not torch.equal(first, crossbar_matmul(x, w, arith, input_bits=8, weight_bits=8, layer=3))


def test_lognormal_keeps_the_mean_and_the_spread():
    device = DeviceEffects(programming_sigma=0.1, programming_sigma_unit="relative",
                           programming_distribution="lognormal", cols=128)
    levels = torch.full((128, 128), 3, dtype=torch.int64)
    cols = torch.arange(128)
    g = programmed_conductances(levels, torch.zeros(128, dtype=torch.int64), torch.zeros(128, dtype=torch.int64), cols,
                                device, rows=128, cell_bits=2, layer=0)
    assert g.mean().item() == pytest.approx(3.0, rel=0.01)
    assert g.std().item() == pytest.approx(0.3, rel=0.05)
    assert (g > 0).all()


# ---- stuck-at faults
def test_stuck_at_off_everywhere_removes_every_slice():
    """SA0 at rate 1: every cell conducts G_off (here 0), so with differential pairs each slice's
    contribution is gone; what is left is the digital input-offset term -2^(a-1) sum_k w."""
    x, w = _operands(5, 6, 30, 5, 6, 6)
    arith = CrossbarArithmetic(rows=32, rows_read_at_once=16, cell_bits=2, adc_bits=8, encoding="differential",
                               device=DeviceEffects(stuck_at_off_rate=1.0))
    assert not torch.equal(x @ w, torch.zeros_like(x @ w))
    left = crossbar_matmul(x, w, arith, input_bits=6, weight_bits=6)
    assert torch.equal(left, (-32 * w.sum(0)).expand(6, 5))


def test_stuck_at_off_on_one_slice_removes_exactly_that_slice():
    """Weights held in slice 1 only (w = 4 v, 2-bit cells): SA0 removes that slice's contribution
    x_u @ (4 v) (x_u = x + 32, the DAC's unsigned input) and nothing else."""
    x, v = _operands(6, 6, 30, 5, 6, 3)
    w = 4 * v                                       # slice 0 holds 0, slice 1 holds |v|
    arith = CrossbarArithmetic(rows=32, rows_read_at_once=16, cell_bits=2, adc_bits=10, encoding="differential",
                               device=DeviceEffects(stuck_at_off_rate=1.0))
    exact = x @ w
    assert torch.equal(exact - crossbar_matmul(x, w, arith, input_bits=6, weight_bits=6), (x + 32) @ (4 * v))


def test_stuck_at_rates_scale_the_product_on_average():
    """Differential pairs without off current: a cell survives with probability 1 - p, so the
    expected analog sum is (1 - p) x_u @ w (x_u = x + 128; the offset 128 sum w is subtracted digitally)."""
    x, w = _operands(7, 16, 64, 40, 8, 8)
    p = 0.2
    exact = (x @ w + 128 * w.sum(0)).to(torch.float64)
    total = torch.zeros_like(exact)
    for seed in range(10):
        arith = CrossbarArithmetic(rows=64, rows_read_at_once=64, cell_bits=2, adc_bits=16, encoding="differential",
                                   device=DeviceEffects(stuck_at_off_rate=p, chip_seed=seed))
        total += (crossbar_matmul(x, w, arith, input_bits=8, weight_bits=8) + 128 * w.sum(0)).to(torch.float64)
    ratio = (total / 10 * exact).sum() / exact.square().sum()
    assert ratio.item() == pytest.approx(1 - p, abs=0.02)


# ---- IR drop
def test_ir_drop_grows_with_distance_and_vanishes_without_wire_resistance():
    groups = [(0, 32), (32, 32)]                     # a 64-row crossbar read 32 rows at a time
    position = torch.arange(64)
    alpha = ir_drop_attenuation(groups, 32, 64, position, DeviceEffects(ir_drop_per_cell=1e-5, cols=64))
    assert alpha.shape == (2, 32, 64)
    assert (alpha[:, :, 1:] < alpha[:, :, :-1]).all()          # farther from the row driver: less current
    assert (alpha[:, 1:, :] > alpha[:, :-1, :]).all()          # nearer the sense amplifier: more
    assert (alpha < 1).all() and (alpha > 0.8).all()
    # the closed form at the far corner: row 0 of group 0, column 63
    row_term = 64 * 64 - 63 * 64 / 2
    column_term = sum(min(q + 1, 32) for q in range(64))
    assert alpha[0, 0, 63].item() == pytest.approx(1 - 1e-5 * (row_term + column_term))
    ideal = ir_drop_attenuation(groups, 32, 64, position, DeviceEffects(cols=64))
    assert torch.equal(ideal, torch.ones_like(ideal))


def test_ir_drop_shrinks_products_and_more_with_more_resistance():
    x, w = _operands(8, 8, 128, 20, 8, 8)
    x = x.abs()                                      # positive inputs and weights: a one-signed product
    w = w.abs()
    geometry = dict(rows=128, rows_read_at_once=128, cell_bits=2, adc_bits=12, encoding="differential")
    exact = (x @ w).to(torch.float64)
    shrink = []
    for r in (0.0, 1e-6, 1e-5):
        out = crossbar_matmul(x, w, CrossbarArithmetic(**geometry, device=DeviceEffects(ir_drop_per_cell=r)),
                              input_bits=8, weight_bits=8).to(torch.float64)
        shrink.append(((out + 128 * w.sum(0)) / (exact + 128 * w.sum(0))).mean().item())
    assert shrink[0] == 1.0 and 1.0 > shrink[1] > shrink[2]


def test_drift_scales_every_cell_current():
    """G(t) = G0 (t/t0)^-nu on every cell: the analog sum x_u @ w shrinks by the factor (the input
    offset 2^(a-1) sum w is digital and does not), up to each conversion's rounding."""
    x, w = _operands(9, 4, 16, 3, 4, 4)
    factor = 0.5
    arith = CrossbarArithmetic(rows=16, rows_read_at_once=16, cell_bits=4, adc_bits=12, encoding="differential",
                               device=DeviceEffects(drift_factor=factor))
    analog = (crossbar_matmul(x, w, arith, input_bits=4, weight_bits=4) + 8 * w.sum(0)).to(torch.float64)
    expected = factor * (x @ w + 8 * w.sum(0)).to(torch.float64)
    assert (analog - expected).abs().max().item() <= (1 + 2 + 4 + 8) * 2 * 0.5   # 4 cycles x 2 columns x 1/2
    assert not torch.equal(analog, (x @ w + 8 * w.sum(0)).to(torch.float64))


def test_effects_at_zero_magnitude_count_as_ideal():
    assert DeviceEffects(programming_sigma_unit="relative", programming_distribution="lognormal", cols=64).ideal
    assert not DeviceEffects(read_noise_sigma=0.01).ideal and not DeviceEffects(drift_factor=0.9).ideal
    chip = ChipConfig().with_overrides({"crossbar.nonideal.programming_sigma_unit": "relative",
                                        "crossbar.nonideal.drift_nu": 0.1})
    assert chip.crossbar.nonideal.ideal and crossbar_arithmetic(chip).device is None   # t = t0: no drift yet

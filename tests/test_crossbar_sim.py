"""Simulated crossbar arithmetic: exact with a lossless ADC, lossy (and monotonically worse) below."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.crossbar.matmul import CrossbarArithmetic, CrossbarMode, crossbar_matmul, integer_codes
from recpim.arch.model.modules import QuantBits, SlicedLinear, fake_quantize
from recpim.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: small torch ops on one thread


def _operands(seed: int, m: int, k: int, n: int, a: int, wb: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_limit, w_limit = 2 ** (a - 1) - 1, 2 ** (wb - 1) - 1
    x = torch.randint(-x_limit, x_limit + 1, (m, k), generator=g)
    w = torch.randint(-w_limit, w_limit + 1, (k, n), generator=g)
    return x, w


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 6), k=st.integers(1, 70), n=st.integers(1, 5),
       a=st.integers(2, 8), wb=st.integers(2, 8), rows=st.sampled_from([8, 16, 32]), per_read=st.integers(1, 8),
       cell_bits=st.integers(1, 4), dac_bits=st.integers(1, 3),
       encoding=st.sampled_from(["offset", "differential", "sign_magnitude"]), subtract=st.booleans())
def test_lossless_adc_equals_the_exact_integer_matmul(seed, m, k, n, a, wb, rows, per_read, cell_bits, dac_bits,
                                                      encoding, subtract):
    """Bit slicing, row groups, signed encodings (with or without analog subtraction) and
    shift-and-add reproduce x @ w exactly."""
    x, w = _operands(seed, m, k, n, a, wb)
    subtract = subtract and encoding != "offset"
    geometry = dict(rows=rows, rows_read_at_once=per_read, cell_bits=cell_bits, dac_bits=dac_bits,
                    encoding=encoding, analog_subtraction=subtract)
    arith = CrossbarArithmetic(**geometry, adc_bits=CrossbarArithmetic(**geometry).lossless_adc_bits())
    simulated = crossbar_matmul(x, w, arith, input_bits=a, weight_bits=wb, exact_if_lossless=False)
    assert simulated.dtype == torch.int64
    assert torch.equal(simulated, x @ w)


def test_lossless_bits_match_the_mapping_closed_form():
    # ISAAC: 128 rows, 1-bit DAC, 2-bit cells -> 9 bits (log2(128) + 1 + 2 - 1).
    assert CrossbarArithmetic(rows=128, rows_read_at_once=128, cell_bits=2, dac_bits=1).lossless_adc_bits() == 9
    assert CrossbarArithmetic(rows=128, rows_read_at_once=128, cell_bits=2, dac_bits=2).lossless_adc_bits() == 11
    assert CrossbarArithmetic().lossless_adc_bits(rows_summed=16) == 6


def test_analog_subtraction_digitises_the_signed_difference():
    """x = [1] at 2 bits streams x_u = 3 = bits 1, 1; w = [-1] (2-bit, 1-bit cells): the + column reads
    0, the - column 1 per cycle. The ADC sees the difference -1 (range -1..1 for one row: 2 bits
    lossless). Shift-add: -1 - 2 = -3, minus the input offset 2 x (-1) -> -1 = x @ w. A 1-bit signed
    ADC (codes -1..0, step 2 since 2 > 1 bit) reads round(-1 / 2) = -0 -> 0 each cycle: 0 + 2 = 2."""
    x, w = torch.tensor([[1]]), torch.tensor([[-1]])
    geometry = dict(rows=8, rows_read_at_once=1, cell_bits=1, dac_bits=1, encoding="differential",
                    analog_subtraction=True)
    assert CrossbarArithmetic(**geometry).lossless_adc_bits() == 2
    exact = CrossbarArithmetic(**geometry, adc_bits=2)
    assert crossbar_matmul(x, w, exact, input_bits=2, weight_bits=2, exact_if_lossless=False).item() == -1
    lossy = CrossbarArithmetic(**geometry, adc_bits=1)
    assert crossbar_matmul(x, w, lossy, input_bits=2, weight_bits=2).item() == 2
    with pytest.raises(ConfigError, match="analog_subtraction"):
        CrossbarArithmetic(encoding="offset", analog_subtraction=True)


def test_one_hand_computed_lossy_conversion():
    """x = [1, -1] at 2 bits streams x_u = [3, 1] = bits (1, 1) then (1, 0); w = [1, 1] (2-bit,
    differential, 1-bit cells: w+ slice 0 = [1, 1]). One group of 2 rows: P_max = 2, L = 2 bits.
    A 1-bit ADC has step 2: cycle 0 reads 2 -> code 1 -> 2, cycle 1 reads 1 -> round(0.5) = 0 (ties to
    even) -> 0. Sum 2*1 + 0*2 = 2, minus the input offset 2^(2-1) * (1 + 1) = 4 -> -2, where the
    exact product is 0."""
    x, w = torch.tensor([[1, -1]]), torch.tensor([[1], [1]])
    lossy = CrossbarArithmetic(rows=8, rows_read_at_once=2, cell_bits=1, dac_bits=1, adc_bits=1,
                               encoding="differential")
    assert crossbar_matmul(x, w, lossy, input_bits=2, weight_bits=2).item() == -2
    lossless = CrossbarArithmetic(rows=8, rows_read_at_once=2, cell_bits=1, dac_bits=1, adc_bits=2,
                                  encoding="differential")
    assert crossbar_matmul(x, w, lossless, input_bits=2, weight_bits=2, exact_if_lossless=False).item() == 0


def _mean_abs_errors(arith_kwargs: dict, a: int, wb: int, seeds=range(3)) -> tuple[list[float], float]:
    lossless = CrossbarArithmetic(**arith_kwargs).lossless_adc_bits()
    errors, scale = [], 0.0
    for bits in range(lossless, 0, -1):
        total = 0.0
        for seed in seeds:
            x, w = _operands(seed, 24, 96, 12, a, wb)
            exact = x @ w
            out = crossbar_matmul(x, w, CrossbarArithmetic(**arith_kwargs, adc_bits=bits), input_bits=a, weight_bits=wb)
            total += (out - exact).abs().double().mean().item()
            scale += exact.abs().double().mean().item() if bits == lossless else 0.0
        errors.append(total / len(seeds))
    return errors, scale / len(seeds)


@pytest.mark.parametrize("encoding", ["differential", "offset"])
@pytest.mark.parametrize("arith_kwargs", [dict(rows=128, rows_read_at_once=128, cell_bits=2, dac_bits=1),
                                          dict(rows=64, rows_read_at_once=16, cell_bits=1, dac_bits=2),
                                          dict(rows=32, rows_read_at_once=20, cell_bits=3, dac_bits=3),
                                          dict(rows=256, rows_read_at_once=64, cell_bits=4, dac_bits=1)])
def test_narrower_adcs_raise_the_error_monotonically(arith_kwargs, encoding):
    """From the lossless width down, every bit less gives a larger mean error, until the error
    reaches the size of the result itself: there the output no longer carries signal (partial
    sums round to 0 or clip to the top level), and the error of such garbage need not grow."""
    errors, scale = _mean_abs_errors({**arith_kwargs, "encoding": encoding}, a=8, wb=6)
    first_useless = next((i for i, e in enumerate(errors) if e >= scale), len(errors) - 1)
    meaningful = errors[: first_useless + 1]
    assert errors[0] == 0.0 and errors[1] > 0
    assert len(meaningful) >= 4, (errors, scale)
    assert all(later >= earlier for earlier, later in zip(meaningful, meaningful[1:], strict=False)), errors


def test_shortcut_and_simulation_agree_when_lossless():
    x, w = _operands(5, 7, 300, 9, 8, 8)
    arith = CrossbarArithmetic(adc_bits=9)
    assert torch.equal(crossbar_matmul(x, w, arith), crossbar_matmul(x, w, arith, exact_if_lossless=False))


def test_bad_inputs_are_refused():
    with pytest.raises(ConfigError, match="rows_read_at_once"):
        CrossbarArithmetic(rows=64, rows_read_at_once=128)
    with pytest.raises(ConfigError, match="encoding"):
        CrossbarArithmetic(encoding="twos")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="adc_bits"):
        CrossbarArithmetic(adc_bits=0)
    with pytest.raises(ConfigError, match="4-bit signed"):
        crossbar_matmul(torch.tensor([[9]]), torch.tensor([[1]]), CrossbarArithmetic(), input_bits=4)
    with pytest.raises(ConfigError, match="shapes"):
        crossbar_matmul(torch.ones(2, 3), torch.ones(2, 3), CrossbarArithmetic())


def test_integer_codes_recover_fake_quantised_values():
    x = torch.randn(50, 30)
    q = fake_quantize(x, 6)
    codes, scale, bits = integer_codes(q, 6)
    assert bits == 6
    assert codes.abs().max().item() == 31
    assert torch.allclose(codes.double() * float(scale), q.double(), atol=1e-6)


def test_a_linear_layer_on_lossless_crossbars_equals_its_fake_quantised_output():
    torch.manual_seed(0)
    layer = SlicedLinear(40, 6)
    x = torch.randn(10, 40)
    bits = QuantBits(weight_bits=5, activation_bits=7)
    expected = layer(x, quant=bits)
    for encoding in ("offset", "differential"):
        mode = CrossbarMode(CrossbarArithmetic(rows=32, rows_read_at_once=16, adc_bits=16, encoding=encoding))
        with mode, mode.at_bits(bits), torch.inference_mode():
            simulated = layer(x, quant=bits)
        assert torch.allclose(simulated, expected, atol=1e-5, rtol=1e-5)
        with mode, torch.inference_mode(), pytest.raises(ConfigError, match="without weight/activation bits"):
            layer(x)


def test_a_narrow_adc_changes_a_layer_output_more_than_a_wide_one():
    torch.manual_seed(1)
    layer = SlicedLinear(256, 16)
    x = torch.relu(torch.randn(64, 256))
    bits = QuantBits(weight_bits=8, activation_bits=8)
    exact = layer(x, quant=bits)
    errors = {}
    for adc_bits in (8, 6, 4):
        mode = CrossbarMode(CrossbarArithmetic(adc_bits=adc_bits, encoding="differential"))
        with mode, mode.at_bits(bits), torch.inference_mode():
            errors[adc_bits] = (layer(x, quant=bits) - exact).abs().mean().item()
    assert 0 < errors[8] < errors[6] < errors[4]

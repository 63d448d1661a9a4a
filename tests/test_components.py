"""The component model registry: fitted figures, scaling laws, parameter ranges, user tables."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.errors import ConfigError
from recpim.pim.components import COMPONENT_ACTIONS, describe_models, evaluate, model_names, resolve_model
from recpim.pim.components.adc import ISAAC_TABLE_32NM
from recpim.pim.components.scaling import area_factor, energy_factor

FITTED_ADC_MODELS = ["isaac", "walden"]  # "table" is a fixed user figure, independent of bits


def adc(model: str, bits: int, rate: float = 1.28, node: float = 32, leakage: float = 0.0):
    return evaluate("adc", model, bits=bits, sample_rate_gsps=rate, technology_nm=node, leakage_fraction=leakage)


def test_isaac_adc_gives_the_published_1_56_pj_per_8_bit_conversion_at_1_28_gsps():
    figures = adc("isaac", 8)
    assert figures.energy_pj_per_action == pytest.approx(16 / (8 * 1.28), rel=1e-9)  # 1.5625 pJ
    assert figures.energy_pj_per_action == pytest.approx(1.56, abs=0.005)
    assert figures.peak_power_mw == pytest.approx(2.0)  # 16 mW over 8 ADCs
    assert figures.area_um2 == pytest.approx(1200.0)
    assert figures.latency_ns == pytest.approx(1 / 1.28)


@pytest.mark.parametrize("bits, table_pj, area_um2", [(row[0], row[1], row[2]) for row in ISAAC_TABLE_32NM])
def test_isaac_adc_reproduces_the_resolution_table(bits, table_pj, area_um2):
    # The table's pJ are the power over 1.2 GS/s; the ADC converts at 1.28 GS/s.
    figures = adc("isaac", bits)
    assert figures.peak_power_mw == pytest.approx(table_pj * 1.2, rel=1e-9)
    assert figures.area_um2 == pytest.approx(area_um2, rel=1e-9)


def test_leakage_fraction_splits_power_without_changing_the_total():
    whole, split = adc("isaac", 8), adc("isaac", 8, leakage=0.25)
    assert split.peak_power_mw == pytest.approx(whole.peak_power_mw)
    assert split.leakage_mw == pytest.approx(0.25 * 2.0)
    assert split.energy_pj_per_action * 1.28 + split.leakage_mw == pytest.approx(2.0)


def test_walden_adc_is_fom_times_two_to_the_bits_with_the_speed_penalty():
    # 5 fJ/step x 2^6 x (1 + 0.5 GS/s / (1 GS/s x 32/16)) at 16 nm
    figures = adc("walden", 6, rate=0.5, node=16)
    assert figures.energy_pj_per_action == pytest.approx(5e-3 * 64 * 1.25)


@settings(max_examples=200, deadline=None)
@given(model=st.sampled_from(FITTED_ADC_MODELS), bits=st.integers(1, 15),
       rate=st.floats(1e-3, 100), node=st.floats(3, 180))
def test_adc_energy_and_area_strictly_increase_with_resolution(model, bits, rate, node):
    low, high = adc(model, bits, rate, node), adc(model, bits + 1, rate, node)
    assert high.energy_pj_per_action > low.energy_pj_per_action > 0
    assert high.area_um2 > low.area_um2 > 0
    assert high.peak_power_mw > low.peak_power_mw


@settings(max_examples=100, deadline=None)
@given(model=st.sampled_from(FITTED_ADC_MODELS), bits=st.integers(1, 16), rate=st.floats(1e-3, 50))
def test_faster_adcs_never_cost_less_energy_per_conversion_or_area(model, bits, rate):
    slow, fast = adc(model, bits, rate), adc(model, bits, rate * 2)
    assert fast.energy_pj_per_action > slow.energy_pj_per_action
    assert fast.area_um2 >= slow.area_um2


def test_technology_scaling_is_identity_at_32_nm_and_monotone():
    assert area_factor(32) == 1.0 and energy_factor(32) == 1.0
    nodes = [3, 5, 7, 10, 12, 14, 16, 20, 22, 28, 32, 40, 45, 65, 90, 130, 180]
    areas = [area_factor(n) for n in nodes]
    energies = [energy_factor(n) for n in nodes]
    assert areas == sorted(areas) and len(set(areas)) == len(areas)
    assert energies == sorted(energies) and len(set(energies)) == len(energies)
    assert area_factor(65) == pytest.approx(3.3) and energy_factor(20) == pytest.approx(0.3353)


def test_device_crossbar_energy_is_v_squared_times_mean_conductance_times_pulse():
    figures = evaluate("crossbar", "device", rows=128, cols=128, read_latency_ns=10.0, cell_read_energy_pj=None,
                       technology_nm=22, actions_per_ns=409.6, r_on_ohm=100e3, r_off_ohm=1.7e6,
                       read_voltage_v=0.55, read_pulse_ns=10.0)
    expected_pj = 0.55**2 * 0.5 * (1 / 100e3 + 1 / 1.7e6) * 10e-9 * 1e12
    assert figures.energy_pj_per_action == pytest.approx(expected_pj)  # about 0.016 pJ
    assert figures.area_um2 == pytest.approx(128 * 128 * 4 * 0.022**2)
    assert figures.leakage_mw == 0.0 and figures.latency_ns == 10.0
    assert figures.peak_power_mw == pytest.approx(expected_pj * 409.6)


def test_a_given_cell_read_energy_overrides_the_device_physics():
    figures = evaluate("crossbar", "device", rows=64, cols=64, read_latency_ns=10.0, cell_read_energy_pj=0.002,
                       technology_nm=22, actions_per_ns=1.0, r_on_ohm=100e3, r_off_ohm=1.7e6,
                       read_voltage_v=0.55, read_pulse_ns=10.0)
    assert figures.energy_pj_per_action == 0.002


def test_out_of_range_parameter_names_parameter_value_and_range():
    with pytest.raises(ConfigError) as info:
        adc("isaac", 8, node=1.0)
    (path, message), = info.value.problems
    assert path == "technology_nm"
    assert "1.0" in message and "3 <= technology_nm <= 180 nm" in message


def test_unknown_and_missing_parameters_are_errors():
    with pytest.raises(ConfigError) as info:
        evaluate("adc", "isaac", bitz=8, sample_rate_gsps=1.0, technology_nm=32, leakage_fraction=0.0)
    problems = dict(info.value.problems)
    assert "did you mean 'bits'" in problems["bitz"]
    assert problems["bits"].startswith("missing")


def test_unknown_model_suggests_the_nearest_and_lists_models():
    with pytest.raises(ConfigError) as info:
        resolve_model("adc", "waldon")
    assert "did you mean 'walden'" in str(info.value)
    assert "isaac" in str(info.value) and "table" in str(info.value)


def test_user_table_works_for_any_component():
    for component in COMPONENT_ACTIONS:
        figures = evaluate(component, "table", energy_pj_per_action=2.0, area_um2=50.0, latency_ns=3.0,
                           leakage_mw=0.5, actions_per_ns=4.0)
        assert (figures.energy_pj_per_action, figures.area_um2, figures.latency_ns) == (2.0, 50.0, 3.0)
        assert figures.peak_power_mw == pytest.approx(2.0 * 4.0 + 0.5)
        assert figures.source == "user table"


def test_every_component_has_a_default_and_every_model_declares_its_source_and_ranges():
    described = describe_models()
    for component in COMPONENT_ACTIONS:
        assert {"default", "table"} <= set(model_names(component))
        assert sum(row["default"] for row in described if row["component"] == component) == 1
    for row in described:
        assert row["source"] and row["params"]
        assert all("<=" in allowed or "one of" in allowed for allowed in row["params"].values())


@pytest.mark.parametrize("size_bytes, pj_per_byte, area_um2", [(256, 0.23 / 1.2, 770), (2048, 1.24 / 1.2, 2100),
                                                              (3072, 1.68 / 1.2, 3200)])
def test_registers_reproduce_isaacs_three_registers(size_bytes, pj_per_byte, area_um2):
    figures = evaluate("input_register", "isaac", size_bytes=size_bytes, technology_nm=32, clock_ghz=1.2,
                       actions_per_ns=1.2, leakage_fraction=0.0)
    assert figures.energy_pj_per_action == pytest.approx(pj_per_byte)
    assert figures.area_um2 == pytest.approx(area_um2)


@settings(max_examples=50, deadline=None)
@given(size=st.integers(1, 1 << 22))
def test_bigger_registers_cost_more_per_byte_and_area(size):
    def figures(n):
        return evaluate("output_register", "isaac", size_bytes=n, technology_nm=32, clock_ghz=1.0,
                        actions_per_ns=1.0, leakage_fraction=0.1)

    small, big = figures(size), figures(size + 1)
    assert big.energy_pj_per_action > small.energy_pj_per_action
    assert big.area_um2 > small.area_um2
    assert math.isfinite(big.peak_power_mw)


def test_buffer_energy_override_is_charged_as_given():
    common = dict(size_kb=64, width_bits=256, ports=1, kind="edram", technology_nm=32, clock_ghz=1.2,
                  actions_per_ns=1.2, leakage_fraction=0.1)
    fitted = evaluate("buffer", "isaac", energy_pj_per_access=None, **common)
    given_ = evaluate("buffer", "isaac", energy_pj_per_access=9.0, **common)
    assert fitted.energy_pj_per_action == pytest.approx(0.9 * 20.7 / 1.2)
    assert given_.energy_pj_per_action == 9.0
    sram = evaluate("buffer", "isaac", energy_pj_per_access=None, **{**common, "kind": "sram"})
    assert sram.area_um2 > fitted.area_um2
    with pytest.raises(ConfigError, match="one of 'edram', 'sram'"):
        evaluate("buffer", "isaac", energy_pj_per_access=None, **{**common, "kind": "dram"})

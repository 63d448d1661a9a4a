"""Leakage broken down by component, power-gating of idle tiles, defaults made visible, buffer
capacity checked (overflow spills to DRAM), duplicate YAML keys rejected (issue 15, items 13-14)."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from recpim.arch.model.spec import resolve_model_spec
from recpim.cli import app
from recpim.errors import ConfigError
from recpim.mapping import map_model
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.chip_model import build_chip_model
from recpim.pim.config import load_chip_config
from recpim.pim.engine import cost_inputs, run_engine
from recpim.pim.presets import load_chip

SUBNET = "examples/subnet_full_seed0.json"


def _report(graph, chip, engine="analytic"):
    workload = workload_from_mapping(graph, map_model(graph, chip), chip)
    return run_engine(workload, cost_inputs(chip), engine, 8)[0], workload


def test_leakage_is_broken_down_by_component_and_sums_to_its_entry():
    report, _ = _report(resolve_model_spec("dlrm"), load_chip("default"))
    leakage = report.energy_pj_by_component["leakage"]
    assert leakage > 0 and math.isclose(math.fsum(report.leakage_pj_by_component.values()), leakage, rel_tol=1e-12)
    assert {"adc", "buffer", "router"} <= set(report.leakage_pj_by_component)


def test_without_power_gating_every_tile_leaks():
    graph = resolve_model_spec("dlrm")
    chip = load_chip("default")
    gated, workload = _report(graph, chip)
    always_on, _ = _report(graph, chip.with_overrides({"chip.power_gating": False}))
    inputs = cost_inputs(chip)
    tile_mw, shared_mw = inputs.tile_leakage_mw, inputs.shared_leakage_mw
    expected = (chip.chip.tiles * tile_mw + shared_mw) / (workload.tiles_used * tile_mw + shared_mw)
    per_ns = [r.energy_pj_by_component["leakage"] / (r.latency_ns_per_batch / r.batch) for r in (gated, always_on)]
    assert per_ns[1] / per_ns[0] == pytest.approx(expected, rel=1e-9)
    assert workload.tiles_used < chip.chip.tiles


def test_a_chip_without_an_offchip_section_has_no_offchip_links_and_says_what_defaulted():
    chip = load_chip_config("name: small\nchip:\n  tiles: 4\n  mesh_rows: 2\n  mesh_cols: 2\n")
    model = build_chip_model(chip)
    assert chip.chip.offchip_link.links == 0 and model.rollup["offchip_link"].area_mm2_per_chip == 0
    assert "chip.offchip_link" in model.defaulted_sections and "crossbar" in model.defaulted_sections
    assert "chip" not in model.defaulted_sections
    # ISAAC's four HyperTransport links are in its preset, not in the schema
    assert load_chip("isaac").chip.offchip_link.links == 4


def test_recpim_chip_names_the_defaulted_sections(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: small\nchip:\n  tiles: 4\n  mesh_rows: 2\n  mesh_cols: 2\n")
    result = CliRunner().invoke(app, ["chip", str(path)], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert "filled with the schema's defaults" in result.output and "chip.offchip_link" in result.output


def test_duplicate_yaml_keys_are_rejected_with_their_lines():
    with pytest.raises(ConfigError) as info:
        load_chip_config("name: x\nadc:\n  bits: 6\nadc:\n  bits: 8\n")
    message = str(info.value)
    assert "duplicate key 'adc'" in message and "line 2" in message and "line 4" in message


def test_a_buffer_too_small_spills_to_dram_and_says_so():
    graph = resolve_model_spec(SUBNET)
    roomy, _ = _report(graph, load_chip("isaac").with_overrides({"tile.buffer.size_kb": 1024}))
    tiny, workload = _report(graph, load_chip("isaac").with_overrides({"tile.buffer.size_kb": 0.001}))
    assert not roomy.notes or not any("DRAM" in note for note in roomy.notes)
    assert any("short of what its stages must hold" in note for note in tiny.notes)
    assert tiny.energy_pj_by_component["dram"] > roomy.energy_pj_by_component["dram"]
    assert tiny.latency_ns_per_batch > roomy.latency_ns_per_batch
    # nearly all of every stage's inputs go to DRAM and back
    spilled = sum(s.dram_bits for s in workload.stages if s.buffers)
    written = sum(b.write_bits for s in workload.stages for b in s.buffers)
    assert 1.9 * written < spilled <= 2 * written
    des, _ = _report(graph, load_chip("isaac").with_overrides({"tile.buffer.size_kb": 0.001}), engine="des")
    assert des.dynamic_energy_pj_per_inference == tiny.dynamic_energy_pj_per_inference

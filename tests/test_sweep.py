"""Sweeps: --set parsing, key validation, the grid, invalid/infeasible points, figures, best point
per metric, the cache, the JSON/CSV outputs, the process-pool backend and the real model stack.

Most tests sweep `pipeline_simulate`, a module-level evaluator that runs the real analytic engine on
the hand-made pipeline of conftest.py with timings and energies taken from the swept chip, so the
expected figures can be recomputed directly."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import pytest
from conftest import AREA_MM2_BY_COMPONENT, ENERGY_PJ_PER_ACTION, LEAKAGE_MW, pipeline, timing
from hypothesis import given
from hypothesis import strategies as st

from recpim import __version__
from recpim.errors import CapacityError, ConfigError, UnsupportedModelError
from recpim.pim.analytic import analyze
from recpim.pim.config import ChipConfig
from recpim.pim.workload import ActionEnergies
from recpim.search.sweep import (
    METRICS,
    SweepResult,
    cache_key,
    grid,
    parse_setting,
    parse_settings,
    run_sweep,
    validate_keys,
)

CHIP = ChipConfig(name="base")


def pipeline_simulate(model: str, chip: ChipConfig, engine: str, batch: int):
    """Crossbar rows set the read time, ADC bits the conversion energy; under 64 rows it does not fit."""
    if chip.crossbar.rows < 64:
        raise CapacityError(f"{model} needs crossbars of at least 64 rows, chip has {chip.crossbar.rows}")
    if model == "unsupported":
        raise UnsupportedModelError("model holds an op recpim cannot lower")
    energy = dict(ENERGY_PJ_PER_ACTION, adc_conversion=0.05 * 2 ** chip.adc.bits)
    area = dict(AREA_MM2_BY_COMPONENT, crossbar=chip.crossbar.rows * chip.crossbar.cols / 1e4)
    chip_timing = replace(timing(), crossbar_read_ns=0.8 * chip.crossbar.rows)
    return analyze(pipeline(), chip_timing, ActionEnergies.from_dict(energy), LEAKAGE_MW, area, chip.name, batch=batch)


def sweep(settings, **kwargs):
    kwargs.setdefault("backend", "serial")
    kwargs.setdefault("cache_dir", None)
    return run_sweep("dlrm-like", CHIP, settings, progress=False, simulate=pipeline_simulate, **kwargs)


# ---- parsing


def test_parse_lists_ranges_and_typed_values():
    assert parse_setting("crossbar.rows=64,128,256,512") == ("crossbar.rows", [64, 128, 256, 512])
    assert parse_setting("adc.bits=4..10") == ("adc.bits", [4, 5, 6, 7, 8, 9, 10])
    assert parse_setting("adc.bits=6..6") == ("adc.bits", [6])
    assert parse_setting("clock_ghz=0.5, 1.2") == ("clock_ghz", [0.5, 1.2])
    assert parse_setting("tile.buffer.kind=edram,sram") == ("tile.buffer.kind", ["edram", "sram"])
    assert parse_setting("mapping.time_multiplexed=true,false") == ("mapping.time_multiplexed", [True, False])
    assert parse_setting("crossbar.cell_read_energy_pj=none,0.01") == ("crossbar.cell_read_energy_pj", [None, 0.01])


@pytest.mark.parametrize(("text", "says"), [
    ("crossbar.rows", "KEY=V1,V2"),
    ("=64", "KEY=V1,V2"),
    ("crossbar.rows=", "KEY=V1,V2"),
    ("adc.bits=4..x", "not A..B with integers"),
    ("clock_ghz=0.5..1.5", "list other values with commas"),
    ("adc.bits=10..4", "runs backwards"),
    ("crossbar.rows=64,,128", "empty value"),
])
def test_bad_setting_syntax_is_a_config_error(text, says):
    with pytest.raises(ConfigError, match=says):
        parse_setting(text)


def test_a_key_given_twice_is_refused():
    with pytest.raises(ConfigError, match="set twice"):
        parse_settings(["adc.bits=4,6", "adc.bits=8"])


@given(st.integers(-50, 50), st.integers(0, 40))
def test_integer_ranges_are_inclusive(start, length):
    assert parse_setting(f"k={start}..{start + length}")[1] == list(range(start, start + length + 1))


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=8))
def test_integer_lists_round_trip(values):
    assert parse_setting("k=" + ",".join(map(str, values)))[1] == values


def test_keys_are_checked_against_the_chip():
    validate_keys(CHIP, {"crossbar.rows": [64], "chip.noc.link_bandwidth_gbps": [1.0]})
    with pytest.raises(ConfigError, match="did you mean 'rows'"):
        validate_keys(CHIP, {"crossbar.rowz": [64]})
    with pytest.raises(ConfigError, match="names a section.*crossbar.rows"):
        validate_keys(CHIP, {"crossbar": [1]})
    with pytest.raises(ConfigError, match="unknown key 'foo' in the chip"):
        validate_keys(CHIP, {"foo.bar": [1]})
    with pytest.raises(ConfigError, match="nothing to sweep"):
        validate_keys(CHIP, {})


def test_grid_is_the_cartesian_product_last_key_fastest():
    points = grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(points) == 6
    assert points[:3] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}]


# ---- running


def test_sweep_figures_match_the_engine_and_statuses_say_why():
    result = sweep({"crossbar.rows": [32, 64, 128, 256], "adc.bits": [4, 8],
                    "crossbar.rows_read_at_once": [64]}, batch=16)
    by = {(p.settings["crossbar.rows"], p.settings["adc.bits"]): p for p in result.points}
    assert len(result.points) == 8 and [p.index for p in result.points] == list(range(8))
    # 32 rows cannot read 64 at once: the chip validators reject it, the sweep goes on.
    assert by[(32, 4)].status == "invalid"
    assert "rows_read_at_once (64) cannot exceed rows (32)" in by[(32, 4)].message
    assert result.counts() == {"ok": 6, "invalid": 2, "infeasible": 0, "error": 0}
    for (rows, bits), point in by.items():
        if rows == 32:
            continue
        chip = CHIP.with_overrides({"crossbar.rows": rows, "adc.bits": bits, "crossbar.rows_read_at_once": 64})
        expected = pipeline_simulate("m", chip, "analytic", 16)
        assert point.figures["energy_pj_per_inference"] == expected.energy_pj_per_inference
        assert point.figures["latency_ns_per_batch"] == expected.latency_ns_per_batch
        assert point.figures["edp_pj_ns"] == pytest.approx(
            expected.energy_pj_per_inference * expected.latency_ns_per_inference, rel=1e-12)
        assert point.figures["area_mm2"] == pytest.approx(61.0 - 12.0 + rows * 128 / 1e4)
        assert point.bottleneck_resource == expected.bottleneck_resource
    # More ADC bits cost more energy; longer crossbar reads cost more latency.
    assert by[(128, 8)].figures["energy_pj_per_inference"] > by[(128, 4)].figures["energy_pj_per_inference"]
    assert by[(256, 4)].figures["latency_ns_per_inference"] > by[(64, 4)].figures["latency_ns_per_inference"]


def test_best_point_per_metric_is_the_extreme_of_the_ok_points():
    result = sweep({"crossbar.rows": [64, 128, 256], "adc.bits": [4, 6, 8], "crossbar.rows_read_at_once": [64]})
    best = result.best()
    assert set(best) == set(METRICS)
    for metric, (goal, _) in METRICS.items():
        values = [p.figures[metric] for p in result.ok_points]
        assert best[metric].figures[metric] == (min(values) if goal == "min" else max(values))
    assert best["energy_pj_per_inference"].settings["adc.bits"] == 4
    assert best["area_mm2"].settings["crossbar.rows"] == 64
    assert result.to_json_dict()["best"]["area_mm2"]["settings"] == {"crossbar.rows": 64, "adc.bits": 4,
                                                                     "crossbar.rows_read_at_once": 64}


def test_capacity_and_other_errors_are_recorded_not_raised():
    result = sweep({"crossbar.rows": [32, 128], "crossbar.rows_read_at_once": [16]})
    assert [p.status for p in result.points] == ["infeasible", "ok"]
    assert "at least 64 rows" in result.points[0].message
    assert result.best_point("energy_pj_per_inference").index == 1
    broken = run_sweep("unsupported", CHIP, {"adc.bits": [4]}, backend="serial", cache_dir=None, progress=False,
                       simulate=pipeline_simulate)
    assert broken.points[0].status == "error" and "UnsupportedModelError" in broken.points[0].message
    assert broken.best() == {}


def test_bad_engine_batch_and_keys_fail_before_any_work():
    with pytest.raises(ConfigError, match="engine"):
        sweep({"adc.bits": [4]}, engine="spice")
    with pytest.raises(ConfigError, match="batch"):
        sweep({"adc.bits": [4]}, batch=0)
    with pytest.raises(ConfigError, match="did you mean 'bits'"):
        sweep({"adc.bitz": [4]})


def test_the_cache_makes_a_rerun_instant_and_misses_on_any_change(tmp_path):
    settings = {"crossbar.rows": [64, 128], "adc.bits": [4, 6], "crossbar.rows_read_at_once": [64]}
    first = sweep(settings, cache_dir=tmp_path)
    assert not any(p.from_cache for p in first.points)
    assert len(list(tmp_path.glob("*.json"))) == 4
    again = sweep(settings, cache_dir=tmp_path)
    assert all(p.from_cache for p in again.points)
    assert [p.figures for p in again.points] == [p.figures for p in first.points]
    other_batch = sweep(settings, cache_dir=tmp_path, batch=8)
    assert not any(p.from_cache for p in other_batch.points)
    # A half-written entry (an interrupted run) is recomputed, not trusted.
    point_chip = CHIP.with_overrides({"crossbar.rows": 128, "adc.bits": 6, "crossbar.rows_read_at_once": 64})
    (tmp_path / f"{cache_key(point_chip, 'dlrm-like', 'analytic', 64)}.json").write_text('{"status": "ok", "rep')
    healed = sweep(settings, cache_dir=tmp_path)
    assert [p.from_cache for p in healed.points] == [True, True, True, False]
    assert [p.figures for p in healed.points] == [p.figures for p in first.points]


def test_cache_key_depends_on_the_resolved_chip_model_engine_and_batch(tmp_path):
    base = cache_key(CHIP, "dlrm", "analytic", 64)
    assert base == cache_key(ChipConfig(name="base"), "dlrm", "analytic", 64)
    assert base != cache_key(CHIP.with_overrides({"adc.bits": 6}), "dlrm", "analytic", 64)
    assert base != cache_key(CHIP, "deepfm", "analytic", 64)
    assert base != cache_key(CHIP, "dlrm", "des", 64)
    assert base != cache_key(CHIP, "dlrm", "analytic", 32)
    model_file = tmp_path / "subnet.json"
    model_file.write_text('{"blocks": 1}')
    before = cache_key(CHIP, str(model_file), "analytic", 64)
    model_file.write_text('{"blocks": 2}')
    assert cache_key(CHIP, str(model_file), "analytic", 64) != before


def test_local_process_pool_gives_the_serial_figures():
    settings = {"crossbar.rows": [64, 128, 256], "adc.bits": [4, 8]}
    serial = sweep(settings)
    local = sweep(settings, backend="local", workers=2)
    assert [p.settings for p in local.points] == [p.settings for p in serial.points]
    assert [p.figures for p in local.points] == [p.figures for p in serial.points]


def test_outputs_round_trip_and_hold_one_row_per_point(tmp_path):
    result = sweep({"crossbar.rows": [32, 64, 128], "crossbar.rows_read_at_once": [64]})
    files = result.write(tmp_path)
    data = json.loads(files["json"].read_text())
    assert len(data["points"]) == 3 and data["swept_keys"] == ["crossbar.rows", "crossbar.rows_read_at_once"]
    assert data["points"][1]["figures"]["energy_pj_per_inference"] == result.points[1].figures[
        "energy_pj_per_inference"]
    assert SweepResult.from_json_dict(data).to_json_dict() == data
    rows = list(csv.DictReader(files["csv"].open()))
    assert [row["status"] for row in rows] == ["invalid", "ok", "ok"]
    assert math.isclose(float(rows[2]["edp_pj_ns"]), result.points[2].figures["edp_pj_ns"], rel_tol=1e-12)
    inputs = json.loads(files["inputs"].read_text())
    assert inputs["recpim_version"] == __version__
    assert inputs["inputs"]["settings"] == {"crossbar.rows": [32, 64, 128], "crossbar.rows_read_at_once": [64]}
    assert inputs["inputs"]["chip"]["crossbar"]["rows"] == 128   # the base chip, before overrides


def test_sweep_of_a_real_zoo_model_on_isaac():
    from recpim import api
    chip = api.load_chip("isaac")
    result = run_sweep("dlrm", chip, {"crossbar.rows": [128, 256], "adc.bits": [4, 8]}, backend="serial",
                       cache_dir=None, progress=False)
    assert result.counts()["ok"] == 4
    by = {(p.settings["crossbar.rows"], p.settings["adc.bits"]): p.figures for p in result.points}
    direct = api.simulate_model("dlrm", chip.with_overrides({"crossbar.rows": 256, "adc.bits": 4}), batch=64)
    assert by[(256, 4)]["energy_pj_per_inference"] == pytest.approx(direct.energy_pj_per_inference, rel=1e-12)
    assert by[(128, 8)]["energy_pj_per_inference"] > by[(128, 4)]["energy_pj_per_inference"]
    assert by[(128, 8)]["area_mm2"] > by[(128, 4)]["area_mm2"]

"""Cost of real models on real presets: the whole path graph -> mapping -> stages -> engines."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from recpim.api import load_chip, resolve_model_spec, simulate_model
from recpim.cli import app
from recpim.mapping import map_model
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.engine import cost_inputs, run_engine

EXAMPLE_SUBNET = "examples/subnet_full_seed0.json"


def contention_free(inputs):
    """Instant buffers and adders, very wide links, many vector units and a very fast DRAM channel."""
    timing = replace(inputs.timing, buffer_width_bits=1 << 30, buffer_access_ns=0.0, link_bandwidth_gbps=1e12,
                     hop_latency_ns=0.0, vector_units=1 << 20, tile_adders=1 << 20, dram_bandwidth_gbps=1e12,
                     dram_latency_ns=0.0)
    return replace(inputs, timing=timing)


@pytest.fixture(scope="module")
def dlrm_on_isaac():
    graph = resolve_model_spec("dlrm")
    chip = load_chip("isaac")
    return graph, chip, workload_from_mapping(graph, map_model(graph, chip), chip)


@pytest.fixture(scope="module")
def subnet_on_default():
    graph = resolve_model_spec(EXAMPLE_SUBNET)
    chip = load_chip("default")
    return graph, chip, workload_from_mapping(graph, map_model(graph, chip), chip)


@pytest.mark.parametrize("case", ["dlrm_on_isaac", "subnet_on_default"])
def test_simulator_agrees_with_analytic_on_real_models_without_contention(case, request):
    graph, chip, workload = request.getfixturevalue(case)
    inputs = contention_free(cost_inputs(chip))
    analytic, _ = run_engine(workload, inputs, "analytic", batch=32)
    des, _ = run_engine(workload, inputs, "des", batch=32)
    assert math.isclose(des.latency_ns_per_batch, analytic.latency_ns_per_batch, rel_tol=0.05)
    assert math.isclose(des.latency_ns_per_inference, analytic.latency_ns_per_inference, rel_tol=0.05)
    # A consistency check, not a check of the counts: both engines price the same counts with the same
    # function (tests/test_hand_counts.py checks counts and energy worked by hand).
    assert des.dynamic_energy_pj_per_inference == analytic.dynamic_energy_pj_per_inference
    # The simulator counts the MACs it executes, event by event: they equal the graph's.
    assert des.macs_per_inference == graph.total_macs


def test_breakdowns_sum_and_embedding_tables_show_separately(dlrm_on_isaac):
    graph, chip, workload = dlrm_on_isaac
    report, _ = run_engine(workload, cost_inputs(chip), "des", batch=8)
    total = report.energy_pj_per_inference
    assert math.isclose(math.fsum(report.energy_pj_by_component.values()), total, rel_tol=1e-12)
    assert math.isclose(math.fsum(report.energy_pj_by_layer.values()), total, rel_tol=1e-12)
    # DLRM's 26 tables are in DRAM on isaac: their lookups are priced as DRAM bits.
    tables = [n.name for n in graph.nodes() if n.kind == "embedding"]
    assert len(tables) == 26
    assert report.embedding_energy_pj_per_inference == pytest.approx(
        sum(report.energy_pj_by_layer[t] for t in tables))
    assert report.energy_pj_by_component["dram"] > 0
    assert report.area_mm2 == pytest.approx(85.4, rel=0.01)  # the ISAAC chip


@pytest.mark.parametrize("engine", ["analytic", "des"])
def test_more_adc_bits_never_lower_adc_energy(subnet_on_default, engine):
    graph, chip, _ = subnet_on_default
    energies = []
    for bits in (4, 5, 6, 7, 8):
        report = simulate_model(graph, chip.with_overrides({"adc.bits": bits}), engine=engine, batch=4)
        energies.append(report.energy_pj_by_component["adc"])
    assert all(later >= earlier for earlier, later in zip(energies, energies[1:], strict=False))
    assert energies[-1] > energies[0]


def test_halving_link_bandwidth_never_shortens_latency_on_a_real_model(dlrm_on_isaac):
    graph, chip, workload = dlrm_on_isaac
    inputs = cost_inputs(chip)
    slower = replace(inputs, timing=replace(inputs.timing,
                                            link_bandwidth_gbps=inputs.timing.link_bandwidth_gbps / 2))
    for engine in ("analytic", "des"):
        fast, _ = run_engine(workload, inputs, engine, batch=16)
        slow, _ = run_engine(workload, slower, engine, batch=16)
        assert slow.latency_ns_per_batch >= fast.latency_ns_per_batch


def test_cli_simulate_json_and_trace(tmp_path):
    trace = tmp_path / "trace.json"
    result = CliRunner().invoke(app, ["simulate", "dlrm", "--chip", "isaac", "--engine", "des", "--batch", "4",
                                      "--trace", str(trace), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("latency_ns_per_inference", "throughput_inf_per_s", "energy_pj_per_inference",
                "energy_pj_by_component", "tops", "tops_per_w", "area_mm2"):
        assert key in report
    assert math.isclose(sum(report["energy_pj_by_component"].values()), report["energy_pj_per_inference"],
                        rel_tol=1e-12)
    events = json.loads(trace.read_text())["traceEvents"]
    tracks = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert "dram" in tracks and any(t.endswith(".crossbars") for t in tracks)


def test_cli_simulate_reports_a_model_that_does_not_fit():
    result = CliRunner().invoke(app, ["simulate", "vgg8", "--chip", "default", "--engine", "analytic"])
    assert result.exit_code != 0
    assert "crossbars" in str(result.exception) or "crossbars" in result.output


def test_cli_simulate_writes_a_breakdown_report(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "dlrm", "--chip", "isaac", "--engine", "analytic",
                                      "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report" / "breakdown.html").read_text()
    assert "embedding" in html.lower() and "data:image/png;base64," in html


def test_the_api_loads_no_heavy_stage_and_the_demo_no_cli():
    """`import recpim.api` (what `recpim simulate` pays) loads neither torch, optuna nor matplotlib:
    the search, training and demo are imported on first use; the demo prints through
    recpim.console, not the CLI's module."""
    import subprocess
    import sys

    code = ("import sys; import recpim.api; "
            "heavy = [m for m in ('torch', 'optuna', 'matplotlib') if m in sys.modules]; "
            "import recpim.demo; print(heavy, 'recpim.cli' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] False"

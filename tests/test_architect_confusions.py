"""Issue 26, item 18: what confused a hardware architect in the first hour.

- the README's lossless-ADC formula must carry the sign bit of analog subtraction, with figures
  that recpim's own arithmetic reproduces;
- `simulate` names a bottleneck layer and a bottleneck resource; where they differ it says why;
- the demo's search stage may only suggest options that `recpim demo` takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from recpim.cli import app
from recpim.crossbar_numbers import lossless_adc_bits
from recpim.reports.breakdown import bottleneck_explanation, write_breakdown_report

runner = CliRunner()
README = Path(__file__).parents[1] / "README.md"


def test_readme_lossless_adc_formula_has_the_sign_bit_and_its_figures_hold():
    text = " ".join(README.read_text().split())
    assert "bitlength(r·(2^d−1)·(2^c−1))" in text
    assert "plus one sign bit with analog subtraction" in text
    # the figures the README quotes with it
    assert "ISAAC's 9 bits for 128 rows, 1-bit DAC, 2-bit cells" in text
    assert lossless_adc_bits(128, cell_bits=2, dac_bits=1) == 9
    assert "128 rows of 2-bit cells need 10 bits" in text
    assert lossless_adc_bits(128, cell_bits=2, dac_bits=1, signed=True) == 10
    assert "an 8-bit ADC on a 64-row read is lossy" in text
    assert lossless_adc_bits(64, cell_bits=2, dac_bits=1, signed=True) > 8


@pytest.fixture(scope="module")
def des_run():
    """The simulator on dlrm and the default chip: its slowest layer is not its busiest resource."""
    args = ["simulate", "dlrm", "--chip", "default", "--engine", "des", "--batch", "16"]
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    return json.loads(as_json.stdout), " ".join(text.stdout.split())


def test_simulate_says_why_the_bottleneck_layer_and_resource_differ(des_run):
    report, text = des_run
    layer, resource = report["bottleneck_layer"], report["bottleneck_resource"]
    assert not resource.startswith(f"{layer}.")          # the case the architect met
    assert "why two names" in text.lower()
    assert layer in text and resource in text
    busiest = max(report["utilization"].values())
    tied = [k for k, v in report["utilization"].items() if k != resource and abs(v - busiest) <= 1e-3 * busiest]
    if tied:
        assert "as busy" in text and tied[0] in text


def test_breakdown_page_says_why_too(des_cost_report, tmp_path):
    from dataclasses import replace

    stages = des_cost_report.stage_ns_by_layer
    slowest = max(stages, key=stages.get)
    other = next(name for name in des_cost_report.utilization if not name.startswith(f"{slowest}"))
    report = replace(des_cost_report, bottleneck_layer=slowest, bottleneck_resource=other)
    explanation = bottleneck_explanation(report)
    assert "why two names" in explanation.lower() and slowest in explanation and other in explanation
    html = write_breakdown_report(report, tmp_path).html.read_text()
    assert "Why two names" in html
    agreeing = replace(des_cost_report, bottleneck_layer=slowest, bottleneck_resource=f"stage {slowest}")
    assert "why two names" not in bottleneck_explanation(agreeing).lower()


def _demo_options() -> set[str]:
    command = typer.main.get_command(app).commands["demo"]
    return {opt for param in command.params for opt in param.opts}


def test_the_search_hint_names_only_options_the_demo_takes(monkeypatch, tmp_path):
    from recpim.search.run import SearchSettings, slow_candidate_hint

    defaults = {name: field.default for name, field in SearchSettings.model_fields.items() if not field.is_required()}
    settings = SearchSettings.model_construct(**{**defaults, "accuracy": "crossbar", "score_rows": None,
                                                 "finetune_steps": 500})
    hint = slow_candidate_hint(settings, 60.0)
    named = set(re.findall(r"--[a-z][a-z-]*", hint))
    assert named, hint
    assert named <= _demo_options(), f"the hint names {sorted(named - _demo_options())}, which recpim demo lacks"


def test_demo_passes_its_search_options_on(monkeypatch, tmp_path):
    """`recpim demo --accuracy quant --score-rows 256 --finetune-steps 100` reaches the search's settings."""
    import recpim.demo as demo

    seen = {}

    class Stop(Exception):
        pass

    def capture(chip, checkpoint, data=None, chip_ranges=None, **fields):
        seen.update(fields)
        raise Stop

    monkeypatch.setattr(demo, "train_supernet", lambda *a, **k: None)
    monkeypatch.setattr(demo, "open_dataset", lambda *a, **k: None)
    monkeypatch.setattr(demo, "resolve_settings", capture)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--accuracy", "quant", "--score-rows",
                                 "256", "--finetune-steps", "100"])
    assert isinstance(result.exception, Stop), result.output
    assert seen["accuracy"] == "quant" and seen["score_rows"] == 256 and seen["finetune_steps"] == 100
    bad = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo2"), "--accuracy", "banana"])
    assert bad.exit_code != 0 and "--accuracy" in bad.output and "quant" in bad.output

"""Sweep points carry how many layers their ADC makes lossy; the best-point tables flag them and
`--lossless-only` picks among lossless points; a huge grid says its size first and needs --yes;
the search names cheaper settings when candidates are slow."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from recpim.arch.model.space import nasrec_small
from recpim.cli import app
from recpim.pim.presets import load_chip
from recpim.search.run import SLOW_CANDIDATE_S, SearchSettings, slow_candidate_hint
from recpim.search.sweep import grid_size, run_sweep
from recpim.search.sweep_result import SweepResult


@pytest.fixture(scope="module")
def adc_sweep() -> SweepResult:
    return run_sweep("dlrm", load_chip("isaac"), {"adc.bits": [4, 9]}, backend="serial", cache_dir=None,
                     progress=False)


def test_points_carry_their_adc_lossy_layers_and_lossless_only_changes_the_best(adc_sweep):
    lossy, lossless = adc_sweep.points
    assert lossy.adc_lossy_layers > 0 and lossless.adc_lossy_layers == 0   # ISAAC's 128 rows need 9 bits
    assert adc_sweep.best_point("energy_pj_per_inference") is lossy          # the narrow ADC is cheapest...
    strict = dataclasses.replace(adc_sweep, lossless_only=True)
    assert strict.best_point("energy_pj_per_inference") is lossless          # ...and lossy
    data = strict.to_json_dict()
    assert [p["adc_lossy_layers"] for p in data["points"]] == [lossy.adc_lossy_layers, 0]
    assert data["best"]["energy_pj_per_inference"]["adc_lossy_layers"] == 0
    assert SweepResult.from_json_dict(json.loads(json.dumps(data))) == strict


def test_the_cli_flags_lossy_best_points_and_filters_them(tmp_path):
    runner = CliRunner()
    common = ["sweep", "dlrm", "--chip", "isaac", "--set", "adc.bits=4,9", "--backend", "serial", "--no-cache",
              "--no-report"]
    flagged = runner.invoke(app, [*common, "--out", str(tmp_path / "a")])
    assert flagged.exit_code == 0, flagged.output
    assert "LOSSY" in flagged.output and "--lossless-only picks" in flagged.output
    assert "sweep grid: 2 points (2 adc.bits)" in flagged.output
    strict = runner.invoke(app, [*common, "--out", str(tmp_path / "b"), "--lossless-only", "--json"])
    assert strict.exit_code == 0, strict.output
    best = json.loads(strict.stdout)["best"]
    assert {entry["settings"]["adc.bits"] for entry in best.values()} == {9}


def test_a_grid_above_the_threshold_needs_yes(tmp_path, monkeypatch):
    import recpim.search.sweep

    settings = ["--set", "adc.bits=1..16", "--set", "crossbar.rows=1..4096"]
    assert grid_size({"a": list(range(16)), "b": list(range(4096))}) == 65536
    refused = CliRunner().invoke(app, ["sweep", "dlrm", "--chip", "isaac", *settings, "--out", str(tmp_path)])
    assert refused.exit_code != 0 and "65,536 points" in str(refused.exception) and "--yes" in str(refused.exception)

    def reached(*args, **kwargs):
        raise RuntimeError("the sweep started")

    monkeypatch.setattr(recpim.search.sweep, "run_sweep", reached)
    accepted = CliRunner().invoke(app, ["sweep", "dlrm", "--chip", "isaac", *settings, "--out", str(tmp_path),
                                        "--yes"])
    assert "the sweep started" in str(accepted.exception)


def test_slow_candidates_name_the_cheaper_settings():
    settings = SearchSettings(chip={}, supernet="s.pt", supernet_sha256="0", space=nasrec_small())
    assert slow_candidate_hint(settings, SLOW_CANDIDATE_S / 2) is None
    hint = slow_candidate_hint(settings, 30.0)
    assert "30 s" in hint and "--accuracy quant" in hint and "--score-rows 256" in hint
    cheap = SearchSettings(chip={}, supernet="s.pt", supernet_sha256="0", space=nasrec_small(), accuracy="quant",
                           score_rows=128, finetune_steps=50)
    assert slow_candidate_hint(cheap, 30.0) is None

"""`recpim map`: the CLI over map_model, on zoo models and chip presets. recpim's own modules are
imported at the top: a moved or renamed one fails the suite instead of skipping it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from recpim.cli import app


def _run(*args):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("model", [pytest.param("vgg8", marks=pytest.mark.slow), "dlrm"])
def test_map_json_on_isaac(model):
    result = _run("map", model, "--chip", "isaac", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("crossbars_used", "crossbars_available", "tiles_used", "utilization", "layers"):
        assert key in data
    assert 0 < data["crossbars_used"] <= data["crossbars_available"]
    assert data["utilization"] == pytest.approx(data["crossbars_used"] / data["crossbars_available"])
    assert data["layers"] and all(layer["kind"] == "mvm" for layer in data["layers"])
    if model == "dlrm":
        assert data["embeddings"] and data["embedding_bytes_on_chip"] + data["embedding_bytes_off_chip"] > 0


def test_map_table_and_policy_override():
    plain = json.loads(_run("map", "dlrm", "--chip", "isaac", "--replication", "none", "--json").stdout)
    assert all(layer["replication"] == 1 for layer in plain["layers"])
    result = _run("map", "dlrm", "--chip", "isaac", "--replication", "none")
    assert result.exit_code == 0, result.output
    assert "MVM layers" in result.stdout and "totals" in result.stdout


def test_map_with_a_chip_yaml_file(tmp_path):
    """The command wiring on a YAML chip."""
    chip_file = tmp_path / "tiny.yaml"
    chip_file.write_text("name: tiny\nweight_encoding: differential\nchip: {tiles: 4, mesh_rows: 2, mesh_cols: 2}\n"
                         "mapping: {replication: none, time_multiplexed: false}\n")
    fits = _run("map", "dlrm", "--chip", str(chip_file), "--json")
    assert fits.exit_code == 0, fits.output
    data = json.loads(fits.stdout)
    assert data["chip"] == "tiny" and data["crossbars_available"] == 4 * 12 * 8
    assert data["tiles_used"] <= 4 and all(layer["replication"] == 1 for layer in data["layers"])
    chip_file.write_text("name: tinier\nchip: {tiles: 1, mesh_rows: 1, mesh_cols: 1}\ntile: {pes: 1}\n"
                         "pe: {crossbars: 1, adcs: 1}\n")
    too_big = _run("map", "dlrm", "--chip", str(chip_file))
    assert too_big.exit_code != 0 and "does not fit" in str(too_big.exception)

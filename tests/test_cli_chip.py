"""`recpim chip`: tables, --json with the golden ISAAC figures, the schema, and errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from recpim.cli import app
from recpim.errors import ConfigError
from recpim.pim.presets import list_presets, preset_text

runner = CliRunner()


def test_chip_isaac_json_has_the_golden_keys_and_figures():
    result = runner.invoke(app, ["chip", "isaac", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tile"]["power_mw"] == pytest.approx(330.0, rel=0.01)
    assert data["tile"]["area_mm2"] == pytest.approx(0.372, rel=0.01)
    assert data["chip"]["power_w"] == pytest.approx(65.8, rel=0.01)
    assert data["chip"]["area_mm2"] == pytest.approx(85.4, rel=0.01)
    assert data["energy_pj"]["adc_conversion"] == pytest.approx(1.5625)
    assert data["energy_pj"]["dac_drive"] == pytest.approx(0.390625)
    assert data["energy_pj"]["buffer_access_256b"] == pytest.approx(17.25)
    assert data["components"]["adc"]["count_per_chip"] == 8 * 12 * 168
    assert data["components"]["adc"]["action"] == "one conversion at the chip's ADC bits"


@pytest.mark.parametrize("name", list_presets())
def test_chip_prints_tables_for_every_preset(name):
    result = runner.invoke(app, ["chip", name])
    assert result.exit_code == 0, result.output
    for text in ("one instance", "roll-up", "adc_conversion", "buffer_access_256b", "sample_hold", "│ chip "):
        assert text in result.stdout


def test_chip_reads_a_yaml_file(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text(preset_text("isaac").replace("tiles: 168", "tiles: 84"))
    result = runner.invoke(app, ["chip", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["chip"]["area_mm2"] == pytest.approx(84 * 0.37229 + 22.88, rel=1e-6)


def test_chip_schema_prints_the_json_schema():
    result = runner.invoke(app, ["chip", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["title"] == "ChipConfig"
    assert {"crossbar", "adc", "pe", "tile", "chip"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_chip_with_an_unknown_preset_raises_the_config_error_the_entry_point_prints():
    result = runner.invoke(app, ["chip", "isac"])
    assert isinstance(result.exception, ConfigError)
    assert "did you mean 'isaac'" in str(result.exception)

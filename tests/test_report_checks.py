"""Issue 26, items 14 and 15: `recpim report` refuses impossible numbers and links that leave the
result's folder, and shows leakage per component and ADC-lossy sweep cells."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from recpim.errors import ConfigError
from recpim.reports import plots
from recpim.reports.breakdown import write_breakdown_report
from recpim.reports.from_json import write_report_from_json
from recpim.reports.sweep_report import build_sweep_document
from recpim.search.sweep_result import METRICS, SweepPoint, SweepResult


def with_leakage_parts(report):
    """The report with its leakage split as a chip's is (two thirds ADC), the parts adding up to it."""
    leakage = report.energy_pj_by_component["leakage"]
    assert leakage > 0
    return replace(report, leakage_pj_by_component={"adc": leakage * 2 / 3, "buffer": leakage / 4,
                                                    "router": leakage - leakage * 2 / 3 - leakage / 4})


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, named", [
    (lambda d: d.update(energy_pj_per_inference=-5.0), "energy_pj_per_inference"),
    (lambda d: d.update(latency_ns_per_inference=float("nan")), "latency_ns_per_inference"),
    (lambda d: d["energy_pj_by_component"].update({next(iter(d["energy_pj_by_component"])): -1.0}),
     "energy_pj_by_component"),
    (lambda d: d["energy_pj_by_component"].update(
        {k: 3 * v for k, v in list(d["energy_pj_by_component"].items())[:1]}), "energy_pj_by_component"),
    (lambda d: d["energy_pj_by_layer"].update({"ghost": 1e6}), "energy_pj_by_layer"),
    (lambda d: d["area_mm2_by_component"].update({"ghost": 5.0}), "area_mm2_by_component"),
])
def test_report_refuses_a_cost_report_with_impossible_numbers(des_cost_report, tmp_path, change, named):
    data = {"kind": "cost_report", **with_leakage_parts(des_cost_report).to_json_dict()}
    data = json.loads(json.dumps(data))
    change(data)
    path = _write(tmp_path / "bad.json", data)
    with pytest.raises(ConfigError, match=named) as error:
        write_report_from_json(path, tmp_path / "out")
    assert str(path) in str(error.value)
    assert not (tmp_path / "out" / "breakdown.html").exists()


def test_report_refuses_leakage_parts_that_do_not_add_up(des_cost_report, tmp_path):
    data = json.loads(json.dumps(with_leakage_parts(des_cost_report).to_json_dict()))
    first = next(iter(data["leakage_pj_by_component"]))
    data["leakage_pj_by_component"][first] *= 2
    with pytest.raises(ConfigError, match="leakage_pj_by_component"):
        write_report_from_json(_write(tmp_path / "bad.json", data), tmp_path / "out")


def test_a_sound_cost_report_still_renders(des_cost_report, tmp_path):
    kind, files = write_report_from_json(_write(tmp_path / "ok.json", des_cost_report.to_json_dict()),
                                         tmp_path / "out")
    assert kind == "breakdown" and files.html.is_file()


def _sweep(keys: dict[str, list], lossy: set[int] = frozenset()) -> SweepResult:
    combos = [{}]
    for key, values in keys.items():
        combos = [{**c, key: v} for c in combos for v in values]
    points = [SweepPoint(i, c, "ok", figures={m: float(10 + i) for m in METRICS},
                         adc_lossy_layers=2 if i in lossy else 0) for i, c in enumerate(combos)]
    return SweepResult("dlrm", "isaac", "analytic", 64, keys, points)


def test_report_refuses_a_swept_key_that_is_not_a_chip_key(tmp_path):
    data = _sweep({"banana.bits": [4, 8]}).to_json_dict()
    with pytest.raises(ConfigError, match="banana.bits"):
        write_report_from_json(_write(tmp_path / "sweep.json", data), tmp_path / "out")


def test_report_refuses_a_front_point_whose_report_leaves_the_folder(tmp_path):
    secret = tmp_path / "secret.html"
    secret.write_text("<p>not a report</p>")
    result = tmp_path / "run" / "search"
    result.mkdir(parents=True)
    point = {"subnet_id": "c1", "logloss": 0.45, "energy_pj_per_inference": 1e5, "latency_ns_per_inference": 2e3}
    for escape in ("../../secret.json", str(secret), "../../../../etc/passwd"):
        data = {"kind": "search_front", "points": [{**point, "report": escape}]}
        with pytest.raises(ConfigError, match="report") as error:
            write_report_from_json(_write(result / "front.json", data), result / "front_report")
        assert "inside" in str(error.value)
        data = {"kind": "search_front", "points": [{**point, "breakdown": escape}]}
        with pytest.raises(ConfigError, match="breakdown"):
            write_report_from_json(_write(result / "front.json", data), result / "front_report")


def test_a_front_point_link_inside_the_folder_is_kept(tmp_path):
    result = tmp_path / "search"
    page = result / "front_reports" / "c1" / "breakdown.html"
    page.parent.mkdir(parents=True)
    page.write_text("<p>breakdown</p>")
    point = {"subnet_id": "c1", "logloss": 0.45, "energy_pj_per_inference": 1e5, "latency_ns_per_inference": 2e3,
             "report": "front_reports/c1.json"}
    _, files = write_report_from_json(_write(result / "front.json", {"kind": "search_front", "points": [point]}),
                                      result / "front_report")
    assert 'href="../front_reports/c1/breakdown.html"' in files.html.read_text()


def test_report_refuses_negative_front_figures(tmp_path):
    point = {"subnet_id": "c1", "logloss": 0.45, "energy_pj_per_inference": -1e5, "latency_ns_per_inference": 2e3}
    with pytest.raises(ConfigError, match="energy_pj_per_inference"):
        write_report_from_json(_write(tmp_path / "front.json", {"kind": "search_front", "points": [point]}),
                               tmp_path / "out")


# ---- item 15


def test_breakdown_html_shows_leakage_per_component(des_cost_report, tmp_path):
    report = with_leakage_parts(des_cost_report)
    leakage = report.leakage_pj_by_component
    files = write_breakdown_report(report, tmp_path)
    html, markdown = files.html.read_text(), files.markdown.read_text()
    largest = max(leakage, key=leakage.get)
    for text in (html, markdown):
        assert "Leakage by component" in text
        assert f"leakage: {largest}" in text
    # the component table splits leakage, and its rows still add up to the total
    data = json.loads(files.json.read_text())
    assert math.isclose(sum(data["leakage_pj_by_component"].values()), data["energy_pj_by_component"]["leakage"],
                        rel_tol=1e-9)


def test_breakdown_without_leakage_parts_keeps_one_row(des_cost_report, tmp_path):
    report = replace(des_cost_report, leakage_pj_by_component={})
    html = write_breakdown_report(report, tmp_path).html.read_text()
    assert "Leakage by component" not in html and "leakage: " not in html


def test_sweep_heatmaps_mark_adc_lossy_cells(tmp_path, monkeypatch):
    result = _sweep({"crossbar.rows": [64, 128], "adc.bits": [6, 8]}, lossy={0, 2})
    seen = []
    real = plots.heatmap

    def spy(path, grid, **kwargs):
        seen.append(kwargs.get("lossy"))
        return real(path, grid, **kwargs)

    monkeypatch.setattr(plots, "heatmap", spy)
    doc = build_sweep_document(result, tmp_path)
    # point 0: rows 64, bits 6 -> cell (0, 0); point 2: rows 128, bits 6 -> cell (1, 0)
    assert seen and all(cells == {(0, 0), (1, 0)} for cells in seen)
    captions = " ".join(b.caption for b in doc.blocks if hasattr(b, "caption") and hasattr(b, "alt"))
    assert "ADC-lossy" in captions


def test_one_key_sweep_plot_marks_lossy_points(tmp_path, monkeypatch):
    result = _sweep({"adc.bits": [4, 6, 8]}, lossy={0})
    seen = []
    real = plots.line_chart

    def spy(path, x_values, series, **kwargs):
        seen.append(kwargs.get("lossy_x"))
        return real(path, x_values, series, **kwargs)

    monkeypatch.setattr(plots, "line_chart", spy)
    build_sweep_document(result, tmp_path)
    assert seen and all(x == [4] for x in seen)

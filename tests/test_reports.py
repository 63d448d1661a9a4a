"""Reports: the breakdown of a real CostReport, sweep heatmaps/lines, the search front, the index
page, Markdown/HTML/JSON outputs, `recpim report`, and the plots as real, non-blank PNGs."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage
from typer.testing import CliRunner

from recpim.cli import app
from recpim.errors import ConfigError
from recpim.pim.config import ChipConfig
from recpim.reports.breakdown import energy_parts, shares, top_with_rest, write_breakdown_report
from recpim.reports.from_json import detect_kind, write_report_from_json
from recpim.reports.html import IndexSection, write_index
from recpim.reports.search_report import FrontPoint, ZooPoint, best_so_far_series, is_nondominated, write_search_report
from recpim.reports.sweep_report import metric_grid, slice_fixed, write_sweep_report
from recpim.search.sweep_result import METRICS, SweepPoint, SweepResult

runner = CliRunner()


def assert_real_png(path: Path) -> None:
    """A PNG that decodes, has pixels, and is not one flat colour."""
    assert path.exists() and path.stat().st_size > 1000, path
    with PILImage.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 100 and image.height > 100
        extrema = image.convert("RGB").getextrema()
        assert any(low != high for low, high in extrema), f"{path} is a single colour"


class _Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.img_src: list[str] = []
        self.hrefs: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.img_src.append(attrs.get("src", ""))
        if tag == "a":
            self.hrefs.append(attrs.get("href", ""))
        if tag in ("script", "link", "iframe") or (tag == "img" and not attrs.get("src", "").startswith("data:")):
            self.external.append(tag)


def page_sources(html_path: Path) -> _Sources:
    parser = _Sources()
    parser.feed(html_path.read_text())
    return parser


def assert_standalone(html_path: Path, images: list[Path]) -> None:
    sources = page_sources(html_path)
    assert sources.external == []
    assert len(sources.img_src) == len(images)
    assert all(src.startswith("data:image/png;base64,") for src in sources.img_src)


# ---- helpers of the breakdown


def test_top_with_rest_keeps_the_largest_and_sums_the_rest():
    values = {"a": 5.0, "b": 1.0, "c": 3.0, "d": 0.5}
    assert top_with_rest(values, 2) == [("a", 5.0), ("c", 3.0), ("other (2)", 1.5)]
    assert top_with_rest(values, 4) == [("a", 5.0), ("c", 3.0), ("b", 1.0), ("d", 0.5)]


@given(st.dictionaries(st.text(min_size=1, max_size=6), st.floats(0, 1e9), min_size=1, max_size=30),
       st.integers(1, 12))
def test_top_with_rest_preserves_the_total_and_shares_sum_to_100(values, n):
    grouped = top_with_rest(values, n)
    assert len(grouped) <= n + 1
    assert math.isclose(math.fsum(v for _, v in grouped), math.fsum(values.values()), rel_tol=1e-9, abs_tol=1e-9)
    if math.fsum(values.values()) > 0:
        assert math.isclose(math.fsum(p for _, _, p in shares(values)), 100.0, rel_tol=1e-9)


# ---- breakdown report


def test_breakdown_report_of_an_engine_result(cost_report, tmp_path):
    files = write_breakdown_report(cost_report, tmp_path, chip=ChipConfig(name="isaac-like"), top_n=5)
    names = {path.name for path in files.images}
    assert names == {"energy_by_component.png", "energy_by_layer.png", "latency_by_layer.png",
                     "area_by_component.png", "utilization.png"}
    for image in files.images:
        assert_real_png(image)
    assert_standalone(files.html, files.images)
    # The JSON is the CostReport itself, so `recpim report` can read it back.
    assert json.loads(files.json.read_text()) == {"kind": "cost_report",
                                                  **json.loads(json.dumps(cost_report.to_json_dict()))}

    markdown = files.markdown.read_text()
    html = files.html.read_text()
    total = cost_report.energy_pj_per_inference
    for text in (f"{total:.4g}", cost_report.bottleneck_layer, cost_report.bottleneck_resource, "128 x 128",
                 "Embedding tables", "Area by component", "Resource utilisation"):
        assert text in markdown and text in html.replace("&gt;", ">")
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", markdown):
        assert (files.markdown.parent / link).exists()
    # Top 5 of 14 layers, the other 9 grouped, with their summed energy.
    layers = {k: v for k, v in cost_report.energy_pj_by_layer.items() if k != "leakage"}
    rest = sorted(layers.values(), reverse=True)[5:]
    row = re.search(r"\| other \(9\) \| ([0-9.e+]+) \|", markdown)
    assert row is not None and float(row.group(1)) == pytest.approx(math.fsum(rest), rel=1e-3)
    # The embedding share printed is the engine's figure over the total.
    share = 100 * cost_report.embedding_energy_pj_per_inference / total
    assert f"{share:.1f} % of the total" in markdown


def test_energy_parts_add_up_to_the_total(cost_report):
    parts = energy_parts(cost_report)
    assert math.isclose(math.fsum(parts.values()), cost_report.energy_pj_per_inference, rel_tol=1e-12)
    assert parts["embedding tables"] == cost_report.embedding_energy_pj_per_inference > 0


def test_breakdown_of_a_simulator_result_lists_queueing_waits(des_cost_report, tmp_path):
    assert des_cost_report.wait_ns_by_resource
    files = write_breakdown_report(des_cost_report, tmp_path)
    assert "Where the simulator's requests waited" in files.markdown.read_text()
    assert "(des)" in files.html.read_text()


# ---- sweep report


def sweep_result(settings: dict[str, list], invalid: set[tuple] = frozenset()) -> SweepResult:
    """Figures from a formula: energy grows with ADC bits, latency with rows; `invalid` combos fail."""
    import itertools

    points = []
    for index, combo in enumerate(itertools.product(*settings.values())):
        point_settings = dict(zip(settings, combo, strict=True))
        if combo in invalid:
            points.append(SweepPoint(index, point_settings, "invalid", message="rows_read_at_once > rows"))
            continue
        rows = point_settings.get("crossbar.rows", 128)
        bits = point_settings.get("adc.bits", 8)
        energy, latency = 1000.0 * 2 ** bits + rows, 10.0 * rows + bits
        figures = {m: 1.0 for m in METRICS} | {"energy_pj_per_inference": energy, "latency_ns_per_inference": latency,
                                               "area_mm2": rows / 10 + bits, "edp_pj_ns": energy * latency}
        points.append(SweepPoint(index, point_settings, "ok", figures=figures, bottleneck_resource="adc"))
    return SweepResult("dlrm", "isaac", "analytic", 64, settings, points)


def test_sweep_report_with_two_keys_draws_heatmaps_and_names_the_best(tmp_path):
    result = sweep_result({"crossbar.rows": [64, 128, 256], "adc.bits": [4, 6, 8]}, invalid={(64, 8)})
    grid = metric_grid(result, "energy_pj_per_inference", {})
    assert grid[0] == [1000.0 * 16 + 64, 1000.0 * 64 + 64, None]        # rows 64: bits 4, 6, (8 invalid)
    assert grid[2][0] == 1000.0 * 16 + 256
    files = write_sweep_report(result, tmp_path)
    assert [p.name for p in files.images] == [f"sweep_{m}.png" for m in
                                              ("energy_pj_per_inference", "latency_ns_per_inference", "area_mm2",
                                               "edp_pj_ns")]
    for image in files.images:
        assert_real_png(image)
    assert_standalone(files.html, files.images)
    markdown = files.markdown.read_text()
    assert "| energy per inference (pJ) | min | 1.606e+04 | crossbar.rows=64, adc.bits=4 |" in markdown
    assert "crossbar.rows=64, adc.bits=8 | invalid | rows_read_at_once > rows" in markdown
    assert SweepResult.from_json_dict(json.loads(files.json.read_text())).points == result.points


def test_sweep_report_with_one_key_draws_lines(tmp_path):
    files = write_sweep_report(sweep_result({"adc.bits": [4, 5, 6, 7]}), tmp_path)
    assert len(files.images) == 4
    for image in files.images:
        assert_real_png(image)


def test_sweep_report_with_three_keys_slices_at_the_best_edp_point_and_says_so(tmp_path):
    result = sweep_result({"crossbar.rows": [64, 128], "adc.bits": [4, 8], "dac.bits": [1, 2]})
    best = result.best_point("edp_pj_ns")
    assert slice_fixed(result) == {"dac.bits": best.settings["dac.bits"]} == {"dac.bits": 1}
    files = write_sweep_report(result, tmp_path)
    assert "3 keys were swept; the heatmaps show crossbar.rows x adc.bits with dac.bits=1" in files.markdown.read_text()


def test_sweep_report_with_no_evaluated_point_says_why(tmp_path):
    result = sweep_result({"crossbar.rows": [32]}, invalid={(32,)})
    files = write_sweep_report(result, tmp_path)
    assert files.images == []
    assert "No grid point could be evaluated" in files.markdown.read_text()


# ---- search report and index


FRONT = [
    {"subnet_id": "s1", "logloss": 0.452, "energy_pj_per_inference": 2.0e5, "latency_ns_per_inference": 9e3,
     "breakdown_href": "points/s1/breakdown.html"},
    {"subnet_id": "s2", "logloss": 0.448, "energy_pj_per_inference": 4.0e5, "latency_ns_per_inference": 1.2e4,
     "breakdown_href": "points/s2/breakdown.html"},
    {"subnet_id": "s3", "logloss": 0.446, "energy_pj_per_inference": 9.0e5, "latency_ns_per_inference": 2.0e4},
]
ZOO = [{"name": "DLRM", "logloss": 0.450, "energy_pj_per_inference": 4.5e5, "latency_ns_per_inference": 1.26e4}]
FRONT_POINTS = [FrontPoint(**point) for point in FRONT]
ZOO_POINTS = [ZooPoint(**point) for point in ZOO]


def test_search_report_plots_the_front_with_links(tmp_path):
    files = write_search_report(FRONT_POINTS, tmp_path, zoo=ZOO_POINTS, best_so_far=[0.47, 0.46, 0.46, 0.452, 0.446])
    assert [p.name for p in files.images] == ["pareto_front.png", "best_so_far.png"]
    for image in files.images:
        assert_real_png(image)
    assert_standalone(files.html, files.images)
    assert {"points/s1/breakdown.html", "points/s2/breakdown.html"} <= set(page_sources(files.html).hrefs)
    assert "[breakdown](points/s1/breakdown.html)" in files.markdown.read_text()
    data = json.loads(files.json.read_text())
    assert data["kind"] == "search" and data["best_so_far"][-1] == [5, 0.446] and data["zoo"][0]["name"] == "DLRM"


def test_nondominated_and_best_so_far_helpers():
    points = [FrontPoint("a", 0.45, 1.0, 1.0), FrontPoint("b", 0.44, 2.0, 1.0), FrontPoint("c", 0.46, 2.0, 2.0)]
    assert is_nondominated(points) == [True, True, False]     # c is worse than a on all three
    assert best_so_far_series([0.5, 0.4]) == ([1, 2], [0.5, 0.4])
    assert best_so_far_series([[10, 0.5], [20, 0.4]]) == ([10, 20], [0.5, 0.4])


def test_search_report_refuses_malformed_points(tmp_path):
    """A malformed point in a search file is a ConfigError naming where it is; in code, a ValueError."""
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"front": [{"subnet_id": "x", "logloss": 0.4}]}))
    with pytest.raises(ConfigError, match=r"front\[0\]\.energy_pj_per_inference"):
        write_report_from_json(path, tmp_path / "out")
    path.write_text(json.dumps({"front": [{**FRONT[0], "logloss": float("nan")}]}))
    with pytest.raises(ConfigError, match=r"front\[0\].*finite numbers"):
        write_report_from_json(path, tmp_path / "out")
    path.write_text(json.dumps({"front": FRONT, "zoo": [{"name": "DLRM", "logloss": "low"}]}))
    with pytest.raises(ConfigError, match=r"zoo\[0\]"):
        write_report_from_json(path, tmp_path / "out")
    with pytest.raises(ValueError, match="finite numbers"):
        FrontPoint("x", float("inf"), 1.0, 1.0)


def test_index_links_reports_and_embeds_their_pictures(cost_report, tmp_path):
    breakdown = write_breakdown_report(cost_report, tmp_path / "breakdown")
    search = write_search_report(FRONT_POINTS, tmp_path / "search", zoo=ZOO_POINTS)
    index = write_index(tmp_path, [IndexSection("Breakdown", breakdown.html, "where the energy goes",
                                                breakdown.images[:2]),
                                   {"title": "Co-search", "href": "search/search.html", "images": search.images}],
                        title="demo")
    sources = page_sources(index)
    assert "breakdown/breakdown.html" in sources.hrefs and "search/search.html" in sources.hrefs
    assert len(sources.img_src) == 3 and all(src.startswith("data:image/png;base64,") for src in sources.img_src)
    for href in set(sources.hrefs):
        assert (tmp_path / href).exists()


# ---- reading results back: `recpim report`


def test_detect_kind_by_keys(cost_report):
    assert detect_kind(cost_report.to_json_dict()) == "breakdown"
    assert detect_kind({"report": cost_report.to_json_dict()}) == "breakdown"
    assert detect_kind(sweep_result({"adc.bits": [4]}).to_json_dict()) == "sweep"
    assert detect_kind({"front": FRONT}) == "search"
    with pytest.raises(ConfigError, match="cannot tell what result this is"):
        detect_kind({"energy": 1})


def test_report_command_renders_each_kind(cost_report, tmp_path):
    inputs = {"breakdown": cost_report.to_json_dict(), "sweep": sweep_result({"adc.bits": [4, 6]}).to_json_dict(),
              "search": {"front": FRONT, "zoo": ZOO, "best_so_far": [[1, 0.46], [2, 0.446]]}}
    for kind, data in inputs.items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(data))
        result = runner.invoke(app, ["report", str(path), "--out", str(tmp_path / f"{kind}_out"), "--json"])
        assert result.exit_code == 0, result.output
        written = json.loads(result.stdout)
        assert written["kind"] == kind and Path(written["html"]).exists() and written["images"]
    default = runner.invoke(app, ["report", str(tmp_path / "breakdown.json")])
    assert default.exit_code == 0 and (tmp_path / "breakdown_report" / "breakdown.html").exists()


def test_report_command_on_a_missing_file_is_a_config_error(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "nope.json")])
    assert isinstance(result.exception, ConfigError) and "no such file" in str(result.exception)


def test_report_from_json_uses_an_embedded_chip(cost_report, tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"report": cost_report.to_json_dict(),
                                "chip_config": ChipConfig(name="c").model_dump(mode="json")}))
    kind, files = write_report_from_json(path, tmp_path / "out")
    assert kind == "breakdown" and "128 x 128" in files.markdown.read_text()

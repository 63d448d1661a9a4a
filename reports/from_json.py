"""Render the right report for a result JSON file: a CostReport (breakdown), a sweep, or a search.

Files recpim writes say what they are in `kind` (cost_report, sweep, search, search_front,
search_top_k, embedding_profile); older files, and files without one, are told by their keys: a CostReport has
`energy_pj_by_component`; a sweep has `points` and `settings`; a search has `front` (its report's
search.json), `pareto_front` (`recpim search --json`) or is a list of front points (front.json
before it carried a kind). A wrapper {"report": CostReport, "chip": {...}} (as a run might save
it) is unwrapped, and its chip is used for the summary. A search point's breakdown link leads to
its breakdown page (front_reports/c<index>/breakdown.html beside the file) when that page exists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recpim.arch.data.profile import DataProfile
from recpim.errors import ConfigError
from recpim.pim.config import ChipConfig, chip_config_from_dict
from recpim.pim.cost_report import CostReport
from recpim.reports.breakdown import write_breakdown_report
from recpim.reports.document import ReportFiles
from recpim.reports.profile_report import write_profile_report
from recpim.reports.search_report import FrontPoint, ZooPoint, write_search_report
from recpim.reports.sweep_report import write_sweep_report
from recpim.search.sweep_result import SweepResult
from recpim.validation import read_typed

KINDS = ("breakdown", "sweep", "search", "embedding_profile")


SEARCH_POINT_KINDS = ("search_front", "search_top_k")
KNOWN_KINDS = ("cost_report", "sweep", "search", "embedding_profile", *SEARCH_POINT_KINDS)


def detect_kind(data: Any) -> str:
    if isinstance(data, list) and data and all(isinstance(p, dict) and "subnet_id" in p for p in data):
        return "search"                      # front.json / top_k.json as written before they had a kind
    if isinstance(data, dict):
        kind = data.get("kind")
        if kind is not None and kind not in KNOWN_KINDS:
            raise ConfigError("result JSON", [("kind", f"got {kind!r}; allowed: {', '.join(KNOWN_KINDS)}")])
        if kind == "cost_report":
            return "breakdown"
        if kind in ("sweep", "search", "embedding_profile"):
            return kind
        if kind in SEARCH_POINT_KINDS or "pareto_front" in data:
            return "search"
        if "energy_pj_by_component" in data:
            return "breakdown"
        if isinstance(data.get("report"), dict) and "energy_pj_by_component" in data["report"]:
            return "breakdown"
        if "points" in data and "settings" in data:
            return "sweep"
        if "front" in data:
            return "search"
    shown = sorted(data)[:12] if isinstance(data, dict) else type(data).__name__
    raise ConfigError("result JSON", [("", f"cannot tell what result this is (keys: {shown}); allowed: a CostReport "
                                           "(energy_pj_by_component ...), a sweep (points, settings), a search "
                                           "(front.json, top_k.json, `recpim search --json`, search.json)")])


def _search_points(data: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """(the points' key, points, the file's other fields) of any search result file."""
    if isinstance(data, list):
        return "points", data, {}
    for key in ("points", "pareto_front", "front"):
        if key in data:
            points = data[key]
            if not isinstance(points, list):
                raise ConfigError("search result JSON", [(key, f"got {type(points).__name__}; allowed: a list of "
                                                               "points")])
            return key, points, data
    raise ConfigError("search result JSON", [("points", "missing (a required key)")])


def _front_point(point: Any, where: str, source: str, source_dir: Path, out_dir: Path) -> FrontPoint:
    """A written point as a FrontPoint, its breakdown link rebased onto the report's folder."""
    if not isinstance(point, dict):
        raise ConfigError("search result JSON", [(where, f"got {type(point).__name__}; allowed: an object")])
    fields = {k: point[k] for k in ("subnet_id", "logloss", "energy_pj_per_inference", "latency_ns_per_inference")
              if k in point}
    page = point.get("breakdown") or point.get("breakdown_href")
    if page is None and point.get("report"):          # front_reports/c3.json -> front_reports/c3/breakdown.html
        page = (Path(point["report"]).with_suffix("") / "breakdown.html").as_posix()
    if page is not None and (source_dir / page).is_file():
        fields["breakdown_href"] = Path(os.path.relpath((source_dir / page).resolve(), out_dir.resolve())).as_posix()
    return read_typed(FrontPoint, fields, source, where)


@dataclass(frozen=True)
class SearchFile:
    """What a search result file holds for its report."""

    front: list[FrontPoint]
    zoo: list[ZooPoint]
    best_so_far: Sequence[float] | Sequence[Sequence[float]] | None
    best_so_far_label: str
    title: str


_TITLES = {"search_top_k": "Co-search: the top candidates", "search_front": "Co-search: the Pareto front"}


def read_search_file(data: Any, path: Path, out_dir: Path) -> SearchFile:
    """Any search result file (front.json, top_k.json, search.json, `recpim search --json`) as typed points."""
    key, points, other = _search_points(data)
    zoo = other.get("zoo", ())
    if not isinstance(zoo, list | tuple):
        raise ConfigError("search result JSON", [("zoo", f"got {type(zoo).__name__}; allowed: a list of points")])
    return SearchFile(
        front=[_front_point(p, f"{key}[{i}]", str(path), path.parent, out_dir) for i, p in enumerate(points)],
        zoo=[read_typed(ZooPoint, z, str(path), f"zoo[{i}]") for i, z in enumerate(zoo)],
        best_so_far=other.get("best_so_far") or None,
        best_so_far_label=other.get("best_so_far_label", "best log loss"),
        title=other.get("title", _TITLES.get(other.get("kind"), "Co-search results")))


def read_cost_report(data: dict[str, Any], path: Path) -> tuple[CostReport, ChipConfig | None]:
    """A CostReport file (or a {"report": ..., "chip_config": ...} wrapper) as the report and its chip."""
    report = data.get("report", data) if "energy_pj_by_component" not in data else data
    chip = data.get("chip_config")
    return (read_typed(CostReport, report, str(path)),
            None if chip is None else chip_config_from_dict(chip, source=f"chip_config in {path}"))


def load_result_json(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("result JSON", [(str(path), "no such file")]) from None
    except json.JSONDecodeError as error:
        raise ConfigError("result JSON", [(str(path), f"not valid JSON: {error}")]) from None


def write_report_from_json(path: Path | str, out_dir: Path | str, chip: ChipConfig | None = None
                           ) -> tuple[str, ReportFiles]:
    """Read a result JSON file and write its report into out_dir; returns (kind, files).
    chip: the chip for a breakdown's summary (default: the file's own chip_config, if any)."""
    path, out_dir = Path(path), Path(out_dir)
    data = load_result_json(path)
    kind = detect_kind(data)
    if kind == "breakdown":
        report, own_chip = read_cost_report(data, path)
        return kind, write_breakdown_report(report, out_dir, chip=chip if chip is not None else own_chip)
    if kind == "sweep":
        sweep = read_typed(SweepResult, data, str(path))
        if problems := sweep.problems():
            raise ConfigError(f"sweep JSON {path}", problems)
        return kind, write_sweep_report(sweep, out_dir)
    if kind == "embedding_profile":
        return kind, write_profile_report(DataProfile.from_json_dict(data, str(path)), out_dir)
    search = read_search_file(data, path, out_dir)
    return kind, write_search_report(search.front, out_dir, zoo=search.zoo, best_so_far=search.best_so_far,
                                     best_so_far_label=search.best_so_far_label, title=search.title)

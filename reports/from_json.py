"""Render the right report for a result JSON file recpim wrote.

Files recpim writes say what they are in `kind` (FILE_KINDS: the file kind -> the page that renders
it): a CostReport (breakdown), a sweep, a search (search.json, front.json, top_k.json, `recpim search
--json`), an embedding profile, a chip roll-up, a mapping, a workload graph, a supernet training, a
subnet score, a run's resolved inputs, a search's best-so-far series and study record, a search
space and the demo's timings. Older files, and files without one, are told by their keys: a
CostReport has `energy_pj_by_component`; a sweep has `points` and `settings`; a search has `front`
or `pareto_front` or is a list of front points; a subnet JSON (an input format, which carries no
kind) has `space` and `blocks`. A wrapper {"report": CostReport, "chip_config": {...}} is unwrapped,
and its chip is used for the summary.

What is read is checked before anything is drawn (recpim.reports.checks): impossible numbers and
links that leave the result's folder are refused with the key that holds them. A search point's
breakdown link leads to its breakdown page (front_reports/c<index>/breakdown.html beside the file)
when that page exists inside the file's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recpim.arch.data.profile import DataProfile
from recpim.errors import ConfigError
from recpim.pim.config import ChipConfig, chip_config_from_dict
from recpim.pim.cost_report import CostReport
from recpim.reports.breakdown import write_breakdown_report
from recpim.reports.checks import check_cost_report, confined
from recpim.reports.document import ReportFiles
from recpim.reports.hardware_pages import write_chip_page, write_graph_page, write_mapping_page
from recpim.reports.profile_report import write_profile_report
from recpim.reports.run_pages import (
    write_best_so_far_page,
    write_inputs_page,
    write_score_page,
    write_space_page,
    write_study_page,
    write_subnet_page,
    write_timings_page,
    write_training_page,
)
from recpim.reports.search_report import FrontPoint, ZooPoint, write_search_report
from recpim.reports.sweep_report import write_sweep_report
from recpim.search.sweep_result import SweepResult
from recpim.validation import read_typed

# The kind a file carries -> the page that renders it (`recpim report --json` prints the page's name).
FILE_KINDS: dict[str, str] = {
    "cost_report": "breakdown", "sweep": "sweep", "search": "search", "search_front": "search",
    "search_top_k": "search", "embedding_profile": "embedding_profile", "chip_model": "chip",
    "mapping": "mapping", "workload_graph": "graph", "supernet_train": "training", "subnet_score": "score",
    "inputs": "inputs", "search_best_so_far": "best_so_far", "search_study": "study", "search_space": "space",
    "demo_timings": "timings",
}
KNOWN_KINDS = tuple(FILE_KINDS)
KINDS = tuple(dict.fromkeys([*FILE_KINDS.values(), "subnet"]))     # every page `recpim report` writes
SEARCH_POINT_KINDS = ("search_front", "search_top_k")


def detect_kind(data: Any) -> str:
    """The page for a result file's data (one of KINDS); a ConfigError naming the kinds allowed otherwise."""
    if isinstance(data, list) and data and all(isinstance(p, dict) and "subnet_id" in p for p in data):
        return "search"                      # front.json / top_k.json as written before they had a kind
    if isinstance(data, dict):
        kind = data.get("kind")
        if kind is not None and kind not in FILE_KINDS:
            raise ConfigError("result JSON", [("kind", f"got {kind!r}; allowed: {', '.join(KNOWN_KINDS)}")])
        if kind is not None:
            return FILE_KINDS[kind]
        if "pareto_front" in data:
            return "search"
        if "energy_pj_by_component" in data:
            return "breakdown"
        if isinstance(data.get("report"), dict) and "energy_pj_by_component" in data["report"]:
            return "breakdown"
        if "points" in data and "settings" in data:
            return "sweep"
        if "front" in data:
            return "search"
        if "space" in data and "blocks" in data:
            return "subnet"
    shown = sorted(data)[:12] if isinstance(data, dict) else type(data).__name__
    raise ConfigError("result JSON", [("", f"cannot tell what result this is (keys: {shown}); allowed: a file "
                                           f"carrying a kind ({', '.join(KNOWN_KINDS)}), a CostReport "
                                           "(energy_pj_by_component ...), a sweep (points, settings), a search "
                                           "(front.json, top_k.json, `recpim search --json`, search.json) or a "
                                           "subnet JSON (space, blocks)")])


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
    """A written point as a FrontPoint, its breakdown link confined to the file's folder (checks.confined)
    and rebased onto the report's folder."""
    if not isinstance(point, dict):
        raise ConfigError("search result JSON", [(where, f"got {type(point).__name__}; allowed: an object")])
    fields = {k: point[k] for k in ("subnet_id", "logloss", "energy_pj_per_inference", "latency_ns_per_inference")
              if k in point}
    for name in ("energy_pj_per_inference", "latency_ns_per_inference", "logloss"):
        value = fields.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"search result JSON {source}", [(f"{where}.{name}", f"got {value!r}; allowed: a "
                                                                                   "finite number >= 0")])
    page = None
    for key in ("breakdown", "breakdown_href", "report"):
        link = point.get(key)
        if link is None:
            continue
        if not isinstance(link, str):
            raise ConfigError(f"search result JSON {source}", [(f"{where}.{key}", f"got {link!r}; allowed: a path")])
        target = confined(link, source_dir, f"{where}.{key}", source)
        if page is None:             # front_reports/c3.json -> front_reports/c3/breakdown.html
            page = target if key != "report" else target.with_suffix("") / "breakdown.html"
    if page is not None and page.is_file():
        fields["breakdown_href"] = Path(os.path.relpath(page, out_dir.resolve())).as_posix()
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
    """A CostReport file (or a {"report": ..., "chip_config": ...} wrapper) as the report and its chip,
    checked (checks.cost_report_problems) before anything is drawn."""
    report = data.get("report", data) if "energy_pj_by_component" not in data else data
    if isinstance(report, dict):
        report = {k: v for k, v in report.items() if k != "kind"}
    chip = data.get("chip_config")
    return (check_cost_report(read_typed(CostReport, report, str(path)), str(path)),
            None if chip is None else chip_config_from_dict(chip, source=f"chip_config in {path}"))


def read_sweep(data: Any, path: Path) -> SweepResult:
    """A sweep file, checked: its points (SweepResult.problems) and its swept keys (chip keys or the
    model's bits, as `recpim sweep --set` takes them)."""
    from recpim.search.sweep import validate_keys

    sweep = read_typed(SweepResult, data, str(path))
    if problems := sweep.problems():
        raise ConfigError(f"sweep JSON {path}", problems)
    try:
        validate_keys(sweep.base_chip or ChipConfig(), sweep.settings)
    except ConfigError as error:
        raise ConfigError(f"sweep JSON {path}", [(f"settings.{key}" if key else "settings", message)
                                                 for key, message in error.problems]) from None
    return sweep


def load_result_json(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("result JSON", [(str(path), "no such file")]) from None
    except json.JSONDecodeError as error:
        raise ConfigError("result JSON", [(str(path), f"not valid JSON: {error}")]) from None


PAGES: dict[str, Callable[[dict[str, Any], Path, str], ReportFiles]] = {
    "chip": write_chip_page, "mapping": write_mapping_page, "graph": write_graph_page,
    "training": write_training_page, "score": write_score_page, "inputs": write_inputs_page,
    "best_so_far": write_best_so_far_page, "study": write_study_page, "space": write_space_page,
    "subnet": write_subnet_page, "timings": write_timings_page,
}


def write_report_from_json(path: Path | str, out_dir: Path | str, chip: ChipConfig | None = None
                           ) -> tuple[str, ReportFiles]:
    """Read a result JSON file and write its report into out_dir; returns (page kind, files).
    chip: the chip for a breakdown's summary (default: the file's own chip_config, if any)."""
    path, out_dir = Path(path), Path(out_dir)
    data = load_result_json(path)
    kind = detect_kind(data)
    if kind == "breakdown":
        report, own_chip = read_cost_report(data, path)
        return kind, write_breakdown_report(report, out_dir, chip=chip if chip is not None else own_chip)
    if kind == "sweep":
        return kind, write_sweep_report(read_sweep(data, path), out_dir)
    if kind == "embedding_profile":
        return kind, write_profile_report(DataProfile.from_json_dict(data, str(path)), out_dir)
    if kind in PAGES:
        return kind, PAGES[kind](data, out_dir, str(path))
    search = read_search_file(data, path, out_dir)
    return kind, write_search_report(search.front, out_dir, zoo=search.zoo, best_so_far=search.best_so_far,
                                     best_so_far_label=search.best_so_far_label, title=search.title)

"""Render the right report for a result JSON file: a CostReport (breakdown), a sweep, or a search front.

The kind is told by the keys: a CostReport has `energy_pj_by_component`; a sweep has `points` and
`settings`; a search front has `front`. A wrapper {"report": CostReport, "chip": {...}} (as a run
might save it) is unwrapped, and its chip is used for the summary.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from recpim.arch.space import pydantic_problems
from recpim.errors import ConfigError
from recpim.pim.cost_report import CostReport
from recpim.reports.document import ReportFiles
from recpim.search.sweep_result import SweepResult

KINDS = ("breakdown", "sweep", "search")


def detect_kind(data: Any) -> str:
    if isinstance(data, dict):
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
                                           "(energy_pj_by_component ...), a sweep (points, settings) or a "
                                           "search front (front)")])


def load_result_json(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("result JSON", [(str(path), "no such file")]) from None
    except json.JSONDecodeError as error:
        raise ConfigError("result JSON", [(str(path), f"not valid JSON: {error}")]) from None


def validated(kind: type, data: Any, source: str) -> Any:
    """`data` as a `kind` (a dataclass: CostReport, SweepResult), every field present and of its
    type; a ConfigError naming the file and each missing or mistyped key otherwise (the report
    writers would fail deep inside with a KeyError or TypeError)."""
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as error:
        raise ConfigError(f"{kind.__name__} JSON {source}", pydantic_problems(error)) from None


def write_report_from_json(path: Path | str, out_dir: Path | str, chip: Any = None) -> tuple[str, ReportFiles]:
    """Read a result JSON file and write its report into out_dir; returns (kind, files)."""
    from recpim.reports.breakdown import write_breakdown_report
    from recpim.reports.search_report import write_search_report
    from recpim.reports.sweep_report import write_sweep_report

    data = load_result_json(path)
    kind = detect_kind(data)
    if kind == "breakdown":
        report = data.get("report", data) if "energy_pj_by_component" not in data else data
        report = asdict(validated(CostReport, report, str(path)))
        return kind, write_breakdown_report(report, out_dir, chip=chip if chip is not None else data.get("chip_config"))
    if kind == "sweep":
        return kind, write_sweep_report(validated(SweepResult, data, str(path)), out_dir)
    return kind, write_search_report(data["front"], out_dir, zoo=data.get("zoo", ()),
                                     best_so_far=data.get("best_so_far") or None,
                                     best_so_far_label=data.get("best_so_far_label", "best log loss"),
                                     title=data.get("title", "Co-search results"))

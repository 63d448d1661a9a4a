"""Everything a finished search leaves in its folder: the data files (recpim.search.outputs) and
the reports over them, a breakdown page per front point and the search report.

    files = write_search_outputs(result, "out/search", zoo=zoo_points(...))

The breakdown pages are written first, so the data files' points can link them ("breakdown");
the search report's front table links the same pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import optuna

from recpim.reports.breakdown import write_breakdown_report
from recpim.reports.document import ReportFiles
from recpim.reports.search_report import FrontPoint, ZooPoint, write_search_report
from recpim.search.candidate import Evaluated
from recpim.search.outputs import subnet_id, write_outputs
from recpim.search.run import SearchResult
from recpim.search.study import STUDY_NAME, storage_url
from recpim.search.zoo_baselines import ZooBaseline


def write_front_breakdowns(result: SearchResult, out_dir: Path) -> dict[int, str]:
    """front_reports/c<index>/breakdown.html for each front point the simulator costed;
    returns candidate index -> the page, relative to out_dir."""
    return {index: write_breakdown_report(cost, out_dir / "front_reports" / f"c{index}").html.relative_to(out_dir)
            .as_posix() for index, cost in result.front_reports.items()}


def front_point(record: Evaluated, breakdown_href: str | None) -> FrontPoint:
    """A front candidate as the search report plots it (the analytic figures the search ranked by)."""
    return FrontPoint(subnet_id=subnet_id(record), logloss=record.metrics.logloss,
                      energy_pj_per_inference=record.metrics.energy_pj_per_inference,
                      latency_ns_per_inference=record.metrics.latency_ns_per_inference,
                      breakdown_href=breakdown_href)


def zoo_marks(zoo: Sequence[ZooBaseline]) -> list[ZooPoint]:
    """The zoo models whose log loss is known, as plot marks."""
    return [ZooPoint(name=z.name, logloss=z.logloss, energy_pj_per_inference=z.energy_pj_per_inference,
                     latency_ns_per_inference=z.latency_ns_per_inference) for z in zoo if z.logloss is not None]


def write_search_report_of(result: SearchResult, out_dir: Path, pages: dict[int, str],
                           zoo: Sequence[ZooPoint] = ()) -> ReportFiles:
    """search.md / .html / .json and its plots for a search's front, linking each point's page."""
    return write_search_report([front_point(r, pages.get(r.index)) for r in result.front], out_dir, zoo=zoo,
                               best_so_far=result.best_so_far or None,
                               best_so_far_label=result.settings.objective.score_label)


REPORTS_ATTR = "recpim_reports"        # the study's user attr: subnet_id -> its report pages
OUTPUTS_ATTR = "recpim_outputs"        # the study's user attr: the folder of the latest outputs


def record_reports_in_study(result: SearchResult, out_dir: Path, pages: dict[int, str]) -> None:
    """Name each front point's report pages (absolute paths) in the study, for optuna-dashboard:
    completed trials cannot take new attributes, so the study holds them, keyed by the trials'
    `subnet_id`."""
    out = out_dir.resolve()
    reports = {}
    for index in result.front_reports:
        entry = {"cost_report": str(out / "front_reports" / f"{subnet_id_of(index)}.json")}
        if index in pages:
            entry["breakdown"] = str(out / pages[index])
        reports[subnet_id_of(index)] = entry
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(result.study))
    study.set_user_attr(REPORTS_ATTR, reports)
    study.set_user_attr(OUTPUTS_ATTR, str(out))


def subnet_id_of(index: int) -> str:
    return f"c{index}"


def write_search_outputs(result: SearchResult, out_dir: Path | str, zoo: Sequence[ZooBaseline] | None = None,
                         report: bool = True) -> dict[str, str]:
    """The data files and (unless report is False) the reports; returns {name: path}, also kept in
    result.files (the search report's files as report_html, report_markdown, report_json)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pages = write_front_breakdowns(result, out) if report else {}
    write_outputs(result, out, breakdown_pages=pages)
    record_reports_in_study(result, out, pages)
    if report:
        written = write_search_report_of(result, out, pages, zoo_marks(zoo or []))
        result.files.update({f"report_{k}": v for k, v in written.to_json_dict().items() if k != "images"})
    return result.files

"""What a finished search leaves in its output folder.

- front.json / front.csv: the Pareto front (log loss, energy, latency; analytic figures, which
  the search ranked by) with each point's discrete-event-simulator figures beside them;
- front_reports/c<index>.json: each front point's full CostReport from the simulator;
- top_k.json / top_k.csv: the k best distinct candidates by the objective;
- history.csv: every evaluated candidate (status, message, metrics);
- best_so_far.json: [evaluations, best score] pairs;
- study.json: where the study lives and how to resume it; inputs.json: the resolved settings.

These are the data files only. The reports (front_reports/c<index>/breakdown.html per front point,
which the points link as "breakdown", and search.md / .html / .json with its plots) are written by
recpim.reports.search_outputs.write_search_outputs, which sits above the search and calls this.

Every JSON file carries a `kind` (RESULT_KINDS), which `recpim report` reads to pick the report:
front.json and top_k.json are {"kind": "search_front" | "search_top_k", "points": [...]}.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from recpim.runinfo import write_resolved_inputs
from recpim.search.candidate import Evaluated
from recpim.search.run import SearchResult

DES_FIGURES = ("energy_pj_per_inference", "latency_ns_per_inference", "throughput_inf_per_s", "power_w")
RESULT_KINDS = {"front": "search_front", "top_k": "search_top_k", "cost_report": "cost_report",
                "best_so_far": "search_best_so_far", "study": "search_study"}
CSV_METRICS = ("logloss", "auc", "energy_pj_per_inference", "latency_ns_per_inference", "throughput_inf_per_s",
               "area_mm2", "power_w", "crossbars_footprint", "crossbars_used", "adc_lossy_layers")
# With the robust objective (settings.device_draws > 0) points and history rows carry these too.
DEVICE_METRICS = ("ideal_logloss", "device_draws", "device_logloss_mean", "device_logloss_std", "device_logloss_p90")


def metric_columns(result: SearchResult) -> tuple[str, ...]:
    """The figures a point or history row shows: CSV_METRICS, and DEVICE_METRICS under the robust objective."""
    return CSV_METRICS + (DEVICE_METRICS if result.settings.device_draws else ())


def subnet_id(record: Evaluated) -> str:
    return f"c{record.index}"


def point_dict(record: Evaluated, result: SearchResult) -> dict[str, Any]:
    """One candidate as the JSON outputs show it: its subnet, chip knobs and figures."""
    point: dict[str, Any] = {"index": record.index, "subnet_id": subnet_id(record)}
    point.update({name: record.metrics.value(name) if record.metrics else None for name in metric_columns(result)})
    if result.settings.objective.kind == "reward":
        point["reward"] = result.settings.objective.reward(record.metrics)
    report = result.front_reports.get(record.index)
    if report is not None:
        point.update({f"des_{name}": getattr(report, name) for name in DES_FIGURES})
        point["report"] = f"front_reports/{subnet_id(record)}.json"
    point["chip_knobs"] = dict(record.candidate.chip_knobs)
    point["subnet"] = record.candidate.subnet.to_dict()
    return point


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
                             for key, value in row.items()})
    return path


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    return path


def _points_file(name: str, points: list[dict[str, Any]], result: SearchResult) -> dict[str, Any]:
    """front.json / top_k.json: the points with what they are and where they came from."""
    return {"kind": RESULT_KINDS[name], "study": result.study, "objective": result.settings.objective.kind,
            "best_so_far": result.best_so_far, "best_so_far_label": result.settings.objective.score_label,
            "points": points}


def _flat(point: dict[str, Any]) -> dict[str, Any]:
    """A CSV row: chip knobs as chip.<key> columns, the subnet as one JSON cell (last)."""
    row = {k: v for k, v in point.items() if k not in ("chip_knobs", "subnet")}
    row.update({f"chip.{k}": v for k, v in point["chip_knobs"].items()})
    row["subnet"] = point["subnet"]
    return row


def write_outputs(result: SearchResult, out_dir: Path | str, breakdown_pages: dict[int, str] | None = None
                  ) -> dict[str, str]:
    """Write every data file (see the module docstring) into out_dir; returns {name: path}, also kept
    in result.files. breakdown_pages: candidate index -> its breakdown page, relative to out_dir,
    linked from that candidate's points as "breakdown" (written first by the reports layer)."""
    out = Path(out_dir)
    (out / "front_reports").mkdir(parents=True, exist_ok=True)
    front = [point_dict(r, result) for r in result.front]
    top = [point_dict(r, result) for r in result.top_k]
    for point in [*front, *top]:
        if point["index"] in (breakdown_pages or {}):
            point["breakdown"] = breakdown_pages[point["index"]]
    files = {"front_json": _write_json(out / "front.json", _points_file("front", front, result)),
             "front_csv": _write_csv(out / "front.csv", [_flat(p) for p in front]),
             "top_k_json": _write_json(out / "top_k.json", _points_file("top_k", top, result)),
             "top_k_csv": _write_csv(out / "top_k.csv", [_flat(p) for p in top]),
             "best_so_far": _write_json(out / "best_so_far.json", {"kind": RESULT_KINDS["best_so_far"],
                                                                   "label": result.settings.objective.score_label,
                                                                   "series": result.best_so_far})}
    reports = result.front_reports
    for record in result.front:
        if record.index in reports:
            _write_json(out / "front_reports" / f"{subnet_id(record)}.json",
                        {"kind": RESULT_KINDS["cost_report"], **reports[record.index].to_json_dict()})
    history = [{"index": r.index, "status": r.status, "message": r.message, "parent": r.parent,
                "duplicate_of": r.duplicate_of,
                "violation": r.violation,
                **{m: r.metrics.value(m) if r.metrics else None for m in metric_columns(result)},
                "eval_s": r.eval_s,
                **{f"chip.{k}": v for k, v in r.candidate.chip_knobs.items()}} for r in result.history]
    files["history_csv"] = _write_csv(out / "history.csv", history)
    location = result.study.removeprefix("sqlite:///") if result.study.startswith("sqlite:///") else result.study
    files["study"] = _write_json(out / "study.json", {"kind": RESULT_KINDS["study"], "study": result.study,
                                                      "resume": f"recpim search --resume --study {location}"})
    files["inputs"] = write_resolved_inputs(out, {"search": result.settings.model_dump(mode="json"),
                                                  "budget": result.budget, "study": result.study})
    result.files = {name: str(path) for name, path in files.items()}
    return result.files

"""The sweep report: how energy, latency, area and energy-delay product move over the swept keys,
and the best point per metric.

One swept key: a line plot per metric. Two: a heatmap per metric (first key on the y axis,
second on the x axis). More: heatmaps over the first two keys with the others held at the values
of the best energy-delay point (the report says so). Points without figures (invalid or
infeasible) are grey cells marked 'x' and listed with their reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recpim.reports import plots
from recpim.reports.document import Document, ReportFiles, format_settings
from recpim.reports.writer import write_documents
from recpim.search.sweep_result import METRICS, SweepPoint, SweepResult

PLOTTED = ("energy_pj_per_inference", "latency_ns_per_inference", "area_mm2", "edp_pj_ns")


def slice_fixed(result: SweepResult) -> dict[str, Any]:
    """Values of the keys beyond the first two for the plotted slice: those of the best-EDP point
    (the first value of each key when no point has figures)."""
    extra = result.swept_keys[2:]
    best = result.best_point("edp_pj_ns")
    if best is not None:
        return {key: best.settings[key] for key in extra}
    return {key: result.settings[key][0] for key in extra}


def _lookup(result: SweepResult) -> dict[tuple, SweepPoint]:
    keys = result.swept_keys
    return {tuple(_hashable(point.settings[key]) for key in keys): point for point in result.points}


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, list | dict) else value


def metric_grid(result: SweepResult, metric: str, fixed: dict[str, Any]) -> list[list[float | None]]:
    """grid[i][j]: `metric` at key0 = values0[i], key1 = values1[j] and the fixed others (None if no figure)."""
    keys = result.swept_keys
    points = _lookup(result)
    rows = []
    for y in result.settings[keys[0]]:
        row = []
        for x in result.settings[keys[1]]:
            combo = {keys[0]: y, keys[1]: x, **fixed}
            point = points.get(tuple(_hashable(combo[key]) for key in keys))
            row.append(point.figures.get(metric) if point is not None and point.status == "ok" else None)
        rows.append(row)
    return rows


def lossy_cells(result: SweepResult, fixed: dict[str, Any]) -> set[tuple[int, int]]:
    """(row, col) of the heatmap cells whose point has ADC-lossy layers (same layout as metric_grid)."""
    keys = result.swept_keys
    points = _lookup(result)
    cells = set()
    for i, y in enumerate(result.settings[keys[0]]):
        for j, x in enumerate(result.settings[keys[1]]):
            combo = {keys[0]: y, keys[1]: x, **fixed}
            point = points.get(tuple(_hashable(combo[key]) for key in keys))
            if point is not None and point.lossy:
                cells.add((i, j))
    return cells


def _plots(doc: Document, result: SweepResult, out_dir: Path) -> None:
    keys = result.swept_keys
    for metric in PLOTTED:
        label = METRICS[metric][1]
        best = result.best_point(metric)
        if len(keys) == 1:
            values = result.settings[keys[0]]
            by_value = {_hashable(p.settings[keys[0]]): p for p in result.points}
            series = [by_value[_hashable(v)].figures.get(metric) if by_value[_hashable(v)].status == "ok" else None
                      for v in values]
            path = plots.line_chart(out_dir / f"sweep_{metric}.png", values, {label: series}, xlabel=keys[0],
                                    ylabel=label, title=f"{label} over {keys[0]}",
                                    best_x=best.settings[keys[0]] if best else None,
                                    lossy_x=[v for v in values if by_value[_hashable(v)].lossy])
        else:
            fixed = slice_fixed(result)
            grid = metric_grid(result, metric, fixed)
            cell = _best_cell(grid, METRICS[metric][0])
            suffix = f"\nwith {format_settings(fixed)}" if fixed else ""
            path = plots.heatmap(out_dir / f"sweep_{metric}.png", grid,
                                 x_labels=[str(v) for v in result.settings[keys[1]]],
                                 y_labels=[str(v) for v in result.settings[keys[0]]], xlabel=keys[1], ylabel=keys[0],
                                 title=f"{label}{suffix}", colorbar_label=label, best=cell,
                                 lossy=lossy_cells(result, fixed))
        doc.image(path, f"sweep of {label}", f"{label}; the best point is marked; ADC-lossy points (partial sums "
                                             "rounded by the ADC) are hatched in red and tagged 'lossy'.")


def _best_cell(grid: list[list[float | None]], goal: str) -> tuple[int, int] | None:
    cells = [((i, j), v) for i, row in enumerate(grid) for j, v in enumerate(row) if v is not None]
    if not cells:
        return None
    sign = 1.0 if goal == "min" else -1.0
    return min(cells, key=lambda item: sign * item[1])[0]


def build_sweep_document(result: SweepResult, out_dir: Path) -> Document:
    keys = result.swept_keys
    doc = Document(f"Sweep: {result.model} on {result.chip} ({result.engine}, batch {result.batch})")
    counts = result.counts()
    doc.paragraph(f"{len(result.points)} grid points over {', '.join(keys)}: "
                  + ", ".join(f"{n} {status}" for status, n in counts.items() if n) + ".")
    doc.table(["key", "values"], [[key, ", ".join(str(v) for v in values)] for key, values in result.settings.items()],
              caption="Swept keys (the rest of the chip is fixed)")

    doc.heading("Best point per metric")
    best = result.best()
    if best:
        doc.table(["metric", "goal", "value", "settings", "ADC-lossy layers"],
                  [[METRICS[m][1], METRICS[m][0], p.figures[m], format_settings(p.settings),
                    "-" if p.adc_lossy_layers is None else (f"{p.adc_lossy_layers} (lossy)" if p.lossy else "0")]
                   for m, p in best.items()],
                  caption="Among ADC-lossless points only" if result.lossless_only else
                  "A lossy point rounds partial sums in its ADC: its accuracy is not the model's")
    else:
        doc.paragraph("No grid point could be evaluated; see the reasons below.")

    doc.heading("Plots")
    if len(keys) > 2:
        doc.paragraph(f"{len(keys)} keys were swept; the heatmaps show {keys[0]} x {keys[1]} with "
                      f"{format_settings(slice_fixed(result))} (the best energy-delay point's values). "
                      "The tables and sweep.csv hold every point.")
    if result.ok_points:
        _plots(doc, result, out_dir)

    doc.heading("All points")
    shown = ("energy_pj_per_inference", "latency_ns_per_inference", "area_mm2", "edp_pj_ns", "tops_per_w")
    doc.table([*keys, "status", *shown, "bottleneck"],
              [[*(p.settings[k] for k in keys), p.status, *(p.figures.get(m) for m in shown), p.bottleneck_resource]
               for p in result.points])
    failed = [p for p in result.points if p.status != "ok"]
    if failed:
        doc.heading("Points without figures")
        doc.table(["settings", "status", "reason"],
                  [[format_settings(p.settings), p.status, " ".join(p.message.split())] for p in failed])
    return doc


def write_sweep_report(result: SweepResult, out_dir: Path | str, name: str = "sweep_report") -> ReportFiles:
    """Write <name>.md, <name>.html, <name>.json (the sweep's JSON) and the plots into out_dir.
    A sweep.json on disk is read by recpim.reports.from_json (or SweepResult.from_json_dict)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = build_sweep_document(result, out_dir)
    return write_documents(doc, out_dir, name, result.to_json_dict())

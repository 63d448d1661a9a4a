"""The search report: the Pareto front of log loss against energy (coloured by latency, zoo models
marked), the best-so-far curve, and a table of the front linking each point's breakdown.

The inputs are typed points, so the search (recpim.reports.search_outputs, from a SearchResult) and
a JSON file of its front (recpim.reports.from_json, which validates it) feed the same writer:
FrontPoint {subnet_id, logloss, energy_pj_per_inference, latency_ns_per_inference, breakdown_href?},
ZooPoint {name, logloss, energy_pj_per_inference, latency_ns_per_inference?}, and best-so-far as a
list of values (one per evaluation) or of [step, value] pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from recpim.reports import plots
from recpim.reports.document import Document, Link, ReportFiles
from recpim.reports.writer import write_documents

_FIGURES = ("logloss", "energy_pj_per_inference", "latency_ns_per_inference")


def _require_finite(point: FrontPoint | ZooPoint) -> None:
    """A point whose figures are not finite numbers would plot nowhere and rank anywhere."""
    values = [getattr(point, name) for name in _FIGURES]
    if not all(value is None or (isinstance(value, int | float) and not isinstance(value, bool)
                                 and math.isfinite(value)) for value in values):
        raise ValueError(f"figures must be finite numbers, got {asdict(point)}")


@dataclass(frozen=True)
class FrontPoint:
    subnet_id: str
    logloss: float
    energy_pj_per_inference: float
    latency_ns_per_inference: float
    breakdown_href: str | None = None     # relative to the report's folder

    def __post_init__(self) -> None:
        _require_finite(self)


@dataclass(frozen=True)
class ZooPoint:
    name: str
    logloss: float
    energy_pj_per_inference: float
    latency_ns_per_inference: float | None = None

    def __post_init__(self) -> None:
        _require_finite(self)


def best_so_far_series(best_so_far: Sequence[float] | Sequence[Sequence[float]]) -> tuple[list[int], list[float]]:
    """(steps, values) from values per evaluation (steps 1..n) or [step, value] pairs."""
    if all(isinstance(item, int | float) for item in best_so_far):
        return list(range(1, len(best_so_far) + 1)), [float(v) for v in best_so_far]
    return [int(step) for step, _ in best_so_far], [float(value) for _, value in best_so_far]


def is_nondominated(points: Sequence[FrontPoint]) -> list[bool]:
    """Whether each point is on the front of (logloss, energy, latency), all minimised."""
    def key(p: FrontPoint) -> tuple[float, float, float]:
        return (p.logloss, p.energy_pj_per_inference, p.latency_ns_per_inference)

    flags = []
    for p in points:
        dominated = any(all(a <= b for a, b in zip(key(q), key(p), strict=True)) and key(q) != key(p) for q in points)
        flags.append(not dominated)
    return flags


def build_search_document(front: list[FrontPoint], out_dir: Path, zoo: list[ZooPoint],
                          best_so_far: tuple[list[int], list[float]] | None, best_so_far_label: str,
                          title: str) -> Document:
    doc = Document(title)
    doc.paragraph(f"{len(front)} point(s) on the front" + (f", {len(zoo)} zoo model(s) for reference." if zoo else "."))
    doc.heading("Pareto front")
    if front:
        doc.image(plots.pareto_scatter(
            out_dir / "pareto_front.png", energy_pj=[p.energy_pj_per_inference for p in front],
            logloss=[p.logloss for p in front], latency_ns=[p.latency_ns_per_inference for p in front],
            labels=[p.subnet_id for p in front], zoo=[(z.name, z.energy_pj_per_inference, z.logloss) for z in zoo],
            title="Log loss against energy per inference"), "Pareto front: log loss against energy",
            "Colour: latency of one inference. Crosses: zoo models, and searched models trained alone as they are.")
    if best_so_far is not None and best_so_far[0]:
        steps, values = best_so_far
        doc.heading("Progress")
        doc.image(plots.best_so_far_curve(out_dir / "best_so_far.png", steps, values, ylabel=best_so_far_label,
                                          title=f"{best_so_far_label} so far"), f"{best_so_far_label} so far")
    doc.heading("Front")
    flags = is_nondominated(front)
    rows = []
    for point, on_front in sorted(zip(front, flags, strict=True), key=lambda item: item[0].energy_pj_per_inference):
        link = Link("breakdown", point.breakdown_href) if point.breakdown_href else None
        rows.append([point.subnet_id, point.logloss, point.energy_pj_per_inference, point.latency_ns_per_inference,
                     "yes" if on_front else "no", link])
    doc.table(["subnet", "log loss", "energy (pJ/inference)", "latency (ns)", "non-dominated", "details"], rows)
    if zoo:
        doc.heading("Zoo models")
        doc.table(["model", "log loss", "energy (pJ/inference)", "latency (ns)"],
                  [[z.name, z.logloss, z.energy_pj_per_inference, z.latency_ns_per_inference] for z in zoo])
    return doc


def write_search_report(front: Sequence[FrontPoint], out_dir: Path | str, zoo: Sequence[ZooPoint] = (),
                        best_so_far: Sequence[float] | Sequence[Sequence[float]] | None = None,
                        best_so_far_label: str = "best log loss", title: str = "Co-search results",
                        name: str = "search") -> ReportFiles:
    """Write <name>.md, <name>.html, <name>.json ({kind, front, zoo, best_so_far}) and the plots."""
    front_points, zoo_points = list(front), list(zoo)
    series = best_so_far_series(best_so_far) if best_so_far else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = build_search_document(front_points, out_dir, zoo_points, series, best_so_far_label, title)
    data = {"kind": "search", "title": title, "front": [asdict(p) for p in front_points],
            "zoo": [asdict(z) for z in zoo_points],
            "best_so_far": [[s, v] for s, v in zip(*series, strict=True)] if series else [],
            "best_so_far_label": best_so_far_label}
    return write_documents(doc, out_dir, name, data)

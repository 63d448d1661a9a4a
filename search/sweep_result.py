"""SweepPoint and SweepResult: a sweep's grid points with their figures, the best point per metric,
and their JSON/CSV forms (stable snake_case keys; `from_json_dict` reads back what `to_json_dict` wrote).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from recpim import __version__
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.runinfo import write_resolved_inputs
from recpim.validation import read_typed

PointStatus = Literal["ok", "invalid", "infeasible", "error"]
STATUSES: tuple[str, ...] = get_args(PointStatus)

# Figure name -> (goal, label with unit). EDP = energy per inference x latency of one inference.
METRICS: dict[str, tuple[str, str]] = {
    "energy_pj_per_inference": ("min", "energy per inference (pJ)"),
    "latency_ns_per_inference": ("min", "latency of one inference (ns)"),
    "latency_ns_per_batch": ("min", "latency of one batch (ns)"),
    "throughput_inf_per_s": ("max", "throughput (inferences/s)"),
    "area_mm2": ("min", "area (mm2)"),
    "edp_pj_ns": ("min", "energy-delay product (pJ x ns)"),
    "tops": ("max", "TOPS"),
    "tops_per_w": ("max", "TOPS/W"),
}


def figures_of(report: CostReport) -> dict[str, float]:
    """The sweep's figures of a point's CostReport."""
    figures = {name: float(getattr(report, name)) for name in METRICS if name != "edp_pj_ns"}
    figures["edp_pj_ns"] = figures["energy_pj_per_inference"] * figures["latency_ns_per_inference"]
    return {name: figures[name] for name in METRICS}


@dataclass(frozen=True)
class PointOutcome:
    """What a worker returns for one grid point (and what the point cache holds on disk)."""

    status: PointStatus
    message: str = ""                              # why a point is not "ok"
    report: CostReport | None = None               # "ok" points only
    adc_lossy_layers: int | None = None            # None: not known (a custom evaluator)

    def to_cache_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message,
                "report": self.report.to_json_dict() if self.report is not None else None,
                "adc_lossy_layers": self.adc_lossy_layers}

    @classmethod
    def from_cache_dict(cls, data: dict[str, Any], source: str) -> PointOutcome:
        report = data.get("report")
        return cls(status=data["status"], message=data.get("message", ""),
                   report=read_typed(CostReport, report, source, "report") if report is not None else None,
                   adc_lossy_layers=data.get("adc_lossy_layers"))


@dataclass(frozen=True)
class SweepPoint:
    index: int
    settings: dict[str, Any]
    status: PointStatus
    message: str = ""                              # why a point is not "ok"
    figures: dict[str, float] = field(default_factory=dict)   # METRICS keys, "ok" points only
    bottleneck_layer: str = ""
    bottleneck_resource: str = ""
    from_cache: bool = False
    energy_pj_by_component: dict[str, float] = field(default_factory=dict)   # "ok" points only
    # MVM layers whose partial sums need more bits than the chip's ADC gives (so their results are
    # rounded: a cheap point may be cheap because it is lossy); None where it is not known (a
    # custom evaluator, or a point that has no mapping).
    adc_lossy_layers: int | None = None

    @property
    def lossy(self) -> bool:
        return bool(self.adc_lossy_layers)

    @classmethod
    def from_outcome(cls, index: int, settings: dict[str, Any], outcome: PointOutcome,
                     from_cache: bool) -> SweepPoint:
        """From a worker's outcome (or its cache entry)."""
        report = outcome.report
        if report is None:
            return cls(index=index, settings=dict(settings), status=outcome.status, message=outcome.message,
                       from_cache=from_cache, adc_lossy_layers=outcome.adc_lossy_layers)
        return cls(index=index, settings=dict(settings), status=outcome.status, message=outcome.message,
                   figures=figures_of(report), bottleneck_layer=report.bottleneck_layer,
                   bottleneck_resource=report.bottleneck_resource, from_cache=from_cache,
                   energy_pj_by_component=dict(report.energy_pj_by_component),
                   adc_lossy_layers=outcome.adc_lossy_layers)

    def to_json_dict(self) -> dict[str, Any]:
        return {"index": self.index, "settings": self.settings, "status": self.status, "message": self.message,
                "figures": self.figures, "bottleneck_layer": self.bottleneck_layer,
                "bottleneck_resource": self.bottleneck_resource, "from_cache": self.from_cache,
                "energy_pj_by_component": self.energy_pj_by_component, "adc_lossy_layers": self.adc_lossy_layers}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SweepPoint:
        return cls(index=data["index"], settings=data["settings"], status=data["status"],
                   message=data.get("message", ""), figures=data.get("figures", {}),
                   bottleneck_layer=data.get("bottleneck_layer", ""),
                   bottleneck_resource=data.get("bottleneck_resource", ""), from_cache=data.get("from_cache", False),
                   energy_pj_by_component=data.get("energy_pj_by_component", {}),
                   adc_lossy_layers=data.get("adc_lossy_layers"))


@dataclass(frozen=True)
class SweepResult:
    model: str
    chip: str
    engine: str
    batch: int
    settings: dict[str, list[Any]]                 # swept key -> values, in grid order
    points: list[SweepPoint]                       # one per grid point, in grid order
    base_chip: ChipConfig | None = None       # the chip before overrides (None: a file that did not save it)
    lossless_only: bool = False     # best points among ADC-lossless points only (`--lossless-only`)

    @property
    def swept_keys(self) -> list[str]:
        return list(self.settings)

    @property
    def ok_points(self) -> list[SweepPoint]:
        return [point for point in self.points if point.status == "ok"]

    def best_point(self, metric: str) -> SweepPoint | None:
        """The "ok" point with the best value of `metric` (first in grid order on ties); None if none is ok.
        With lossless_only, only points known to have no ADC-lossy layer compete."""
        if metric not in METRICS:
            raise KeyError(f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}")
        candidates = [p for p in self.ok_points if math.isfinite(p.figures[metric])
                      and (not self.lossless_only or p.adc_lossy_layers == 0)]
        if not candidates:
            return None
        sign = 1.0 if METRICS[metric][0] == "min" else -1.0
        return min(candidates, key=lambda p: (sign * p.figures[metric], p.index))

    def best(self) -> dict[str, SweepPoint]:
        """Best point per metric (metrics with no "ok" point are left out)."""
        found = {metric: self.best_point(metric) for metric in METRICS}
        return {metric: point for metric, point in found.items() if point is not None}

    def counts(self) -> dict[str, int]:
        return {status: sum(point.status == status for point in self.points) for status in STATUSES}

    def problems(self) -> list[tuple[str, str]]:
        """(key path, what is wrong) for what a file read back cannot hold (`recpim report` refuses it
        rather than drawing it): an "ok" point without all its figures, a figure that is NaN, infinite
        or negative, a point's settings that are not the swept keys, a component energy below zero or
        components that do not add up to the point's energy."""
        found: list[tuple[str, str]] = []
        swept = set(self.settings)
        for number, point in enumerate(self.points):
            where = f"points.{number}"
            if set(point.settings) != swept:
                found.append((f"{where}.settings", f"keys {sorted(point.settings)}; the sweep's keys are "
                                                   f"{sorted(swept)}"))
            if point.status != "ok":
                continue
            missing = [name for name in METRICS if name not in point.figures]
            if missing:
                found.append((f"{where}.figures", f"missing {', '.join(missing)} (an ok point has every figure)"))
            for name, value in point.figures.items():
                if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                    found.append((f"{where}.figures.{name}", f"got {value!r}; allowed: a finite number >= 0"))
            components = point.energy_pj_by_component
            for name, value in components.items():
                if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                    found.append((f"{where}.energy_pj_by_component.{name}", f"got {value!r}; allowed: a finite "
                                                                            "number >= 0"))
            total = point.figures.get("energy_pj_per_inference")
            if components and isinstance(total, int | float) and math.isfinite(total) and \
                    not math.isclose(sum(components.values()), total, rel_tol=1e-6, abs_tol=1e-9):
                found.append((f"{where}.energy_pj_by_component", f"adds up to {sum(components.values()):.6g} pJ; "
                                                                 f"the point's energy is {total:.6g} pJ"))
        return found

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "kind": "sweep",
            "recpim_version": __version__,
            "model": self.model,
            "chip": self.chip,
            "engine": self.engine,
            "batch": self.batch,
            "swept_keys": self.swept_keys,
            "settings": self.settings,
            "counts": self.counts(),
            "points": [point.to_json_dict() for point in self.points],
            "best": {metric: {"index": point.index, "settings": point.settings, "value": point.figures[metric],
                              "goal": METRICS[metric][0], "adc_lossy_layers": point.adc_lossy_layers}
                     for metric, point in self.best().items()},
            "lossless_only": self.lossless_only,
            "base_chip": self._base_chip_json(),
        }

    def _base_chip_json(self) -> dict[str, Any]:
        return self.base_chip.model_dump(mode="json") if self.base_chip is not None else {}

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SweepResult:
        return cls(model=data["model"], chip=data["chip"], engine=data["engine"], batch=data["batch"],
                   settings=data["settings"], points=[SweepPoint.from_json_dict(p) for p in data["points"]],
                   base_chip=ChipConfig.model_validate(data["base_chip"]) if data.get("base_chip") else None,
                   lossless_only=data.get("lossless_only", False))

    def write_csv(self, path: Path | str) -> Path:
        """One row per grid point: index, status, the swept keys, the figures, the bottleneck, the message."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = ["index", "status", *self.swept_keys, *METRICS, "adc_lossy_layers", "bottleneck_resource", "message"]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for point in self.points:
                row = {"index": point.index, "status": point.status, **point.settings, **point.figures,
                       "adc_lossy_layers": point.adc_lossy_layers, "bottleneck_resource": point.bottleneck_resource,
                       "message": point.message.replace("\n", " | ")}
                writer.writerow(row)
        return path

    def write_json(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json_dict(), indent=2, default=float) + "\n")
        return path

    def write(self, out_dir: Path | str) -> dict[str, Path]:
        """sweep.json, sweep.csv and inputs.json (the resolved inputs, to re-run) in `out_dir`."""
        out_dir = Path(out_dir)
        inputs = {"model": self.model, "chip": self._base_chip_json(), "engine": self.engine, "batch": self.batch,
                  "settings": self.settings}
        return {"json": self.write_json(out_dir / "sweep.json"), "csv": self.write_csv(out_dir / "sweep.csv"),
                "inputs": write_resolved_inputs(out_dir, inputs)}

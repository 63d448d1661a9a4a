"""What `recpim report` checks in a result file before drawing it (issue 26, item 14): numbers a
result cannot hold (negative energies, a NaN latency, a breakdown that does not add up to its
total, a swept key that is no chip key) and links that leave the result's folder.

Each check returns (key path, what is wrong) pairs; the reader raises one ConfigError naming the
file and every problem, so nothing impossible is drawn without a word.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from recpim.errors import ConfigError
from recpim.pim.cost_report import CostReport

# How closely a breakdown must add up to its total (float sums of a few hundred terms).
REL_TOL = 1e-6
_SCALARS = ("latency_ns_per_inference", "latency_ns_per_batch", "throughput_inf_per_s", "tops", "tops_per_w",
            "power_w", "energy_pj_per_inference", "dynamic_energy_pj_per_inference",
            "embedding_energy_pj_per_inference", "area_mm2", "area_mm2_of_tiles_used")
_MAPS = ("energy_pj_by_component", "energy_pj_by_layer", "leakage_pj_by_component", "area_mm2_by_component",
         "stage_ns_by_layer", "utilization", "wait_ns_by_resource")


def _bad_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0


def _adds_up(parts: dict[str, float], total: float) -> bool:
    return math.isclose(math.fsum(parts.values()), total, rel_tol=REL_TOL, abs_tol=1e-9)


def cost_report_problems(report: CostReport) -> list[tuple[str, str]]:
    """Every figure finite and >= 0; energy by component, by layer and area by component adding up
    to their totals; leakage per component adding up to the leakage entry; dynamic + leakage = total."""
    found: list[tuple[str, str]] = []
    for name in _SCALARS:
        if _bad_number(getattr(report, name)):
            found.append((name, f"got {getattr(report, name)!r}; allowed: a finite number >= 0"))
    for name in _MAPS:
        for key, value in getattr(report, name).items():
            if _bad_number(value):
                found.append((f"{name}.{key}", f"got {value!r}; allowed: a finite number >= 0"))
    if found:
        return found                  # sums of bad numbers say nothing more
    total = report.energy_pj_per_inference
    for name, parts, whole, what in (
            ("energy_pj_by_component", report.energy_pj_by_component, total, "energy_pj_per_inference"),
            ("energy_pj_by_layer", report.energy_pj_by_layer, total, "energy_pj_per_inference"),
            ("area_mm2_by_component", report.area_mm2_by_component, report.area_mm2, "area_mm2")):
        if parts and not _adds_up(parts, whole):
            found.append((name, f"adds up to {math.fsum(parts.values()):.6g}; {what} is {whole:.6g} (a breakdown "
                                "must sum to its total)"))
    for layer, parts in report.stage_ns_by_layer_part.items():
        stage_ns = report.stage_ns_by_layer.get(layer)
        if any(_bad_number(ns) for ns in parts.values()):
            found.append((f"stage_ns_by_layer_part.{layer}", f"got {parts!r}; allowed: finite numbers >= 0"))
        elif stage_ns is None or not _adds_up(parts, stage_ns):
            found.append((f"stage_ns_by_layer_part.{layer}", f"adds up to {math.fsum(parts.values()):.6g} ns; "
                                                             f"stage_ns_by_layer.{layer} is {stage_ns} (the parts "
                                                             "of a stage's time must sum to it)"))
    leakage = report.energy_pj_by_component.get("leakage", 0.0)
    if report.leakage_pj_by_component and not _adds_up(report.leakage_pj_by_component, leakage):
        found.append(("leakage_pj_by_component", f"adds up to {math.fsum(report.leakage_pj_by_component.values()):.6g}"
                                                 f" pJ; energy_pj_by_component.leakage is {leakage:.6g} pJ"))
    if not math.isclose(report.dynamic_energy_pj_per_inference + leakage, total, rel_tol=REL_TOL, abs_tol=1e-9):
        found.append(("dynamic_energy_pj_per_inference", f"{report.dynamic_energy_pj_per_inference:.6g} pJ + leakage "
                                                         f"{leakage:.6g} pJ is not energy_pj_per_inference "
                                                         f"{total:.6g} pJ"))
    return found


def check_cost_report(report: CostReport, source: str) -> CostReport:
    if problems := cost_report_problems(report):
        raise ConfigError(f"CostReport JSON {source}", problems)
    return report


def confined(link: str, folder: Path, where: str, source: str) -> Path:
    """`link` (relative to `folder`, the result file's folder) as a path that stays inside `folder`;
    a ConfigError naming the key otherwise (an absolute path or ../.. out of the result)."""
    root = folder.resolve()
    target = Path(os.path.normpath(root / link)) if not Path(link).is_absolute() else Path(link)
    resolved = target.resolve()
    if Path(link).is_absolute() or not resolved.is_relative_to(root):
        raise ConfigError(f"result JSON {source}", [(where, f"{link!r} leads out of the result's folder; allowed: a "
                                                            f"relative path inside {folder}")])
    return resolved

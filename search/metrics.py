"""The figures the co-search records for one candidate, as one typed record.

`CandidateMetrics` holds the cost figures of the candidate's analytic CostReport and mapping, and,
once the candidate has been scored, its accuracy. Budgets, objectives, the study, the outputs and
the reports read its attributes; a flat {name: value} dict exists only at the disk boundary
(`to_dict` / `from_dict`: the study's trial attrs and JSON records), whose keys are exactly the
field names, so files written before this record existed read back unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from recpim.errors import ConfigError

# Cost figures copied from the analytic CostReport, under the report's own attribute names.
REPORT_METRICS = ("energy_pj_per_inference", "latency_ns_per_inference", "latency_ns_per_batch",
                  "throughput_inf_per_s", "area_mm2", "power_w", "tops", "tops_per_w", "macs_per_inference")


@dataclass(frozen=True, slots=True)
class CandidateMetrics:
    """Cost of one candidate on its chip and (after scoring) its accuracy. Accuracy fields are None
    for a candidate that was not scored (infeasible: over a budget; or the scoring failed)."""

    energy_pj_per_inference: float
    latency_ns_per_inference: float
    latency_ns_per_batch: float
    throughput_inf_per_s: float
    area_mm2: float
    power_w: float
    tops: float
    tops_per_w: float
    macs_per_inference: float
    crossbars_used: int
    crossbars_footprint: int          # crossbars holding one copy of every layer
    adc_lossy_layers: int
    mvm_layers: int
    logloss: float | None = None
    auc: float | None = None
    score_rows: int | None = None
    # The robust objective (search/device_objective.py; None without device draws): `logloss` is then
    # a statistic over programmed chips, these the figure on ideal cells and the draws' spread.
    ideal_logloss: float | None = None
    device_draws: int | None = None
    device_logloss_mean: float | None = None
    device_logloss_std: float | None = None
    device_logloss_p90: float | None = None

    @property
    def scored(self) -> bool:
        return self.logloss is not None

    def with_accuracy(self, logloss: float, auc: float, score_rows: int) -> CandidateMetrics:
        return replace(self, logloss=float(logloss), auc=float(auc), score_rows=int(score_rows))

    def value(self, name: str) -> float | None:
        """The figure called `name` (a metric named in settings, a CSV column)."""
        if name not in METRIC_NAMES:
            raise ConfigError("metrics", [(name, f"unknown metric; known: {', '.join(METRIC_NAMES)}")])
        value = getattr(self, name)
        return None if value is None else float(value)

    # ---- disk boundary
    def to_dict(self) -> dict[str, float]:
        """{name: value} of every known figure (unscored accuracy fields are left out)."""
        return {name: float(value) for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "metrics") -> CandidateMetrics:
        unknown = sorted(set(data) - set(METRIC_NAMES))
        missing = [name for name in REQUIRED_METRICS if name not in data]
        if unknown or missing:
            raise ConfigError(source, [(name, "unknown metric") for name in unknown]
                              + [(name, "missing") for name in missing])
        return cls(**{name: _KINDS[name](value) for name, value in data.items() if value is not None})


METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CandidateMetrics))
REQUIRED_METRICS: tuple[str, ...] = tuple(f.name for f in fields(CandidateMetrics) if f.default is not None)
# Each field's number type, to read a JSON record back (annotations are strings here: `from __future__`).
_KINDS = {f.name: int if f.type in ("int", "int | None") else float for f in fields(CandidateMetrics)}

"""What an embedding node reads: its pooling and how its lookups spread over the table's rows.

A recommender's sparse feature looks up `pooling` rows per bag and reduces them to one vector
(sum, mean or max: nn.EmbeddingBag, Caffe2's SparseLengthsSum); a one-hot feature is a bag of one
row with no reduction. A node reads `bags x pooling` rows per sample (its `lookups`).

The access distribution says which rows those lookups hit: uniform (every row alike, recpim's
figures before profiles), a Zipf law over the rows ranked by popularity (share of rank r ~ r^-s),
or a measured curve from a data profile: the share of lookups that go to the hottest fraction of
rows, at a few fractions. `hot_share(rows_kept, table_rows)` is what a cache of the hottest rows
catches. Rows a profile never saw are assumed never looked up (a profile counts `distinct_rows`).

Torch-free, so the mapping and the cost engines read it without the model stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from recpim.errors import ConfigError

Reduction = Literal["none", "sum", "mean", "max"]
PoolingSource = Literal["one_hot", "given", "measured"]
REDUCTIONS = ("none", "sum", "mean", "max")
_EXACT_TERMS = 2000   # generalized harmonic numbers: summed exactly this far, then by Euler-Maclaurin


@lru_cache(maxsize=65536)
def harmonic(n: int, s: float) -> float:
    """H(n, s) = sum_{i=1..n} i^-s (exact for n <= 2000; beyond, the integral with Euler-Maclaurin's
    first corrections, relative error below 1e-9)."""
    if n <= 0:
        return 0.0
    m = min(n, _EXACT_TERMS)
    total = math.fsum(i ** -s for i in range(1, m + 1))
    if n == m:
        return total
    a, b = m, n   # sum_{i=m+1..n} f(i) = int_m^n f + (f(n) - f(m)) / 2 + (f'(n) - f'(m)) / 12
    integral = math.log(b / a) if abs(s - 1.0) < 1e-12 else (b ** (1 - s) - a ** (1 - s)) / (1 - s)
    f = lambda x: x ** -s   # noqa: E731
    df = lambda x: -s * x ** (-s - 1)   # noqa: E731
    return total + integral + (f(b) - f(a)) / 2 + (df(b) - df(a)) / 12


def zipf_top_share(kept: int, rows: int, exponent: float) -> float:
    """Share of lookups that go to the `kept` most popular of `rows` rows under Zipf(exponent)."""
    if rows <= 0 or kept <= 0:
        return 0.0
    if kept >= rows:
        return 1.0
    if exponent == 0:
        return kept / rows
    return min(1.0, harmonic(kept, exponent) / harmonic(rows, exponent))


@dataclass(frozen=True)
class AccessDistribution:
    """How lookups spread over a table's rows: uniform, Zipf(`zipf_exponent`), or the measured
    `hot_shares` curve ((fraction of rows, share of lookups) pairs, fractions rising) of a profile,
    over `distinct_rows` rows actually looked up (None: the table's rows)."""

    zipf_exponent: float | None = None
    hot_shares: tuple[tuple[float, float], ...] = ()
    distinct_rows: int | None = None
    source: str = "uniform"

    def __post_init__(self) -> None:
        problems = []
        if self.zipf_exponent is not None and not 0 <= self.zipf_exponent <= 10:
            problems.append(("zipf_exponent", f"got {self.zipf_exponent}; allowed: 0..10"))
        previous = (0.0, 0.0)
        for fraction, share in self.hot_shares:
            if not (0 < fraction <= 1 and 0 <= share <= 1 and fraction > previous[0] and share >= previous[1]):
                problems.append(("hot_shares", f"got {self.hot_shares}; allowed: (fraction, share) pairs in (0, 1], "
                                               "fractions rising, shares not falling"))
                break
            previous = (fraction, share)
        if self.distinct_rows is not None and self.distinct_rows < 1:
            problems.append(("distinct_rows", f"got {self.distinct_rows}; allowed: >= 1 or None"))
        if problems:
            raise ConfigError("embedding access distribution", problems)

    @property
    def uniform(self) -> bool:
        return self.zipf_exponent is None and not self.hot_shares

    def hot_share(self, kept_rows: int, table_rows: int) -> float:
        """Share of lookups that hit the `kept_rows` hottest rows of a `table_rows`-row table."""
        if kept_rows <= 0:
            return 0.0
        rows = min(table_rows, self.distinct_rows) if self.distinct_rows else table_rows
        if kept_rows >= rows:
            return 1.0
        if self.hot_shares:   # the measured curve, linear between its points (a chord: never above the truth)
            fraction = kept_rows / rows
            points = ((0.0, 0.0), *self.hot_shares, (1.0, 1.0))
            for (f0, s0), (f1, s1) in zip(points, points[1:], strict=False):
                if fraction <= f1:
                    return s0 + (s1 - s0) * (fraction - f0) / (f1 - f0) if f1 > f0 else s1
            return 1.0
        if self.zipf_exponent is not None:
            return zipf_top_share(kept_rows, rows, self.zipf_exponent)
        return kept_rows / rows

    def to_dict(self) -> dict[str, Any]:
        return {"zipf_exponent": self.zipf_exponent, "hot_shares": [list(p) for p in self.hot_shares],
                "distinct_rows": self.distinct_rows, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccessDistribution:
        return cls(zipf_exponent=data.get("zipf_exponent"),
                   hot_shares=tuple(tuple(p) for p in data.get("hot_shares", ())),
                   distinct_rows=data.get("distinct_rows"), source=data.get("source", "uniform"))


UNIFORM = AccessDistribution()


@dataclass(frozen=True)
class EmbeddingAccess:
    """An embedding node's bags per sample, rows per bag (`pooling`, given by the model or measured
    from data, a mean when measured), how a bag's rows are reduced, and where its lookups go."""

    bags: int = 1
    pooling: float = 1.0
    reduction: Reduction = "none"
    pooling_source: PoolingSource = "one_hot"
    access: AccessDistribution = field(default_factory=AccessDistribution)

    def __post_init__(self) -> None:
        problems = []
        if self.bags < 1:
            problems.append(("bags", f"got {self.bags}; allowed: >= 1"))
        if not self.pooling >= 1:
            problems.append(("pooling", f"got {self.pooling}; allowed: >= 1 row per bag"))
        if self.reduction not in REDUCTIONS:
            problems.append(("reduction", f"got {self.reduction!r}; allowed: {', '.join(REDUCTIONS)}"))
        if problems:
            raise ConfigError("embedding access", problems)

    @property
    def lookups(self) -> int:
        """Rows read per sample: bags x pooling (a measured mean pooling rounds up)."""
        return math.ceil(self.bags * self.pooling - 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {"bags": self.bags, "pooling": self.pooling, "reduction": self.reduction,
                "pooling_source": self.pooling_source, "access": self.access.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddingAccess:
        return cls(bags=data["bags"], pooling=data["pooling"], reduction=data["reduction"],
                   pooling_source=data["pooling_source"], access=AccessDistribution.from_dict(data["access"]))


def one_hot(lookups: int) -> EmbeddingAccess:
    """What an embedding node without pooling data means: `lookups` one-row bags, uniform access."""
    return EmbeddingAccess(bags=max(1, lookups), pooling=1.0, reduction="none", pooling_source="one_hot")

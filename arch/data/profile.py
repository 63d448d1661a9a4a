"""Embedding access profiles measured from data: `recpim data profile KIND:PATH`.

One pass over a dataset's rows (every split: the tables serve them all) counts, per sparse field,
how often each id is looked up -- the ids as the model sees them, hashed into the schema's vocabulary,
so a field's ids are its table's rows. From the counts, per field:
- distinct_ids: rows looked up at least once;
- pooling: ids per row of data (1 for the one-hot fields of Criteo, Avazu and KDD 2012);
- hot_shares: the share of lookups that go to the hottest ceil(f x distinct_ids) rows, at the
  fractions f of HOT_FRACTIONS (0.1 %, 1 % and 10 % among them);
- zipf_exponent: s of the Zipf law (share of rank r ~ r^-s over the distinct ids) fitted by maximum
  likelihood to the ranked counts (golden-section search on s in [0, 5]).

The profile is written as JSON with kind "embedding_profile"; recpim.mapping applies it to a
model's embedding nodes (`--profile FILE`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recpim.arch.data.format_table import FORMATS
from recpim.arch.data.parsing import BadRowReport
from recpim.arch.data.schema import DatasetSchema
from recpim.errors import ConfigError, DataError

PROFILE_KIND = "embedding_profile"
# Fractions of a field's distinct ids at which the share of lookups is recorded (ascending).
HOT_FRACTIONS = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
REPORTED_FRACTIONS = (0.001, 0.01, 0.1)   # the shares every profile reports (0.1 %, 1 %, 10 %)
MAX_ZIPF_EXPONENT = 5.0


@dataclass(frozen=True)
class FieldProfile:
    name: str
    vocab_size: int        # the table's rows (the schema's vocabulary for the field)
    lookups: int           # ids read over the whole pass
    distinct_ids: int
    pooling: float         # ids per row of data
    hot_shares: tuple[tuple[float, float], ...]   # (fraction of distinct ids, share of lookups)
    zipf_exponent: float

    def __post_init__(self) -> None:
        recorded = [f for f, _ in self.hot_shares]
        missing = [f for f in REPORTED_FRACTIONS if not any(math.isclose(f, r) for r in recorded)]
        if missing:
            raise ConfigError(f"profile field {self.name!r}", [("hot_shares", f"records fractions {recorded}; "
                                                                              f"allowed: ones including {missing}")])

    def share_of_hottest(self, fraction: float) -> float:
        for f, share in self.hot_shares:
            if math.isclose(f, fraction):
                return share
        raise KeyError(f"{self.name}: no hot share recorded at {fraction}; recorded: "
                       f"{[f for f, _ in self.hot_shares]}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "vocab_size": self.vocab_size, "lookups": self.lookups,
                "distinct_ids": self.distinct_ids, "pooling": self.pooling,
                "hot_shares": [[f, s] for f, s in self.hot_shares],
                "share_hottest_0.1pct": self.share_of_hottest(0.001), "share_hottest_1pct": self.share_of_hottest(0.01),
                "share_hottest_10pct": self.share_of_hottest(0.1), "zipf_exponent": self.zipf_exponent}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldProfile:
        return cls(name=data["name"], vocab_size=int(data["vocab_size"]), lookups=int(data["lookups"]),
                   distinct_ids=int(data["distinct_ids"]), pooling=float(data["pooling"]),
                   hot_shares=tuple((float(f), float(s)) for f, s in data["hot_shares"]),
                   zipf_exponent=float(data["zipf_exponent"]))


@dataclass(frozen=True)
class DataProfile:
    dataset: str
    rows: int                  # good rows read
    bad_rows: int
    fields: tuple[FieldProfile, ...]

    def field(self, name: str) -> FieldProfile:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)

    def to_json_dict(self) -> dict[str, Any]:
        return {"kind": PROFILE_KIND, "dataset": self.dataset, "rows": self.rows, "bad_rows": self.bad_rows,
                "hot_fractions": list(HOT_FRACTIONS), "fields": [f.to_dict() for f in self.fields]}

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_json_dict(cls, data: dict[str, Any], where: str = "profile") -> DataProfile:
        if data.get("kind") != PROFILE_KIND:
            raise ConfigError(where, [("kind", f"got {data.get('kind')!r}; allowed: {PROFILE_KIND!r} (a file "
                                               "written by `recpim data profile`)")])
        try:
            return cls(dataset=str(data["dataset"]), rows=int(data["rows"]), bad_rows=int(data["bad_rows"]),
                       fields=tuple(FieldProfile.from_dict(f) for f in data["fields"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(where, [("fields", f"malformed profile: {type(error).__name__}: {error}")]) from None


def read_profile(path: str | Path) -> DataProfile:
    """A profile JSON written by `recpim data profile` (ConfigError naming what is wrong)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("--profile", [(str(path), "no such file; write one with `recpim data profile KIND:PATH`")])
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError("--profile", [(str(path), f"not JSON: {error}")]) from None
    return DataProfile.from_json_dict(data, str(path))


def fit_zipf_exponent(counts: np.ndarray) -> float:
    """Maximum-likelihood Zipf exponent of lookup counts (any order; zeros ignored): the s that
    maximises -s sum_r c_r ln r - n ln H(D, s) over the counts ranked, D of them."""
    ranked = np.sort(counts[counts > 0])[::-1].astype(np.float64)
    if len(ranked) <= 1:
        return 0.0
    log_rank = np.log(np.arange(1, len(ranked) + 1, dtype=np.float64))
    weighted = float(ranked @ log_rank)
    total = float(ranked.sum())

    def log_likelihood(s: float) -> float:
        return -s * weighted - total * math.log(float(np.exp(-s * log_rank).sum()))

    low, high = 0.0, MAX_ZIPF_EXPONENT
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = log_likelihood(a), log_likelihood(b)
    for _ in range(60):   # concave in s: golden section narrows to 1e-12 of the range
        if fa < fb:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = log_likelihood(b)
        else:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = log_likelihood(a)
    return round((low + high) / 2, 6)


def hot_shares(counts: np.ndarray) -> tuple[tuple[float, float], ...]:
    """(fraction, share of lookups to the hottest ceil(fraction x distinct) ids) at HOT_FRACTIONS."""
    ranked = np.sort(counts[counts > 0])[::-1]
    total = int(ranked.sum())
    if total == 0:
        return tuple((f, 0.0) for f in HOT_FRACTIONS)
    cumulative = np.cumsum(ranked)
    return tuple((f, float(cumulative[max(1, math.ceil(f * len(ranked) - 1e-9)) - 1]) / total)
                 for f in HOT_FRACTIONS)


def field_profile(name: str, counts: np.ndarray, rows: int) -> FieldProfile:
    lookups = int(counts.sum())
    return FieldProfile(name=name, vocab_size=len(counts), lookups=lookups, distinct_ids=int((counts > 0).sum()),
                        pooling=lookups / rows if rows else 0.0, hot_shares=hot_shares(counts),
                        zipf_exponent=fit_zipf_exponent(counts))


def profile_dataset(spec: str, schema: DatasetSchema | None = None, *, max_rows: int | None = None,
                    on_bad_row: str = "skip", reader: str = "auto",
                    progress: Callable[[int], None] | None = None) -> DataProfile:
    """Read `spec` (criteo:PATH, avazu:PATH, kdd12:PATH) once and profile its sparse fields.
    `progress` is called with the rows read so far after every chunk."""
    kind, _, rest = spec.partition(":")
    if kind not in FORMATS or not rest:
        forms = ", ".join(f"{entry.kind}:{entry.path_form}" for entry in FORMATS.values())
        raise ConfigError("data profile", [("spec", f"{spec!r}; allowed: {forms}")])
    path = Path(rest).expanduser()
    if not path.exists():
        raise DataError(f"{kind} data not found: {path}")
    entry = FORMATS[kind]
    schema = schema or entry.default_schema()
    names = entry.text_format.sparse_names
    if len(names) != schema.num_sparse:
        raise ConfigError("data profile", [("schema", f"{schema.num_sparse} sparse fields; {kind} rows have "
                                                      f"{len(names)}")])
    source, _ = entry.open_source(path, schema.vocab_sizes, on_bad_row, kind, max_rows=max_rows, reader=reader)
    counts = [np.zeros(size, np.int64) for size in schema.vocab_sizes]
    report = BadRowReport()
    rows = 0
    for chunk in source.iter_chunks(report):
        for field, column in enumerate(chunk.sparse.T):
            counts[field] += np.bincount(column, minlength=len(counts[field]))
        rows += len(chunk)
        if progress is not None:
            progress(rows)
    if rows == 0:
        raise DataError(f"{spec}: no valid rows ({report.summary()})")
    return DataProfile(dataset=f"{kind}:{path}", rows=rows, bad_rows=report.count,
                       fields=tuple(field_profile(name, c, rows) for name, c in zip(names, counts, strict=True)))

"""Building blocks of the CTR data pipeline: batches, stable hashing, strict integers, splits, reports.

Everything here works on a chunk of rows at a time as numpy arrays of byte strings (dtype ``S``),
so a 45 M-row file is parsed in constant memory (about 10 µs per Criteo row on one core). The file formats
(Criteo, Avazu) live in ``formats.py``, KDD Cup 2012 in ``kdd.py``; the public API in ``datasets.py``.

Preprocessing follows NASRec: dense values become ``log(max(x, 0) + 1)`` (an empty dense value is
0); categorical values are hashed into each field's vocabulary, with id 0 reserved for an empty
value. The hash is FNV-1a 64 of ``b"<field index>:" + value bytes``: unsalted, so ids are the same
in every process, on every machine and in any other language.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from recpim.errors import ConfigError, DataError

if TYPE_CHECKING:  # torch is imported only when batches are built, so parsing stays numpy-only
    import torch

SPLITS = ("train", "val", "test")
RESERVED_EMPTY_ID = 0
"""The embedding row every empty (missing) categorical value maps to."""

FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment
_MAX_INT_DIGITS = 18  # every 18-digit integer fits in int64; longer ones are rejected, never wrapped


class CtrBatch(NamedTuple):
    """One batch as the models consume it."""

    dense: torch.Tensor  # float32 [B, num_dense]
    sparse: torch.Tensor  # int64 [B, num_sparse], ids in [0, vocab_sizes[f])
    label: torch.Tensor  # float32 [B], 0.0 or 1.0


@dataclass
class ArrayChunk:
    """Parsed rows as numpy arrays; `row_index` is each row's position among the source's data rows
    (bad rows included), the key of the deterministic split."""

    dense: np.ndarray  # float32 [n, num_dense]
    sparse: np.ndarray  # int64 [n, num_sparse]
    label: np.ndarray  # float32 [n]
    row_index: np.ndarray  # int64 [n]

    def __len__(self) -> int:
        return len(self.label)

    def take(self, rows: np.ndarray) -> ArrayChunk:
        return ArrayChunk(self.dense[rows], self.sparse[rows], self.label[rows], self.row_index[rows])

    def to_batch(self, copy: bool = True) -> CtrBatch:
        """Torch tensors; with copy=True they own their memory (safe to modify without touching a
        cache), with copy=False they share it with this chunk."""
        import torch

        return CtrBatch(
            torch.from_numpy(np.array(self.dense, dtype=np.float32, copy=copy or None)),
            torch.from_numpy(np.array(self.sparse, dtype=np.int64, copy=copy or None)),
            torch.from_numpy(np.array(self.label, dtype=np.float32, copy=copy or None)),
        )

    @staticmethod
    def concat(chunks: list[ArrayChunk], num_dense: int, num_sparse: int) -> ArrayChunk:
        if not chunks:
            return ArrayChunk(
                np.zeros((0, num_dense), np.float32), np.zeros((0, num_sparse), np.int64),
                np.zeros(0, np.float32), np.zeros(0, np.int64),
            )
        return ArrayChunk(*(np.concatenate([getattr(c, name) for c in chunks])
                            for name in ("dense", "sparse", "label", "row_index")))


@dataclass(frozen=True)
class BadRow:
    path: str
    line: int  # 1-based physical line number in the file
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


@dataclass
class BadRowReport:
    """Malformed rows seen in one complete pass over a dataset: how many, and the first few."""

    count: int = 0  # bad rows, side files (KDD's user profiles) included
    rows_read: int = 0  # data rows read, good and bad (header lines excluded)
    rows_good: int = 0  # data rows kept
    side_rows_read: int = 0  # rows of side files (KDD's user profiles), good and bad
    examples: list[BadRow] = field(default_factory=list)
    max_examples: int = 20

    def add(self, bad: BadRow) -> None:
        self.count += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(bad)

    @property
    def bad_fraction(self) -> float:
        """Bad rows over all rows read (side files included)."""
        return self.count / max(self.rows_read + self.side_rows_read, 1)

    def summary(self) -> str:
        head = f"{self.count} bad row(s); {self.rows_good} good of {self.rows_read} data rows read"
        return "\n".join([head] + [f"  {bad}" for bad in self.examples])

    def to_dict(self) -> dict:
        return {
            "count": self.count,
            "rows_read": self.rows_read,
            "rows_good": self.rows_good,
            "side_rows_read": self.side_rows_read,
            "examples": [{"path": b.path, "line": b.line, "problem": b.problem} for b in self.examples],
        }


# ---------------------------------------------------------------------------------------------
# Stable hashing of categorical values
# ---------------------------------------------------------------------------------------------

def fnv1a_64(data: bytes, state: int = FNV_OFFSET_BASIS) -> int:
    """FNV-1a, 64 bit (the published reference algorithm); `state` continues a previous hash."""
    for byte in data:
        state = ((state ^ byte) * FNV_PRIME) & _MASK64
    return state


def _id_from_hash(hash64: int, vocab_size: int) -> int:
    return 0 if vocab_size == 1 else 1 + hash64 % (vocab_size - 1)


def stable_hash_id(value: bytes, field_index: int, vocab_size: int) -> int:
    """Reference (pure Python) id of one categorical value; `hash_cells` is its vectorised twin.

    An empty value maps to the reserved id 0; any other to 1 + FNV-1a-64(b"f:" + value) mod
    (vocab_size - 1). NUL bytes are skipped (they never occur in text files; numpy's fixed-width
    byte strings use them as padding)."""
    if value.strip(b"\0") == b"":
        return RESERVED_EMPTY_ID
    state = fnv1a_64(f"{field_index}:".encode() + value.replace(b"\0", b""))
    return _id_from_hash(state, vocab_size)


def hash_cells(cells: np.ndarray, vocab_sizes: tuple[int, ...] | list[int]) -> np.ndarray:
    """Ids of a [n, F] array of byte strings, field f hashed into vocab_sizes[f] rows (int64 [n, F])."""
    cells = np.ascontiguousarray(cells)
    if cells.dtype.kind != "S" or cells.ndim != 2 or cells.shape[1] != len(vocab_sizes):
        raise ValueError(f"expected a [n, {len(vocab_sizes)}] bytes array, got {cells.dtype} {cells.shape}")
    n, num_fields = cells.shape
    width = cells.dtype.itemsize
    # Position-major so each step reads one contiguous [n, F] byte plane.
    planes = np.ascontiguousarray(np.moveaxis(cells.view(np.uint8).reshape(n, num_fields, width), 2, 0))
    start = np.array([fnv1a_64(f"{f}:".encode()) for f in range(num_fields)], dtype=np.uint64)
    state = np.broadcast_to(start, (n, num_fields)).copy()
    prime, one = np.uint64(FNV_PRIME), np.uint64(1)
    nonzero = planes != 0
    absent = ~nonzero[0]  # empty cells: their state is replaced by the reserved id below
    for has_byte, plane in zip(nonzero, planes, strict=True):
        state ^= plane  # a NUL byte XORs nothing ...
        if (has_byte | absent).all():  # no NUL among the cells that count (fixed-width ids): plain FNV step
            state *= prime
        else:
            state *= np.where(has_byte, prime, one)  # ... and multiplies by 1: skipped, as in the reference
    vocab = np.asarray(vocab_sizes, dtype=np.uint64)
    ids = (np.uint64(1) + state % np.maximum(vocab - np.uint64(1), np.uint64(1))).astype(np.int64)
    ids[:, vocab == 1] = 0
    ids[planes[0] == 0] = RESERVED_EMPTY_ID
    return ids


# ---------------------------------------------------------------------------------------------
# Strict integers
# ---------------------------------------------------------------------------------------------

def parse_int_cells(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse byte-string cells as integers with the strict grammar ``-?[0-9]{1,18}``.

    Returns (values int64, ok bool) of the cells' shape. An empty cell is ok with value 0 (the
    caller decides whether empty is allowed); anything else off-grammar (``1.5``, ``+3``, `` 7``,
    ``1e3``, ``abc``, 19+ digits) is not ok and gets value 0. Vectorised over byte positions.
    """
    cells = np.ascontiguousarray(cells)
    if cells.dtype.kind != "S":
        raise ValueError(f"expected a bytes array, got {cells.dtype}")
    width = cells.dtype.itemsize
    planes = np.moveaxis(cells.view(np.uint8).reshape(*cells.shape, width), -1, 0)
    digits = planes - np.uint8(ord("0"))  # wraps below '0', so digits <= 9 tests the range
    is_digit = digits <= 9
    is_nul = planes == 0
    negative = planes[0] == ord("-")
    allowed = is_digit | is_nul
    allowed[0] |= negative
    ok = allowed.all(axis=0)
    # Padding NULs only trail: nothing but NULs may follow the first NUL.
    ok &= ~(np.logical_or.accumulate(is_nul, axis=0) & ~is_nul).any(axis=0)
    num_digits = is_digit.sum(axis=0)
    empty = is_nul[0]
    ok &= empty | ((num_digits >= 1) & (num_digits <= _MAX_INT_DIGITS))
    values = np.zeros(cells.shape, dtype=np.int64)
    for plane_digits, plane_is_digit in zip(digits, is_digit, strict=True):
        values = np.where(plane_is_digit & ok, values * 10 + plane_digits, values)
    values = np.where(negative, -values, values)
    values[~ok] = 0
    return values, ok


def log1p_clamped(values: np.ndarray) -> np.ndarray:
    """NASRec's dense transform: log(max(x, 0) + 1), as float32."""
    return np.log1p(np.maximum(values, 0).astype(np.float64)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Deterministic split while streaming
# ---------------------------------------------------------------------------------------------

def _splitmix64(values: np.ndarray) -> np.ndarray:
    z = values.astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def assign_splits(row_index: np.ndarray, seed: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """Split code (0 train, 1 val, 2 test) of each row, a pure function of (row index, seed).

    A row's split never depends on the chunk size, on the other rows, or on which rows were
    bad, so a streamed pass and an in-memory pass agree and every run sees the same split."""
    # Output number `row_index` of the SplitMix64 generator whose state starts at a seed-derived value.
    state = np.uint64(fnv1a_64(f"split:{int(seed)}".encode()))
    weyl = np.asarray(row_index, dtype=np.uint64) * np.uint64(_GOLDEN_GAMMA) + state + np.uint64(_GOLDEN_GAMMA)
    uniform = (_splitmix64(weyl) >> np.uint64(11)).astype(np.float64)
    uniform *= 2.0**-53
    train, val, _ = fractions
    return np.where(uniform < train, 0, np.where(uniform < train + val, 1, 2)).astype(np.int8)


def check_split_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigError("dataset split", [("split_fractions", f"need three non-negative fractions "
                                                                f"(train, val, test) summing to 1, got {fractions}")])
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def split_code(split: str) -> int:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    return SPLITS.index(split)


# ---- messages and failure positions shared by the two text readers (formats.py: the Python split,
# arrow_reader.py: pyarrow), which both sit above this module
def show(value: bytes, limit: int = 40) -> str:
    text = value.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def raise_bad_row(bad: BadRow) -> None:
    raise DataError(f"{bad} (pass on_bad_row='skip' to count and skip malformed rows)")


def lines_before_gzip_failure(path: Path) -> int | None:
    """Complete lines gzip decodes before its stream fails (pyarrow reads whole blocks, so it
    cannot say which line it reached)."""
    lines = 0
    try:
        with gzip.open(path, "rb") as handle:
            while block := handle.read(1 << 14):  # a failing read returns nothing: small reads lose few lines
                lines += block.count(b"\n")
    except (EOFError, OSError, zlib.error):
        return lines
    return None  # gzip reads it whole: the failure was elsewhere

"""The CTR text formats: Criteo Kaggle TSV, Avazu CSV and KDD Cup 2012 track 2, read in chunks.

The Criteo and Avazu formats and the text reader every format shares live here; KDD Cup 2012,
with its side files, in kdd.py; `FORMATS` (format_table.py) is the one table of them that the
dataset opener reads. A new format is one `TextFormat` subclass and one entry there.

Each format checks every row (column count, label, integers) and turns good rows into NASRec's
features; `TextFileSource` streams a file as `ArrayChunk`s and records every malformed row in a
`BadRowReport` (or raises `DataError` naming file, line and problem when on_bad_row="error").
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from recpim.arch.data.arrow_reader import arrow_available, iter_arrow_chunks
from recpim.arch.data.compiled_reader import (
    DENSE_INT,
    HASHED,
    LABEL,
    KernelLayout,
    compiled_available,
    iter_compiled_chunks,
)
from recpim.arch.data.parsing import (
    ArrayChunk,
    BadRow,
    BadRowReport,
    hash_cells,
    lines_before_gzip_failure,
    log1p_clamped,
    parse_int_cells,
    raise_bad_row,
    show,
)
from recpim.errors import DataError

ON_BAD_ROW = ("skip", "error")
READERS = ("auto", "compiled", "arrow", "python")
"""auto: the compiled (numba) reader for formats with a kernel layout when numba is installed, else
pyarrow's columnar reader when pyarrow is installed, else the per-row Python reader (the reference)."""


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, gunzipped on the fly when it starts with the gzip magic (whatever its name)."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")


TEXT_SAMPLE_BYTES = 1 << 16


def require_text(path: Path, fmt_name: str) -> None:
    """A DataError naming `path` when its first 64 KB (gunzipped) are not text: a NUL byte, or more than
    5 % of them not UTF-8 (an image, an archive, a model file given as --data). pyarrow's own report of
    such a file is an 'Exception ignored' traceback and the raw bytes of its first line."""
    with open_binary(path) as handle:
        try:
            sample = handle.read(TEXT_SAMPLE_BYTES)
        except (EOFError, OSError, zlib.error):
            return                     # a damaged gzip stream: the reader names it with the line reached
    nul = sample.find(b"\x00")
    undecodable = sample.decode("utf-8", "replace").count("\ufffd")
    if nul >= 0 or undecodable > 0.05 * max(len(sample), 1):
        why = (f"a NUL byte at offset {nul}" if nul >= 0
               else f"{undecodable} of its first {len(sample)} bytes are not UTF-8 text")
        raise DataError(f"{path}: not a text file ({why}); {fmt_name} data is delimited text, optionally gzipped")


class RowCheck(NamedTuple):
    """Rows failing one check (mask over the chunk's well-formed rows) and how to describe row i."""

    failed: np.ndarray
    describe: Callable[[int], str]


class Converted(NamedTuple):
    dense: np.ndarray  # float32 [n, num_dense]
    sparse_cells: np.ndarray  # bytes [n, num_sparse], hashed afterwards
    label: np.ndarray  # float32 [n]
    checks: list[RowCheck]


def label_check(cells: np.ndarray, name: str) -> tuple[np.ndarray, RowCheck]:
    ok = (cells == b"0") | (cells == b"1")
    return (cells == b"1").astype(np.float32), RowCheck(~ok, lambda i: f"{name} must be 0 or 1, found {show(cells[i])}")


IntParser = Callable[[list[int]], tuple[np.ndarray, np.ndarray]]
"""Strict integers (values, ok) of some columns of a block, as parse_int_cells computes them from
the block's cells (the columnar reader computes the same with pyarrow, arrow_reader.py)."""


def int_columns(cells: np.ndarray, names: list[str], *, allow_empty: bool = True,
                parsed: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, RowCheck]:
    """Strict integers of [n, k] cells (or their `parsed` values and ok); the check names the first
    offending column of a row."""
    values, ok = parse_int_cells(cells) if parsed is None else parsed
    if not allow_empty:
        ok &= cells != b""

    def describe(i: int) -> str:
        j = int(np.argmin(ok[i]))
        return f"{names[j]} is not an integer: {show(cells[i, j])}"

    return values, RowCheck(~ok.all(axis=1), describe)


def digit_columns(cells: np.ndarray, names: list[str]) -> RowCheck:
    """Id columns that must be decimal digits (any length, empty = missing); ids are hashed, not parsed."""
    planes = np.moveaxis(np.ascontiguousarray(cells).view(np.uint8).reshape(*cells.shape, -1), -1, 0)
    ok = (((planes - np.uint8(ord("0"))) <= 9) | (planes == 0)).all(axis=0)

    def describe(i: int) -> str:
        j = int(np.argmin(ok[i]))
        return f"{names[j]} is not a decimal id: {show(cells[i, j])}"

    return RowCheck(~ok.all(axis=1), describe)


class TextFormat:
    """One delimited text format. Subclasses set the class attributes and implement `convert`."""

    name: str
    delimiter: bytes
    column_names: tuple[str, ...]
    dense_names: tuple[str, ...]
    sparse_names: tuple[str, ...]
    header: bytes | None = None  # the exact first line, when the format has one
    kernel_layout: KernelLayout | None = None  # each column's role, for the compiled reader (None: it has none)

    @property
    def num_columns(self) -> int:
        return len(self.column_names)

    def convert(self, cells: np.ndarray, ints: IntParser | None = None) -> Converted:
        """Check and transform [n, columns] cells; `ints(columns)` may supply the strict integers of
        some columns (the same values and ok as parse_int_cells of those cells)."""
        raise NotImplementedError


CRITEO_DENSE = tuple(f"I{i}" for i in range(1, 14))
CRITEO_SPARSE = tuple(f"C{i}" for i in range(1, 27))


class CriteoFormat(TextFormat):
    """Criteo Kaggle `train.txt`: tab-separated, no header: label, I1..I13 (integers, may be negative
    or empty), C1..C26 (hashed hex strings, may be empty)."""

    name = "criteo"
    delimiter = b"\t"
    column_names = ("label", *CRITEO_DENSE, *CRITEO_SPARSE)
    dense_names = CRITEO_DENSE
    sparse_names = CRITEO_SPARSE
    kernel_layout = KernelLayout((LABEL, *[DENSE_INT] * 13, *[HASHED] * 26))

    def convert(self, cells: np.ndarray, ints: IntParser | None = None) -> Converted:
        label, label_ok = label_check(cells[:, 0], "label")
        dense, ints_ok = int_columns(cells[:, 1:14], list(CRITEO_DENSE),
                                     parsed=ints(list(range(1, 14))) if ints is not None else None)
        return Converted(log1p_clamped(dense), cells[:, 14:], label, [label_ok, ints_ok])


AVAZU_COLUMNS = (
    "id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id",
    "app_domain", "app_category", "device_id", "device_ip", "device_model", "device_type",
    "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def avazu_hour_fields(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Avazu's `hour` (YYMMDDHH, UTC, 20YY) -> (hour of day 0..23, weekday 0..6 with Monday 0, ok)."""
    values, ok = parse_int_cells(cells)
    ok &= np.char.str_len(cells) == 8
    year, month = 2000 + values // 1_000_000, values // 10_000 % 100
    day, hour = values // 100 % 100, values % 100
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (hour <= 23)
    safe_month = np.where(ok, month, 1)
    month_start = ((np.where(ok, year, 2000) - 1970) * 12 + safe_month - 1).astype("datetime64[M]")
    days_in_month = ((month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]")).astype(int)
    ok &= day <= days_in_month
    days = (month_start.astype("datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(np.int64)
    weekday = (days + np.where(ok, day, 1) - 1 + _EPOCH_WEEKDAY) % 7
    return np.where(ok, hour, 0), np.where(ok, weekday, 0), ok


class AvazuFormat(TextFormat):
    """Avazu Kaggle `train`: CSV with header (CRLF). `id` is dropped, `click` is the label, `hour`
    becomes two fields (hour of day, weekday) and the other 21 columns stay categorical: 23 sparse
    fields and no dense feature."""

    name = "avazu"
    delimiter = b","
    column_names = AVAZU_COLUMNS
    dense_names = ()
    sparse_names = ("hour_of_day", "weekday", *AVAZU_COLUMNS[3:])
    header = b",".join(c.encode() for c in AVAZU_COLUMNS)

    def convert(self, cells: np.ndarray, ints: IntParser | None = None) -> Converted:
        label, label_ok = label_check(cells[:, 1], "click")
        hour_cells = cells[:, 2]
        hour, weekday, hour_ok = avazu_hour_fields(hour_cells)
        hour_bad = RowCheck(~hour_ok, lambda i: f"hour must be YYMMDDHH, found {show(hour_cells[i])}")
        sparse = np.concatenate([hour[:, None].astype(bytes), weekday[:, None].astype(bytes), cells[:, 3:]], axis=1)
        return Converted(np.zeros((len(cells), 0), np.float32), sparse, label, [label_ok, hour_bad])


def check_lines(fmt: TextFormat, lines: list[bytes], first_line: int, path: str, report: BadRowReport,
                on_bad_row: str) -> tuple[Converted, np.ndarray]:
    """Split and check consecutive lines (numbered from `first_line`); record (or raise on) bad ones.

    Returns the good rows converted, and their positions in `lines`."""
    stripped = [line.rstrip(b"\r\n") for line in lines]
    separators = np.fromiter((line.count(fmt.delimiter) for line in stripped), np.int64, len(stripped))
    well_formed = np.flatnonzero(separators == fmt.num_columns - 1)
    if len(well_formed):
        tokens = fmt.delimiter.join([stripped[i] for i in well_formed]).split(fmt.delimiter)
        cells = np.array(tokens, dtype=bytes).reshape(len(well_formed), fmt.num_columns)
    else:
        cells = np.zeros((0, fmt.num_columns), dtype="S1")
    converted = fmt.convert(cells)
    failed = np.zeros(len(well_formed), bool)
    for check in converted.checks:
        failed |= check.failed
    good = well_formed[~failed]

    bad_positions = np.union1d(np.flatnonzero(separators != fmt.num_columns - 1), well_formed[failed])
    report.rows_read += len(lines)
    # Describe only the rows the report keeps (error mode: the first one, then raise).
    num_described = max(report.max_examples - len(report.examples), 1 if on_bad_row == "error" else 0)
    for p in bad_positions[:num_described]:
        k = int(np.searchsorted(well_formed, p))  # p's row in `cells`, if it has the right column count
        if k == len(well_formed) or well_formed[k] != p:
            problem = (f"expected {fmt.num_columns} columns separated by {show(fmt.delimiter)}, "
                       f"found {separators[p] + 1}")
        else:
            problem = next(check.describe(k) for check in converted.checks if check.failed[k])
        bad = BadRow(path, first_line + int(p), problem)
        if on_bad_row == "error":
            raise_bad_row(bad)
        report.examples.append(bad)
    report.count += len(bad_positions)
    report.rows_good += len(good)
    keep = ~failed
    return Converted(converted.dense[keep], converted.sparse_cells[keep], converted.label[keep], []), good


def describe_bad_line(fmt: TextFormat, line: bytes) -> str:
    """The per-row reader's problem with one line it rejects (the compiled reader's bad rows)."""
    scratch = BadRowReport(max_examples=1)
    check_lines(fmt, [line], 1, "", scratch, "skip")
    if not scratch.examples:
        raise DataError(f"the compiled reader rejected a line the per-row reader accepts ({show(line, 200)}); "
                        "read with reader='python' and report this")
    return scratch.examples[0].problem


def parse_lines(fmt: TextFormat, lines: list[bytes], first_line: int, first_row: int,
                vocab_sizes: tuple[int, ...], path: str, report: BadRowReport, on_bad_row: str) -> ArrayChunk:
    """Parse consecutive data lines (line numbers from `first_line`, data-row indices from `first_row`)."""
    rows, good = check_lines(fmt, lines, first_line, path, report, on_bad_row)
    return ArrayChunk(rows.dense, hash_cells(rows.sparse_cells, vocab_sizes), rows.label,
                      first_row + good.astype(np.int64))


def _read_failure(path: Path, handle: BinaryIO, error: BaseException, line: int) -> DataError:
    """What went wrong reading `path` (a truncated or corrupt gzip stream, mostly), and where."""
    raw = getattr(handle, "fileobj", None)  # a GzipFile's compressed file
    gzipped = raw is not None
    offset = (raw if gzipped else handle).tell() if not handle.closed else None
    if gzipped:
        line = max(line, lines_before_gzip_failure(path) or 0)
    where = f"after line {line}" + (f", {offset} compressed bytes read" if gzipped else f", byte {offset}")
    what = ("the gzip stream is truncated or corrupt (was the download or copy cut short?)" if gzipped
            else "the file could not be read")
    return DataError(f"{path}: {what} {where}: {type(error).__name__}: {error}")


def iter_lines(path: Path, chunk_rows: int, skip_lines: int = 0) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) chunks of up to `chunk_rows` lines after `skip_lines` header lines.

    A truncated or corrupt gzip file is a DataError naming the file and the line reached (gzip's
    own EOFError would reach the command line as a bare "Aborted.")."""
    with open_binary(path) as handle:
        line_number = 1
        try:
            for _ in range(skip_lines):
                handle.readline()
            line_number = skip_lines + 1
            while lines := list(itertools.islice(handle, chunk_rows)):
                yield line_number, lines
                line_number += len(lines)
        except (EOFError, OSError, zlib.error) as error:
            raise _read_failure(path, handle, error, line_number - 1) from None


def read_first_line(path: Path) -> bytes:
    with open_binary(path) as handle:
        try:
            return handle.readline().rstrip(b"\r\n")
        except (EOFError, OSError, zlib.error) as error:
            raise _read_failure(path, handle, error, 0) from None


@dataclass
class TextFileSource:
    """A delimited text file streamed as ArrayChunks of hashed, transformed rows."""

    path: Path
    fmt: TextFormat
    vocab_sizes: tuple[int, ...]
    on_bad_row: str = "skip"
    chunk_rows: int = 32_768
    max_rows: int | None = None  # read only the first max_rows data rows (None: all)
    side_file_bad_rows: BadRowReport | None = None  # side-file problems, reported on every pass
    reader: str = "auto"  # READERS: who splits the lines (arrow_reader.py), same rows either way

    def resolved_reader(self) -> str:
        if self.reader not in READERS:
            raise DataError(f"unknown reader {self.reader!r}; allowed: {', '.join(READERS)}")
        if self.reader == "auto":
            if self.fmt.kernel_layout is not None and compiled_available():
                return "compiled"
            return "arrow" if arrow_available() else "python"
        if self.reader == "compiled":
            if self.fmt.kernel_layout is None:
                raise DataError(f"reader 'compiled' has no kernel layout for the {self.fmt.name} format (it reads "
                                f"{', '.join(FORMATS_WITH_KERNEL)}); use reader 'arrow' or 'python'")
            if not compiled_available():
                raise DataError("reader 'compiled' needs numba (pip install numba); reader 'arrow' needs pyarrow")
        if self.reader == "arrow" and not arrow_available():
            raise DataError("reader 'arrow' needs pyarrow (pip install pyarrow); reader 'python' needs nothing")
        return self.reader

    def iter_chunks(self, report: BadRowReport) -> Iterator[ArrayChunk]:
        if self.side_file_bad_rows is not None:
            report.count += self.side_file_bad_rows.count
            report.side_rows_read += self.side_file_bad_rows.rows_read
            report.examples += self.side_file_bad_rows.examples[: report.max_examples - len(report.examples)]
        skip = 0
        require_text(self.path, self.fmt.name)
        if self.fmt.header is not None:
            first = read_first_line(self.path)
            if first != self.fmt.header:
                raise DataError(f"{self.path}:1: header {show(first, 200)} is not the {self.fmt.name} header "
                                f"{show(self.fmt.header, 400)}")
            skip = 1
        reader = self.resolved_reader()
        if reader == "compiled":
            yield from iter_compiled_chunks(
                self, self.fmt.kernel_layout, report, lambda: open_binary(self.path),
                lambda line: describe_bad_line(self.fmt, line),
                lambda handle, error, line: _read_failure(self.path, handle, error, line))
            return
        if reader == "arrow":
            yield from iter_arrow_chunks(self, report)
            return
        row = 0
        for first_line, lines in iter_lines(self.path, self.chunk_rows, skip):
            if self.max_rows is not None:
                lines = lines[: self.max_rows - row]
            if not lines:
                break
            yield parse_lines(self.fmt, lines, first_line, row, self.vocab_sizes, str(self.path), report,
                              self.on_bad_row)
            row += len(lines)
        if row == 0:
            raise DataError(f"{self.path}: no data rows")


FORMATS_WITH_KERNEL = ("criteo",)
"""Formats the compiled reader reads (those whose TextFormat has a kernel_layout)."""

"""The columnar reader of the CTR text formats: pyarrow's streaming CSV reader instead of the
per-row Python split (formats.iter_lines + check_lines, kept as the reference and fallback).

pyarrow (a well-kept C++ CSV parser) splits each block of the file into binary columns, without
quoting, type inference or UTF-8 checks, so a cell is exactly the bytes between two delimiters,
as in the Python split. The columns become the same fixed-width byte arrays the formats' checks
and the FNV-1a hash already take (parsing.py), so parsing rules, hashes, bad-row problems and
the seeded split are the Python path's by construction; a test proves equal tensors on the real
samples. What differs is only who splits lines:

- rows with the wrong number of columns reach pyarrow's invalid-row handler with their physical
  line number; they are counted and reported in file order with the rows the checks reject;
- an empty line is, to pyarrow, a row of empty cells: it is still a bad row (an empty label), and
  its problem reads "empty line or row of empty cells" instead of "found 1 columns";
- a lone carriage return ends a line for pyarrow (the Python split ends lines at "\\n" only).

Rows are re-grouped into chunks of exactly `chunk_rows` data lines, as the Python path reads them,
so streamed shuffles (within a chunk) give the same batches with either reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recpim.arch.data.parsing import (
    ArrayChunk,
    BadRow,
    BadRowReport,
    hash_cells,
    lines_before_gzip_failure,
    parse_int_cells,
    raise_bad_row,
    show,
)
from recpim.errors import DataError


class TextSource(Protocol):
    """What the columnar reader reads of a formats.TextFileSource (which sits above this
    module and dispatches to it): the file, its format (header, delimiter, num_columns, convert)
    and the reading options."""

    path: Path
    fmt: Any
    vocab_sizes: tuple[int, ...]
    on_bad_row: str
    chunk_rows: int
    max_rows: int | None

ARROW_BLOCK_BYTES = 4 << 20  # pyarrow parses (and we convert) one block at a time: memory flat in rows


def arrow_available() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def binary_column_cells(column: Any) -> np.ndarray:
    """A pyarrow binary column as numpy fixed-width bytes (dtype S): the cells' exact bytes,
    zero-padded, as np.array(list_of_bytes) would hold them (without a Python object per cell)."""
    n = len(column)
    if column.null_count:
        raise AssertionError("binary columns read with strings_can_be_null=False have no nulls")
    _, offset_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offset_buffer, np.int32, n + 1, offset=column.offset * 4)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    width = max(int(lengths.max(initial=0)), 1)
    start, end = int(offsets[0]), int(offsets[-1])
    if end - start == n * width:  # every cell has the full width: the data buffer is the matrix
        matrix = data[start:end].reshape(n, width)
    else:
        matrix = np.zeros((n, width), np.uint8)
        # A boolean mask fills row-major: exactly the order of the concatenated cell bytes.
        matrix[np.arange(width) < lengths[:, None]] = data[start:end]
    return matrix.view(f"S{width}").reshape(n)


_STRICT_INT = r"^(-?[0-9]{1,18})?$"  # parsing.parse_int_cells's grammar (empty: ok, value 0)


def arrow_int_parser(batch: Any, rows: int) -> Any:
    """An IntParser over the first `rows` rows of a record batch of binary columns: regular
    expression and cast in pyarrow's compute kernels, about 3x faster than numpy's per-byte planes.
    A column holding a NUL byte goes to parse_int_cells instead, which reads a trailing NUL as
    fixed-width padding (text files have none; this keeps the two readers identical anyway)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def parse(columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
        values = np.zeros((rows, len(columns)), np.int64)
        ok = np.zeros((rows, len(columns)), bool)
        for k, j in enumerate(columns):
            column = batch.column(j).slice(0, rows)
            data = column.buffers()[2]
            if data is not None and np.frombuffer(data, np.uint8).min(initial=1) == 0:
                values[:, k], ok[:, k] = parse_int_cells(binary_column_cells(column))
                continue
            matches = pc.match_substring_regex(column, _STRICT_INT)
            digits = pc.if_else(pc.and_(matches, pc.greater(pc.binary_length(column), 0)), column, pa.scalar(b"0"))
            values[:, k] = pc.cast(pc.cast(digits, pa.string()), pa.int64()).to_numpy()
            ok[:, k] = matches.to_numpy(zero_copy_only=False)
        return values, ok

    return parse


def batch_cells(batch: Any) -> np.ndarray:
    """[n, columns] fixed-width bytes of a record batch of binary columns."""
    columns = [binary_column_cells(column) for column in batch.columns]
    width = max(c.dtype.itemsize for c in columns)
    cells = np.empty((batch.num_rows, len(columns)), f"S{width}")
    for j, column in enumerate(columns):
        cells[:, j] = column
    return cells


def _open_stream(path: Path):
    """(pyarrow input stream of the file's bytes, gunzipped when it has the gzip magic; raw file)."""
    import pyarrow as pa

    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    raw = pa.OSFile(str(path))
    magic = raw.read(2)
    raw.seek(0)
    return (pa.CompressedInputStream(raw, "gzip") if magic == b"\x1f\x8b" else raw), raw, magic == b"\x1f\x8b"


def read_error(path: Path, error: BaseException, line: int, raw: Any, gzipped: bool) -> DataError:
    """A DataError naming the file, how far it was read and what is wrong."""
    try:
        offset = raw.tell()
    except Exception:  # noqa: BLE001 - the position is a courtesy; the error is what matters
        offset = None
    if gzipped:
        line = max(line, lines_before_gzip_failure(path) or 0)
    where = f"after line {line}" + (f", {offset} compressed bytes read" if gzipped and offset is not None else
                                    f", byte {offset}" if offset is not None else "")
    what = ("the gzip stream is truncated or corrupt (was the download or copy cut short?)" if gzipped
            else "the file could not be read")
    return DataError(f"{path}: {what} {where}: {error}")


def _first_problem(checks: list, row: int) -> str:
    return next(check.describe(row) for check in checks if check.failed[row])


class _Rechunker:
    """Groups good rows into ArrayChunks of the data lines [k * size, (k + 1) * size)."""

    def __init__(self, size: int):
        self.size = size
        self.parts: list[ArrayChunk] = []
        self.current = 0

    def add(self, chunk: ArrayChunk) -> Iterator[ArrayChunk]:
        ids = chunk.row_index // self.size
        while len(chunk):
            boundary = int(np.searchsorted(ids, self.current + 1))
            if boundary:
                self.parts.append(chunk.take(np.arange(boundary)))
            if boundary == len(chunk):
                return
            yield from self.flush()
            chunk, ids = chunk.take(np.arange(boundary, len(chunk))), ids[boundary:]
            self.current = int(ids[0])

    def flush(self) -> Iterator[ArrayChunk]:
        if self.parts:
            first = self.parts[0]
            yield first if len(self.parts) == 1 else ArrayChunk.concat(self.parts, first.dense.shape[1],
                                                                        first.sparse.shape[1])
        self.parts = []


def iter_arrow_chunks(source: TextSource, report: BadRowReport) -> Iterator[ArrayChunk]:
    """The data rows of `source` (a TextFileSource with a checked header) through pyarrow; bad rows
    go to `report` (or raise, with on_bad_row="error") exactly as the Python reader does."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    fmt, path = source.fmt, source.path
    header_lines = 1 if fmt.header is not None else 0
    num_columns = fmt.num_columns
    shape_bad: list[tuple[int, str]] = []  # (data row index, problem): rows pyarrow could not split

    def on_invalid(row: Any) -> str:
        if row.number is None:  # pragma: no cover - only multi-threaded reads lose line numbers
            raise DataError(f"{path}: pyarrow lost the line number of a malformed row")
        shape_bad.append((row.number - 1 - header_lines, f"expected {num_columns} columns separated by "
                                                         f"{show(fmt.delimiter)}, found {row.actual_columns}"))
        return "skip"

    names = [f"c{i}" for i in range(num_columns)]
    stream, raw, gzipped = _open_stream(path)
    limit = source.max_rows
    rechunker = _Rechunker(source.chunk_rows)
    rows_given = 0     # rows pyarrow returned so far (the good-shaped ones)
    rows_hi = 0        # data rows accounted for: every row index below this one is reported or yielded
    shape_seen = 0     # entries of shape_bad already reported
    good_before = np.zeros(0, np.int64)  # per entry of shape_bad: the good-shaped rows before it
    row_index_max = -1

    def report_bad(bad: list[tuple[int, str | None, Any]]) -> None:
        """Record bad rows (data row index, problem or None, describe) in line order."""
        bad.sort(key=lambda item: item[0])
        report.count += len(bad)
        wanted = max(report.max_examples - len(report.examples), 1 if source.on_bad_row == "error" else 0)
        for row, problem, describe in bad[:wanted]:
            found = BadRow(str(path), row + header_lines + 1, problem if problem is not None else describe())
            if source.on_bad_row == "error":
                raise_bad_row(found)
            report.examples.append(found)

    def shape_bad_below(row_end: int) -> list[tuple[int, str | None, Any]]:
        nonlocal shape_seen
        taken = []
        while shape_seen < len(shape_bad) and shape_bad[shape_seen][0] < row_end:
            row, problem = shape_bad[shape_seen]
            if limit is None or row < limit:
                taken.append((row, problem, None))
            shape_seen += 1
        return taken

    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=header_lines, block_size=ARROW_BLOCK_BYTES,
                                            use_threads=False),
            parse_options=pa_csv.ParseOptions(delimiter=fmt.delimiter.decode(), quote_char=False, escape_char=False,
                                              double_quote=False, newlines_in_values=False, ignore_empty_lines=False,
                                              invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(column_types={name: pa.binary() for name in names},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
        batches = iter(reader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            n = batch.num_rows
            if n == 0:
                continue
            # Data row index of each good-shaped row: its ordinal plus the malformed rows before it.
            if len(good_before) < len(shape_bad):
                new = np.array([row for row, _ in shape_bad[len(good_before):]], np.int64)
                good_before = np.concatenate([good_before, new - np.arange(len(good_before), len(shape_bad))])
            ordinals = np.arange(rows_given, rows_given + n, dtype=np.int64)
            row_index = ordinals + np.searchsorted(good_before, ordinals, side="right")
            rows_given += n
            row_index_max = int(row_index[-1])
            cells = batch_cells(batch)
            if limit is not None and row_index[0] >= limit:
                break
            if limit is not None and row_index[-1] >= limit:
                keep = int(np.searchsorted(row_index, limit))
                cells, row_index = cells[:keep], row_index[:keep]
            converted = fmt.convert(cells, arrow_int_parser(batch, len(cells)))
            failed = np.zeros(len(cells), bool)
            for check in converted.checks:
                failed |= check.failed
            row_end = int(row_index[-1]) + 1
            bad: list[tuple[int, str | None, Any]] = shape_bad_below(row_end)
            empty_row = f"empty line or row of empty cells (expected {num_columns} columns)"
            for k in np.flatnonzero(failed):
                problem = empty_row if bool((cells[k] == b"").all()) else None
                bad.append((int(row_index[k]), problem, partial(_first_problem, converted.checks, int(k))))
            report_bad(bad)
            if failed.any():
                keep_rows = ~failed
                good = ArrayChunk(converted.dense[keep_rows], hash_cells(converted.sparse_cells[keep_rows],
                                                                         source.vocab_sizes),
                                  converted.label[keep_rows], row_index[keep_rows])
            else:  # the common case: no copies
                good = ArrayChunk(converted.dense, hash_cells(converted.sparse_cells, source.vocab_sizes),
                                  converted.label, row_index)
            report.rows_good += len(good)
            rows_hi = row_end
            yield from rechunker.add(good)
            if limit is not None and rows_hi >= limit:
                break
    except (OSError, EOFError, pa.ArrowException) as error:
        if rows_given == 0 and not shape_bad and "Empty CSV file" in str(error):
            raise DataError(f"{path}: no data rows") from None
        raise read_error(path, error, rows_hi + header_lines, raw, gzipped) from None
    finally:
        raw.close()
    report_bad(shape_bad_below(limit if limit is not None else np.iinfo(np.int64).max))
    rows_seen = max(rows_hi, shape_bad[-1][0] + 1 if shape_bad else 0)
    if limit is not None and rows_given and row_index_max >= limit:
        rows_seen = max(rows_seen, limit)
    rows_hi = rows_seen if limit is None else min(rows_seen, limit)
    report.rows_read += rows_hi
    yield from rechunker.flush()
    if rows_hi == 0:
        raise DataError(f"{path}: no data rows")

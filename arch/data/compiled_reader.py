"""The compiled reader of the CTR text formats: one numba kernel splits, checks and hashes the raw bytes.

numba (LLVM-compiled Python, a well-kept library) runs one pass over each block of the file: it
finds the lines and cells, checks the label and the strict integers, parses them and hashes the
categorical cells with FNV-1a 64 as it goes, with no per-cell objects in between. Polars was
measured against it (benchmarks/bench_data.py, the README): its CSV split alone is fast, but its
hash is not FNV-1a and not promised stable across versions, so the ids would change and the
per-row reference could no longer check them; the kernel keeps the ids, the rules and the cache
keys exactly as they were (no preprocessing change).

The rules are the per-row reader's (formats.check_lines + parsing.parse_int_cells / hash_cells),
byte for byte, on cells as numpy's fixed-width byte strings hold them (trailing NUL bytes are
padding):
- lines end at "\\n"; trailing "\\r" bytes are stripped; the last line may lack its "\\n";
- a row is good when it has exactly the format's number of columns, its label is "0" or "1" and its
  integers follow ``-?[0-9]{1,18}`` (an empty integer cell is 0);
- a categorical cell whose first byte is NUL (or that is empty) is the reserved id 0; any other is
  1 + FNV-1a-64(b"f:" + its non-NUL bytes) mod (vocab - 1) (id 0 when the vocabulary has one row).
Bad rows are described by the per-row reader's own checks (`describe`), so their problems read the
same; the good rows are re-grouped into chunks of exactly `chunk_rows` data lines, as the per-row
reader reads them, so streamed shuffles give the same batches. A test proves equal tensors and
bad-row reports on the real samples.

Only formats whose columns are each a label, a dense integer, a hashed id or ignored have a kernel
layout (`KernelLayout`; Criteo); the others (Avazu's hour split, KDD's profile join) use pyarrow.
"""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from recpim.arch.data.arrow_reader import TextSource
from recpim.arch.data.parsing import (
    FNV_OFFSET_BASIS,
    ArrayChunk,
    BadRow,
    BadRowReport,
    fnv1a_64,
    log1p_clamped,
    raise_bad_row,
)
from recpim.errors import DataError

BLOCK_BYTES = 4 << 20  # bytes read (and parsed) at a time: memory flat in the number of rows

LOG_TABLE_SIZE = 1 << 15  # dense integers below this take log(x + 1) from a table of numpy's own values
LABEL, DENSE_INT, HASHED, IGNORED = 0, 1, 2, 3
"""Column roles of a KernelLayout (the same numbers as kernel.py's)."""


@dataclass(frozen=True)
class KernelLayout:
    """What each column of a format is to the kernel (LABEL "0"/"1", DENSE_INT strict integer whose
    log(max(x, 0) + 1) is a dense feature, HASHED categorical id, IGNORED), in column order."""

    roles: tuple[int, ...]


def compiled_available() -> bool:
    """Whether numba is installed (without importing it: that takes a while)."""
    return importlib.util.find_spec("numba") is not None


class _Kernel:
    """The kernel bound to one format and vocabulary; each chunk's rows are parsed into its own arrays."""

    def __init__(self, layout: KernelLayout, delimiter: bytes, vocab_sizes: tuple[int, ...], max_lines: int):
        from recpim.arch.data import kernel  # numba: imported (and compiled) only when this reader runs

        self.parse = kernel.parse_block
        self.roles = np.asarray(layout.roles, np.int64)
        self.delimiter = np.uint8(delimiter[0])
        self.num_hashed = int((self.roles == HASHED).sum())
        if self.num_hashed != len(vocab_sizes):
            raise DataError(f"the format hashes {self.num_hashed} columns, the schema has {len(vocab_sizes)} "
                            "vocabularies")
        self.num_dense = int((self.roles == DENSE_INT).sum())
        self.start_state = np.array([fnv1a_64(f"{f}:".encode(), FNV_OFFSET_BASIS) for f in range(self.num_hashed)],
                                    np.uint64)
        vocab = np.asarray(vocab_sizes, np.uint64)
        self.modulus = np.maximum(vocab - np.uint64(1), np.uint64(1))
        self.single_row = vocab == np.uint64(1)
        self.log_table = log1p_clamped(np.arange(LOG_TABLE_SIZE, dtype=np.int64))  # numpy's own values
        self.bad_line, self.bad_begin, self.bad_end = (np.empty(max_lines, np.int64) for _ in range(3))
        self.big_row, self.big_column, self.big_value = (np.empty(max_lines * self.num_dense, np.int64)
                                                         for _ in range(3))
        self.new_chunk(max_lines)

    def new_chunk(self, rows: int) -> None:
        """Fresh output arrays for the next chunk (the chunk yielded before keeps its own)."""
        self.label = np.empty(rows, np.float32)
        self.dense = np.empty((rows, self.num_dense), np.float32)
        self.ids = np.empty((rows, self.num_hashed), np.int64)
        self.row_index = np.empty(rows, np.int64)
        self.filled = 0

    def chunk(self) -> ArrayChunk:
        n = self.filled
        return ArrayChunk(self.dense[:n], self.ids[:n], self.label[:n], self.row_index[:n])

    def __call__(self, buf: np.ndarray, begin: int, end: int, max_lines: int, first_index: int,
                 ) -> tuple[int, int, int]:
        """Parse up to max_lines lines (data rows first_index ...) into the chunk's arrays: (lines, bad
        rows, the position after the last line parsed)."""
        lines, good, bad, stop, big = self.parse(buf, begin, end, max_lines, self.roles, self.delimiter,
                                                 self.start_state, self.modulus, self.single_row, self.log_table,
                                                 self.label, self.dense, self.ids, self.row_index, self.filled,
                                                 first_index, self.bad_line, self.bad_begin, self.bad_end,
                                                 self.big_row, self.big_column, self.big_value, 0)
        if big:  # integers past the table: numpy's transform, as the other readers apply it
            self.dense[self.big_row[:big], self.big_column[:big]] = log1p_clamped(self.big_value[:big])
        self.filled += int(good)
        return int(lines), int(bad), int(stop)


def _blocks(handle: Any, block_bytes: int) -> Iterator[tuple[bytearray, np.ndarray, int]]:
    """(buffer, its bytes as a numpy view, valid bytes): every buffer's valid bytes end after a "\\n",
    except perhaps the last buffer's."""
    buf = bytearray(block_bytes)
    held = 0  # bytes of an unfinished line carried over from the previous block
    while True:
        if held == len(buf):  # one line longer than the buffer: grow it
            buf = buf + bytearray(len(buf))
        view = memoryview(buf)
        got = handle.readinto(view[held:])
        view.release()
        if not got:
            if held:
                yield buf, np.frombuffer(buf, np.uint8), held
            return
        filled = held + got
        cut = buf.rfind(b"\n", held, filled) + 1
        if cut == 0:
            held = filled
            continue
        yield buf, np.frombuffer(buf, np.uint8), cut
        held = filled - cut
        buf[:held] = buf[cut:filled]


def iter_compiled_chunks(source: TextSource, layout: KernelLayout, report: BadRowReport,
                         open_file: Callable[[], Any], describe: Callable[[bytes], str],
                         read_failure: Callable[[Any, BaseException, int], DataError]) -> Iterator[ArrayChunk]:
    """The data rows of `source` (a formats.TextFileSource whose header, if any, was checked) through
    the kernel; bad rows go to `report` (or raise, with on_bad_row="error") as the per-row reader
    does. `open_file()` opens the file's bytes (gunzipped), `describe(line)` is the per-row reader's
    problem with one bad line, `read_failure(handle, error, line)` the DataError of an unreadable file."""
    fmt, path = source.fmt, str(source.path)
    header_lines = 1 if fmt.header is not None else 0
    chunk_rows, limit = source.chunk_rows, source.max_rows
    kernel = _Kernel(layout, fmt.delimiter, source.vocab_sizes,
                     max(1, chunk_rows if limit is None else min(chunk_rows, limit)))
    row = 0  # data rows read so far (good and bad)
    to_skip = header_lines
    with open_file() as handle:
        try:
            for raw, buf, valid in _blocks(handle, BLOCK_BYTES):
                at = 0
                while to_skip and at < valid:  # the header line(s)
                    at = raw.find(b"\n", at, valid) + 1 or valid
                    to_skip -= 1
                while at < valid and (limit is None or row < limit):
                    boundary = (row // chunk_rows + 1) * chunk_rows  # the chunk's last data line + 1
                    if limit is not None:
                        boundary = min(boundary, limit)
                    lines, bad, at = kernel(buf, at, valid, boundary - row, row)
                    if bad:
                        _report_bad(kernel, buf, bad, row, header_lines, path, report, source.on_bad_row, describe)
                    report.rows_read += lines
                    row += lines
                    if row == boundary:
                        if kernel.filled:
                            report.rows_good += kernel.filled
                            yield kernel.chunk()
                        kernel.new_chunk(chunk_rows if limit is None else max(1, min(chunk_rows, limit - row)))
                if limit is not None and row >= limit:
                    break
        except (EOFError, OSError, zlib.error) as error:
            raise read_failure(handle, error, row + header_lines) from None
    if kernel.filled:
        report.rows_good += kernel.filled
        yield kernel.chunk()
    if row == 0:
        raise DataError(f"{path}: no data rows")


def _report_bad(kernel: _Kernel, buf: np.ndarray, bad: int, row: int, header_lines: int, path: str,
                report: BadRowReport, on_bad_row: str, describe: Callable[[bytes], str]) -> None:
    report.count += bad
    wanted = max(report.max_examples - len(report.examples), 1 if on_bad_row == "error" else 0)
    for k in range(min(bad, wanted)):
        line = bytes(buf[kernel.bad_begin[k]:kernel.bad_end[k]])
        found = BadRow(path, row + int(kernel.bad_line[k]) + header_lines + 1, describe(line))
        if on_bad_row == "error":
            raise_bad_row(found)
        report.examples.append(found)

"""A preprocessed cache of a parsed CTR file: later epochs and later runs read numpy memmaps
instead of parsing text again.

One complete pass over a TextFileSource writes its good rows (dense float32, hashed sparse ids
int32 when every vocabulary fits, else int64, label float32, row index int64), the chunk
boundaries and the pass's bad-row report into `<cache_dir>/<key>/`, chunk by chunk (memory stays
flat in the number of rows); the folder appears under its final name only when the pass has
finished (a cut-short pass leaves nothing behind). The key is a SHA-256 of everything the parsed
rows depend on: the file's identity (resolved path, size, modification time, inode), the side
file's identity (KDD's user profiles), the format, the vocabulary sizes, max_rows, chunk_rows and
PREPROCESS_VERSION; a changed input is a new key, never a stale read. The split is not cached: it
is a function of the row index and the seed.

The cache trusts nothing it reads. The folder is checked writable when the dataset is opened
(before any parsing). An entry's meta.json must parse and match the key's inputs, every .bin file
must have the size its metadata gives, and every row read is range-checked as it is copied out
(row indices increasing, ids within their vocabulary, dense features within log1p's range, labels
0 or 1; kernel.gather_split). A damaged entry is named on stderr, removed and rebuilt from the
text; when the damage shows only part-way through a pass, the rows already delivered passed the
checks and the pass goes on from the text where the cache left off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recpim.arch.data.formats import TextFileSource
from recpim.arch.data.parsing import ArrayChunk, BadRow, BadRowReport, assign_splits, fnv1a_64, raise_bad_row
from recpim.console import notes
from recpim.errors import ConfigError
from recpim.paths import check_output_dir

PREPROCESS_VERSION = 2  # bump whenever parsing, hashing, the dense transform or the cache's layout changes
# 2: sparse ids stored as int32 where every vocabulary fits, file sizes in meta.json, a `kind`. The
#    hash is unchanged (the compiled reader computes the same FNV-1a ids as the per-row reader).
CACHE_KIND = "recpim data cache entry"
_FILES = ("dense", "sparse", "label", "row_index")
_INT32_MAX = np.iinfo(np.int32).max


class CacheDamaged(Exception):
    """What is wrong with a cache entry (caught here: a damaged entry is rebuilt, never an error)."""


def check_cache_dir(path: str | Path, option: str = "cache_dir") -> Path:
    """The cache folder, created if missing and proven writable (a ConfigError naming `option`, the
    path and what is wrong otherwise: a file, a path under a file, a folder that cannot be made or
    written)."""
    text = str(path)
    if not text.strip():
        raise ConfigError(option, [(repr(text), "is empty; give a folder for the parsed data (created if missing)")])
    return check_output_dir(Path(text).expanduser(), option)


def file_identity(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def cache_identity(source: TextFileSource, max_examples: int) -> dict[str, Any]:
    fmt = source.fmt
    profiles = getattr(fmt, "profiles", None)
    return {"version": PREPROCESS_VERSION, "file": file_identity(source.path),
            "side_file": file_identity(profiles.path) if profiles is not None else None,
            "format": fmt.name, "columns": list(fmt.column_names), "vocab_sizes": list(source.vocab_sizes),
            "max_rows": source.max_rows, "chunk_rows": source.chunk_rows, "max_examples": max_examples}


def sparse_dtype(vocab_sizes: tuple[int, ...]) -> np.dtype:
    """int32 when every id fits (ids are below their vocabulary size), else int64."""
    return np.dtype(np.int32 if max(vocab_sizes) <= _INT32_MAX else np.int64)


@dataclass(frozen=True)
class _Entry:
    """A cache entry's metadata, checked against the key's inputs and the files' sizes."""

    rows: int
    num_dense: int
    num_sparse: int
    sparse_dtype: np.dtype
    chunk_lengths: list[int]
    bad_rows: dict[str, Any]


def _int(value: Any, name: str, low: int = 0) -> int:
    if type(value) is not int or value < low:
        raise CacheDamaged(f"meta.json: {name} is {value!r}, not an integer >= {low}")
    return value


def _read_meta(entry: Path, identity: dict[str, Any], num_dense: int, vocab_sizes: tuple[int, ...]) -> _Entry:
    """The entry's metadata, or CacheDamaged saying what does not hold."""
    if not entry.is_dir():
        raise CacheDamaged("not a folder")
    try:
        meta = json.loads((entry / "meta.json").read_bytes())
    except FileNotFoundError:
        raise CacheDamaged("meta.json is missing") from None
    except (OSError, ValueError) as error:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise CacheDamaged(f"meta.json does not parse ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict) or meta.get("kind") != CACHE_KIND:
        raise CacheDamaged(f"meta.json is not a {CACHE_KIND}")
    if meta.get("identity") != identity:
        raise CacheDamaged("meta.json describes other inputs than its key")
    rows = _int(meta.get("rows"), "rows")
    if _int(meta.get("num_dense"), "num_dense") != num_dense or \
            _int(meta.get("num_sparse"), "num_sparse") != len(vocab_sizes):
        raise CacheDamaged(f"meta.json has {meta.get('num_dense')} dense and {meta.get('num_sparse')} sparse columns, "
                           f"the schema {num_dense} and {len(vocab_sizes)}")
    if meta.get("sparse_dtype") != sparse_dtype(vocab_sizes).name:
        raise CacheDamaged(f"meta.json: sparse_dtype is {meta.get('sparse_dtype')!r}")
    lengths = meta.get("chunk_lengths")
    if not isinstance(lengths, list) or sum(_int(n, "a chunk length") for n in lengths) != rows:
        raise CacheDamaged("meta.json: the chunk lengths do not add up to its rows")
    bad = meta.get("bad_rows")
    try:
        for name in ("count", "rows_read", "rows_good", "side_rows_read"):
            _int(bad[name], f"bad_rows.{name}")
        [BadRow(str(b["path"]), _int(b["line"], "a bad row's line", 1), str(b["problem"])) for b in bad["examples"]]
    except (TypeError, KeyError) as error:
        raise CacheDamaged(f"meta.json: the bad-row report is malformed ({error!r})") from None
    if bad["rows_good"] != rows:
        raise CacheDamaged(f"meta.json: {rows} rows, but its bad-row report kept {bad['rows_good']}")
    widths = {"dense": num_dense * 4, "sparse": len(vocab_sizes) * sparse_dtype(vocab_sizes).itemsize, "label": 4,
              "row_index": 8}
    for name in _FILES:
        path = entry / f"{name}.bin"
        size = path.stat().st_size if path.is_file() else None
        if size != rows * widths[name]:
            raise CacheDamaged(f"{path.name} has {'no file' if size is None else f'{size} bytes'}, its metadata "
                               f"says {rows * widths[name]} ({rows} rows)")
    return _Entry(rows, num_dense, len(vocab_sizes), sparse_dtype(vocab_sizes), lengths, bad)


@dataclass
class CachedSource:
    """A TextFileSource behind the memmap cache in `directory` (see the module docstring; open_dataset
    checks the folder with check_cache_dir first)."""

    inner: TextFileSource
    directory: Path
    num_dense: int
    rebuilt: list[str] = field(default_factory=list)  # what was said about each damaged entry rebuilt

    @property
    def path(self) -> Path:
        return self.inner.path

    def entry(self, max_examples: int) -> Path:
        text = json.dumps(cache_identity(self.inner, max_examples), sort_keys=True)
        return self.directory / hashlib.sha256(text.encode()).hexdigest()[:32]

    # -- reading ------------------------------------------------------------------------------

    def iter_chunks(self, report: BadRowReport) -> Iterator[ArrayChunk]:
        """Every good row, chunk by chunk (copied out of the cache, checked)."""
        yield from self.split_chunks(report, -1, 0, (1.0, 0.0, 0.0), np.zeros(3, np.int64))

    def split_chunks(self, report: BadRowReport, code: int, seed: int, fractions: tuple[float, float, float],
                     sizes: np.ndarray) -> Iterator[ArrayChunk]:
        """The rows of split `code` (-1: all rows) chunk by chunk, counting every row's split into
        `sizes`: from the cache when its entry is sound (split, checks and copy in one compiled
        pass), else from the text (writing the entry)."""
        entry = self.entry(report.max_examples)
        vocab = tuple(self.inner.vocab_sizes)
        meta = None
        if entry.exists() or entry.is_symlink():
            try:
                meta = _read_meta(entry, cache_identity(self.inner, report.max_examples), self.num_dense, vocab)
            except CacheDamaged as damage:
                self._damaged(entry, str(damage))
        if meta is None:
            yield from self._from_text(entry, report, code, seed, fractions, sizes, first_row=0)
            return
        before = (report.count, report.rows_read, report.rows_good, report.side_rows_read, len(report.examples))
        saved = meta.bad_rows
        examples = [BadRow(b["path"], b["line"], b["problem"]) for b in saved["examples"]]
        if self.inner.on_bad_row == "error" and saved["count"]:
            raise_bad_row(examples[0])
        report.count += saved["count"]
        report.rows_read += saved["rows_read"]
        report.rows_good += saved["rows_good"]
        report.side_rows_read += saved["side_rows_read"]
        report.examples += examples[: report.max_examples - len(report.examples)]
        from recpim.arch.data.kernel import OK, gather_split  # numba: imported only when a cache is read

        arrays = self._map(entry, meta)
        split_state = np.uint64(fnv1a_64(f"split:{int(seed)}".encode()))
        train, val, _ = fractions
        vocab_array = np.asarray(vocab, np.int64)
        sizes_before = sizes.copy()
        previous = -1
        start = 0
        for length in meta.chunk_lengths:
            end = start + length
            part = [arrays[name][start:end] for name in _FILES]
            out = (np.empty((length, meta.num_dense), np.float32), np.empty((length, meta.num_sparse), np.int64),
                   np.empty(length, np.float32), np.empty(length, np.int64))
            copied, problem, row, column = gather_split(*part, code, split_state, train, train + val, vocab_array,
                                                        previous, saved["rows_read"], *out, sizes)
            if problem != OK:
                self._damaged(entry, _describe(problem, start + int(row), int(column), vocab))
                report.count, report.rows_read, report.rows_good, report.side_rows_read = before[:4]
                del report.examples[before[4]:]
                sizes[:] = sizes_before
                # The rows delivered so far passed the checks: go on from the text after them.
                yield from self._from_text(entry, report, code, seed, fractions, sizes, first_row=previous + 1)
                return
            if length:
                previous = int(part[3][-1])
            if copied:
                yield ArrayChunk(*(a[:copied] for a in out))
            start = end

    @staticmethod
    def _map(entry: Path, meta: _Entry) -> dict[str, np.ndarray]:
        dtypes = {"dense": np.float32, "sparse": meta.sparse_dtype, "label": np.float32, "row_index": np.int64}
        widths = {"dense": meta.num_dense, "sparse": meta.num_sparse}
        arrays = {}
        for name in _FILES:
            shape = (meta.rows, widths[name]) if name in widths else (meta.rows,)
            # A plain ndarray over the mapping: indexing the np.memmap subclass costs more.
            arrays[name] = (np.asarray(np.memmap(entry / f"{name}.bin", dtype=dtypes[name], mode="r", shape=shape))
                            if meta.rows else np.zeros(shape, dtypes[name]))
        return arrays

    def _damaged(self, entry: Path, problem: str) -> None:
        message = (f"data cache entry {entry} is damaged ({problem}); removing it and rebuilding it from "
                   f"{self.inner.path}")
        self.rebuilt.append(message)
        notes.print(f"[yellow]warning[/]: {message}", markup=True, highlight=False)
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
        except OSError as error:
            notes.print(f"  could not remove it ({error}); this pass parses the text", highlight=False)

    # -- writing ------------------------------------------------------------------------------

    def _from_text(self, entry: Path, report: BadRowReport, code: int, seed: int,
                   fractions: tuple[float, float, float], sizes: np.ndarray, first_row: int) -> Iterator[ArrayChunk]:
        """Parse the text (writing the entry): the rows of split `code` from row index `first_row` on."""
        for chunk in self._write(entry, report):
            splits = assign_splits(chunk.row_index, seed, fractions)
            sizes += np.bincount(splits, minlength=3)
            keep = chunk.row_index >= first_row
            if code >= 0:
                keep &= splits == code
            if keep.all():
                yield chunk
            elif keep.any():
                yield chunk.take(keep)

    def _write(self, entry: Path, report: BadRowReport) -> Iterator[ArrayChunk]:
        partial = entry.with_name(f"{entry.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        files = {name: (partial / f"{name}.bin").open("wb") for name in _FILES}
        stored = {"dense": np.float32, "sparse": sparse_dtype(self.inner.vocab_sizes), "label": np.float32,
                  "row_index": np.int64}
        lengths: list[int] = []
        finished = False
        try:
            for chunk in self.inner.iter_chunks(report):
                for name in _FILES:
                    np.ascontiguousarray(getattr(chunk, name), dtype=stored[name]).tofile(files[name])
                lengths.append(len(chunk))
                yield chunk
            finished = True
        finally:
            for handle in files.values():
                handle.close()
            if finished:
                meta = {"kind": CACHE_KIND, "identity": cache_identity(self.inner, report.max_examples),
                        "rows": int(sum(lengths)), "num_dense": self.num_dense,
                        "num_sparse": len(self.inner.vocab_sizes), "sparse_dtype": stored["sparse"].name,
                        "chunk_lengths": lengths, "bad_rows": report.to_dict()}
                (partial / "meta.json").write_text(json.dumps(meta))
                try:
                    os.replace(partial, entry)
                except OSError:  # another process (a second rank) finished the same entry first
                    pass
            shutil.rmtree(partial, ignore_errors=True)


def _describe(problem: int, row: int, column: int, vocab: tuple[int, ...]) -> str:
    """What a failed range check (kernel.gather_split) found, at the entry's row `row`."""
    from recpim.arch.data.kernel import BAD_DENSE, BAD_ID, BAD_LABEL

    if problem == BAD_ID:
        return f"row {row}: sparse column {column} holds an id outside its vocabulary of {vocab[column]}"
    if problem == BAD_DENSE:
        return f"row {row}: dense column {column} is outside [0, 44] (not a log1p of an integer)"
    if problem == BAD_LABEL:
        return f"row {row}: the label is neither 0 nor 1"
    return f"row {row}: the row indices do not increase within the file's rows"

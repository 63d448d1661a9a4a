"""A preprocessed cache of a parsed CTR file: later epochs and later runs read numpy memmaps
instead of parsing text again.

One complete pass over a TextFileSource writes its good rows (dense float32, hashed sparse ids
int64, label float32, row index int64), the chunk boundaries and the pass's bad-row report into
`<cache_dir>/<key>/`, chunk by chunk (memory stays flat in the number of rows); the folder appears
under its final name only when the pass has finished (a cut-short pass leaves nothing behind).
The key is a SHA-256 of everything the parsed rows depend on: the file's identity (resolved path,
size, modification time, inode), the side file's identity (KDD's user profiles), the format, the
vocabulary sizes, max_rows, chunk_rows and PREPROCESS_VERSION; a changed input is a new key, never
a stale read. The split is not cached: it is a function of the row index and the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recpim.arch.data.formats import TextFileSource
from recpim.arch.data.parsing import ArrayChunk, BadRow, BadRowReport, raise_bad_row

PREPROCESS_VERSION = 1  # bump whenever parsing, hashing or the dense transform changes
_ARRAYS = (("dense", np.float32), ("sparse", np.int64), ("label", np.float32), ("row_index", np.int64))


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


@dataclass
class CachedSource:
    """A TextFileSource behind the memmap cache in `directory` (see the module docstring)."""

    inner: TextFileSource
    directory: Path

    @property
    def path(self) -> Path:
        return self.inner.path

    def entry(self, max_examples: int) -> Path:
        text = json.dumps(cache_identity(self.inner, max_examples), sort_keys=True)
        return self.directory / hashlib.sha256(text.encode()).hexdigest()[:32]

    def iter_chunks(self, report: BadRowReport) -> Iterator[ArrayChunk]:
        entry = self.entry(report.max_examples)
        if (entry / "meta.json").is_file():
            yield from self._read(entry, report)
        else:
            yield from self._write(entry, report)

    def _read(self, entry: Path, report: BadRowReport) -> Iterator[ArrayChunk]:
        meta = json.loads((entry / "meta.json").read_text())
        saved = meta["bad_rows"]
        examples = [BadRow(b["path"], b["line"], b["problem"]) for b in saved["examples"]]
        if self.inner.on_bad_row == "error" and saved["count"]:
            raise_bad_row(examples[0])
        report.count += saved["count"]
        report.rows_read += saved["rows_read"]
        report.rows_good += saved["rows_good"]
        report.side_rows_read += saved["side_rows_read"]
        report.examples += examples[: report.max_examples - len(report.examples)]
        rows, widths = meta["rows"], {"dense": meta["num_dense"], "sparse": meta["num_sparse"]}
        arrays = {}
        for name, dtype in _ARRAYS:
            shape = (rows, widths[name]) if name in widths else (rows,)
            # A plain ndarray over the mapping: indexing the np.memmap subclass cost twice as much (measured).
            arrays[name] = (np.asarray(np.memmap(entry / f"{name}.bin", dtype=dtype, mode="r", shape=shape)) if rows
                            else np.zeros(shape, dtype))
        start = 0
        for length in meta["chunk_lengths"]:
            end = start + length
            yield ArrayChunk(*(arrays[name][start:end] for name, _ in _ARRAYS))
            start = end

    def _write(self, entry: Path, report: BadRowReport) -> Iterator[ArrayChunk]:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = entry.with_name(f"{entry.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        files = {name: (partial / f"{name}.bin").open("wb") for name, _ in _ARRAYS}
        lengths: list[int] = []
        shape = None
        finished = False
        try:
            for chunk in self.inner.iter_chunks(report):
                for name, dtype in _ARRAYS:
                    np.ascontiguousarray(getattr(chunk, name), dtype=dtype).tofile(files[name])
                lengths.append(len(chunk))
                shape = (chunk.dense.shape[1], chunk.sparse.shape[1])
                yield chunk
            finished = True
        finally:
            for handle in files.values():
                handle.close()
            if finished and shape is not None:
                meta = {"identity": cache_identity(self.inner, report.max_examples), "rows": int(sum(lengths)),
                        "num_dense": shape[0], "num_sparse": shape[1], "chunk_lengths": lengths,
                        "bad_rows": report.to_dict()}
                (partial / "meta.json").write_text(json.dumps(meta))
                try:
                    os.replace(partial, entry)
                except OSError:  # another process (a second rank) finished the same entry first
                    pass
            shutil.rmtree(partial, ignore_errors=True)

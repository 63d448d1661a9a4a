"""CTR datasets as the supernet and the baselines consume them: `open_dataset(spec) -> CtrDataset`.

Specs: ``synthetic`` / ``synthetic:ROWS`` / ``synthetic:ROWS:TASK`` / ``synthetic:ROWS:TASK:stream``
(arch/data/synthetic.py; ``:stream`` draws fresh training rows for every batch; TASK
``fm`` or ``interactions``), ``criteo:PATH`` (Kaggle TSV),
``avazu:PATH`` (Kaggle CSV), ``kdd12:DIR_OR_FILE`` (KDD Cup 2012 track 2); files may be gzipped.

Rows go to train/val/test by a seeded hash of their row index (default 80/10/10), so the split is
the same on every pass, streamed or in memory. On first use the dataset reads up to
`max_cached_rows` rows: if the whole source fits, it stays in memory as parsed arrays (later
epochs never reparse, shuffles are full permutations); otherwise every pass streams the file in
`chunk_rows` chunks in constant memory (shuffles permute rows within each chunk).

Text files are split by pyarrow's streaming CSV reader when pyarrow is installed (`reader="auto"`,
arrow_reader.py), or by the compiled (numba) reader for Criteo (compiled_reader.py), else by the
per-row Python reader; all give the same rows. With `cache_dir` the first complete pass writes the
parsed rows as numpy memmaps (cache.py) and every later pass, in this run or a later one, reads
them instead of the text, checking what it reads (a damaged entry is rebuilt, and says so).

Bad rows are never dropped silently: every complete pass counts them (`bad_rows`), and a pass
whose bad rows exceed `max_bad_rows_fraction` of the rows read (default 1 %) stops with a
DataError naming the count and the first lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from recpim.arch.data.cache import CachedSource, check_cache_dir
from recpim.arch.data.format_table import FORMATS
from recpim.arch.data.formats import ON_BAD_ROW, READERS
from recpim.arch.data.parsing import (
    SPLITS,
    ArrayChunk,
    BadRow,
    BadRowReport,
    CtrBatch,
    assign_splits,
    check_split_fractions,
    split_code,
)
from recpim.arch.data.schema import DatasetSchema
from recpim.arch.data.synthetic import SYNTHETIC_TASKS, SyntheticStream, synthetic_chunks, synthetic_schema
from recpim.errors import ConfigError, DataError

__all__ = ["CtrBatch", "CtrDataset", "BadRow", "BadRowReport", "open_dataset", "SPLITS",
           "DEFAULT_SYNTHETIC_ROWS", "DATASET_KINDS"]

DEFAULT_SYNTHETIC_ROWS = 100_000
DEFAULT_CHUNK_ROWS = 32_768  # ~150 MB of transient parse state for Criteo rows
DEFAULT_MAX_CACHED_ROWS = 1_000_000  # ~270 MB of parsed Criteo rows
DATASET_KINDS = ("synthetic", *FORMATS)
DEFAULT_MAX_BAD_ROWS_FRACTION = 0.01


class ChunkSource(Protocol):
    def iter_chunks(self, report: BadRowReport) -> Iterator[ArrayChunk]: ...


class SplitChunkSource(ChunkSource, Protocol):
    """A source that selects a split's rows itself (the memmap cache: split, checks and copy in one
    compiled pass), counting every row's split into `sizes`."""

    def split_chunks(self, report: BadRowReport, code: int, seed: int, fractions: tuple[float, float, float],
                     sizes: np.ndarray) -> Iterator[ArrayChunk]: ...


class SyntheticSource:
    def __init__(self, num_rows: int, seed: int, schema: DatasetSchema, task: str = "fm"):
        self.num_rows, self.seed, self.schema, self.task = num_rows, seed, schema, task

    def iter_chunks(self, report: BadRowReport) -> Iterator[ArrayChunk]:
        for chunk in synthetic_chunks(self.num_rows, self.seed, self.schema, task=self.task):
            report.rows_read += len(chunk)
            report.rows_good += len(chunk)
            yield chunk


class CtrDataset:
    """A labelled CTR dataset split into train/val/test; see the module docstring."""

    def __init__(self, name: str, schema: DatasetSchema, source: ChunkSource, *, seed: int = 0,
                 split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 max_cached_rows: int = DEFAULT_MAX_CACHED_ROWS, max_bad_examples: int = 20,
                 max_bad_rows_fraction: float = DEFAULT_MAX_BAD_ROWS_FRACTION, notes: list[str] | None = None,
                 train_stream: SyntheticStream | None = None):
        if not 0.0 <= max_bad_rows_fraction <= 1.0:
            raise ConfigError("dataset", [("max_bad_rows_fraction", f"must be in [0, 1], got {max_bad_rows_fraction}")])
        self.name = name
        self.max_bad_rows_fraction = max_bad_rows_fraction
        self.schema = schema
        self.seed = seed
        self.split_fractions = check_split_fractions(split_fractions)
        self.notes = list(notes or [])
        self._source = source
        self._max_cached_rows = max_cached_rows
        self._max_bad_examples = max_bad_examples
        self._cache: dict[str, ArrayChunk] | None = None
        self._streaming: bool | None = None  # decided on first use
        self._report: BadRowReport | None = None  # of the last complete pass
        self._split_sizes: dict[str, int] | None = None
        # Fresh rows for every training batch (`synthetic:ROWS:TASK:stream`); None: the train split's rows
        self.train_stream = train_stream

    def __repr__(self) -> str:
        return f"CtrDataset({self.name!r}, num_dense={self.schema.num_dense}, num_sparse={self.schema.num_sparse})"

    # -- passes -------------------------------------------------------------------------------

    def _pass(self) -> Iterator[tuple[ArrayChunk, np.ndarray]]:
        """One pass over the source: (chunk, split code per row). Only a pass run to its end
        records its bad-row report and split sizes."""
        report = BadRowReport(max_examples=self._max_bad_examples)
        sizes = np.zeros(len(SPLITS), np.int64)
        for chunk in self._source.iter_chunks(report):
            splits = assign_splits(chunk.row_index, self.seed, self.split_fractions)
            sizes += np.bincount(splits, minlength=len(SPLITS))
            yield chunk, splits
        self._finish_pass(report, sizes)

    def _split_pass(self, code: int) -> Iterator[ArrayChunk]:
        """One pass yielding only split `code`'s rows, selected by the source itself."""
        report = BadRowReport(max_examples=self._max_bad_examples)
        sizes = np.zeros(len(SPLITS), np.int64)
        source: SplitChunkSource = self._source  # type: ignore[assignment]
        yield from source.split_chunks(report, code, self.seed, self.split_fractions, sizes)
        self._finish_pass(report, sizes)

    def _finish_pass(self, report: BadRowReport, sizes: np.ndarray) -> None:
        """Record a complete pass's report and split sizes, or refuse too many bad rows."""
        if report.rows_good == 0:
            raise DataError(f"{self.name}: no valid rows ({report.summary()})")
        if report.bad_fraction > self.max_bad_rows_fraction:
            read = report.rows_read + report.side_rows_read
            raise DataError(f"{self.name}: too many bad rows, {report.count} of {read} read "
                            f"({report.bad_fraction:.2%}) exceed max_bad_rows_fraction={self.max_bad_rows_fraction:g}"
                            " (--max-bad-rows-fraction; 1 accepts any number)\n"
                            f"{report.summary()}")
        self._report = report
        self._split_sizes = dict(zip(SPLITS, sizes.tolist(), strict=True))

    def _ensure_mode(self) -> None:
        """Read up to max_cached_rows rows once: cache them if that was the whole source."""
        if self._streaming is not None:
            return
        kept: list[tuple[ArrayChunk, np.ndarray]] = []
        rows = 0
        completed = False
        passes = self._pass()
        for chunk, splits in passes:
            rows += len(chunk)
            if rows > self._max_cached_rows:
                break
            kept.append((chunk, splits))
        else:
            completed = True
        passes.close()
        if not completed:
            self._streaming = True
            return
        self._cache = {
            name: ArrayChunk.concat([chunk.take(splits == code) for chunk, splits in kept],
                                    self.schema.num_dense, self.schema.num_sparse)
            for code, name in enumerate(SPLITS)
        }
        self._streaming = False

    @property
    def in_memory(self) -> bool:
        """True when the whole dataset is cached as parsed arrays (decided on first use)."""
        self._ensure_mode()
        return not self._streaming

    @property
    def bad_rows(self) -> BadRowReport:
        """Malformed rows of the whole source (count, rows_read, first examples). For a streamed
        source this reads the whole file once if no pass has completed yet."""
        self._ensure_mode()
        if self._report is None:
            for _ in self._pass():
                pass
        assert self._report is not None
        return self._report

    @property
    def bad_rows_so_far(self) -> BadRowReport | None:
        """The bad-row report of the last complete pass, without reading anything (None: none yet)."""
        return self._report

    def split_sizes(self) -> dict[str, int]:
        """Rows per split (may read the whole source once, as `bad_rows`)."""
        self.bad_rows  # noqa: B018 -- completes a pass if needed
        assert self._split_sizes is not None
        return dict(self._split_sizes)

    # -- data ---------------------------------------------------------------------------------

    def chunks(self, split: str) -> Iterator[ArrayChunk]:
        """The split's rows as numpy chunks in source order (one chunk when cached)."""
        code = split_code(split)
        self._ensure_mode()
        if self._cache is not None:
            yield self._cache[split]
            return
        if hasattr(self._source, "split_chunks"):
            for part in self._split_pass(code):
                if len(part):
                    yield part
            return
        for chunk, splits in self._pass():
            part = chunk.take(splits == code)
            if len(part):
                yield part

    def batches(self, split: str, batch_size: int, shuffle_seed: int | None = None,
                drop_last: bool = False, shard: slice | None = None) -> Iterator[CtrBatch]:
        """CtrBatches of `batch_size` rows of one split (the last one shorter unless drop_last).

        Without shuffle_seed rows come in source order; with it, in a permutation fixed by the seed
        (in memory: of the whole split; streamed: within each chunk, in chunk order). With `shard`,
        each batch holds only those rows of the full batch (a data-parallel rank's part; the other
        rows are never copied)."""
        whole = slice(None)
        shard = shard or whole
        split_code(split)
        if batch_size < 1:
            raise ConfigError("batches", [("batch_size", f"must be >= 1, got {batch_size}")])
        rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        self._ensure_mode()
        if self._cache is not None:
            rows = self._cache[split]
            order = np.arange(len(rows)) if rng is None else rng.permutation(len(rows))
            end = len(order) - len(order) % batch_size if drop_last else len(order)
            for start in range(0, end, batch_size):
                yield rows.take(order[start:start + batch_size][shard]).to_batch(copy=False)  # take copies
            return
        pending: list[ArrayChunk] = []
        pending_rows = 0
        for part in self.chunks(split):
            if rng is not None:
                part = part.take(rng.permutation(len(part)))
            pending.append(part)
            pending_rows += len(part)
            if pending_rows < batch_size:
                continue
            merged = pending[0] if len(pending) == 1 else ArrayChunk.concat(pending, self.schema.num_dense,
                                                                                 self.schema.num_sparse)
            full = len(merged) - len(merged) % batch_size
            for start in range(0, full, batch_size):
                yield merged.take(np.arange(start, start + batch_size)[shard]).to_batch(copy=False)
            pending = [merged.take(np.arange(full, len(merged)))]
            pending_rows = len(pending[0])
        if pending_rows and not drop_last:
            rest = ArrayChunk.concat(pending, self.schema.num_dense, self.schema.num_sparse)
            yield (rest if shard is whole else rest.take(np.arange(len(rest))[shard])).to_batch(copy=False)

    def materialize(self, split: str) -> CtrBatch:
        """The whole split as one CtrBatch (for data that fits in memory; copies, never shares)."""
        split_code(split)
        self._ensure_mode()
        if self._cache is None:
            raise DataError(f"{self.name} has more than max_cached_rows={self._max_cached_rows} rows: stream it "
                            "with batches(), or open it with a larger max_cached_rows or a max_rows limit")
        return self._cache[split].to_batch(copy=True)


def _parse_spec(spec: str) -> tuple[str, str]:
    kind, _, rest = spec.partition(":")
    if kind not in DATASET_KINDS:
        forms = ", ".join(f"{entry.kind}:{entry.path_form}" for entry in FORMATS.values())
        raise ConfigError("dataset spec", [("spec", f"{spec!r}: allowed are synthetic, "
                                                    "synthetic:ROWS[:TASK[:stream]], "
                                                    f"{forms}")])
    if kind != "synthetic" and not rest:
        raise ConfigError("dataset spec", [("spec", f"{spec!r}: {kind} needs a path, e.g. {kind}:/data/train.txt")])
    return kind, rest


def _check_schema(kind: str, schema: DatasetSchema, num_dense: int, num_sparse: int) -> None:
    problems = []
    if schema.num_dense != num_dense:
        problems.append(("num_dense", f"{kind} rows have {num_dense} dense features, the schema {schema.num_dense}"))
    if schema.num_sparse != num_sparse:
        problems.append(("vocab_sizes", f"{kind} rows have {num_sparse} sparse fields, the schema {schema.num_sparse}"))
    if problems:
        raise ConfigError(f"dataset schema {schema.name!r}", problems)


def open_dataset(spec: str, schema: DatasetSchema | None = None, on_bad_row: str = "skip", seed: int = 0, *,
                 split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 max_rows: int | None = None, max_cached_rows: int = DEFAULT_MAX_CACHED_ROWS,
                 max_bad_examples: int = 20, max_bad_rows_fraction: float = DEFAULT_MAX_BAD_ROWS_FRACTION,
                 reader: str = "auto", cache_dir: str | Path | None = None) -> CtrDataset:
    """Open a CTR dataset by spec (rows are read on first use; KDD's user profile file at once).

    schema: vocabulary sizes (and widths) to hash into; defaults to the format's schema
    (criteo_schema(), avazu_schema(), kdd_schema(), synthetic_schema()). on_bad_row: "skip" counts
    malformed rows in `bad_rows` and goes on, "error" raises DataError at the first. seed: the
    split (and, for synthetic data, the draw). max_rows: read only the first rows of a file.
    max_bad_rows_fraction: a complete pass with more bad rows than this fraction of the rows read
    is a DataError. reader: "auto" (pyarrow when installed), "arrow" or "python" (same rows).
    cache_dir: keep the parsed rows of text files there (memmaps; cache.py); checked writable here,
    before anything is parsed (a ConfigError naming the folder otherwise).
    """
    kind, rest = _parse_spec(spec)
    if on_bad_row not in ON_BAD_ROW:
        raise ConfigError("dataset", [("on_bad_row", f"{on_bad_row!r}: allowed are {', '.join(ON_BAD_ROW)}")])
    if chunk_rows < 1:
        raise ConfigError("dataset", [("chunk_rows", f"must be >= 1, got {chunk_rows}")])
    if reader not in READERS:
        raise ConfigError("dataset", [("reader", f"{reader!r}: allowed are {', '.join(READERS)}")])
    common = dict(seed=seed, split_fractions=split_fractions, max_cached_rows=max_cached_rows,
                  max_bad_examples=max_bad_examples, max_bad_rows_fraction=max_bad_rows_fraction)
    if kind == "synthetic":
        rows_text, _, task = rest.partition(":")
        task, _, mode = task.partition(":")
        try:
            num_rows = int(rows_text) if rows_text else DEFAULT_SYNTHETIC_ROWS
        except ValueError:
            num_rows = -1
        if num_rows < 1:
            raise ConfigError("dataset spec", [("spec", f"{spec!r}: ROWS must be a positive integer")])
        task = task or "fm"
        if task not in SYNTHETIC_TASKS:
            raise ConfigError("dataset spec", [("spec", f"{spec!r}: TASK {task!r}; allowed are "
                                                        f"{', '.join(SYNTHETIC_TASKS)}")])
        if mode not in ("", "stream"):
            raise ConfigError("dataset spec", [("spec", f"{spec!r}: {mode!r} after the task; allowed: nothing, or "
                                                        "'stream' (fresh training rows every batch)")])
        if max_rows is not None:
            num_rows = min(num_rows, max_rows)
        schema = schema or synthetic_schema()
        name = f"synthetic:{num_rows}" + (f":{task}" if task != "fm" or mode else "") + (f":{mode}" if mode else "")
        stream = SyntheticStream(seed, schema, task, first_row_index=num_rows) if mode == "stream" else None
        return CtrDataset(name, schema, SyntheticSource(num_rows, seed, schema, task), train_stream=stream, **common)

    path = Path(rest).expanduser()
    if not path.exists():
        raise DataError(f"{kind} data not found: {path}")
    cache_folder = None if cache_dir is None else check_cache_dir(cache_dir)  # before anything is parsed
    entry = FORMATS[kind]
    schema = schema or entry.default_schema()
    _check_schema(kind, schema, len(entry.text_format.dense_names), len(entry.text_format.sparse_names))
    source, notes = entry.open_source(path, schema.vocab_sizes, on_bad_row, kind, chunk_rows=chunk_rows,
                                      max_rows=max_rows, reader=reader)
    name = f"{kind}:{source.path}"
    chunks: ChunkSource = source if cache_folder is None else CachedSource(source, cache_folder, schema.num_dense)
    return CtrDataset(name, schema, chunks, notes=notes, **common)

"""The columnar (pyarrow) and compiled (numba) readers give exactly the per-row reader's tensors and
reports; the memmap cache gives exactly what parsing gives; truncated gzip files and too many bad
rows are clear errors."""

from __future__ import annotations

import gzip
import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow  # noqa: F401  (a dependency of recpim: missing, the suite must fail, not skip)
import pytest
import torch
from ctr_samples import AVAZU, CRITEO, KDD, needs_data
from hypothesis import given, note, settings
from hypothesis import strategies as st

from recpim.arch.data import formats
from recpim.arch.data.datasets import SPLITS, open_dataset
from recpim.arch.data.parsing import parse_int_cells
from recpim.errors import DataError

REAL_SPECS = [f"criteo:{CRITEO}", f"avazu:{AVAZU}", f"kdd12:{KDD}", f"kdd12:{KDD / 'TestPublic.txt'}"]
FAST_READERS = [(spec, "arrow") for spec in REAL_SPECS] + [(f"criteo:{CRITEO}", "compiled")]
"""Each faster reader on each sample it reads (the compiled reader has a kernel for Criteo only)."""


def every_split(ds) -> list[torch.Tensor]:
    return [t for split in SPLITS for t in ds.materialize(split)]


def streamed(ds, batch_size: int = 200, shuffle_seed: int | None = 3) -> list[torch.Tensor]:
    return [t for split in SPLITS for batch in ds.batches(split, batch_size, shuffle_seed=shuffle_seed) for t in batch]


def assert_same(left: list[torch.Tensor], right: list[torch.Tensor]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)


@needs_data
@pytest.mark.parametrize(("spec", "reader"), FAST_READERS)
def test_fast_readers_give_exactly_the_per_row_readers_tensors(spec, reader):
    python = open_dataset(spec, reader="python", seed=5)
    fast = open_dataset(spec, reader=reader, seed=5)
    assert_same(every_split(fast), every_split(python))
    assert fast.bad_rows.to_dict() == python.bad_rows.to_dict()
    assert fast.split_sizes() == python.split_sizes()
    # Streamed in small chunks, shuffled within chunks: the same batches too.
    options = dict(seed=5, chunk_rows=333, max_cached_rows=0)
    assert_same(streamed(open_dataset(spec, reader=reader, **options)),
                streamed(open_dataset(spec, reader="python", **options)))
    limited = dict(seed=5, max_rows=7)
    assert_same(every_split(open_dataset(spec, reader=reader, **limited)),
                every_split(open_dataset(spec, reader="python", **limited)))


@needs_data
def test_criteo_reads_through_the_compiled_kernel_by_default_and_other_formats_refuse_it():
    from recpim.arch.data.format_table import FORMATS

    criteo = FORMATS["criteo"].open_source(CRITEO, open_dataset(f"criteo:{CRITEO}").schema.vocab_sizes, "skip",
                                           "criteo")[0]
    assert criteo.resolved_reader() == "compiled"
    with pytest.raises(DataError, match="reader 'compiled' has no kernel layout for the avazu format"):
        open_dataset(f"avazu:{AVAZU}", reader="compiled").bad_rows  # noqa: B018


def corrupted_criteo(tmp_path: Path) -> Path:
    """300 sample rows with bad rows of every kind: short (line 5), long (line 80), a non-integer
    (17), a bad label (42), an empty line (150), a row of 40 empty cells (151), and bad rows at
    the end of the file (the last two lines)."""
    with gzip.open(CRITEO, "rb") as handle:
        lines = [handle.readline() for _ in range(300)]
    lines[4] = b"\t".join(lines[4].rstrip(b"\n").split(b"\t")[:39]) + b"\n"
    lines[79] = lines[79].rstrip(b"\n") + b"\textra\n"
    fields = lines[16].split(b"\t")
    fields[3] = b"1.5"
    lines[16] = b"\t".join(fields)
    lines[41] = b"2" + lines[41][1:]
    lines[149] = b"\n"
    lines[150] = b"\t" * 39 + b"\n"
    lines[298] = b"x\n"
    lines[299] = b"1\t2\n"
    path = tmp_path / "criteo_corrupt.tsv.gz"
    with gzip.open(path, "wb") as handle:
        handle.writelines(lines)
    return path


@needs_data
@pytest.mark.parametrize("reader", ["arrow", "compiled"])
@pytest.mark.parametrize("chunk_rows", [64, 32_768])
@pytest.mark.parametrize("max_rows", [None, 151, 299])
def test_fast_readers_report_the_same_bad_rows(tmp_path, chunk_rows, max_rows, reader):
    path = corrupted_criteo(tmp_path)
    options = dict(chunk_rows=chunk_rows, max_rows=max_rows, max_bad_rows_fraction=1.0, max_cached_rows=0)
    python = open_dataset(f"criteo:{path}", reader="python", **options)
    arrow = open_dataset(f"criteo:{path}", reader=reader, **options)
    assert_same(streamed(arrow), streamed(python))
    got, expected = arrow.bad_rows, python.bad_rows
    assert [b.line for b in got.examples] == [b.line for b in expected.examples]
    assert (got.count, got.rows_read, got.rows_good) == (expected.count, expected.rows_read, expected.rows_good)
    for mine, reference in zip(got.examples, expected.examples, strict=True):
        if reader == "arrow" and reference.line in (150, 151):  # an empty line: pyarrow sees a row of empty cells
            assert mine.problem == "empty line or row of empty cells (expected 40 columns)"
        else:
            assert mine.problem == reference.problem
    if max_rows is None:
        assert [b.line for b in got.examples] == [5, 17, 42, 80, 150, 151, 299, 300]
        assert got.rows_read == 300 and got.rows_good == 292


@needs_data
def test_columnar_reader_raises_at_the_first_bad_row(tmp_path):
    path = corrupted_criteo(tmp_path)
    for reader in ("compiled", "arrow", "python"):
        with pytest.raises(DataError, match=re.escape(f"{path}:5: expected 40 columns separated by '\\t', found 39")):
            open_dataset(f"criteo:{path}", on_bad_row="error", reader=reader).materialize("train")


@needs_data
def test_cache_gives_the_parsed_rows_without_reparsing(tmp_path, monkeypatch):
    path = corrupted_criteo(tmp_path)
    cache = tmp_path / "cache"
    options = dict(max_bad_rows_fraction=1.0, cache_dir=cache, chunk_rows=100, max_cached_rows=0)
    reference = open_dataset(f"criteo:{path}", max_bad_rows_fraction=1.0, chunk_rows=100, max_cached_rows=0)
    first = open_dataset(f"criteo:{path}", **options)
    expected = streamed(reference)
    whole = every_split(open_dataset(f"criteo:{path}", max_bad_rows_fraction=1.0, chunk_rows=100))
    assert_same(streamed(first), expected)
    entries = [p for p in cache.iterdir()]
    assert len(entries) == 1 and (entries[0] / "meta.json").is_file()

    def no_parsing(self, report):
        raise AssertionError("the cache should have been read")
        yield  # pragma: no cover

    monkeypatch.setattr(formats.TextFileSource, "iter_chunks", no_parsing)
    again = open_dataset(f"criteo:{path}", **options)
    assert_same(streamed(again), expected)
    assert again.bad_rows.to_dict() == reference.bad_rows.to_dict()
    in_memory = open_dataset(f"criteo:{path}", max_bad_rows_fraction=1.0, cache_dir=cache, chunk_rows=100)
    assert in_memory.in_memory
    assert_same(every_split(in_memory), whole)
    with pytest.raises(DataError, match=re.escape(f"{path}:5: expected 40 columns")):
        open_dataset(f"criteo:{path}", on_bad_row="error", cache_dir=cache, chunk_rows=100).materialize("train")
    # A different schema or a changed file is a different entry, never a stale read.
    monkeypatch.undo()
    open_dataset(f"criteo:{path}", max_rows=200, **options).bad_rows  # noqa: B018
    assert len([p for p in cache.iterdir()]) == 2


def _only_entry(cache: Path) -> Path:
    entries = [p for p in cache.iterdir()]
    assert len(entries) == 1
    return entries[0]


def _truncate(entry: Path) -> None:
    path = entry / "sparse.bin"
    path.write_bytes(path.read_bytes()[:-1000])


def _random_of_the_same_size(name: str):
    def damage(entry: Path) -> None:
        path = entry / name
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    return damage


def _garbage_meta(entry: Path) -> None:
    (entry / "meta.json").write_bytes(b"\x00{not json at all")


def _meta_of_another_shape(entry: Path) -> None:
    import json

    meta = json.loads((entry / "meta.json").read_text())
    meta["rows"] += 5
    (entry / "meta.json").write_text(json.dumps(meta))


def _no_meta(entry: Path) -> None:
    (entry / "meta.json").unlink()


def _late_ids_out_of_range(entry: Path) -> None:
    """Ids past their vocabulary in the last rows only: the damage shows part-way through a pass."""
    ids = np.memmap(entry / "sparse.bin", dtype=np.int32, mode="r+").reshape(-1, 26)
    ids[-50:, 3] = 10**9
    ids.flush()


DAMAGE = {"truncated sparse.bin": _truncate, "random sparse.bin": _random_of_the_same_size("sparse.bin"),
          "random dense.bin": _random_of_the_same_size("dense.bin"),
          "random row_index.bin": _random_of_the_same_size("row_index.bin"),
          "random label.bin": _random_of_the_same_size("label.bin"), "garbage meta.json": _garbage_meta,
          "meta.json of another shape": _meta_of_another_shape, "no meta.json": _no_meta,
          "late ids out of range": _late_ids_out_of_range}


@needs_data
@pytest.mark.parametrize("in_memory", [False, True], ids=["streamed", "in-memory"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_entry_is_named_rebuilt_and_gives_the_parsed_rows(tmp_path, capsys, monkeypatch, damage,
                                                                          in_memory):
    cache = tmp_path / "cache"
    options = dict(cache_dir=cache, chunk_rows=1000, seed=4, max_cached_rows=10**6 if in_memory else 0)
    reference = open_dataset(f"criteo:{CRITEO}", chunk_rows=1000, seed=4, max_cached_rows=0)
    expected = streamed(reference, shuffle_seed=None)
    assert_same(streamed(open_dataset(f"criteo:{CRITEO}", **options), shuffle_seed=None), expected)
    entry = _only_entry(cache)
    capsys.readouterr()
    DAMAGE[damage](entry)

    damaged = open_dataset(f"criteo:{CRITEO}", **options)
    assert_same(streamed(damaged, shuffle_seed=None), expected)
    assert damaged.bad_rows.to_dict() == reference.bad_rows.to_dict()
    assert damaged.split_sizes() == reference.split_sizes()
    said = " ".join(capsys.readouterr().err.split())
    assert f"data cache entry {entry} is damaged" in said and f"rebuilding it from {CRITEO}" in said
    # Rebuilt: the next run reads the cache again, and says nothing.
    assert _only_entry(cache) == entry and (entry / "meta.json").is_file()

    def no_parsing(self, report):
        raise AssertionError("the rebuilt cache should have been read")
        yield  # pragma: no cover

    monkeypatch.setattr(formats.TextFileSource, "iter_chunks", no_parsing)
    assert_same(streamed(open_dataset(f"criteo:{CRITEO}", **options), shuffle_seed=None), expected)
    assert "damaged" not in capsys.readouterr().err


@pytest.mark.parametrize("where", ["a file", "under a file", "in /proc", "empty"])
def test_a_cache_folder_that_cannot_be_written_is_refused_before_parsing(tmp_path, monkeypatch, where):
    from recpim.errors import ConfigError

    data = tmp_path / "rows.tsv"
    data.write_bytes(b"1\t" + b"\t".join([b"3"] * 13 + [b"ab"] * 26) + b"\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cache_dir = {"a file": a_file, "under a file": a_file / "cache", "in /proc": Path("/proc/recpim-cache"),
                 "empty": ""}[where]

    def no_parsing(self, report):
        raise AssertionError("nothing may be parsed before the cache folder is checked")
        yield  # pragma: no cover

    monkeypatch.setattr(formats.TextFileSource, "iter_chunks", no_parsing)
    with pytest.raises(ConfigError, match="invalid cache_dir") as error:
        open_dataset(f"criteo:{data}", cache_dir=cache_dir)
    assert str(cache_dir) in str(error.value) or where == "empty"


@needs_data
def test_a_pass_cut_short_leaves_no_cache_entry(tmp_path):
    cache = tmp_path / "cache"
    ds = open_dataset(f"criteo:{CRITEO}", cache_dir=cache, chunk_rows=1000, max_cached_rows=0)
    batches = ds.batches("train", 100)
    next(batches)
    batches.close()
    assert [p.name for p in cache.iterdir()] == []


@needs_data
@pytest.mark.parametrize("reader", ["compiled", "arrow", "python"])
def test_truncated_gzip_names_the_file_and_how_far_it_got(tmp_path, reader):
    truncated = tmp_path / "cut.tsv.gz"
    truncated.write_bytes(CRITEO.read_bytes()[:300_000])
    with pytest.raises(DataError) as error:
        open_dataset(f"criteo:{truncated}", reader=reader).bad_rows  # noqa: B018
    message = str(error.value)
    assert str(truncated) in message and "gzip stream is truncated or corrupt" in message
    line = int(re.search(r"after line (\d+)", message).group(1))
    assert 0 < line < 10_000
    corrupt = tmp_path / "corrupt.tsv.gz"
    data = bytearray(CRITEO.read_bytes())
    data[5000:5100] = bytes(100)
    corrupt.write_bytes(bytes(data))
    with pytest.raises(DataError, match=re.escape(str(corrupt)) + ".*truncated or corrupt"):
        open_dataset(f"criteo:{corrupt}", reader=reader).bad_rows  # noqa: B018


@needs_data
def test_too_many_bad_rows_stop_with_the_count_and_first_lines(tmp_path):
    path = corrupted_criteo(tmp_path)  # 8 bad rows of 300 (2.7 %)
    with pytest.raises(DataError, match=r"too many bad rows, 8 of 300 read \(2\.67%\) exceed max_bad_rows_fraction="
                                        r"0\.01") as error:
        open_dataset(f"criteo:{path}").materialize("train")
    assert f"{path}:5: expected 40 columns" in str(error.value)
    assert open_dataset(f"criteo:{path}", max_bad_rows_fraction=0.03).bad_rows.count == 8


def test_binary_column_cells_hold_the_exact_bytes():
    import pyarrow as pa

    from recpim.arch.data.arrow_reader import binary_column_cells

    values = [b"", b"ab", b"\xff\x00z", b"a", b"abcd"]
    column = pa.array(values, pa.binary()).slice(1)  # a sliced array: offsets start past 0
    cells = binary_column_cells(column)
    assert cells.dtype == np.dtype("S4") and cells.tolist() == values[1:]
    assert binary_column_cells(pa.array([b"xy", b"zw"], pa.binary())).tolist() == [b"xy", b"zw"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.from_regex(rb"\A-?[0-9]{1,20}\Z"), st.binary(max_size=8),
                          st.sampled_from([b"", b"-", b"+3", b" 7", b"1.5", b"12\0", b"1\x002", b"\xff1", b"-0"])),
                min_size=1, max_size=30))
def test_arrow_integers_equal_the_numpy_reference(cells):
    import pyarrow as pa

    from recpim.arch.data.arrow_reader import arrow_int_parser, binary_column_cells

    batch = pa.record_batch([pa.array(cells, pa.binary())], names=["c0"])
    values, ok = arrow_int_parser(batch, len(cells))([0])
    expected_values, expected_ok = parse_int_cells(binary_column_cells(batch.column(0)))
    assert ok[:, 0].tolist() == expected_ok.tolist()
    assert values[:, 0].tolist() == expected_values.tolist()


_CELL_BYTES = st.sampled_from([b"", b"0", b"1", b"-", b"-7", b"12", b"007", b"1.5", b"+3", b" 7", b"\x00", b"5\x00",
                               b"\x001", b"1\x002", b"\r", b"a\r", b"68fd1e64", b"\xff", b"9" * 18, b"9" * 19,
                               b"-" + b"9" * 18, b"ab\x00cd"])


_GOOD_INTS = st.sampled_from([b"", b"0", b"-7", b"12", b"007", b"\x00", b"5\x00", b"9" * 18, b"-" + b"9" * 18])
_ANY_ID = st.one_of(_CELL_BYTES, st.binary(max_size=6).map(lambda b: b.replace(b"\t", b"").replace(b"\n", b"")))


@st.composite
def criteo_like_lines(draw) -> bytes:
    """Lines of 40 cells (sometimes 39 or 41) drawn from tricky cells (half of the lines with valid
    integers, so that they are good rows with tricky ids), with "\\n" or "\\r\\n" endings, empty
    lines, and a last line with or without its line break."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        width = draw(st.sampled_from([40, 40, 40, 40, 39, 41, 1]))
        label = draw(st.sampled_from([b"0", b"1", b"1", b"2", b"", b"0\x00"]))
        ints = _GOOD_INTS if draw(st.booleans()) else _CELL_BYTES
        cells = [label] + [draw(ints if column <= 13 else _ANY_ID) for column in range(1, width)]
        lines.append(b"\t".join(cells) + draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r\r\n"])))
    text = b"".join(lines)
    return text.rstrip(b"\n") if draw(st.booleans()) else text


@settings(max_examples=120, deadline=None)
@given(criteo_like_lines(), st.sampled_from([1, 3, 1000]), st.sampled_from([None, 2, 5]))
def test_compiled_reader_equals_the_per_row_reader_on_tricky_bytes(text, chunk_rows, max_rows):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tricky.tsv"
        path.write_bytes(text)
        options = dict(chunk_rows=chunk_rows, max_rows=max_rows, max_bad_rows_fraction=1.0, max_cached_rows=0,
                       seed=1)
        results = []
        for reader in ("python", "compiled"):
            dataset = open_dataset(f"criteo:{path}", reader=reader, **options)
            try:
                results.append((streamed(dataset, batch_size=3, shuffle_seed=None), dataset.bad_rows.to_dict()))
            except DataError as error:  # no good rows: both readers must say so
                results.append((None, str(error)))
    (python_tensors, python_report), (compiled_tensors, compiled_report) = results
    assert compiled_report == python_report
    note(f"good rows: {python_report['rows_good'] if isinstance(python_report, dict) else 0}")
    if python_tensors is not None:
        assert_same(compiled_tensors, python_tensors)

"""The columnar (pyarrow) reader gives exactly the per-row reader's tensors and reports; the memmap
cache gives exactly what parsing gives; truncated gzip files and too many bad rows are clear errors."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pyarrow  # noqa: F401  (a dependency of recpim: missing, the suite must fail, not skip)
import pytest
import torch
from ctr_samples import AVAZU, CRITEO, KDD, needs_data
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.data import formats
from recpim.arch.data.datasets import SPLITS, open_dataset
from recpim.arch.data.parsing import parse_int_cells
from recpim.errors import DataError

REAL_SPECS = [f"criteo:{CRITEO}", f"avazu:{AVAZU}", f"kdd12:{KDD}", f"kdd12:{KDD / 'TestPublic.txt'}"]


def every_split(ds) -> list[torch.Tensor]:
    return [t for split in SPLITS for t in ds.materialize(split)]


def streamed(ds, batch_size: int = 200, shuffle_seed: int | None = 3) -> list[torch.Tensor]:
    return [t for split in SPLITS for batch in ds.batches(split, batch_size, shuffle_seed=shuffle_seed) for t in batch]


def assert_same(left: list[torch.Tensor], right: list[torch.Tensor]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)


@needs_data
@pytest.mark.parametrize("spec", REAL_SPECS)
def test_columnar_reader_gives_exactly_the_per_row_readers_tensors(spec):
    python = open_dataset(spec, reader="python", seed=5)
    arrow = open_dataset(spec, reader="arrow", seed=5)
    assert_same(every_split(arrow), every_split(python))
    assert arrow.bad_rows.to_dict() == python.bad_rows.to_dict()
    assert arrow.split_sizes() == python.split_sizes()
    # Streamed in small chunks, shuffled within chunks: the same batches too.
    options = dict(seed=5, chunk_rows=333, max_cached_rows=0)
    assert_same(streamed(open_dataset(spec, reader="arrow", **options)),
                streamed(open_dataset(spec, reader="python", **options)))
    limited = dict(seed=5, max_rows=7)
    assert_same(every_split(open_dataset(spec, reader="arrow", **limited)),
                every_split(open_dataset(spec, reader="python", **limited)))


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
@pytest.mark.parametrize("chunk_rows", [64, 32_768])
@pytest.mark.parametrize("max_rows", [None, 151, 299])
def test_columnar_reader_reports_the_same_bad_rows(tmp_path, chunk_rows, max_rows):
    path = corrupted_criteo(tmp_path)
    options = dict(chunk_rows=chunk_rows, max_rows=max_rows, max_bad_rows_fraction=1.0, max_cached_rows=0)
    python = open_dataset(f"criteo:{path}", reader="python", **options)
    arrow = open_dataset(f"criteo:{path}", reader="arrow", **options)
    assert_same(streamed(arrow), streamed(python))
    got, expected = arrow.bad_rows, python.bad_rows
    assert [b.line for b in got.examples] == [b.line for b in expected.examples]
    assert (got.count, got.rows_read, got.rows_good) == (expected.count, expected.rows_read, expected.rows_good)
    for mine, reference in zip(got.examples, expected.examples, strict=True):
        if reference.line in (150, 151):  # an empty line: pyarrow sees a row of empty cells
            assert mine.problem == "empty line or row of empty cells (expected 40 columns)"
        else:
            assert mine.problem == reference.problem
    if max_rows is None:
        assert [b.line for b in got.examples] == [5, 17, 42, 80, 150, 151, 299, 300]
        assert got.rows_read == 300 and got.rows_good == 292


@needs_data
def test_columnar_reader_raises_at_the_first_bad_row(tmp_path):
    path = corrupted_criteo(tmp_path)
    for reader in ("arrow", "python"):
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


@needs_data
def test_a_pass_cut_short_leaves_no_cache_entry(tmp_path):
    cache = tmp_path / "cache"
    ds = open_dataset(f"criteo:{CRITEO}", cache_dir=cache, chunk_rows=1000, max_cached_rows=0)
    batches = ds.batches("train", 100)
    next(batches)
    batches.close()
    assert [p.name for p in cache.iterdir()] == []


@needs_data
@pytest.mark.parametrize("reader", ["arrow", "python"])
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

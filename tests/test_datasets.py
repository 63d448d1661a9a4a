"""Real CTR loaders: row counts of the real samples, bad-row reports, splits, streaming, hashing."""

from __future__ import annotations

import gzip
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ctr_samples import AVAZU, CRITEO, KDD, needs_data
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.data.datasets import SPLITS, open_dataset
from recpim.arch.data.formats import avazu_hour_fields
from recpim.arch.data.parsing import fnv1a_64, hash_cells, parse_int_cells, stable_hash_id
from recpim.arch.data.schema import DatasetSchema, avazu_schema, criteo_schema, kdd_schema
from recpim.errors import ConfigError, DataError

ALL_TRAIN = (1.0, 0.0, 0.0)  # keeps every row, in file order, in the train split


def concat_batches(batches) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batches = list(batches)
    return tuple(torch.cat([b[i] for b in batches]) for i in range(3))  # type: ignore[return-value]


# -- the real samples ---------------------------------------------------------------------------

@needs_data
def test_criteo_sample_loads_every_row_with_nasrec_preprocessing():
    ds = open_dataset(f"criteo:{CRITEO}", split_fractions=ALL_TRAIN)
    rows = ds.materialize("train")
    assert ds.bad_rows.count == 0 and ds.bad_rows.rows_read == 10_000
    assert rows.dense.shape == (10_000, 13) and rows.sparse.shape == (10_000, 26)
    assert rows.dense.dtype == torch.float32 and rows.sparse.dtype == torch.int64 and rows.label.dtype == torch.float32
    positives = int(rows.label.sum())
    print(f"criteo 10k sample: {positives} positives ({positives / 100:.1f} %)")
    assert positives == 2182  # the sample's README
    # First row of train.txt: 0, I1..I13 = 1 1 5 0 1382 4 15 2 181 1 2 <empty> 2, C1 = 68fd1e64, C22 empty.
    expected_dense = np.log1p([1, 1, 5, 0, 1382, 4, 15, 2, 181, 1, 2, 0, 2]).astype(np.float32)
    assert rows.label[0] == 0.0
    np.testing.assert_allclose(rows.dense[0].numpy(), expected_dense, rtol=1e-6)
    vocab = criteo_schema().vocab_sizes
    assert rows.sparse[0, 0] == stable_hash_id(b"68fd1e64", 0, vocab[0])
    assert rows.sparse[0, 25] == stable_hash_id(b"9727dd16", 25, vocab[25])
    assert rows.sparse[0, 21] == 0  # empty C22 -> reserved id
    # Negative counts (I2 = -1 occurs in the sample) are clamped to 0, never NaN.
    assert torch.isfinite(rows.dense).all() and (rows.dense >= 0).all()
    assert ((rows.sparse >= 0) & (rows.sparse < torch.tensor(vocab))).all()
    # Missing C19 in 4,496 rows (README) all land on the reserved id.
    assert int((rows.sparse[:, 18] == 0).sum()) == 4496


@needs_data
def test_avazu_sample_loads_every_row_and_splits_hour():
    ds = open_dataset(f"avazu:{AVAZU}", split_fractions=ALL_TRAIN)
    rows = ds.materialize("train")
    assert ds.bad_rows.count == 0 and ds.bad_rows.rows_read == 9_999
    assert rows.dense.shape == (9_999, 0) and rows.sparse.shape == (9_999, 23)
    clicks = int(rows.label.sum())
    print(f"avazu 10k sample: {clicks} clicks ({clicks / 99.99:.1f} %)")
    assert clicks == 1706
    vocab = avazu_schema().vocab_sizes
    # Every row is from hour 14102100: 00 h on Tuesday 2014-10-21 (weekday 1, Monday = 0).
    assert (rows.sparse[:, 0] == stable_hash_id(b"0", 0, vocab[0])).all()
    assert (rows.sparse[:, 1] == stable_hash_id(b"1", 1, vocab[1])).all()
    # C1 (field 2) of the first row is 1005; the CR of CRLF never reaches the last field (C21 = 79).
    assert rows.sparse[0, 2] == stable_hash_id(b"1005", 2, vocab[2])
    assert rows.sparse[0, 22] == stable_hash_id(b"79", 22, vocab[22])


def test_avazu_hour_fields_known_dates():
    cells = np.array([b"14102100", b"14103023", b"16022912", b"14022912", b"14102124", b"1410210", b"141021000",
                      b"14130100", b""], dtype=bytes)
    hour, weekday, ok = avazu_hour_fields(cells)
    assert ok.tolist() == [True, True, True, False, False, False, False, False, False]
    assert hour[:3].tolist() == [0, 23, 12]
    assert weekday[:3].tolist() == [1, 3, 0]  # Tue 2014-10-21, Thu 2014-10-30, Mon 2016-02-29


@needs_data
def test_kdd_fixtures_load():
    train = open_dataset(f"kdd12:{KDD}", split_fractions=ALL_TRAIN)
    rows = train.materialize("train")
    assert train.bad_rows.count == 0 and len(rows.label) == 11
    assert rows.dense.shape == (11, 3) and rows.sparse.shape == (11, kdd_schema().num_sparse)
    assert train.notes == []  # user.txt found beside training.txt
    assert rows.label.sum() == 0  # every fixture row has Click = 0
    # Impression 1, Depth 3, Position 3 on the first line.
    np.testing.assert_allclose(rows.dense[0].numpy(), np.log1p([1, 3, 3]), rtol=1e-6)
    # The fixture's users are not among the 10 profiles: Gender and Age are missing (reserved id).
    assert (rows.sparse[:, 8:] == 0).all()
    test_public = open_dataset(f"kdd12:{KDD / 'TestPublic.txt'}", split_fractions=ALL_TRAIN).materialize("train")
    assert len(test_public.label) == 10
    np.testing.assert_allclose(test_public.dense[5].numpy(), np.log1p([3, 2, 1]), rtol=1e-6)  # id 7: 3 impressions


def test_kdd_joins_user_profile_and_reads_both_layouts(tmp_path):
    (tmp_path / "training.txt").write_text("2\t5\t123\t7\t8\t3\t1\t9\t10\t11\t12\t2\n"
                                           "0\t1\t124\t7\t8\t2\t2\t9\t10\t11\t12\t99\n")
    (tmp_path / "user.txt").write_text("1\t1\t5\n2\t2\t3\n")
    (tmp_path / "TestPublic.txt").write_text(
        "id,click,impression,adid,advertiserid,depth,position,queryid,keywordid,titleid,description,userid,displayurl\n"
        "1,2,5,7,8,3,1,9,10,11,12,2,123\n")
    rows = open_dataset(f"kdd12:{tmp_path}", split_fractions=ALL_TRAIN).materialize("train")
    vocab = kdd_schema().vocab_sizes
    assert rows.label.tolist() == [1.0, 0.0]  # label = Click > 0
    assert rows.sparse[0, 8] == stable_hash_id(b"2", 8, vocab[8])  # user 2: Gender 2, Age 3
    assert rows.sparse[0, 9] == stable_hash_id(b"3", 9, vocab[9])
    assert (rows.sparse[1, 8:] == 0).all()  # user 99 has no profile
    same = open_dataset(f"kdd12:{tmp_path / 'TestPublic.txt'}", split_fractions=ALL_TRAIN).materialize("train")
    assert torch.equal(same.sparse[0], rows.sparse[0]) and torch.equal(same.dense[0], rows.dense[0])


def test_kdd_bad_rows_in_training_and_profile_files(tmp_path):
    (tmp_path / "training.txt").write_text("0\t1\t1\t7\t8\t3\t1\t9\t10\t11\t12\t2\n"
                                           "0\t1\t1\t7x\t8\t3\t1\t9\t10\t11\t12\t2\n"
                                           "-1\t1\t1\t7\t8\t3\t1\t9\t10\t11\t12\t2\n")
    (tmp_path / "user.txt").write_text("1\t1\t5\n2\tx\t3\n3\t1\n")
    report = open_dataset(f"kdd12:{tmp_path}", max_bad_rows_fraction=1.0).bad_rows
    assert [(Path(b.path).name, b.line) for b in report.examples] == [
        ("user.txt", 2), ("user.txt", 3), ("training.txt", 2), ("training.txt", 3)]
    assert "AdID is not a decimal id: '7x'" in report.examples[2].problem
    assert "Click must be a count >= 0, found '-1'" in report.examples[3].problem
    assert report.count == 4 and report.rows_good == 1 and report.rows_read == 3
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'user.txt'}:2: Gender is not an integer")):
        open_dataset(f"kdd12:{tmp_path}", on_bad_row="error")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no KDD Cup 2012 training file"):
        open_dataset(f"kdd12:{tmp_path / 'empty'}")


# -- malformed rows -----------------------------------------------------------------------------

def corrupted_criteo(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """The first 300 sample rows with a short row (line 5), a non-integer dense value (line 17) and
    a bad label (line 42), written gzipped."""
    with gzip.open(CRITEO, "rb") as handle:
        lines = [handle.readline() for _ in range(300)]
    bad = list(lines)
    bad[4] = b"\t".join(lines[4].rstrip(b"\n").split(b"\t")[:39]) + b"\n"
    fields = lines[16].split(b"\t")
    fields[3] = b"1.5"
    bad[16] = b"\t".join(fields)
    bad[41] = b"2" + lines[41][1:]
    path = tmp_path / "criteo_corrupt.tsv.gz"
    with gzip.open(path, "wb") as handle:
        handle.writelines(bad)
    return path, lines


@needs_data
def test_corrupted_copy_reports_exactly_its_bad_rows(tmp_path):
    path, lines = corrupted_criteo(tmp_path)
    ds = open_dataset(f"criteo:{path}", split_fractions=ALL_TRAIN, chunk_rows=64, max_bad_rows_fraction=0.01)
    report = ds.bad_rows  # 3 of 300 is 1 %: not above the default limit
    assert report.count == 3 and report.rows_read == 300 and report.rows_good == 297
    assert [(b.line, b.path) for b in report.examples] == [(5, str(path)), (17, str(path)), (42, str(path))]
    assert "expected 40 columns" in report.examples[0].problem and "found 39" in report.examples[0].problem
    assert "I3 is not an integer: '1.5'" in report.examples[1].problem
    assert "label must be 0 or 1, found '2'" in report.examples[2].problem
    # The good rows are exactly the clean rows without those three.
    clean = tmp_path / "clean.tsv"
    clean.write_bytes(b"".join(lines))
    expected = open_dataset(f"criteo:{clean}", split_fractions=ALL_TRAIN).materialize("train")
    keep = torch.tensor([i for i in range(300) if i not in (4, 16, 41)])
    got = ds.materialize("train")
    assert torch.equal(got.sparse, expected.sparse[keep]) and torch.equal(got.dense, expected.dense[keep])


@needs_data
def test_corrupted_copy_raises_naming_file_and_line(tmp_path):
    path, _ = corrupted_criteo(tmp_path)
    ds = open_dataset(f"criteo:{path}", on_bad_row="error")
    with pytest.raises(DataError, match=re.escape(f"{path}:5: expected 40 columns")):
        ds.materialize("train")
    only_label = tmp_path / "label.tsv"
    with gzip.open(path, "rb") as handle:
        rows = handle.readlines()
    only_label.write_bytes(b"".join(rows[5:16] + rows[41:50]))  # line 12 of this file is the bad label
    with pytest.raises(DataError, match=re.escape(f"{only_label}:12: label must be 0 or 1")):
        list(open_dataset(f"criteo:{only_label}", on_bad_row="error").batches("train", 4))


def test_files_without_good_rows_or_header_are_refused(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="no data rows"):
        open_dataset(f"criteo:{empty}").bad_rows  # noqa: B018
    garbage = tmp_path / "garbage.tsv"
    garbage.write_bytes(b"a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="no valid rows"):
        open_dataset(f"criteo:{garbage}").materialize("train")
    wrong_header = tmp_path / "avazu.csv"
    wrong_header.write_bytes(b"click,id,hour\r\n0,1,14102100\r\n")
    with pytest.raises(DataError, match=r"avazu\.csv:1: header .* is not the avazu header"):
        open_dataset(f"avazu:{wrong_header}").materialize("train")


def test_bad_specs_and_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="allowed are synthetic"):
        open_dataset("parquet:/x")
    with pytest.raises(ConfigError, match="needs a path"):
        open_dataset("criteo")
    with pytest.raises(DataError, match="not found"):
        open_dataset(f"criteo:{tmp_path / 'missing.tsv'}")
    with pytest.raises(ConfigError, match="on_bad_row"):
        open_dataset("synthetic:100", on_bad_row="ignore")
    with pytest.raises(ConfigError, match="26 sparse fields"):
        open_dataset(f"criteo:{tmp_path}", schema=DatasetSchema(name="x", num_dense=13, vocab_sizes=(10,) * 5))
    with pytest.raises(ConfigError, match="split_fractions"):
        open_dataset("synthetic:100", split_fractions=(0.5, 0.1, 0.1))
    with pytest.raises(DataError, match="unknown split"):
        open_dataset("synthetic:100").materialize("validation")


# -- splits and streaming -----------------------------------------------------------------------

def split_row_indices(ds) -> dict[str, np.ndarray]:
    return {s: np.concatenate([c.row_index for c in ds.chunks(s)]) for s in SPLITS}


@needs_data
def test_split_is_deterministic_disjoint_and_close_to_80_10_10():
    first = split_row_indices(open_dataset(f"criteo:{CRITEO}", seed=7))
    again = split_row_indices(open_dataset(f"criteo:{CRITEO}", seed=7, chunk_rows=999, max_cached_rows=0))
    other = split_row_indices(open_dataset(f"criteo:{CRITEO}", seed=8))
    for s in SPLITS:
        assert np.array_equal(first[s], again[s])
    assert not np.array_equal(first["val"], other["val"])
    union = np.concatenate(list(first.values()))
    assert len(union) == 10_000 and len(np.unique(union)) == 10_000  # disjoint, complete
    sizes = [len(first[s]) / 10_000 for s in SPLITS]
    assert sizes == pytest.approx([0.8, 0.1, 0.1], abs=0.015)


@needs_data
@pytest.mark.parametrize("spec", [f"criteo:{CRITEO}", f"avazu:{AVAZU}"])
def test_streaming_in_small_chunks_equals_one_big_read(spec):
    cached = open_dataset(spec)
    streamed = open_dataset(spec, chunk_rows=333, max_cached_rows=0)
    assert cached.in_memory and not streamed.in_memory
    for split in SPLITS:
        whole = cached.materialize(split)
        batches = list(streamed.batches(split, 256))
        assert all(len(b.label) == 256 for b in batches[:-1]) and 0 < len(batches[-1].label) <= 256
        for part, expected in zip(concat_batches(batches), whole, strict=True):
            assert torch.equal(part, expected)
    assert streamed.bad_rows.to_dict() == cached.bad_rows.to_dict()
    assert streamed.split_sizes() == cached.split_sizes()
    with pytest.raises(DataError, match="max_cached_rows"):
        streamed.materialize("val")


def test_shuffled_batches_are_a_seeded_permutation():
    ds = open_dataset("synthetic:3000", seed=1)
    plain = concat_batches(ds.batches("train", 100))
    shuffled = concat_batches(ds.batches("train", 100, shuffle_seed=5))
    assert torch.equal(concat_batches(ds.batches("train", 100, shuffle_seed=5))[1], shuffled[1])
    assert not torch.equal(shuffled[1], plain[1])
    order = lambda t: torch.sort(t.sum(1) * 1e4 + t[:, 0])[0]  # noqa: E731 -- a row fingerprint
    assert torch.equal(order(shuffled[1].double()), order(plain[1].double()))
    assert sum(len(b.label) for b in ds.batches("train", 128, drop_last=True)) == len(plain[2]) // 128 * 128


# -- hashing and integers -----------------------------------------------------------------------

def test_fnv1a_matches_published_test_vectors():
    assert fnv1a_64(b"") == 0xCBF29CE484222325
    assert fnv1a_64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a_64(b"foobar") == 0x85944171F73967E8


def test_hashing_is_stable_across_processes():
    assert fnv1a_64(b"0:68fd1e64") == 0x40F0D3933B8AFFA3
    assert stable_hash_id(b"68fd1e64", 0, 100_000) == 37197
    code = ("import numpy as np; from recpim.arch.data.parsing import hash_cells; "
            "print(hash_cells(np.array([[b'68fd1e64', b'80e26c9b', b'']]), (100000, 583, 9)).tolist())")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # Python's own str hash would change with this
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[[37197, 106, 0]]"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.binary(min_size=0, max_size=12).filter(lambda b: b"\0" not in b), min_size=3, max_size=3),
                min_size=1, max_size=20),
       st.tuples(st.integers(1, 5), st.integers(2, 1000), st.integers(2, 2**40)))
def test_vectorised_hash_equals_reference(rows, vocab):
    ids = hash_cells(np.array(rows, dtype=bytes), vocab)
    for r, row in enumerate(rows):
        for f, value in enumerate(row):
            assert ids[r, f] == stable_hash_id(value, f, vocab[f])
            assert 0 <= ids[r, f] < vocab[f]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.from_regex(rb"\A-?[0-9]{1,20}\Z"), st.binary(max_size=8).filter(lambda b: b"\0" not in b),
                          st.sampled_from([b"1.5", b"+3", b" 7", b"7 ", b"1e3", b"-", b"1_0", b"0x1"])),
                min_size=1, max_size=30))
def test_strict_integer_parser_matches_its_grammar(cells):
    values, ok = parse_int_cells(np.array(cells, dtype=bytes))
    for cell, value, good in zip(cells, values, ok, strict=True):
        expected_ok = cell == b"" or re.fullmatch(rb"-?[0-9]{1,18}", cell) is not None
        assert good == expected_ok, cell
        assert value == (int(cell) if expected_ok and cell else 0)


# -- a baseline the README quotes ---------------------------------------------------------------

@pytest.fixture
def one_torch_thread():
    """Tiny embedding updates run far faster on one thread than on contended cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_logistic_regression(ds, steps: int = 125, batch_size: int = 256, lr: float = 0.02) -> float:
    """Validation log loss of logistic regression (one weight per hashed id + dense weights), Adagrad.
    The defaults (4 epochs of the Criteo sample's 8,016 train rows) are the README's baseline
    (benchmarks/check_readme.py reruns it)."""
    logit = fit_logistic_regression(ds, steps, batch_size, lr)
    val = ds.materialize("val")
    with torch.no_grad():
        return torch.nn.functional.binary_cross_entropy_with_logits(logit(val), val.label).item()


def fit_logistic_regression(ds, steps: int = 125, batch_size: int = 256, lr: float = 0.02):
    """train_logistic_regression's model, trained: a function of a batch giving its logits."""
    torch.manual_seed(0)
    vocab = torch.tensor(ds.schema.vocab_sizes)
    offsets = torch.cumsum(vocab, 0) - vocab
    weights = torch.nn.EmbeddingBag(int(vocab.sum()), 1, mode="sum", sparse=True)
    torch.nn.init.zeros_(weights.weight)
    dense = torch.nn.Linear(ds.schema.num_dense, 1)

    def logit(batch):
        return (weights(batch.sparse + offsets) + dense(batch.dense)).squeeze(1)

    opt = torch.optim.Adagrad([*weights.parameters(), *dense.parameters()], lr=lr)
    step = 0
    while step < steps:  # sparse gradients: only the ids in a batch are touched, as in Adagrad's dense form
        for batch in ds.batches("train", batch_size, shuffle_seed=step):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit(batch), batch.label)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == steps:
                break
    return logit


@needs_data
@pytest.mark.filterwarnings("ignore:Sparse invariant checks")  # torch's note on sparse Adagrad updates
def test_logistic_regression_beats_the_base_rate_on_criteo_sample(one_torch_thread):
    ds = open_dataset(f"criteo:{CRITEO}")
    val_logloss = train_logistic_regression(ds)
    rate = float(ds.materialize("train").label.mean())
    val = ds.materialize("val").label
    base = -float((val * math.log(rate) + (1 - val) * math.log(1 - rate)).mean())
    print(f"criteo 10k val: logistic regression log loss {val_logloss:.4f}, base rate {base:.4f}")
    assert val_logloss < base - 0.02

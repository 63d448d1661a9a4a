"""Synthetic CTR generator: shape, positive rate, determinism, and that architectures differ on it."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from recpim.arch.data.datasets import SPLITS, open_dataset
from recpim.arch.data.schema import DatasetSchema
from recpim.arch.data.synthetic import (
    DENSE_LOGIT_STD,
    LINEAR_LOGIT_STD,
    PAIRWISE_LOGIT_STD,
    SYNTHETIC_CHUNK_ROWS,
    HiddenCtrModel,
    make_synthetic_ctr,
    synthetic_schema,
)
from recpim.errors import ConfigError


def test_shapes_dtypes_and_ranges_follow_the_schema():
    rows = make_synthetic_ctr(5_000, seed=0)
    assert rows.dense.shape == (5_000, 13) and rows.sparse.shape == (5_000, 26) and rows.label.shape == (5_000,)
    assert rows.dense.dtype == torch.float32 and rows.sparse.dtype == torch.int64 and rows.label.dtype == torch.float32
    assert ((rows.sparse >= 0) & (rows.sparse < 1_000)).all() and (rows.dense >= 0).all()
    assert set(rows.label.unique().tolist()) == {0.0, 1.0}
    schema = DatasetSchema(name="tiny", num_dense=0, vocab_sizes=(2, 50, 7))
    tiny = make_synthetic_ctr(2_000, seed=1, schema=schema)
    assert tiny.dense.shape == (2_000, 0) and tiny.sparse.shape == (2_000, 3)
    assert (tiny.sparse < torch.tensor([2, 50, 7])).all()
    with pytest.raises(ConfigError, match="vocab_sizes"):
        make_synthetic_ctr(10, schema=DatasetSchema(name="x", num_dense=1, vocab_sizes=(1, 5)))


def test_ids_are_zipf_skewed():
    sparse = make_synthetic_ctr(20_000, seed=0).sparse
    for field in range(26):
        counts = np.sort(np.bincount(sparse[:, field].numpy(), minlength=1_000)[1:])[::-1]
        # The 10 most frequent ids of a field hold at least 40 % of its non-missing rows.
        assert counts[:10].sum() >= 0.4 * counts.sum()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_positive_rate_is_about_a_quarter(seed):
    rate = float(make_synthetic_ctr(20_000, seed=seed).label.mean())
    assert 0.2 <= rate <= 0.3


def test_same_seed_same_rows_any_size():
    first = make_synthetic_ctr(SYNTHETIC_CHUNK_ROWS + 500, seed=4)
    again = make_synthetic_ctr(SYNTHETIC_CHUNK_ROWS + 500, seed=4)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    prefix = make_synthetic_ctr(SYNTHETIC_CHUNK_ROWS + 10, seed=4)  # across the chunk boundary
    for a, b in zip(prefix, first, strict=True):
        assert torch.equal(a, b[: SYNTHETIC_CHUNK_ROWS + 10])
    other = make_synthetic_ctr(1_000, seed=5)
    assert not torch.equal(other.sparse, first.sparse[:1_000])


def test_logit_parts_have_their_configured_spread():
    model = HiddenCtrModel.build(synthetic_schema(), seed=0)
    dense, sparse = model.features(np.random.default_rng(99), 20_000)
    spread = (model.logit_parts(dense, sparse) * model.scales).std(axis=0)
    assert spread == pytest.approx([LINEAR_LOGIT_STD, PAIRWISE_LOGIT_STD, DENSE_LOGIT_STD], rel=0.1)


def test_open_dataset_synthetic_splits_the_same_draw():
    ds = open_dataset("synthetic:4000", seed=3)
    assert ds.schema == synthetic_schema() and ds.in_memory and ds.bad_rows.count == 0
    draw = make_synthetic_ctr(4_000, seed=3)
    seen = []
    for split in SPLITS:
        for chunk in ds.chunks(split):
            assert np.array_equal(chunk.sparse, draw.sparse.numpy()[chunk.row_index])
            seen.append(chunk.row_index)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(4_000))
    assert sum(ds.split_sizes().values()) == 4_000
    assert len(open_dataset("synthetic").materialize("train").label) > 70_000  # default 100k rows


class FactorizationMachine(torch.nn.Module):
    """Logistic regression, plus FM pairwise interactions when latent_dim > 0."""

    def __init__(self, schema: DatasetSchema, latent_dim: int):
        super().__init__()
        vocab = torch.tensor(schema.vocab_sizes)
        self.register_buffer("offsets", torch.cumsum(vocab, 0) - vocab)
        self.linear = torch.nn.Embedding(int(vocab.sum()), 1)
        torch.nn.init.zeros_(self.linear.weight)
        self.dense = torch.nn.Linear(schema.num_dense, 1)
        self.latent = torch.nn.Embedding(int(vocab.sum()), latent_dim) if latent_dim else None
        if self.latent is not None:
            torch.nn.init.normal_(self.latent.weight, std=0.01)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        ids = sparse + self.offsets
        logit = self.linear(ids).sum(dim=(1, 2)) + self.dense(dense).squeeze(1)
        if self.latent is not None:
            v = self.latent(ids)
            logit = logit + 0.5 * ((v.sum(1) ** 2).sum(1) - (v**2).sum(dim=(1, 2)))
        return logit


def validation_logloss(latent_dim: int, train, val, steps: int = 300, batch_size: int = 512) -> float:
    torch.manual_seed(0)
    model = FactorizationMachine(synthetic_schema(), latent_dim)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    for step in range(steps):  # one pass: every batch is fresh data
        rows = slice(step * batch_size, (step + 1) * batch_size)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(train.dense[rows], train.sparse[rows]),
                                                                    train.label[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.nn.functional.binary_cross_entropy_with_logits(model(val.dense, val.sparse), val.label).item()


@pytest.fixture
def one_torch_thread():
    """Tiny embedding updates run far faster on one thread than on contended cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_pairwise_model_beats_logistic_regression(one_torch_thread):
    """The hidden interactions are learnable: an FM clearly beats logistic regression, and neither
    reaches the generator's own (Bayes) log loss."""
    steps, batch_size = 300, 512
    rows = make_synthetic_ctr(steps * batch_size + 10_000, seed=11)
    train = type(rows)(*(t[: steps * batch_size] for t in rows))
    val = type(rows)(*(t[steps * batch_size:] for t in rows))
    linear = validation_logloss(0, train, val, steps, batch_size)
    pairwise = validation_logloss(8, train, val, steps, batch_size)
    truth = HiddenCtrModel.build(synthetic_schema(), seed=11).click_probability(val.dense.numpy(), val.sparse.numpy())
    bayes = torch.nn.functional.binary_cross_entropy(torch.tensor(truth), val.label.double()).item()
    print(f"synthetic val log loss: logistic regression {linear:.4f}, FM {pairwise:.4f}, Bayes {bayes:.4f}")
    assert pairwise < linear - 0.02
    assert bayes < pairwise


@pytest.mark.slow
def test_a_million_rows_in_a_few_seconds():
    start = time.process_time()
    rows = make_synthetic_ctr(1_000_000, seed=0)
    assert len(rows.label) == 1_000_000
    assert time.process_time() - start < 10.0

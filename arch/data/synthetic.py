"""Synthetic CTR data with a known ground truth: the embedded default for the demo and the tests.

Rows are Criteo-shaped by default (13 dense, 26 sparse fields). Ids follow a Zipf law inside
modest vocabularies (1,000 per field) so small models can learn them. Labels are Bernoulli draws
from a hidden model with three parts, each scaled to a fixed share of the logit:

- first order: one weight per (field, id) -- what logistic regression can capture;
- pairwise: factorisation-machine interactions <v_f[x_f], v_g[x_g]> over all field pairs --
  what needs an interaction operator (FM, dot product, attention...);
- dense: a small random tanh network of the dense features -- a nonlinearity a linear model misses.

So architectures reach clearly different log loss. The bias is solved so that about 25 % of rows
are positive.

Tasks (`task=`, spec ``synthetic:ROWS:TASK``): ``fm`` (the default above) and ``interactions``,
built so that architectures matter as they do on real CTR data (the ranking benchmark's task):
the first-order part is small, and besides the pairwise part it adds
- third order: trilinear terms sum_k u_f[k] u_g[k] u_h[k] over a fixed set of field triples,
  which one dot product cannot express (it takes stacked interaction blocks or gating);
- dense x sparse: a tanh network of the dense features dotted with the sum of the field vectors,
  an interaction between the two kinds of input.
Its extra parameters come from their own random stream, so the ``fm`` task's rows are unchanged.

Generation runs in fixed 8,192-row chunks, each seeded by (seed, chunk index): the
data is a pure function of the seed (the first N rows of a larger draw equal a draw of N rows) and
takes constant memory per chunk (1 M rows in about 3 s on one core).

Streaming (spec ``synthetic:ROWS:TASK:stream``, `SyntheticStream`): the train split becomes an
endless stream of fresh rows of the same hidden model, batch k drawn from a generator seeded by
(seed, training seed, k), so a run can take more steps x batch than ROWS without seeing a row twice
(a supernet then cannot overfit its train split); the val and test splits stay the fixed rows of
the ROWS-row draw. Stream rows carry row indices from ROWS upwards, so they never collide with the
fixed rows' indices; the stream is reproducible from its seeds and has no period short of 2^62 rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from recpim.arch.data.parsing import ArrayChunk, CtrBatch
from recpim.arch.data.schema import DatasetSchema
from recpim.errors import ConfigError

SYNTHETIC_CHUNK_ROWS = 8_192
DEFAULT_SYNTHETIC_VOCAB = 1_000
LATENT_DIM = 4
DENSE_HIDDEN = 8
# Standard deviation of each logit component (after scaling): the pairwise part dominates so that
# interaction operators pay off, the linear part is what a logistic regression sees.
LINEAR_LOGIT_STD = 0.8
PAIRWISE_LOGIT_STD = 1.6
DENSE_LOGIT_STD = 0.6
# Logit spreads of the "interactions" task: (linear, pairwise, dense, third order, dense x sparse).
INTERACTION_TASK_STDS = (0.3, 1.1, 0.5, 1.2, 0.9)
NUM_TRIPLES = 24
SYNTHETIC_TASKS = ("fm", "interactions")
_CALIBRATION_ROWS = 16_384
# Zipf exponents per field (a few head ids carry most rows, as in real CTR logs) and the spread of
# per-field importance (log-normal sigma): some fields matter much more than others.
ZIPF_EXPONENT_RANGE = (1.2, 1.6)
FIELD_IMPORTANCE_SIGMA = 0.8



def synthetic_schema(num_dense: int = 13, num_sparse: int = 26, vocab_size: int = DEFAULT_SYNTHETIC_VOCAB,
                     embedding_dim: int = 16) -> DatasetSchema:
    """Criteo-shaped by default: 13 dense features, 26 sparse fields of `vocab_size` ids each."""
    return DatasetSchema(name="synthetic", num_dense=num_dense, vocab_sizes=(vocab_size,) * num_sparse,
                         embedding_dim=embedding_dim)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class HiddenCtrModel:
    """The ground truth behind the synthetic labels (all tables flat, field f at offsets[f])."""

    schema: DatasetSchema
    offsets: np.ndarray  # int64 [F], start of each field in the flat tables
    id_cdfs: list[np.ndarray]  # per field, CDF over ids 1..V-1 (Zipf over a random ranking)
    id_by_rank: list[np.ndarray]
    missing_rate: np.ndarray  # [F], share of rows with the reserved (empty) id 0
    dense_mu: np.ndarray  # [D] log-normal parameters of the raw counts
    dense_sigma: np.ndarray
    dense_missing: np.ndarray  # [D]
    first_order: np.ndarray  # [sum V]
    latent: np.ndarray  # [sum V, LATENT_DIM]
    dense_mean: np.ndarray  # [D] standardisation of the dense input of the tanh network
    dense_std: np.ndarray
    w1: np.ndarray  # [D, DENSE_HIDDEN]
    b1: np.ndarray
    w2: np.ndarray  # [DENSE_HIDDEN]
    scales: np.ndarray  # multipliers of (linear, pairwise, dense[, third order, dense x sparse])
    bias: float
    task: str = "fm"
    triples: np.ndarray | None = None     # [T, 3] field indices ("interactions" only)
    triple_latent: np.ndarray | None = None  # [sum V, LATENT_DIM]
    cross: np.ndarray | None = None       # [DENSE_HIDDEN, LATENT_DIM]: dense hidden -> latent space
    _latent_sq_norm: np.ndarray | None = None

    @classmethod
    def build(cls, schema: DatasetSchema, seed: int, positive_rate: float = 0.25, task: str = "fm") -> HiddenCtrModel:
        if task not in SYNTHETIC_TASKS:
            raise ConfigError("synthetic data", [("task", f"{task!r}: allowed are {', '.join(SYNTHETIC_TASKS)}")])
        if any(v < 2 for v in schema.vocab_sizes):
            raise ConfigError("synthetic schema", [("vocab_sizes", "every field needs >= 2 ids (id 0 is reserved)")])
        if not 0.01 <= positive_rate <= 0.99:
            raise ConfigError("synthetic data", [("positive_rate", f"must be in [0.01, 0.99], got {positive_rate}")])
        rng = np.random.default_rng([seed, 0x5EED])
        vocab = np.asarray(schema.vocab_sizes, dtype=np.int64)
        num_dense, total = schema.num_dense, int(vocab.sum())
        cdfs, rankings = [], []
        for size in vocab:
            exponent = rng.uniform(*ZIPF_EXPONENT_RANGE)
            weights = np.arange(1, size, dtype=np.float64) ** -exponent
            cdfs.append(np.cumsum(weights) / weights.sum())
            rankings.append(rng.permutation(np.arange(1, size)))
        field_scale = np.exp(rng.normal(0.0, FIELD_IMPORTANCE_SIGMA, len(vocab)))
        model = cls(
            schema=schema, offsets=np.concatenate([[0], np.cumsum(vocab)[:-1]]), id_cdfs=cdfs, id_by_rank=rankings,
            missing_rate=np.where(rng.random(len(vocab)) < 0.3, rng.uniform(0.05, 0.4, len(vocab)), 0.0),
            dense_mu=rng.uniform(0.0, 3.0, num_dense), dense_sigma=rng.uniform(0.5, 1.5, num_dense),
            dense_missing=np.where(rng.random(num_dense) < 0.4, rng.uniform(0.1, 0.5, num_dense), 0.0),
            first_order=rng.normal(size=total) * np.repeat(field_scale, vocab),
            latent=rng.normal(size=(total, LATENT_DIM)) * np.repeat(np.sqrt(field_scale), vocab)[:, None],
            dense_mean=np.zeros(num_dense), dense_std=np.ones(num_dense),
            w1=rng.normal(size=(num_dense, DENSE_HIDDEN)) * 1.5 / np.sqrt(max(num_dense, 1)),
            b1=rng.normal(size=DENSE_HIDDEN) * 0.5, w2=rng.normal(size=DENSE_HIDDEN),
            scales=np.ones(3), bias=0.0, task=task,
        )
        if task == "interactions":
            extra = np.random.default_rng([seed, 0x7A5C])
            fields = len(vocab)
            model.triples = np.stack([extra.choice(fields, 3, replace=False) for _ in range(NUM_TRIPLES)])
            model.triple_latent = extra.normal(size=(total, LATENT_DIM))
            model.cross = extra.normal(size=(DENSE_HIDDEN, LATENT_DIM)) / np.sqrt(DENSE_HIDDEN)
        model._calibrate(np.random.default_rng([seed, 0xCA11]), positive_rate)
        return model

    def _calibrate(self, rng: np.random.Generator, positive_rate: float) -> None:
        """Scale each logit part to its target spread and solve the bias for the positive rate,
        on a fixed calibration draw (so the model does not depend on how many rows are asked for)."""
        dense, sparse = self.features(rng, _CALIBRATION_ROWS)
        if self.schema.num_dense:
            self.dense_mean, self.dense_std = dense.mean(axis=0), dense.std(axis=0) + 1e-6
        parts = self.logit_parts(dense, sparse)
        stds = parts.std(axis=0)
        targets = np.array([LINEAR_LOGIT_STD, PAIRWISE_LOGIT_STD, DENSE_LOGIT_STD] if self.task == "fm"
                           else INTERACTION_TASK_STDS)
        self.scales = np.where(stds > 1e-9, targets / np.maximum(stds, 1e-9), 0.0)
        logits = (parts - parts.mean(axis=0)) @ self.scales
        low, high = -20.0, 20.0
        for _ in range(60):  # bisection: mean probability is increasing in the bias
            mid = (low + high) / 2
            low, high = (mid, high) if _sigmoid(logits + mid).mean() < positive_rate else (low, mid)
        self.bias = (low + high) / 2 - float(parts.mean(axis=0) @ self.scales)

    def features(self, rng: np.random.Generator, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense features (already log(x+1)) and sparse ids of `num_rows` fresh rows."""
        num_dense = self.schema.num_dense
        counts = np.floor(np.exp(rng.normal(self.dense_mu, self.dense_sigma, size=(num_rows, num_dense))))
        present = rng.random((num_rows, num_dense)) >= self.dense_missing
        dense = np.where(present, np.log1p(counts), 0.0).astype(np.float32)
        num_fields = len(self.id_cdfs)
        uniforms = rng.random((2, num_fields, num_rows))  # (id draw, missing draw) per field
        sparse = np.empty((num_fields, num_rows), dtype=np.int64)
        for f, (cdf, ranking) in enumerate(zip(self.id_cdfs, self.id_by_rank, strict=True)):
            ranks = np.minimum(np.searchsorted(cdf, uniforms[0, f]), len(ranking) - 1)
            sparse[f] = np.where(uniforms[1, f] < self.missing_rate[f], 0, ranking[ranks])
        return dense, np.ascontiguousarray(sparse.T)

    def logit_parts(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        """[n, parts] unscaled parts of the logit: (linear, pairwise, dense) and, for the
        "interactions" task, (third order, dense x sparse)."""
        flat = sparse + self.offsets
        linear = self.first_order[flat].sum(axis=1)
        # FM identity: sum over pairs <v_f, v_g> = (|sum_f v_f|^2 - sum_f |v_f|^2) / 2, field by field
        # so no [n, F, k] temporary is built.
        vector_sum = np.zeros((len(sparse), self.latent.shape[1]))
        for f in range(flat.shape[1]):
            vector_sum += self.latent[flat[:, f]]
        pairwise = 0.5 * ((vector_sum**2).sum(axis=1) - self.latent_sq_norm[flat].sum(axis=1))
        if self.schema.num_dense:
            hidden = np.tanh(((dense - self.dense_mean) / self.dense_std) @ self.w1 + self.b1)
            dense_part = hidden @ self.w2
        else:
            hidden = np.zeros((len(dense), DENSE_HIDDEN))
            dense_part = np.zeros(len(dense))
        if self.task == "fm":
            return np.stack([linear, pairwise, dense_part], axis=1)
        triple = np.zeros(len(sparse))
        for f, g, h in self.triples:
            triple += (self.triple_latent[flat[:, f]] * self.triple_latent[flat[:, g]]
                       * self.triple_latent[flat[:, h]]).sum(axis=1)
        cross = ((hidden @ self.cross) * vector_sum).sum(axis=1)
        return np.stack([linear, pairwise, dense_part, triple, cross], axis=1)

    @property
    def latent_sq_norm(self) -> np.ndarray:
        if self._latent_sq_norm is None:
            self._latent_sq_norm = (self.latent**2).sum(axis=1)
        return self._latent_sq_norm

    def click_probability(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        return _sigmoid(self.logit_parts(dense, sparse) @ self.scales + self.bias)


def synthetic_chunks(num_rows: int, seed: int = 0, schema: DatasetSchema | None = None,
                     positive_rate: float = 0.25, task: str = "fm") -> Iterator[ArrayChunk]:
    """The synthetic rows in chunks of SYNTHETIC_CHUNK_ROWS (row_index = position in the draw)."""
    if num_rows < 0:
        raise ConfigError("synthetic data", [("num_rows", f"must be >= 0, got {num_rows}")])
    model = HiddenCtrModel.build(schema or synthetic_schema(), seed, positive_rate, task)
    for chunk_index, start in enumerate(range(0, num_rows, SYNTHETIC_CHUNK_ROWS)):
        # Always a full chunk (then cut), so a row never depends on how many rows were asked for.
        rng = np.random.default_rng([seed, 0xDA7A, chunk_index])
        dense, sparse = model.features(rng, SYNTHETIC_CHUNK_ROWS)
        label = (rng.random(SYNTHETIC_CHUNK_ROWS) < model.click_probability(dense, sparse)).astype(np.float32)
        n = min(SYNTHETIC_CHUNK_ROWS, num_rows - start)
        yield ArrayChunk(dense[:n], sparse[:n], label[:n], np.arange(start, start + n, dtype=np.int64))


STREAM_TAG = 0x57EA   # the stream's generators are seeded apart from the fixed draw's (0xDA7A)


class SyntheticStream:
    """Fresh training rows of a synthetic task: batch `index` of a run seeded `train_seed` is a
    pure function of (seed, train_seed, index, batch_size); see the module docstring."""

    def __init__(self, seed: int, schema: DatasetSchema, task: str, first_row_index: int,
                 positive_rate: float = 0.25):
        self.seed, self.schema, self.task, self.first_row_index = seed, schema, task, first_row_index
        self.positive_rate = positive_rate
        self._model: HiddenCtrModel | None = None

    @property
    def model(self) -> HiddenCtrModel:
        if self._model is None:
            self._model = HiddenCtrModel.build(self.schema, self.seed, self.positive_rate, self.task)
        return self._model

    def batch(self, train_seed: int, index: int, batch_size: int) -> ArrayChunk:
        if index < 0 or batch_size < 1:
            raise ConfigError("synthetic stream", [("index", f"batch {index} of {batch_size} rows: both must be "
                                                             "non-negative (batch_size >= 1)")])
        rng = np.random.default_rng([self.seed, STREAM_TAG, train_seed, index, batch_size])
        dense, sparse = self.model.features(rng, batch_size)
        label = (rng.random(batch_size) < self.model.click_probability(dense, sparse)).astype(np.float32)
        start = self.first_row_index + index * batch_size
        return ArrayChunk(dense, sparse, label, np.arange(start, start + batch_size, dtype=np.int64))


def make_synthetic_ctr(num_rows: int, seed: int = 0, schema: DatasetSchema | None = None,
                       positive_rate: float = 0.25, task: str = "fm") -> CtrBatch:
    """`num_rows` synthetic rows as one CtrBatch (dense float32, sparse int64, label float32)."""
    schema = schema or synthetic_schema()
    chunks = list(synthetic_chunks(num_rows, seed, schema, positive_rate, task))
    return ArrayChunk.concat(chunks, schema.num_dense, schema.num_sparse).to_batch(copy=False)

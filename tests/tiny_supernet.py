"""The tiny supernet the search tests share: a 3-block space trained for 20 steps (a few seconds)."""

from __future__ import annotations

from pathlib import Path

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.synthetic import synthetic_schema
from recpim.arch.model.space import DenseOp, SearchSpace, SparseOp, nasrec_full
from recpim.arch.train.loop import TrainConfig, train_supernet

DATA = "synthetic:3000"


def tiny_space(name: str) -> SearchSpace:
    return SearchSpace(name=name, num_blocks=3, dense_ops=(DenseOp.FC, DenseOp.DOT_PRODUCT),
                       sparse_ops=(SparseOp.EFC,), dense_widths=(16, 32, 64), sparse_widths=(8, 16), max_inputs=2,
                       weight_bits=(4, 8), activation_bits=(4, 8), embedding_bits=(4, 8))


def train_tiny_supernet(space: SearchSpace, folder: Path, **overrides) -> Path:
    """Train the supernet of `space` for 20 steps on DATA (TrainConfig `overrides`) and return the checkpoint path.
    8 subnets per step, not the default 16: at batch 64 that leaves 8 rows per part, and the search tests'
    figures (candidates' log losses below 5) were set on this supernet."""
    path = folder / "tiny.pt"
    train_supernet(open_dataset(DATA), TrainConfig(**{"data": DATA, "space": space.name, "steps": 20, "batch_size": 64,
                                                      "subnets_per_step": 8, **overrides}),
                   checkpoint=path, space=space)
    return path


# The small NASRec-Full spaces and schema the training, scoring and safety tests train on.
SMALL_SCHEMA = synthetic_schema(num_dense=4, num_sparse=5, vocab_size=30, embedding_dim=4)
SMALL_TRAIN_DATA = "synthetic:1500"


def small_full_space(name: str, num_blocks: int = 3) -> SearchSpace:
    return nasrec_full(num_blocks=num_blocks, name=name, dense_widths=(8, 16), sparse_widths=(4, 8),
                       merger_rows=2, attention_heads=2)


def small_train_config(space: SearchSpace, steps: int, **overrides) -> TrainConfig:
    """A few steps of batch 64 on SMALL_TRAIN_DATA (seed 3), seed 5, with `overrides`."""
    return TrainConfig(**{"data": SMALL_TRAIN_DATA, "data_seed": 3, "space": space.name, "steps": steps,
                          "batch_size": 64, "seed": 5, **overrides})

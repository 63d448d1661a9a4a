"""The tiny supernet the search tests share: a 3-block space trained for 20 steps (a few seconds)."""

from __future__ import annotations

from pathlib import Path

from recpim.arch.datasets import open_dataset
from recpim.arch.space import DenseOp, SearchSpace, SparseOp
from recpim.arch.training import TrainConfig, train_supernet

DATA = "synthetic:3000"


def tiny_space(name: str) -> SearchSpace:
    return SearchSpace(name=name, num_blocks=3, dense_ops=(DenseOp.FC, DenseOp.DOT_PRODUCT),
                       sparse_ops=(SparseOp.EFC,), dense_widths=(16, 32, 64), sparse_widths=(8, 16), max_inputs=2,
                       weight_bits=(4, 8), activation_bits=(4, 8), embedding_bits=(4, 8))


def train_tiny_supernet(space: SearchSpace, folder: Path) -> Path:
    """Train the supernet of `space` for 20 steps on DATA and return the checkpoint path."""
    path = folder / "tiny.pt"
    train_supernet(open_dataset(DATA), TrainConfig(data=DATA, space=space.name, steps=20, batch_size=64),
                   checkpoint=path, space=space)
    return path

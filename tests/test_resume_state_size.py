"""Issue 26, item 2 (last part): the resumable state is kept small. Sparse Adagrad's and SparseAdam's
state rows of embedding rows no step touched are exactly zero; CKPT.resume stores only the touched
rows of such tensors (index + values) and the resumed run stays bit-identical."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import small_full_space, small_train_config

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.synthetic import synthetic_schema
from recpim.arch.train.checkpoints import (
    pack_sparse_rows,
    read_resume_tensors,
    resume_state_path,
    state_bytes,
    unpack_sparse_rows,
)
from recpim.arch.train.loop import train_supernet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@settings(max_examples=40)
@given(rows=st.integers(1, 300), cols=st.integers(1, 9), touched=st.sets(st.integers(0, 299), max_size=40),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]))
def test_packing_round_trips_exactly(rows, cols, touched, dtype):
    dense = torch.zeros(rows, cols, dtype=dtype)
    for row in touched:
        if row < rows:
            dense[row] = torch.rand(cols).to(dtype) + 0.5
    state = {"parts": [{"state": {0: {"step": torch.tensor(3.0), "sum": dense}}, "param_groups": [{"lr": 0.1}]}]}
    packed = pack_sparse_rows(state)
    back = unpack_sparse_rows(packed)
    assert torch.equal(back["parts"][0]["state"][0]["sum"], dense)
    assert back["parts"][0]["state"][0]["sum"].dtype == dtype
    assert back["parts"][0]["param_groups"] == [{"lr": 0.1}]
    assert state_bytes(packed) <= state_bytes(state) + 8 * rows   # never much larger


def test_an_unfinished_runs_resume_state_is_small_and_resumes_bit_identically(tmp_path):
    space = small_full_space("resume_size", num_blocks=2)
    config = small_train_config(space, 12, data="synthetic:1500", checkpoint_every=0)
    # tables of 4,000 rows: 4 steps of 64 rows touch at most 256 of each
    data = open_dataset("synthetic:1500", schema=synthetic_schema(num_dense=4, num_sparse=5, vocab_size=4000,
                                                                  embedding_dim=8), seed=3)

    whole = train_supernet(data, config, space=space, checkpoint=tmp_path / "whole.pt")
    train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", until_step=4)
    saved = torch.load(resume_state_path(tmp_path / "part.pt"), weights_only=True)
    dense = read_resume_tensors(tmp_path / "part.pt")
    assert state_bytes(saved["optimizer"]) < 0.8 * state_bytes(dense["optimizer"]), \
        "the untouched embedding rows' optimizer state was written"
    resumed = train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", resume=True)
    assert resumed.step == whole.step == 12
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)

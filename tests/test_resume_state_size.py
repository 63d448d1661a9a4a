"""Issue 26, item 2 (last part): the resumable state is kept small. Optimizer state that no gradient
has reached is exactly zero (embedding rows no batch read, blocks of shared supernet weights no subnet
used, weights never trained); CKPT.resume stores each large tensor in its smallest exact form
(arch/train/packing.py: as it is, its touched rows, or a bit mask and the set values) and the
resumed run stays bit-identical."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import SMALL_SCHEMA, SMALL_TRAIN_DATA, small_full_space, small_train_config

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.synthetic import synthetic_schema
from recpim.arch.model.space import nasrec_full
from recpim.arch.train.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    RESUME_FORMAT,
    read_resume_tensors,
    resume_state_path,
    save_snapshot,
    state_bytes,
)
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.loop import train_supernet
from recpim.arch.train.packing import PACK_MIN_ELEMENTS, pack_state, set_elements, unpack_state

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
    packed = pack_state(state)
    back = unpack_state(packed)
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


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's bit patterns (torch.equal would call two NaNs different and -0.0 equal to +0.0)."""
    return tensor.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()])


@settings(max_examples=40)
@given(shape=st.tuples(st.integers(64, 160), st.integers(64, 96), st.integers(1, 3)), data=st.data(),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]))
def test_any_pattern_of_set_elements_round_trips_bit_for_bit(shape, data, dtype):
    numel = shape[0] * shape[1] * shape[2]
    flat = torch.zeros(numel, dtype=dtype)
    places = data.draw(st.sets(st.integers(0, numel - 1), max_size=600))
    specials = st.sampled_from([-0.0, float("nan"), float("inf"), -float("inf"), 1e-40, -3.5, 0.125])
    for place in places:
        flat[place] = data.draw(specials)
    dense = flat.reshape(shape)
    packed = pack_state({"sum": dense})
    back = unpack_state(packed)["sum"]
    assert back.dtype == dtype and back.shape == dense.shape
    assert torch.equal(_bits(back), _bits(dense))
    assert state_bytes(packed) <= state_bytes(dense)


def _resume_state(sums: dict[int, torch.Tensor]) -> tuple[dict, dict]:
    """A hand-made checkpoint pair: Adagrad state `sums` (parameter index -> sum) at step 1 of 2."""
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model": {}, "step": 1, "total_steps": 2,
             "snapshot": "hand-made", "config": TrainConfig().model_dump(mode="json"), "losses_tail": []}
    optimizer = {"parts": [{"state": {index: {"step": torch.tensor(1.0), "sum": s} for index, s in sums.items()},
                            "param_groups": [{"lr": 0.12, "params": sorted(sums)}]}]}
    resume = {"format": RESUME_FORMAT, "version": CHECKPOINT_VERSION, "snapshot": "hand-made", "step": 1,
              "optimizer": optimizer, "scheduler": {}, "rng": {"torch": torch.get_rng_state()}}
    return state, resume


def test_a_shared_weights_untouched_blocks_and_untouched_weights_are_not_written(tmp_path):
    """Every row of a shared [512, 2048] weight was trained, but only through its first 512 input columns
    (the narrow subnets) and, in its first 256 rows, the 256 columns of one more source: a quarter of
    its Adagrad sums are set, in no whole row. A second weight was never trained. Stored row by row
    (before the mask form), the first is written whole (4.2 MB); now its set values and one bit per
    element, and the second as no rows."""
    generator = torch.Generator().manual_seed(0)
    shared = torch.zeros(512, 2048)
    shared[:, :512] = torch.rand(512, 512, generator=generator) + 0.01
    shared[:256, 1024:1280] = torch.rand(256, 256, generator=generator) + 0.01
    untouched = torch.zeros(1024, 1024)
    state, resume = _resume_state({0: shared, 1: untouched})
    save_snapshot(tmp_path / "hand.pt", state, resume)
    written = resume_state_path(tmp_path / "hand.pt").stat().st_size
    set_bytes = (512 * 512 + 256 * 256) * 4
    masks = (512 * 2048 + 1024 * 1024) // 8
    assert written < set_bytes + masks + 100_000, f"{written:,} bytes written for {set_bytes:,} bytes of set sums"
    back = read_resume_tensors(tmp_path / "hand.pt")["optimizer"]["parts"][0]["state"]
    assert torch.equal(_bits(back[0]["sum"]), _bits(shared)) and torch.equal(_bits(back[1]["sum"]), _bits(untouched))


def test_a_supernet_runs_untrained_weights_state_is_not_written_and_it_resumes_bit_identically(tmp_path):
    """Without the full-path warm-up, three steps of one sampled subnet each train a few blocks of the
    shared weights (leading output rows, their sources' input columns): CKPT.resume holds those sums
    and one bit per weight, and the resumed run is the uninterrupted one bit for bit. (Row by row, as
    before the mask form, it took 1.2 MB of the 5.0 MB; now 0.26 MB.)"""
    space = nasrec_full(num_blocks=3, name="sparse_resume", dense_widths=(16, 128), sparse_widths=(4, 8),
                        merger_rows=2, attention_heads=2)
    config = small_train_config(space, 8, full_path_fraction=0.0, subnets_per_step=1)
    data = open_dataset(SMALL_TRAIN_DATA, schema=SMALL_SCHEMA, seed=3)
    whole = train_supernet(data, config, space=space, checkpoint=tmp_path / "whole.pt")
    train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", until_step=3)
    unpacked = read_resume_tensors(tmp_path / "part.pt")["optimizer"]
    saved = torch.load(resume_state_path(tmp_path / "part.pt"), weights_only=True)["optimizer"]
    tensors = [v for part in unpacked["parts"] for s in part["state"].values() for v in s.values()]
    large = [v for v in tensors if v.numel() >= PACK_MIN_ELEMENTS]
    set_bytes = sum(int(set_elements(v).sum()) * v.element_size() for v in large)
    bound = set_bytes + sum(-(-v.numel() // 8) for v in large) + state_bytes(tensors) - state_bytes(large)
    assert set_bytes < 0.1 * state_bytes(large)      # the case is what it says: most sums are untouched
    assert state_bytes(saved) <= bound, f"{state_bytes(saved):,} bytes saved, at most {bound:,} needed"
    resumed = train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", resume=True)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert resumed.step == whole.step == 8 and all(torch.equal(a[k], b[k]) for k in a)

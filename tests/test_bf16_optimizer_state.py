"""Issue 26, item 2: the dense optimizer's state kept in bfloat16 during training (TrainConfig
`optimizer_state_dtype="bf16"`, arch/train/bf16_state.py): its stochastic rounding, its arithmetic
against torch's Adagrad and Adam, half the bytes in CKPT.resume, and a resume that stays bit-identical
because the training itself keeps the bf16 values."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import SMALL_SCHEMA, SMALL_TRAIN_DATA, small_full_space, small_train_config

from recpim.arch.data.datasets import open_dataset
from recpim.arch.train.bf16_state import Bf16StateAdagrad, Bf16StateAdam, stochastic_round_bf16
from recpim.arch.train.checkpoints import read_resume_tensors, resume_state_path, state_bytes
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.loop import train_supernet
from recpim.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bf16_neighbours(value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The bf16 values either side of fp32 `value` (towards zero: its high 16 bits; away: one unit more)."""
    bits = value.view(torch.int32)
    down = (bits & -65536).view(torch.float32)
    up = ((bits & -65536) + 65536).view(torch.float32)
    return down, up


@settings(max_examples=60)
@given(st.lists(st.floats(-(2.0**100), 2.0**100, width=32), min_size=1, max_size=50), st.integers(0, 2**32))
def test_stochastic_rounding_gives_a_neighbour_and_keeps_bf16_values(values, seed):
    x = torch.tensor(values, dtype=torch.float32)
    rounded = stochastic_round_bf16(x, torch.Generator().manual_seed(seed)).float()
    down, up = _bf16_neighbours(x)
    assert bool(((rounded == down) | (rounded == up)).all())
    exact = x.to(torch.bfloat16).float()
    assert torch.equal(stochastic_round_bf16(exact, torch.Generator().manual_seed(seed)).float(), exact)


def test_stochastic_rounding_is_unbiased():
    # 1 + 2**-9 lies a quarter of the way from bf16's 1 to 1 + 2**-7: rounded up a quarter of the time
    x = torch.full((200_000,), 1 + 2**-9)
    rounded = stochastic_round_bf16(x, torch.Generator().manual_seed(0)).float()
    assert abs(float((rounded > 1).double().mean()) - 0.25) < 0.005
    assert abs(float(rounded.double().mean()) - (1 + 2**-9)) < 2e-5


def _steps(optimizer_kind, reference_kind, grads: list[torch.Tensor], **options) -> tuple[torch.Tensor, torch.Tensor,
                                                                                           torch.optim.Optimizer]:
    ours = torch.nn.Parameter(torch.linspace(-1, 1, grads[0].numel()).reshape(grads[0].shape))
    theirs = torch.nn.Parameter(ours.detach().clone())
    a, b = optimizer_kind([ours], **options), reference_kind([theirs], foreach=False, **options)
    for grad in grads:
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        a.step()
        b.step()
    return ours.detach(), theirs.detach(), a


def test_adagrad_is_torchs_while_the_sums_are_bf16_values():
    # gradients of powers of two: every sum is a small sum of powers of two, exact in bf16, so each step
    # is torch.optim.Adagrad's bit for bit
    grads = [torch.tensor([[0.5, -1.0, 2.0], [0.25, 0.0, -4.0]]) * (1 if k % 2 else -2) for k in range(6)]
    ours, theirs, optimizer = _steps(Bf16StateAdagrad, torch.optim.Adagrad, grads, lr=0.1, eps=1e-2)
    assert torch.equal(ours, theirs)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert state["sum"].dtype == torch.bfloat16 and float(state["step"]) == 6


def test_adams_first_step_is_torchs_and_its_moments_are_kept_in_bf16():
    grad = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    ours, theirs, optimizer = _steps(Bf16StateAdam, torch.optim.Adam, [grad], lr=0.003)
    assert torch.equal(ours, theirs)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == torch.bfloat16
    # later steps differ from torch's by the rounded moments only: close, not equal
    grads = [torch.randn(4, 5, generator=torch.Generator().manual_seed(k)) for k in range(20)]
    ours, theirs, _ = _steps(Bf16StateAdam, torch.optim.Adam, grads, lr=0.003)
    assert not torch.equal(ours, theirs) and torch.allclose(ours, theirs, atol=2e-3)


def test_an_unused_slices_adagrad_state_and_weights_stay_exactly_as_they_were():
    param = torch.nn.Parameter(torch.ones(8, 8))
    optimizer = Bf16StateAdagrad([param], lr=0.1)
    for k in range(5):
        grad = torch.zeros(8, 8)
        grad[:4, :4] = torch.randn(4, 4, generator=torch.Generator().manual_seed(k))
        param.grad = grad
        optimizer.step()
    state = optimizer.state[param]["sum"]
    assert bool((state[4:] == 0).all()) and bool((state[:, 4:] == 0).all())
    assert bool((param.detach()[4:] == 1).all()) and bool((param.detach()[:, 4:] == 1).all())


@pytest.mark.parametrize("recipe", [{"optimizer": "adagrad"}, {"optimizer": "adam", "lr": 0.003}])
def test_a_bf16_state_run_halves_the_dense_state_and_resumes_bit_identically(tmp_path, recipe):
    space = small_full_space("bf16_state", num_blocks=2)
    data = open_dataset(SMALL_TRAIN_DATA, schema=SMALL_SCHEMA, seed=3)
    config = small_train_config(space, 10, optimizer_state_dtype="bf16", **recipe)
    whole = train_supernet(data, config, space=space, checkpoint=tmp_path / "whole.pt")
    train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", until_step=4)
    bf16_dense = read_resume_tensors(tmp_path / "part.pt")["optimizer"]["parts"][0]["state"]
    train_supernet(data, small_train_config(space, 10, **recipe), space=space, checkpoint=tmp_path / "fp32.pt",
                   until_step=4)
    fp32_dense = read_resume_tensors(tmp_path / "fp32.pt")["optimizer"]["parts"][0]["state"]
    moments = [v for s in bf16_dense.values() for k, v in s.items() if k != "step"]
    assert moments and all(v.dtype == torch.bfloat16 for v in moments)
    assert state_bytes(bf16_dense) < 0.55 * state_bytes(fp32_dense)
    # resumed in two parts (the second save after a resume keeps bf16), then to the end
    train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", resume=True, until_step=7)
    again = torch.load(resume_state_path(tmp_path / "part.pt"), weights_only=True)["optimizer"]["parts"][0]["state"]
    assert all(v.dtype == torch.bfloat16 for s in again.values() for k, v in s.items() if k != "step")
    resumed = train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", resume=True)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert resumed.step == whole.step == 10 and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.losses == whole.losses[7:]
    # and it is not the fp32 run: the option changes training, which is why it is opt-in
    fp32 = train_supernet(data, small_train_config(space, 10, **recipe), space=space)
    assert not all(torch.equal(a[k], fp32.model.state_dict()[k]) for k in a)


def test_resuming_with_the_other_state_dtype_is_refused(tmp_path):
    space = small_full_space("bf16_refused", num_blocks=2)
    data = open_dataset(SMALL_TRAIN_DATA, schema=SMALL_SCHEMA, seed=3)
    config = small_train_config(space, 6, optimizer_state_dtype="bf16")
    train_supernet(data, config, space=space, checkpoint=tmp_path / "c.pt", until_step=2)
    with pytest.raises(ConfigError, match="optimizer_state_dtype"):
        train_supernet(data, config.model_copy(update={"optimizer_state_dtype": "fp32"}), space=space,
                       checkpoint=tmp_path / "c.pt", resume=True)


def test_dumps_of_fp32_runs_stay_as_they_were_and_bf16_round_trips():
    assert "optimizer_state_dtype" not in TrainConfig().model_dump(mode="json")
    bf16 = TrainConfig(optimizer_state_dtype="bf16")
    assert bf16.model_dump(mode="json")["optimizer_state_dtype"] == "bf16"
    assert TrainConfig(**bf16.model_dump(mode="json")) == bf16


def test_the_cli_trains_with_bf16_state_and_refuses_a_bad_choice(capsys, tmp_path):
    from test_cli_bad_input import assert_refused, run_cli

    out = tmp_path / "b.pt"
    code, output = run_cli(capsys, "supernet", "train", "--data", "synthetic:1500", "--space", "small", "--steps", "2",
                           "--batch-size", "32", "--optimizer-state-dtype", "bf16",
                           "--out", out, "--no-progress", "--json")
    assert code == 0, output
    summary, _ = json.JSONDecoder().raw_decode(output[output.index("{"):])
    assert summary["config"]["optimizer_state_dtype"] == "bf16"
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1",
                            "--optimizer-state-dtype", "fp16", "--out", tmp_path / "x.pt", "--no-progress"],
                   "optimizer_state_dtype", "'fp32'", "'bf16'")

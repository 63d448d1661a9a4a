"""Supernet training: the recipe's schedule, seeded determinism, checkpoints and exact resume."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_supernet import SMALL_SCHEMA, SMALL_TRAIN_DATA, small_full_space, small_train_config
from typer.testing import CliRunner

from recpim.arch.data.datasets import open_dataset
from recpim.arch.train.checkpoints import load_checkpoint, resume_state_path
from recpim.arch.train.loop import (
    TrainConfig,
    load_supernet,
    train_batches,
    train_supernet,
)
from recpim.arch.train.optimizers import WarmupCosine
from recpim.arch.train.sandwich import subnet_for_step
from recpim.errors import ConfigError, DataError

SPACE = small_full_space("test_training_full")
SCHEMA = SMALL_SCHEMA


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: small torch ops on one thread


@pytest.fixture(scope="module")
def dataset():
    return open_dataset(SMALL_TRAIN_DATA, schema=SCHEMA, seed=3)


def _config(**overrides) -> TrainConfig:
    return small_train_config(SPACE, **{"steps": 6, **overrides})


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_default_config_is_nasrecs_recipe():
    config = TrainConfig()
    assert (config.optimizer, config.lr, config.batch_size, config.warmup_fraction, config.grad_clip_norm) == (
        "adagrad", 0.12, 512, 0.1, 5.0)
    assert config.steps is None  # one epoch
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig(learning_rate=0.1)
    with pytest.raises(Exception):  # noqa: B017 - frozen
        config.lr = 1.0  # type: ignore[misc]


def test_warmup_then_cosine_schedule():
    schedule = WarmupCosine(total=100, warmup=10)
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(9) == pytest.approx(1.0)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(55) == pytest.approx(0.5)
    assert schedule(99) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    values = [schedule(s) for s in range(10, 100)]
    assert all(b <= a for a, b in zip(values, values[1:], strict=False))


def test_same_seed_same_weights_other_seed_other_weights(dataset):
    first = train_supernet(dataset, _config(steps=3), space=SPACE).model
    again = train_supernet(dataset, _config(steps=3), space=SPACE).model
    other = train_supernet(dataset, _config(steps=3, seed=6), space=SPACE).model
    assert _same_weights(first, again)
    assert not _same_weights(first, other)


def test_resume_gives_the_uninterrupted_result(dataset, tmp_path):
    """Stop after 2 of 6 steps (checkpoint), resume, and get bit for bit the 6-step run."""
    config = _config(steps=6, checkpoint_every=1)
    whole = train_supernet(dataset, config, space=SPACE)
    checkpoint = tmp_path / "run.pt"
    part = train_supernet(dataset, config, checkpoint=checkpoint, until_step=2, space=SPACE)
    assert part.step == 2 and not part.finished
    state = torch.load(checkpoint, weights_only=True)  # plain state dicts, safe to load
    assert state["step"] == 2 and state["total_steps"] == 6
    assert {"model", "config", "space", "schema"} <= set(state) and "optimizer" not in state
    resume_state = torch.load(resume_state_path(checkpoint), weights_only=True)
    assert {"optimizer", "scheduler", "rng"} <= set(resume_state) and resume_state["snapshot"] == state["snapshot"]
    resumed = train_supernet(dataset, config, checkpoint=checkpoint, resume=True, space=SPACE)
    assert resumed.step == 6 and resumed.finished
    assert len(resumed.losses) == 4
    assert resumed.losses == whole.losses[2:]
    assert _same_weights(resumed.model, whole.model)
    loaded = load_supernet(checkpoint)
    supernet = loaded.supernet
    assert loaded.config == config and loaded.checkpoint.step == 6 and loaded.space == SPACE
    assert _same_weights(supernet, whole.model)
    assert not resume_state_path(checkpoint).exists()   # finished: no optimizer state kept


def test_resume_refuses_a_different_config(dataset, tmp_path):
    checkpoint = tmp_path / "run.pt"
    train_supernet(dataset, _config(steps=2), checkpoint=checkpoint, space=SPACE)
    with pytest.raises(ConfigError, match="lr"):
        train_supernet(dataset, _config(steps=2, lr=0.5), checkpoint=checkpoint, resume=True, space=SPACE)


def test_load_refuses_files_that_are_not_checkpoints(tmp_path):
    bogus = tmp_path / "bogus.pt"
    torch.save({"hello": 1}, bogus)
    with pytest.raises(ConfigError, match="format"):
        load_checkpoint(bogus)
    with pytest.raises(ConfigError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_subnets_and_batches_depend_only_on_seed_and_step(dataset):
    assert subnet_for_step(SPACE, 1, 7) == subnet_for_step(SPACE, 1, 7)
    assert len({subnet_for_step(SPACE, 1, s).to_json() for s in range(10)}) > 5
    whole = train_batches(dataset, 64, seed=2)
    sequence = [next(whole).label for _ in range(25)]  # crosses an epoch boundary (18 batches each)
    skipped = train_batches(dataset, 64, seed=2, start_step=20)
    assert all(torch.equal(next(skipped).label, expected) for expected in sequence[20:])
    with pytest.raises(DataError, match="fewer than one batch"):
        next(train_batches(dataset, 100_000, seed=0))


def test_training_lowers_the_loss(dataset):
    result = train_supernet(dataset, _config(steps=60, optimizer="adam", lr=0.01), space=SPACE)
    first, last = sum(result.losses[:10]) / 10, sum(result.losses[-10:]) / 10
    assert last < first


def test_cli_train_then_eval(tmp_path):
    from recpim.cli import app

    runner = CliRunner()
    checkpoint = tmp_path / "s.pt"
    trained = runner.invoke(app, ["supernet", "train", "--data", "synthetic:1500", "--space", "small", "--steps", "2",
                                  "--batch-size", "32", "--out", str(checkpoint), "--no-progress", "--json"])
    assert trained.exit_code == 0, trained.output
    assert checkpoint.is_file() and (tmp_path / "s.pt.inputs.json").is_file()
    subnet = "examples/subnet_small_seed0.json"
    evaluated = runner.invoke(app, ["supernet", "eval", str(checkpoint), "--subnet", subnet, "--max-rows", "64",
                                    "--chip-adc-bits", "6", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    import json

    result = json.loads(evaluated.stdout)  # notes on the data go to stderr
    assert {"logloss", "auc"} <= set(result) and result["rows"] == 64
    assert result["crossbar"]["adc_bits"] == 6

"""Issue 26, item 20: supernet and standalone training write TensorBoard scalars (loss, validation
log loss and AUC, learning rate, rows/s) when asked (`--tensorboard DIR`), read back here with
TensorBoard's own event reader; asking for them changes no weight; without the package the option
is refused before any step, naming the extra to install."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from tiny_supernet import SMALL_SCHEMA, small_full_space, tiny_space
from typer.testing import CliRunner

from recpim.arch.model import space as space_module
from recpim.cli import app
from recpim.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()
SPACE = "tensorboard_tiny"
STEPS = 8


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(folder))
    reader.Reload()
    return {tag: [(event.step, event.value) for event in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


@pytest.fixture()
def tiny_registered(monkeypatch):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'recpim[tensorboard]')")
    monkeypatch.setitem(space_module._builtin_spaces(), SPACE, tiny_space(SPACE))


def _train(tmp_path: Path, name: str, *extra: str) -> dict:
    result = runner.invoke(app, ["supernet", "train", "--data", "synthetic:1500", "--space", SPACE, "--steps",
                                 str(STEPS), "--batch-size", "64", "--out", str(tmp_path / f"{name}.pt"),
                                 "--no-progress", "--json", *extra])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_supernet_training_writes_scalars_tensorboard_reads_back(tiny_registered, tmp_path):
    summary = _train(tmp_path, "run", "--tensorboard", str(tmp_path / "tb"), "--tensorboard-every", "4")
    events = scalars(tmp_path / "tb" / "run")
    assert {"train/loss", "train/learning_rate", "train/rows_per_s", "val/logloss", "val/auc"} <= set(events)
    losses = events["train/loss"]
    assert [step for step, _ in losses] == list(range(1, STEPS + 1))
    # the same losses the run reports (its loss curve holds every step of so short a run)
    assert [v for _, v in losses] == pytest.approx([v for _, v in summary["loss_curve"]], rel=1e-6)
    assert all(value > 0 for _, value in events["train/rows_per_s"])
    assert [step for step, _ in events["val/logloss"]] == [4, 8]
    assert all(0.0 < value < 5.0 for _, value in events["val/logloss"])
    assert all(0.0 <= value <= 1.0 for _, value in events["val/auc"])
    lrs = [value for _, value in events["train/learning_rate"]]
    assert lrs[0] == pytest.approx(0.12)          # --lr's default, the rate step 1 used (no warm-up in 8 steps)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False)) and lrs[-1] < lrs[0]   # the cosine decay


def test_asking_for_scalars_changes_no_weight(tiny_registered, tmp_path):
    _train(tmp_path, "plain")
    _train(tmp_path, "logged", "--tensorboard", str(tmp_path / "tb"), "--tensorboard-every", "3")
    plain = torch.load(tmp_path / "plain.pt", weights_only=True)["model"]
    logged = torch.load(tmp_path / "logged.pt", weights_only=True)["model"]
    assert plain.keys() == logged.keys()
    assert all(torch.equal(plain[key], logged[key]) for key in plain)


def test_without_tensorboard_the_option_is_refused_first(tiny_registered, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)     # as if the package were missing
    result = runner.invoke(app, ["supernet", "train", "--data", "synthetic:1500", "--space", SPACE, "--steps", "2",
                                 "--batch-size", "64", "--out", str(tmp_path / "x.pt"), "--tensorboard",
                                 str(tmp_path / "tb"), "--no-progress"])
    assert isinstance(result.exception, ConfigError), result.output
    assert "--tensorboard" in str(result.exception) and "recpim[tensorboard]" in str(result.exception)
    assert not (tmp_path / "x.pt").exists()


def test_standalone_training_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'recpim[tensorboard]')")
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.model.subnet import sample_subnet
    from recpim.arch.train.config import TrainConfig
    from recpim.arch.train.scoring import train_standalone

    space = small_full_space("tensorboard_standalone")
    dataset = open_dataset("synthetic:1500", schema=SMALL_SCHEMA, seed=3)
    subnet = sample_subnet(space, 2)
    config = TrainConfig(data="synthetic:1500", space=space.name, steps=6, batch_size=64)
    train_standalone(subnet, dataset, 6, config=config, max_rows=256, tensorboard=tmp_path / "alone",
                     tensorboard_every=3)
    events = scalars(tmp_path / "alone")
    assert [step for step, _ in events["train/loss"]] == list(range(1, 7))
    assert [step for step, _ in events["val/logloss"]] == [3, 6]

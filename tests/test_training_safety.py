"""Training never throws work away silently: the checkpoint path is checked before the first step,
no `.partial` file outlives a failed save, a non-finite loss stops the run and keeps the last finite
state, `--resume` without a checkpoint is refused, and a checkpoint finds its data from any folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from tiny_supernet import SMALL_SCHEMA, SMALL_TRAIN_DATA, small_full_space, small_train_config
from typer.testing import CliRunner

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.schema import criteo_schema
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.train.checkpoints import load_checkpoint
from recpim.arch.train.loop import TrainConfig, TrainingDivergedError, load_supernet, train_supernet
from recpim.cli import app
from recpim.errors import ConfigError, DataError, RecpimError

SPACE = small_full_space("test_training_safety", num_blocks=2)
SCHEMA = SMALL_SCHEMA
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CRITEO = SHARED_DATA / "criteo" / "criteo_kaggle_train_head10k.tsv.gz"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset():
    return open_dataset(SMALL_TRAIN_DATA, schema=SCHEMA, seed=3)


def _config(**overrides) -> TrainConfig:
    return small_train_config(SPACE, **{"steps": 4, **overrides})


def _no_step_runs(monkeypatch):
    """Fail the test if a training step starts (the refusal must come first)."""
    import recpim.arch.train.loop as training

    def refuse(*args, **kwargs):
        raise AssertionError("a training step ran before the output path was checked")

    monkeypatch.setattr(training, "train_step", refuse)


def test_a_folder_as_checkpoint_is_refused_before_the_first_step(dataset, tmp_path, monkeypatch):
    _no_step_runs(monkeypatch)
    with pytest.raises(ConfigError, match="is a folder") as error:
        train_supernet(dataset, _config(), checkpoint=tmp_path, space=SPACE)
    assert str(tmp_path) in str(error.value)
    assert not list(tmp_path.glob("*.partial"))


def test_an_unwritable_checkpoint_path_is_refused_naming_it(dataset, tmp_path, monkeypatch):
    _no_step_runs(monkeypatch)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="is a file, not a folder") as error:
        train_supernet(dataset, _config(), checkpoint=blocker / "ckpt.pt", space=SPACE)
    assert str(blocker / "ckpt.pt") in str(error.value)
    with pytest.raises(ConfigError, match="not writable"):
        train_supernet(dataset, _config(), checkpoint="/proc/recpim-test-ckpt.pt", space=SPACE)


def test_a_save_that_fails_midway_leaves_no_partial_file(dataset, tmp_path, monkeypatch):
    import recpim.arch.train.loop as training

    def half_written(state, path):
        Path(path).write_bytes(b"\0" * 4096)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training.torch, "save", half_written)
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(RecpimError, match="no space left on device for the checkpoint"):
        train_supernet(dataset, _config(steps=2), checkpoint=checkpoint, space=SPACE)
    assert list(tmp_path.iterdir()) == []


def test_a_non_finite_loss_stops_training_and_keeps_the_last_finite_state(dataset, tmp_path):
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingDivergedError, match="loss is (nan|inf)") as error:
        train_supernet(dataset, _config(steps=40, lr=1e6), checkpoint=checkpoint, space=SPACE)
    assert "last finite" in str(error.value)
    if checkpoint.exists():
        state = load_checkpoint(checkpoint)
        assert state["step"] < 40
        assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_the_cli_exits_non_zero_on_a_non_finite_loss_and_never_says_finished(tmp_path):
    result = CliRunner().invoke(app, ["supernet", "train", "--data", "synthetic:2000", "--space", "small",
                                      "--steps", "30", "--batch-size", "64", "--lr", "1e6", "--no-progress",
                                      "--json", "--out", str(tmp_path / "ckpt.pt")])
    assert result.exit_code != 0
    assert isinstance(result.exception, TrainingDivergedError)
    assert '"finished": true' not in result.output


def test_resume_without_a_checkpoint_is_refused_unless_asked_to_start(dataset, tmp_path):
    checkpoint = tmp_path / "none.pt"
    with pytest.raises(ConfigError, match="--resume-or-start"):
        train_supernet(dataset, _config(), checkpoint=checkpoint, resume=True, space=SPACE)
    assert not checkpoint.exists()
    started = train_supernet(dataset, _config(steps=2), checkpoint=checkpoint, resume=True, start_if_missing=True,
                             space=SPACE)
    assert started.step == 2 and checkpoint.is_file()


def test_the_cli_says_it_starts_fresh_with_resume_or_start(tmp_path):
    result = CliRunner().invoke(app, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps",
                                      "1", "--batch-size", "64", "--no-progress", "--resume-or-start",
                                      "--out", str(tmp_path / "ckpt.pt")])
    assert result.exit_code == 0, result.output
    assert "starts a new run at step 0" in result.output


@pytest.mark.skipif(not CRITEO.is_file(), reason="../shared/data/criteo is absent")
def test_a_checkpoint_finds_its_data_from_another_folder_and_names_data_when_it_is_gone(tmp_path, monkeypatch):
    run_dir, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    (run_dir / "data").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(CRITEO, run_dir / "data" / "head.tsv.gz")
    schema = criteo_schema(vocab_cap=50)
    monkeypatch.chdir(run_dir)
    spec = "criteo:data/head.tsv.gz"                 # relative, as a user types it
    train_supernet(open_dataset(spec, schema=schema, max_rows=2000), _config(data=spec, steps=2),
                   checkpoint="ckpt.pt", space=SPACE)
    saved = load_supernet(run_dir / "ckpt.pt").checkpoint
    assert saved.data == f"criteo:{(run_dir / 'data' / 'head.tsv.gz').resolve()}"
    assert saved.data_fingerprint.size_bytes == CRITEO.stat().st_size

    subnet = elsewhere / "subnet.json"
    subnet.write_text(sample_subnet(SPACE, 0).to_json())
    monkeypatch.chdir(elsewhere)
    command = ["supernet", "eval", str(run_dir / "ckpt.pt"), "--subnet", str(subnet), "--finetune-steps", "0",
               "--max-rows", "64", "--json"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output

    (run_dir / "data" / "head.tsv.gz").rename(run_dir / "moved.tsv.gz")
    result = CliRunner().invoke(app, command)
    assert isinstance(result.exception, DataError)
    message = str(result.exception)
    assert "head.tsv.gz" in message and "--data" in message and "missing" in message

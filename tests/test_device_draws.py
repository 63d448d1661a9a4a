"""Monte-Carlo accuracy over programmed chips (issue 24): spread beside the ideal-cell figure, seeds,
and the CLI's --device-draws."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from tiny_supernet import SMALL_SCHEMA, small_full_space
from typer.testing import CliRunner

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic, DeviceEffects
from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.subnet import sample_subnet
from recpim.arch.train.device_draws import DEFAULT_DEVICE_DRAWS, score_device_draws
from recpim.arch.train.loop import TrainConfig, train_supernet
from recpim.arch.train.scoring import score_subnet
from recpim.errors import ConfigError

SPACE = small_full_space("test_device_draws_full")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset():
    return open_dataset("synthetic:2000", schema=SMALL_SCHEMA, seed=1)


@pytest.fixture(scope="module")
def supernet(dataset):
    config = TrainConfig(space=SPACE.name, steps=20, batch_size=64, optimizer="adam", lr=0.01, seed=0)
    return train_supernet(dataset, config, space=SPACE).model


def _noisy(sigma: float) -> CrossbarArithmetic:
    return CrossbarArithmetic(rows=64, rows_read_at_once=32, adc_bits=7, encoding="differential",
                              device=DeviceEffects(programming_sigma=sigma, chip_seed=100))


def test_draws_report_the_spread_beside_the_ideal_cells(supernet, dataset):
    subnet = sample_subnet(SPACE, 3)
    result = score_device_draws(supernet, subnet, dataset, _noisy(0.5), draws=4, max_rows=256)
    assert result.chip_seeds == (100, 101, 102, 103) and result.draws == 4
    ideal = score_subnet(supernet, subnet, dataset, crossbar=_noisy(0.5).without_device_effects(), max_rows=256)
    assert result.ideal.logloss == ideal.logloss and result.ideal.auc == ideal.auc   # the same chip, ideal cells
    assert len(set(result.loglosses)) == 4                                           # four different chips
    assert result.mean_logloss == pytest.approx(np.mean(result.loglosses))
    assert result.std_logloss == pytest.approx(np.std(result.loglosses, ddof=1)) and result.std_logloss > 0
    assert min(result.loglosses) <= result.pessimistic_logloss <= max(result.loglosses)
    assert result.pessimistic_logloss >= np.median(result.loglosses)
    assert result.pessimistic_auc <= np.median(result.aucs)
    # one draw equals score_subnet on that programmed chip
    one = score_subnet(supernet, subnet, dataset, crossbar=_noisy(0.5).with_chip_seed(102), max_rows=256)
    assert result.loglosses[2] == one.logloss
    # the same seeds again: the same chips
    again = score_device_draws(supernet, subnet, dataset, _noisy(0.5), draws=4, max_rows=256)
    assert again.loglosses == result.loglosses


def test_larger_variation_costs_more_accuracy(supernet, dataset):
    subnet = sample_subnet(SPACE, 4)
    small = score_device_draws(supernet, subnet, dataset, _noisy(0.05), draws=3, max_rows=256)
    large = score_device_draws(supernet, subnet, dataset, _noisy(2.0), draws=3, max_rows=256)
    assert abs(small.mean_logloss - small.ideal.logloss) < abs(large.mean_logloss - large.ideal.logloss)
    assert large.std_logloss > small.std_logloss


def test_draws_refuse_ideal_cells(supernet, dataset):
    with pytest.raises(ConfigError, match="crossbar.nonideal"):
        score_device_draws(supernet, sample_subnet(SPACE, 3), dataset, replace(_noisy(0.5), device=None))
    assert DEFAULT_DEVICE_DRAWS == 10


def test_cli_eval_prints_the_spread(tmp_path):
    from recpim.cli import app

    runner = CliRunner()
    checkpoint = tmp_path / "s.pt"
    trained = runner.invoke(app, ["supernet", "train", "--data", "synthetic:1500", "--space", "small", "--steps", "2",
                                  "--batch-size", "32", "--out", str(checkpoint), "--no-progress", "--json"])
    assert trained.exit_code == 0, trained.output
    chip = tmp_path / "noisy.yaml"
    chip.write_text("name: noisy\nweight_encoding: differential\n"
                    "crossbar: {nonideal: {programming_sigma: 0.3, stuck_at_off_rate: 0.01}}\n")
    common = ["supernet", "eval", str(checkpoint), "--subnet", "examples/subnet_small_seed0.json", "--max-rows", "64",
              "--finetune-steps", "0", "--chip", str(chip)]
    evaluated = runner.invoke(app, [*common, "--device-draws", "2", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.stdout)
    draws = result["device_draws"]
    assert draws["draws"] == 2 and len(draws["loglosses"]) == 2 and draws["std_logloss"] > 0
    assert draws["ideal_logloss"] == result["logloss"] and result["crossbar"]["device"] is None
    assert {"mean_logloss", "pessimistic_logloss", "mean_auc", "pessimistic_auc"} <= set(draws)
    table = runner.invoke(app, [*common, "--device-draws", "2"])
    assert table.exit_code == 0, table.output
    assert "ideal cells" in table.output and "p90" in table.output
    refused = runner.invoke(app, [*common[:-2], "--chip", "isaac", "--device-draws", "2"])
    assert isinstance(refused.exception, ConfigError) and "--device-draws" in str(refused.exception)


# ---- hardware-aware training
def test_weight_noise_matches_the_sliced_cells():
    from recpim.arch.train.hwa import weight_noise_std

    arith = CrossbarArithmetic(cell_bits=2, encoding="differential", device=DeviceEffects(programming_sigma=0.1))
    # 8-bit weights, 4 slices of 2-bit cells, two cells each: 0.1 sqrt(2 (1 + 16 + 256 + 4096)) / 127
    assert weight_noise_std(arith, 8) == pytest.approx(0.1 * (2 * 4369) ** 0.5 / 127)
    assert weight_noise_std(replace(arith, device=None), 8) == 0.0


def test_weight_noise_mode_perturbs_linear_weights_only():
    import torch
    import torch.nn.functional as F

    from recpim.arch.train.hwa import WeightNoiseMode

    x, weight = torch.ones(2000, 4), torch.full((3, 4), 0.5, requires_grad=True)
    with WeightNoiseMode(0.1, torch.Generator().manual_seed(0)):
        noisy = F.linear(x, weight)
        plain = torch.add(x, 1)
    assert torch.equal(plain, x + 1)
    # each call draws one noise matrix: y = x (W + 0.1 * 0.5 z)^T, the same for every row here
    assert noisy.std(dim=1).max() > 0 and noisy.mean() != 2.0
    noisy.sum().backward()
    assert torch.equal(weight.grad, torch.full((3, 4), 2000.0))   # the gradient of the clean weight


def test_supernet_hwa_training_injects_noise_and_zero_noise_is_plain(dataset):
    import torch

    from recpim.arch.train.hwa import train_supernet_hwa

    config = TrainConfig(space=SPACE.name, steps=4, batch_size=64, optimizer="adam", lr=0.01, seed=0)
    plain = train_supernet(dataset, config, space=SPACE).model.state_dict()
    zero = train_supernet_hwa(dataset, config, 0.0, space=SPACE).model.state_dict()
    noisy = train_supernet_hwa(dataset, config, 0.2, space=SPACE).model.state_dict()
    assert all(torch.equal(plain[key], zero[key]) for key in plain)
    assert any(not torch.equal(plain[key], noisy[key]) for key in plain if plain[key].is_floating_point())


def test_cli_supernet_train_hwa(tmp_path):
    import torch

    from recpim.arch.train.checkpoints import read_checkpoint
    from recpim.arch.train.hwa import weight_noise_std
    from recpim.cli import app
    from recpim.mapping.arithmetic import crossbar_arithmetic
    from recpim.pim.presets import load_chip

    runner = CliRunner()
    chip = tmp_path / "noisy.yaml"
    chip.write_text("name: noisy\nweight_encoding: differential\ncrossbar: {nonideal: {programming_sigma: 0.2}}\n")
    common = ["supernet", "train", "--data", "synthetic:1500", "--space", "small", "--steps", "3", "--batch-size", "32",
              "--no-progress", "--json"]

    def train(name: str, *extra: str) -> tuple[dict, dict]:
        out = tmp_path / name / "s.pt"
        result = runner.invoke(app, [*common, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout), read_checkpoint(out).model

    summary, hwa = train("hwa", "--hwa", str(chip))
    # the noise of the chip's cells at the small space's widest weights (8 bits), as the API computes it
    expected = weight_noise_std(crossbar_arithmetic(load_chip(str(chip))), 8)
    assert summary["hwa"]["std"] == pytest.approx(expected) and expected > 0.05
    assert summary["hwa"]["programming_sigma"] == 0.2 and summary["hwa"]["weight_bits"] == 8
    inputs = json.loads((tmp_path / "hwa" / "s.pt.inputs.json").read_text())["inputs"]
    assert inputs["hwa"] == summary["hwa"]                       # saved with the run's resolved inputs
    _, plain = train("plain")
    keys = [key for key, value in plain.items() if value.is_floating_point()]
    assert any(not torch.equal(hwa[k], plain[k]) for k in keys)  # the noise changed the training
    refused = runner.invoke(app, [*common, "--out", str(tmp_path / "ideal" / "s.pt"), "--hwa", "isaac"])
    assert isinstance(refused.exception, ConfigError) and "programming_sigma" in str(refused.exception)
    assert not (tmp_path / "ideal" / "s.pt").exists()

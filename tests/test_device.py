"""--device and --precision: resolution, clear refusals, bf16 training on the CPU, fake quantisation
exact under autocast, checkpoints onto a chosen device; the Ray backend's GPU option is checked."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from recpim.arch.data.datasets import open_dataset
from recpim.arch.model.modules import fake_quantize
from recpim.arch.train.device import PrecisionPolicy, available_devices, resolve_device
from recpim.arch.train.loop import TrainConfig, load_supernet, train_supernet
from recpim.errors import ConfigError
from recpim.search.executor import make_executor

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


def test_auto_and_cpu_resolve_and_bad_names_are_refused_with_the_choices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert available_devices()[0] == "cpu"
    with pytest.raises(ConfigError, match=r"'tpu': allowed are auto \| cpu \| cuda \| cuda:N; available here: cpu"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="allowed are"):
        resolve_device("cuda:x")


@no_cuda
def test_cuda_without_cuda_names_the_devices_available():
    with pytest.raises(ConfigError, match=r"'cuda:1': this torch sees no CUDA device .* available here: cpu$"):
        resolve_device("cuda:1")
    result = CliRunner().invoke(__import__("recpim.cli", fromlist=["app"]).app,
                                ["supernet", "train", "--steps", "1", "--out", "unused.pt", "--device", "cuda"])
    assert isinstance(result.exception, ConfigError) and "available here: cpu" in str(result.exception)


def test_fp16_needs_cuda_and_unknown_precisions_are_refused():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        PrecisionPolicy(torch.device("cpu"), "fp16")
    with pytest.raises(ConfigError, match="allowed are fp32, bf16, fp16"):
        PrecisionPolicy(torch.device("cpu"), "fp8")
    assert PrecisionPolicy(torch.device("cpu"), "bf16").grad_scaler() is None


def test_fake_quantisation_stays_fp32_under_bf16_autocast():
    x = torch.randn(64, 32)
    exact = fake_quantize(x, 4)
    with PrecisionPolicy(torch.device("cpu"), "bf16").autocast():
        low = torch.nn.functional.linear(x, torch.eye(32))  # a bf16 activation, as autocast makes them
        assert low.dtype == torch.bfloat16
        quantised = fake_quantize(low, 4)
    assert quantised.dtype == torch.float32
    torch.testing.assert_close(quantised, fake_quantize(low.float(), 4), rtol=0, atol=0)
    levels = torch.unique(torch.round(exact / (x.abs().max() / 7)))
    assert len(levels) <= 15


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_bf16_training_on_the_cpu_runs_and_the_checkpoint_loads_onto_a_device(tmp_path):
    data = open_dataset("synthetic:800")
    config = TrainConfig(space="small", steps=3, batch_size=64)
    result = train_supernet(data, config, checkpoint=tmp_path / "bf16.pt", device="cpu", precision="bf16")
    fp32 = train_supernet(data, config, checkpoint=tmp_path / "fp32.pt", device="cpu", precision="fp32")
    # bf16 autocast follows the fp32 run step by step (NASRec-Small's first steps swing to log losses near
    # 11 with Adagrad at 0.12, so a fixed bound says less than the fp32 run does)
    assert len(result.losses) == 3 and result.losses == pytest.approx(fp32.losses, rel=0.05)
    assert result.losses != fp32.losses       # the autocast did run in bf16
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # weights stay fp32
    loaded = load_supernet(tmp_path / "bf16.pt", device="auto")
    supernet = loaded.supernet
    assert loaded.checkpoint.step == 3 and next(supernet.parameters()).device.type == resolve_device("auto").type


def test_gpus_per_worker_is_a_ray_option():
    with pytest.raises(ConfigError, match="only with the 'ray' backend"):
        make_executor("local", workers=1, gpus_per_worker=1)
    with pytest.raises(ConfigError, match="allowed: >= 0"):
        make_executor("ray", gpus_per_worker=-1)

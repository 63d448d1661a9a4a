"""Bad arguments to every command: each run ends with rc != 0, no traceback, and a message naming
the file, key or option at fault -- and, where an output path is wrong, before any work is done.

Commands run in-process through the real entry point (recpim.cli.main, which turns recpim's
errors into one-line messages), so the suite stays fast; an exception escaping it counts as a
traceback."""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path

import pytest
from tiny_supernet import tiny_space, train_tiny_supernet

from recpim.cli import main

ROOT = Path(__file__).resolve().parents[1]
SUBNET = ROOT / "examples" / "subnet_small_seed0.json"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """(exit code, stdout + stderr) of `recpim ARGS`; an escaping exception is returned as its traceback."""
    argv = sys.argv
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}   # main() sets them
    sys.argv = ["recpim", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - exactly what the user would see as a traceback
        code, trace = 1, traceback.format_exc()
        captured = capsys.readouterr()
        return code, captured.out + captured.err + trace
    finally:
        sys.argv = argv
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_refused(capsys, args: list, *expected: str) -> str:
    code, output = run_cli(capsys, *args)
    assert code != 0, output
    assert "Traceback" not in output, output
    for text in expected:
        assert text in output, f"{text!r} not in:\n{output}"
    return output


@pytest.fixture
def never_computes(monkeypatch):
    """Make the expensive stages fail loudly: a refused output path must stop the command first."""
    import recpim.api
    import recpim.search.run
    import recpim.search.sweep

    def refuse(*args, **kwargs):
        raise AssertionError("the computation ran before the output path was checked")

    monkeypatch.setattr(recpim.api, "simulate_model", refuse)
    monkeypatch.setattr(recpim.search.sweep, "run_sweep", refuse)
    monkeypatch.setattr(recpim.search.run, "run_search", refuse)


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "a_file.txt"
    path.write_text("a plain file\n")
    return path


# ---- 1, 9, 15: supernet train
def test_train_out_is_a_folder(capsys, tmp_path):
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1",
                            "--out", tmp_path, "--no-progress"], "--out", str(tmp_path), "is a folder")
    assert not list(tmp_path.rglob("*.partial"))


def test_train_out_under_a_file(capsys, a_file):
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1",
                            "--out", a_file / "ckpt.pt", "--no-progress"], "--out", "is a file, not a folder")


def test_train_resume_without_a_checkpoint(capsys, tmp_path):
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1",
                            "--out", tmp_path / "none.pt", "--resume", "--no-progress"],
                   "--resume", "none.pt", "--resume-or-start")


def test_train_with_a_diverging_learning_rate(capsys, tmp_path):
    output = assert_refused(capsys, ["supernet", "train", "--data", "synthetic:2000", "--space", "small", "--steps",
                                     "20", "--batch-size", "64", "--lr", "1e6", "--out", tmp_path / "c.pt",
                                     "--no-progress", "--json"], "training stopped at step", "c.pt")
    assert '"finished": true' not in output
    for path in tmp_path.iterdir():     # hundreds of MB of weights: not kept for pytest's last three runs
        path.unlink()


# ---- 5: outputs checked before computing
def test_sweep_out_is_a_file(capsys, a_file, never_computes):
    assert_refused(capsys, ["sweep", "dlrm", "--chip", "isaac", "--set", "adc.bits=6,8", "--out", a_file],
                   "--out", str(a_file), "is a file")


def test_sweep_cache_dir_is_a_file(capsys, tmp_path, a_file, never_computes):
    assert_refused(capsys, ["sweep", "dlrm", "--chip", "isaac", "--set", "adc.bits=6,8", "--out", tmp_path / "s",
                            "--cache-dir", a_file], "--cache-dir", str(a_file))


def test_simulate_trace_under_a_file(capsys, a_file, never_computes):
    assert_refused(capsys, ["simulate", "dlrm", "--chip", "isaac", "--trace", a_file / "missing" / "t.json"],
                   "--trace", "is a file, not a folder")


def test_simulate_trace_in_a_missing_folder_is_written(capsys, tmp_path):
    trace = tmp_path / "missing" / "dir" / "t.json"
    code, output = run_cli(capsys, "simulate", "mlp3", "--chip", "isaac", "--trace", trace, "--batch", "2")
    assert code == 0, output
    assert json.loads(trace.read_text())


def test_simulate_trace_with_the_analytic_engine(capsys, tmp_path, never_computes):
    assert_refused(capsys, ["simulate", "dlrm", "--chip", "isaac", "--engine", "analytic", "--trace",
                            tmp_path / "t.json"], "--trace", "--engine des")


def test_simulate_out_and_report_are_files(capsys, a_file, never_computes):
    assert_refused(capsys, ["simulate", "dlrm", "--chip", "isaac", "--out", a_file], "--out", "is a file")
    assert_refused(capsys, ["simulate", "dlrm", "--chip", "isaac", "--report", a_file], "--report", "is a file")


def test_graph_out_is_a_folder(capsys, tmp_path):
    assert_refused(capsys, ["graph", "dlrm", "--out", tmp_path], "--out", "is a folder")


def test_space_sample_out_is_a_folder(capsys, tmp_path):
    assert_refused(capsys, ["space", "sample", "--out", tmp_path], "--out", "is a folder")


def test_search_out_is_a_file(capsys, a_file, never_computes):
    assert_refused(capsys, ["search", "--supernet", "x.pt", "--budget", "2", "--out", a_file], "--out", "is a file")


def test_report_out_is_a_file(capsys, tmp_path, a_file, cost_report):
    result = tmp_path / "cost.json"
    result.write_text(json.dumps(cost_report.to_json_dict()))
    assert_refused(capsys, ["report", result, "--out", a_file], "--out", "is a file")


# ---- 18: no tracebacks
def test_search_study_that_is_not_sqlite(capsys, a_file):
    assert_refused(capsys, ["search", "--resume", "--study", a_file], "--study", str(a_file), "not an SQLite")


def test_report_of_an_incomplete_cost_report(capsys, tmp_path, cost_report):
    data = cost_report.to_json_dict()
    del data["model"]
    path = tmp_path / "incomplete.json"
    path.write_text(json.dumps(data))
    assert_refused(capsys, ["report", path], "incomplete.json", "model", "missing")


def test_report_of_a_cost_report_with_wrong_types(capsys, tmp_path, cost_report):
    data = cost_report.to_json_dict()
    data["energy_pj_by_layer"], data["batch"] = "lots", "eight"
    path = tmp_path / "types.json"
    path.write_text(json.dumps(data))
    assert_refused(capsys, ["report", path], "types.json", "energy_pj_by_layer", "batch")


def test_report_of_an_incomplete_sweep(capsys, tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"kind": "sweep", "settings": {"adc.bits": [4]}, "points": [{"index": 0}]}))
    assert_refused(capsys, ["report", path], "sweep.json", "model", "points.0.settings")


# ---- issue 26: tracebacks, unclear errors, absurd sizes and coercions (each failed before the fix)
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A 20-step supernet of a 3-block space (a few seconds), shared by the checkpoint and search cases."""
    return train_tiny_supernet(tiny_space("bad_input_tiny"), tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_subnet(tiny_checkpoint) -> Path:
    from recpim.arch.model.subnet import sample_subnet
    from recpim.arch.train.checkpoints import read_checkpoint

    path = tiny_checkpoint.with_name("subnet.json")
    path.write_text(sample_subnet(read_checkpoint(tiny_checkpoint).space, 0).to_json())
    return path


def avazu_file(path: Path, rows: int = 60) -> Path:
    """A small well-formed Avazu CSV (23 sparse fields, no dense one)."""
    from recpim.arch.data.formats import AVAZU_COLUMNS

    lines = [",".join(AVAZU_COLUMNS)]
    for row in range(rows):
        lines.append(",".join([str(row), str(row % 2), "14102100", *[f"v{(row * 7 + k) % 5}" for k in range(21)]]))
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def test_4_search_data_of_another_schema_is_refused_before_dispatch(capsys, tmp_path, tiny_checkpoint):
    data = avazu_file(tmp_path / "avazu.csv")
    assert_refused(capsys, ["search", "--supernet", tiny_checkpoint, "--budget", "2", "--data", f"avazu:{data}",
                            "--out", tmp_path / "s", "--backend", "serial", "--no-report"],
                   "--data", "avazu.csv", "sparse fields", "schema", str(tiny_checkpoint))


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_7_seeds_outside_the_range_numpy_and_torch_take(capsys, tmp_path, seed):
    for args in (["space", "sample", "--seed", seed],
                 ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1", "--seed", seed,
                  "--out", tmp_path / "c.pt", "--no-progress"],
                 ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1", "--data-seed",
                  seed, "--out", tmp_path / "c.pt", "--no-progress"]):
        assert_refused(capsys, args, "--seed" if "--seed" in args else "--data-seed")
    assert not (tmp_path / "c.pt").exists()


def test_7_a_train_config_refuses_a_negative_seed():
    from recpim.arch.train.config import TrainConfig
    from recpim.errors import ConfigError

    with pytest.raises(ConfigError, match="seed"):
        TrainConfig(seed=-1)


def test_8_a_checkpoint_with_a_tensor_of_the_wrong_shape(capsys, tmp_path, tiny_checkpoint, tiny_subnet):
    import torch

    state = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    name = next(key for key, tensor in state["model"].items() if tensor.ndim == 2)
    state["model"][name] = torch.zeros(3, 3)
    damaged = tmp_path / "damaged.pt"
    torch.save(state, damaged)
    assert_refused(capsys, ["supernet", "eval", damaged, "--subnet", tiny_subnet, "--finetune-steps", "0"],
                   "damaged.pt", name, "(3, 3)")


@pytest.mark.parametrize("content", [b"", b"\x13\x37" * 2000], ids=["empty", "random"])
def test_8_an_empty_or_random_file_is_not_a_recpim_checkpoint(capsys, tmp_path, tiny_subnet, content):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(content)
    output = assert_refused(capsys, ["supernet", "eval", path, "--subnet", tiny_subnet], "ckpt.pt",
                            "not a recpim checkpoint")
    assert "mmap" not in output


def test_9_a_study_url_without_its_database_driver_names_the_package(capsys, tmp_path, tiny_checkpoint):
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg is installed here: the driver is not missing")
    assert_refused(capsys, ["search", "--supernet", tiny_checkpoint, "--budget", "2", "--out", tmp_path / "s",
                            "--study", "postgresql://user:secret@localhost/recpim"],
                   "--study", "pip install psycopg[binary]")
    assert "secret" not in capsys.readouterr().err


def test_10_a_binary_file_as_data(capsys, tmp_path):
    data = tmp_path / "weights.bin"
    data.write_bytes(bytes(range(256)) * 64)
    output = assert_refused(capsys, ["supernet", "train", "--data", f"criteo:{data}", "--space", "small", "--steps",
                                     "1", "--out", tmp_path / "c.pt", "--no-progress"],
                            "weights.bin", "not a text file")
    assert "Exception ignored" not in output and "UnicodeDecodeError" not in output


def test_11_demo_out_is_a_file(capsys, a_file):
    assert_refused(capsys, ["demo", "--out", a_file], "--out", str(a_file), "is a file")


def test_12_report_of_a_sweep_point_without_figures(capsys, tmp_path):
    point = {"index": 0, "settings": {"adc.bits": 4}, "status": "ok"}
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"kind": "sweep", "model": "mlp3", "chip": "isaac", "engine": "analytic", "batch": 8,
                                "settings": {"adc.bits": [4]}, "points": [point]}))
    assert_refused(capsys, ["report", path], "sweep.json", "points.0.figures", "energy_pj_per_inference")


def test_16_absurd_sizes_are_refused_before_work(capsys, tmp_path):
    assert_refused(capsys, ["simulate", "mlp3", "--chip", "isaac", "--engine", "des", "--batch", "1000000000000"],
                   "--batch")
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps",
                            "9223372036854775807", "--out", tmp_path / "c.pt", "--no-progress"], "--steps")


def test_16_a_simulator_batch_of_days_is_refused_with_its_estimate(capsys):
    output = assert_refused(capsys, ["simulate", "mlp3", "--chip", "isaac", "--engine", "des", "--batch",
                                     "900000000"], "--batch", "the simulator would run for about", "--engine analytic")
    assert " h " in output


def test_16_score_rows_beyond_the_validation_split_is_told(capsys, tmp_path, tiny_checkpoint):
    code, output = run_cli(capsys, "search", "--supernet", tiny_checkpoint, "--budget", "1", "--out", tmp_path / "s",
                           "--backend", "serial", "--no-report", "--finetune-steps", "0", "--score-rows",
                           "1000000000")
    assert code == 0, output
    assert "Traceback" not in output
    assert "--score-rows 1,000,000,000 is more than the validation split" in output, output


def test_17_strings_are_not_coerced_into_chip_numbers_or_switches(capsys, tmp_path):
    chip = tmp_path / "chip.yaml"
    chip.write_text('name: strict\ncrossbar:\n  analog_subtraction: "yes"\nadc:\n  bits: "8"\n')
    assert_refused(capsys, ["chip", chip], "chip.yaml", "crossbar.analog_subtraction", "'yes'", "adc.bits", "'8'")
    # full-width digits are digits to Python's int(), not to a chip
    assert_refused(capsys, ["sweep", "mlp3", "--chip", "isaac", "--set", "adc.bits=\uff18,6", "--out", tmp_path / "s"],
                   "adc.bits", "\uff18")


def test_17_a_bool_or_a_string_is_not_an_int_in_python_either():
    from recpim.errors import ConfigError
    from recpim.pim.presets import load_chip

    chip = load_chip("isaac")
    for value in (True, "128", 128.5):
        with pytest.raises(ConfigError, match="crossbar.rows"):
            chip.with_overrides({"crossbar.rows": value})
    assert chip.with_overrides({"crossbar.read_latency_ns": 50}).crossbar.read_latency_ns == 50   # an int is a number


def test_17_an_empty_device_is_not_the_cpu(capsys, tmp_path):
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1",
                            "--device", "", "--out", tmp_path / "c.pt", "--no-progress"], "device", "empty")


def test_17_an_unknown_kind_is_not_rendered_as_a_cost_report(capsys, tmp_path, cost_report):
    path = tmp_path / "banana.json"
    path.write_text(json.dumps({**cost_report.to_json_dict(), "kind": "banana"}))
    assert_refused(capsys, ["report", path], "kind", "banana", "cost_report")


def test_17_resume_and_resume_or_start_together(capsys, tmp_path):
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1",
                            "--resume", "--resume-or-start", "--out", tmp_path / "c.pt", "--no-progress"],
                   "--resume", "--resume-or-start")
    assert not (tmp_path / "c.pt").exists()


def test_17_simulate_out_with_a_json_name_writes_that_file(capsys, tmp_path):
    out = tmp_path / "sim.json"
    code, output = run_cli(capsys, "simulate", "mlp3", "--chip", "isaac", "--engine", "analytic", "--out", out)
    assert code == 0, output
    assert out.is_file() and json.loads(out.read_text())["kind"] == "cost_report"
    assert json.loads((tmp_path / "sim.inputs.json").read_text())["inputs"]["engine"] == "analytic"


def test_17_sweep_of_an_unknown_model_key_names_the_model_keys(capsys, tmp_path):
    output = assert_refused(capsys, ["sweep", "mlp3", "--chip", "isaac", "--set", "model.depth=1,2", "--out",
                                     tmp_path / "s"], "model.depth", "model.weight_bits", "model.activation_bits")
    assert "unknown key 'model' in the chip" not in output


def test_2_search_outputs_on_a_full_disk_say_what_failed_and_that_resume_writes_them(capsys, tmp_path,
                                                                                      tiny_checkpoint, monkeypatch):
    import errno

    import recpim.reports.search_outputs

    def full(result, out, report=True):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "pareto_front.png"))

    monkeypatch.setattr(recpim.reports.search_outputs, "write_search_outputs", full)
    output = assert_refused(capsys, ["search", "--supernet", tiny_checkpoint, "--budget", "1", "--out", tmp_path / "s",
                                     "--backend", "serial", "--finetune-steps", "0"],
                            "pareto_front.png", "no space left on device", "--resume --study", "nothing is evaluated "
                            "again")
    assert "OSError" not in output


# ---- 14: impossible numbers and links leaving the result's folder (recpim/reports/checks.py)
@pytest.mark.parametrize("key, value", [("energy_pj_per_inference", -5.0), ("latency_ns_per_inference", "NaN"),
                                        ("area_mm2", -1.0)])
def test_14_report_of_a_cost_report_with_impossible_numbers(capsys, tmp_path, cost_report, key, value):
    path = tmp_path / "impossible.json"
    text = json.dumps({**cost_report.to_json_dict(), key: 0.0}).replace(f'"{key}": 0.0', f'"{key}": {value}')
    path.write_text(text)
    assert_refused(capsys, ["report", path], "impossible.json", key, "finite number >= 0")


def test_14_report_of_a_breakdown_that_does_not_sum(capsys, tmp_path, cost_report):
    data = cost_report.to_json_dict()
    first = next(iter(data["energy_pj_by_component"]))
    data["energy_pj_by_component"][first] *= 3
    path = tmp_path / "nosum.json"
    path.write_text(json.dumps(data))
    assert_refused(capsys, ["report", path], "nosum.json", "energy_pj_by_component", "adds up to")


def test_14_report_of_a_sweep_over_a_key_that_does_not_exist(capsys, tmp_path):
    from recpim.search.sweep_result import METRICS, SweepPoint, SweepResult

    points = [SweepPoint(i, {"banana.bits": b}, "ok", figures={m: 1.0 + i for m in METRICS}) for i, b in
              enumerate([4, 8])]
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(SweepResult("dlrm", "isaac", "analytic", 64, {"banana.bits": [4, 8]},
                                           points).to_json_dict()))
    assert_refused(capsys, ["report", path], "sweep.json", "banana.bits")


def test_14_report_of_a_front_point_linking_out_of_its_folder(capsys, tmp_path):
    path = tmp_path / "front.json"
    path.write_text(json.dumps({"kind": "search_front", "points": [
        {"subnet_id": "c1", "logloss": 0.45, "energy_pj_per_inference": 1e5, "latency_ns_per_inference": 2e3,
         "report": "../../../../etc/passwd"}]}))
    assert_refused(capsys, ["report", path], "front.json", "points[0].report", "../../../../etc/passwd",
                   "inside")

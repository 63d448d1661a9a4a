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

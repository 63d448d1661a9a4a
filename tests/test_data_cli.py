"""Commands that read data say how many rows were bad and where, stop above --max-bad-rows-fraction,
and name a truncated gzip file instead of printing a bare "Aborted."."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ctr_samples import CRITEO, DATA
from typer.testing import CliRunner

from recpim.cli import app
from recpim.errors import DataError

needs_data = pytest.mark.skipif(not CRITEO.is_file(), reason=f"real Criteo sample not found under {DATA.resolve()}")
TRAIN = ["supernet", "train", "--space", "small", "--steps", "2", "--batch-size", "32", "--no-progress", "--json"]


def criteo_with_bad_rows(tmp_path: Path) -> Path:
    """The first 200 sample rows with 4 bad ones (2 %): lines 3, 50, 51 and 199."""
    with gzip.open(CRITEO, "rb") as handle:
        lines = [handle.readline() for _ in range(200)]
    for index in (2, 49, 50, 198):
        lines[index] = b"oops\n"
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"".join(lines))
    return path


@needs_data
def test_train_stops_above_the_bad_row_fraction_and_reports_them_below(tmp_path):
    path = criteo_with_bad_rows(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, [*TRAIN, "--data", f"criteo:{path}", "--out", str(tmp_path / "a.pt")])
    assert isinstance(result.exception, DataError)
    assert "too many bad rows, 4 of 200 read (2.00%)" in str(result.exception)
    assert f"{path}:3: expected 40 columns" in str(result.exception)
    result = runner.invoke(app, [*TRAIN, "--data", f"criteo:{path}", "--out", str(tmp_path / "b.pt"),
                                 "--max-bad-rows-fraction", "0.05", "--device", "cpu", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the notes on the data go to stderr
    assert (summary["bad_rows"], summary["device"], summary["precision"], summary["ranks"]) == (4, "cpu", "fp32", 1)
    assert "196 good rows, 4 bad row(s) skipped (2.000%)" in result.output
    assert f"{path}:3, {path}:50, {path}:51, {path}:199" in result.output


@needs_data
def test_truncated_gzip_is_named_not_aborted(tmp_path):
    truncated = tmp_path / "cut.tsv.gz"
    truncated.write_bytes(CRITEO.read_bytes()[:200_000])
    env = {**os.environ, "RECPIM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "recpim", *TRAIN, "--data", f"criteo:{truncated}",
                           "--out", str(tmp_path / "c.pt")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Aborted" not in done.stderr + done.stdout
    assert f"error: {truncated}: the gzip stream is truncated or corrupt" in done.stderr
    assert "compressed bytes read" in done.stderr and "after line " in done.stderr


@needs_data
def test_search_checks_its_data_before_starting_workers(tmp_path):
    path = criteo_with_bad_rows(tmp_path)
    runner = CliRunner()
    checkpoint = tmp_path / "s.pt"
    trained = runner.invoke(app, [*TRAIN, "--data", f"criteo:{path}", "--max-bad-rows-fraction", "0.05",
                                  "--out", str(checkpoint)])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(app, ["search", "--supernet", str(checkpoint), "--data", f"criteo:{path}", "--budget", "2",
                                 "--backend", "serial", "--out", str(tmp_path / "search"), "--json"])
    assert isinstance(result.exception, DataError)
    assert "too many bad rows, 4 of 200 read" in str(result.exception)
    assert not (tmp_path / "search" / "study.db").exists()  # stopped before the study was created
    result = runner.invoke(app, ["search", "--supernet", str(checkpoint), "--data", f"criteo:{path}", "--budget", "2",
                                 "--backend", "serial", "--out", str(tmp_path / "search"), "--no-report",
                                 "--score-rows", "16", "--finetune-steps", "0", "--max-bad-rows-fraction", "0.05"])
    assert result.exit_code == 0, result.output
    assert "196 good rows, 4 bad row(s) skipped" in result.output


@pytest.fixture
def never_parses(monkeypatch):
    from recpim.arch.data import formats

    def no_parsing(self, report):
        raise AssertionError("the data were parsed before --data-cache was checked")
        yield  # pragma: no cover

    monkeypatch.setattr(formats.TextFileSource, "iter_chunks", no_parsing)


@needs_data
@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize("where", ["a file", "under a file", "in /proc", "RECPIM_DATA_CACHE a file"])
def test_a_bad_data_cache_is_refused_before_the_data_are_read(tmp_path, never_parses, command, where):
    from recpim.errors import ConfigError

    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    folder = {"a file": a_file, "under a file": a_file / "cache", "in /proc": Path("/proc/recpim-cache"),
              "RECPIM_DATA_CACHE a file": a_file}[where]
    env = {"RECPIM_DATA_CACHE": str(folder)} if where.startswith("RECPIM") else {}
    option = [] if env else ["--data-cache", str(folder)]
    args = ([*TRAIN, "--data", f"criteo:{CRITEO}", "--out", str(tmp_path / "a.pt")] if command == "train" else
            ["supernet", "eval", str(tmp_path / "none.pt"), "--subnet", str(tmp_path / "none.json"),
             "--data", f"criteo:{CRITEO}"])
    result = CliRunner().invoke(app, [*args, *option], env=env)
    assert isinstance(result.exception, ConfigError), result.output
    message = str(result.exception)
    assert "invalid --data-cache (or RECPIM_DATA_CACHE)" in message and str(folder) in message
    assert not (tmp_path / "a.pt").exists()


@needs_data
def test_a_bad_data_cache_is_a_message_not_a_traceback(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    env = {**os.environ, "RECPIM_THREADS": "1", "RECPIM_DATA_CACHE": str(a_file)}
    done = subprocess.run([sys.executable, "-m", "recpim", *TRAIN, "--data", f"criteo:{CRITEO}",
                           "--out", str(tmp_path / "c.pt")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    assert f"error: invalid --data-cache (or RECPIM_DATA_CACHE): 1 problem(s)\n  {a_file}: is a file" in done.stderr


@needs_data
def test_training_on_a_damaged_cache_rebuilds_it_and_says_so(tmp_path):
    path = criteo_with_bad_rows(tmp_path)
    cache = tmp_path / "cache"
    args = [*TRAIN, "--data", f"criteo:{path}", "--max-bad-rows-fraction", "0.05", "--data-cache", str(cache)]
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a.pt")])
    assert first.exit_code == 0, first.output
    (entry,) = list(cache.iterdir())
    sparse = entry / "sparse.bin"
    sparse.write_bytes(sparse.read_bytes()[: sparse.stat().st_size // 2])
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "b.pt")])
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())
    assert f"data cache entry {entry} is damaged (sparse.bin has" in said and f"rebuilding it from {path}" in said
    assert json.loads(again.stdout)["bad_rows"] == 4 and (entry / "meta.json").is_file()

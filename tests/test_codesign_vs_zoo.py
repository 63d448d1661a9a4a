"""bench_codesign.py --vs-zoo keeps every standalone result on disk as it is made: an interrupted
comparison resumes without training a model twice, and a different recipe never reads another's figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _runs_class():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from codesign_vs_zoo import StandaloneRuns
    finally:
        sys.path.pop(0)
    return StandaloneRuns


def test_standalone_runs_resume_without_retraining(tmp_path):
    runs_class = _runs_class()
    path = tmp_path / "standalone_runs.json"
    calls = []

    def train(value):
        def job():
            calls.append(value)
            return {"logloss": value, "logloss_test": value + 0.01}
        return job

    subnet = {"space": "s", "blocks": [{"dense_op": "fc", "dense_width": 32}]}
    runs = runs_class(path, "synthetic:1000", 0, 100, {"lr": 0.003}, None)
    assert runs.get(subnet, 0, train(0.5)) == {"logloss": 0.5, "logloss_test": 0.51}
    assert runs.get("dlrm", 0, train(0.6))["logloss"] == 0.6
    assert runs.get(subnet, 1, train(0.7))["logloss"] == 0.7          # another seed is another run
    assert calls == [0.5, 0.6, 0.7]
    assert not path.with_suffix(".partial").exists() and len(json.loads(path.read_text())) == 3

    # a new process (the rerun after an interruption) reads them back and trains nothing
    again = runs_class(path, "synthetic:1000", 0, 100, {"lr": 0.003}, None)
    assert again.get(subnet, 0, train(9.0))["logloss"] == 0.5
    assert again.get("dlrm", 0, train(9.0))["logloss_test"] == 0.61
    assert calls == [0.5, 0.6, 0.7]

    # other steps, another recipe, other rows or data: the stored figures do not apply
    for scope in (("synthetic:1000", 0, 200, {"lr": 0.003}, None), ("synthetic:1000", 0, 100, {"lr": 0.01}, None),
                  ("synthetic:1000", 0, 100, {"lr": 0.003}, 4096), ("synthetic:1000", 1, 100, {"lr": 0.003}, None)):
        assert runs_class(path, *scope).get(subnet, 0, train(0.8))["logloss"] == 0.8
    assert calls == [0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8]

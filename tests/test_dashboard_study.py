"""Issue 26, item 19: a search's Optuna study opens in optuna-dashboard with no recpim code. Read
with Optuna's own API (no server): the objectives are named, each candidate is one trial, each
trial carries its config (subnet and chip knobs) and id, and the study names every front point's
report pages (trials are immutable once complete, so the pages, written after the search, are
the study's attribute, keyed by the trials' subnet_id)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from tiny_supernet import tiny_space, train_tiny_supernet

from recpim.arch.model.subnet import SubnetConfig
from recpim.pim.presets import load_chip
from recpim.reports.search_outputs import REPORTS_ATTR, write_search_outputs
from recpim.search.evolution import EvolutionSettings
from recpim.search.objectives import PARETO_METRICS, Objective
from recpim.search.run import resolve_settings, run_search
from recpim.search.study import STUDY_NAME

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPACE = tiny_space("dashboard_tiny")
BUDGET = 5


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    checkpoint = train_tiny_supernet(SPACE, folder)
    chip = load_chip("isaac").with_overrides({"name": "isaac-4tiles", "chip.tiles": 4, "chip.mesh_rows": 2,
                                              "chip.mesh_cols": 2})
    settings = resolve_settings(chip, checkpoint, chip_ranges={"adc.bits": (6, 8)},
                                evolution=EvolutionSettings(population=3, sample=2, children=2, seed=1),
                                objective=Objective(kind="pareto"), accuracy="quant", score_rows=128,
                                finetune_steps=0, batch=8)
    study = folder / "study.db"
    result = run_search(settings, BUDGET, study, backend="serial", progress=False)
    write_search_outputs(result, folder / "out")
    return result, optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{study.resolve()}"), folder / "out"


def test_objectives_are_named(searched):
    _, study, _ = searched
    assert study.metric_names == list(PARETO_METRICS)
    assert [d.name for d in study.directions] == ["MINIMIZE"] * len(PARETO_METRICS)


def test_one_trial_per_candidate_with_its_config(searched):
    result, study, _ = searched
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.user_attrs["candidate_index"] for t in trials) == list(range(BUDGET))
    by_index = {r.index: r for r in result.history}
    for trial in trials:
        record = by_index[trial.user_attrs["candidate_index"]]
        assert trial.user_attrs["subnet_id"] == f"c{record.index}"
        config = trial.user_attrs["config"]
        assert SubnetConfig.from_dict(config["subnet"], space=SPACE) == record.candidate.subnet
        assert config["chip_knobs"] == dict(record.candidate.chip_knobs)
        assert trial.params["chip.adc.bits"] == record.candidate.chip_knobs["adc.bits"]


def test_the_study_names_every_front_points_reports(searched):
    result, study, out = searched
    reports = study.user_attrs[REPORTS_ATTR]
    assert set(reports) == {f"c{r.index}" for r in result.front if r.index in result.front_reports}
    assert reports, "the front has at least one simulated point"
    for pages in reports.values():
        for path in pages.values():
            assert Path(path).is_absolute() and Path(path).is_file() and Path(path).is_relative_to(out.resolve())
    assert Path(study.user_attrs["recpim_outputs"]) == out.resolve()


def _dashboard_get(app, path: str) -> dict:
    from wsgiref.util import setup_testing_defaults

    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, REQUEST_METHOD="GET")
    status = {}
    body = b"".join(app(environ, lambda code, headers, exc_info=None: status.update(code=code)))
    assert status["code"].startswith("200"), (path, status, body[:500])
    return json.loads(body)


def test_the_dashboard_reads_the_study(searched):
    """optuna-dashboard's own server code (its WSGI app, called in-process: no server, no network)
    reads the names, one trial per candidate and the attributes (the extra `recpim[dashboard]`)."""
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard not installed (pip install 'recpim[dashboard]')")
    from optuna_dashboard import wsgi

    _, study, _ = searched
    app = wsgi(study._storage)
    detail = _dashboard_get(app, f"/api/studies/{study._study_id}")
    assert detail["objective_names"] == list(PARETO_METRICS)
    assert len(detail["trials"]) == BUDGET
    for trial in detail["trials"]:
        keys = {attr["key"] for attr in trial["user_attrs"]}
        assert {"subnet_id", "config", "candidate_index", "logloss"} <= keys
    assert REPORTS_ATTR in {attr["key"] for attr in detail["user_attrs"]}

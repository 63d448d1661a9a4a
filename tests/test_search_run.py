"""The co-search end to end on a tiny supernet trained here: real supernet scores (quantised and on
simulated crossbars), the real cost model, the Optuna study, outputs with simulator reports, the
CLI, a SIGKILLed run resumed to the same end, and the same search on a local pool and on Ray."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_services import local_ray_head
from tiny_supernet import tiny_space, train_tiny_supernet
from typer.testing import CliRunner

from recpim.cli import app
from recpim.pim.presets import load_chip
from recpim.reports.search_outputs import write_search_outputs
from recpim.search.evolution import EvolutionSettings
from recpim.search.objectives import Budgets, Objective, non_dominated_ranks
from recpim.search.run import SearchSettings, resolve_settings, run_search

TINY = tiny_space("search_tiny")
BUDGET = 12
SIZES = dict(population=4, sample=2, children=2, seed=3)
RANGES = {"adc.bits": (6, 7, 8)}
RECPIM = [sys.executable, "-c", "from recpim.cli import main; main()"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: small torch ops on one thread


def small_isaac():
    """ISAAC's tiles on a 2x2 mesh: the tiny models fit many times over, yet replication stays cheap to map."""
    return load_chip("isaac").with_overrides({"name": "isaac-4tiles", "chip.tiles": 4, "chip.mesh_rows": 2,
                                              "chip.mesh_cols": 2})


@pytest.fixture(scope="module")
def chip_yaml(tmp_path_factory) -> Path:
    import yaml

    path = tmp_path_factory.mktemp("chip") / "isaac4.yaml"
    path.write_text(yaml.safe_dump(small_isaac().model_dump(mode="json")))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A supernet of a 3-block space trained for 20 steps (a few seconds)."""
    return train_tiny_supernet(TINY, tmp_path_factory.mktemp("supernet"))


@pytest.fixture(scope="module")
def isaac_settings(checkpoint) -> SearchSettings:
    return resolve_settings(small_isaac(), checkpoint, chip_ranges=RANGES, evolution=EvolutionSettings(**SIZES),
                            objective=Objective(kind="pareto"), accuracy="crossbar", score_rows=256, batch=16)


@pytest.fixture(scope="module")
def reference(isaac_settings, tmp_path_factory):
    """An uninterrupted serial run: what every other way of running the same search must reproduce."""
    study = tmp_path_factory.mktemp("reference") / "study.db"
    return run_search(isaac_settings, BUDGET, study, backend="serial", progress=False)


def summary(result) -> dict:
    """What must be reproducible: candidates, their metrics, the final population and front."""
    return {"candidates": [r.candidate.key() for r in result.history],
            "logloss": [round(r.metrics.logloss if r.metrics and r.metrics.scored else -1.0, 9)
                        for r in result.history],
            "energy": [round(r.metrics.energy_pj_per_inference if r.metrics else -1.0, 6) for r in result.history],
            "population": [r.index for r in result.population], "front": [r.index for r in result.front]}


def test_search_evaluates_every_candidate_and_keeps_a_true_front(reference, isaac_settings):
    assert [r.index for r in reference.history] == list(range(BUDGET))
    assert reference.counts()["errors"] == 0
    feasible = [r for r in reference.history if r.feasible]
    assert feasible and all(0 < r.metrics.logloss < 5 and 0 <= r.metrics.auc <= 1 for r in feasible)
    assert all(r.metrics.score_rows == 256 for r in feasible)
    assert all(r.candidate.chip_knobs["adc.bits"] in RANGES["adc.bits"] for r in reference.history)
    # The population is the newest members (aging), sized as asked.
    assert [r.index for r in reference.population] == list(range(BUDGET - 4, BUDGET))
    # The front is exactly the rank-0 set of the feasible candidates (distinct points).
    points = [[getattr(r.metrics, m) for m in ("logloss", "energy_pj_per_inference", "latency_ns_per_inference")]
              for r in feasible]
    ranks = non_dominated_ranks(points)
    rank0 = {tuple(p) for p, rank in zip(points, ranks, strict=True) if rank == 0}
    assert {tuple(getattr(r.metrics, m) for m in ("logloss", "energy_pj_per_inference", "latency_ns_per_inference"))
            for r in reference.front} == rank0
    # Children descend from the population their generation began with (the 4 newest candidates).
    for r in reference.history:
        start = isaac_settings.evolution.generation_indices(isaac_settings.evolution.generation_of(r.index)).start
        assert (r.parent is None) == (r.index < 4) and (r.parent is None or start - 4 <= r.parent < start)
        assert r.duplicate_of is None or r.duplicate_of < r.index
    best = [value for _, value in reference.best_so_far]
    assert best == sorted(best, reverse=True) and best[-1] == min(r.metrics.logloss for r in feasible)


def test_narrower_adc_costs_accuracy_on_the_same_subnet(reference):
    """The accuracy signal is hardware-aware: the chip's ADC bits change the score of a subnet."""
    from recpim.search.evaluate import EvalContext, evaluate_candidate, worker_state

    settings = reference.settings
    state = worker_state(EvalContext(**{**settings.eval_context().__dict__, "score_rows": 256}))
    subnet = reference.history[0].candidate.subnet
    from recpim.search.candidate import Candidate

    scores = {bits: evaluate_candidate(state, 0, Candidate(subnet=subnet, chip_knobs={"adc.bits": bits}))
              for bits in (4, 8)}
    assert scores[4].metrics.logloss != scores[8].metrics.logloss
    assert scores[4].metrics.energy_pj_per_inference < scores[8].metrics.energy_pj_per_inference


def test_infeasible_candidates_are_recorded_and_never_stop_the_search(checkpoint, tmp_path):
    settings = resolve_settings(small_isaac(), checkpoint, evolution=EvolutionSettings(**SIZES),
                                objective=Objective(kind="reward", budgets=Budgets(crossbars=18)), accuracy="quant",
                                score_rows=128)
    result = run_search(settings, 6, tmp_path / "study.db", backend="serial", progress=False)
    statuses = {r.status for r in result.history}
    assert "infeasible" in statuses and result.counts()["errors"] == 0
    for record in result.history:
        if record.status == "infeasible":
            assert record.metrics.crossbars_footprint > 18 and record.violation > 0
            assert "over budget: crossbars" in record.message and record.metrics.logloss is None
        else:
            assert record.metrics.crossbars_footprint <= 18
    trials = {t.user_attrs["candidate_index"]: t.state.name for t in _trials(tmp_path / "study.db")}
    assert trials == {r.index: "COMPLETE" if r.feasible else "FAIL" for r in result.history}


def _trials(path: Path):
    import optuna

    return optuna.load_study(study_name="recpim-search", storage=f"sqlite:///{path}").get_trials()


def test_outputs_hold_the_front_top_k_and_a_simulator_report_per_front_point(reference, tmp_path):
    files = write_search_outputs(reference, tmp_path)
    front_file = json.loads(Path(files["front_json"]).read_text())
    assert front_file["kind"] == "search_front"
    front = front_file["points"]
    assert [p["index"] for p in front] == [r.index for r in reference.front]
    for point in front:
        report = json.loads((tmp_path / point["report"]).read_text())
        assert report["kind"] == "cost_report" and (tmp_path / point["breakdown"]).name == "breakdown.html"
        assert (tmp_path / point["breakdown"]).is_file()
        assert report["engine"] == "des" and report["energy_pj_per_inference"] > 0
        assert point["des_latency_ns_per_inference"] == report["latency_ns_per_inference"]
        # Both engines price the same activity: dynamic energy agrees; time-dependent parts may differ.
        record = next(r for r in reference.front if r.index == point["index"])
        assert report["dynamic_energy_pj_per_inference"] == pytest.approx(
            record.metrics.energy_pj_per_inference, rel=0.05)
    assert Path(files["front_csv"]).read_text().splitlines()[0].startswith("index,subnet_id,logloss")
    top_k = json.loads(Path(files["top_k_json"]).read_text())
    assert top_k["kind"] == "search_top_k" and len(top_k["points"]) == min(10, reference.counts()["feasible"])
    assert json.loads(Path(files["study"]).read_text())["study"] == reference.study
    assert json.loads(Path(files["inputs"]).read_text())["inputs"]["search"]["evolution"]["seed"] == SIZES["seed"]
    assert Path(files["report_html"]).is_file()


def _cli_args(checkpoint: Path, out: Path, budget: int, chip: Path) -> list[str]:
    return ["search", "--chip", str(chip), "--supernet", str(checkpoint), "--budget", str(budget), "--objective",
            "pareto", "--backend", "serial", "--seed", str(SIZES["seed"]), "--population", "4", "--sample", "2",
            "--children", "2", "--batch", "16", "--explore-chip", "--chip-range", "adc.bits=6..8", "--score-rows",
            "256", "--out", str(out), "--no-report"]


def test_cli_search_json_and_resume_to_a_larger_budget(checkpoint, chip_yaml, reference, tmp_path):
    runner = CliRunner()
    first = runner.invoke(app, [*_cli_args(checkpoint, tmp_path, 8, chip_yaml), "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["study"].endswith("study.db") and data["evaluated"] == 8
    assert {"subnet", "logloss", "energy_pj_per_inference", "latency_ns_per_inference"} <= set(data["pareto_front"][0])
    again = runner.invoke(app, [*_cli_args(checkpoint, tmp_path, 8, chip_yaml), "--json"])
    assert again.exit_code != 0 and "--resume" in str(again.exception)
    more = runner.invoke(app, ["search", "--resume", "--study", str(tmp_path / "study.db"), "--budget", str(BUDGET),
                               "--out", str(tmp_path), "--no-report", "--backend", "serial", "--json"])
    assert more.exit_code == 0, more.output
    resumed = json.loads(more.stdout)
    assert resumed["evaluated_now"] == BUDGET - 8
    assert resumed["population"] == [r.index for r in reference.population]
    assert [p["index"] for p in resumed["pareto_front"]] == [r.index for r in reference.front]
    clash = runner.invoke(app, [*_cli_args(checkpoint, tmp_path, BUDGET, chip_yaml), "--resume", "--seed", "9"])
    assert clash.exit_code != 0 and "evolution" in str(clash.exception)


def _count_trials(study: Path) -> int:
    try:
        with sqlite3.connect(study, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'FAIL')").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_same_population_and_front(checkpoint, chip_yaml, reference, tmp_path):
    study = tmp_path / "study.db"
    command = [*RECPIM, *_cli_args(checkpoint, tmp_path, BUDGET, chip_yaml), "--json", "--study", str(study)]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 90
        while _count_trials(study) < 5 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.poll() is None, f"the search ended before it could be killed: {run.stderr.read()[-2000:]}"
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        run.wait()
    done_before = _count_trials(study)
    assert 5 <= done_before < BUDGET
    resumed = run_search(None, None, study, resume=True, backend="serial", progress=False)
    assert resumed.evaluated_now == BUDGET - done_before     # nothing evaluated twice, nothing lost
    assert sorted(t.user_attrs["candidate_index"] for t in _trials(study)) == list(range(BUDGET))
    assert summary(resumed) == summary(reference)


@pytest.mark.slow
def test_two_local_workers_reproduce_the_serial_search(isaac_settings, reference, tmp_path):
    parallel = run_search(isaac_settings, BUDGET, tmp_path / "study.db", backend="local", workers=2, progress=False)
    assert summary(parallel) == summary(reference)


@pytest.mark.slow
def test_search_on_a_real_local_ray_head_reproduces_the_serial_search(checkpoint, chip_yaml, reference, tmp_path):
    with local_ray_head(num_cpus=2) as (address, env):
        command = [*RECPIM, *_cli_args(checkpoint, tmp_path, BUDGET, chip_yaml), "--json", "--backend", "ray",
                   "--address", address, "--workers", "2"]
        driver = subprocess.run(command, env=env, capture_output=True, text=True, timeout=150)
        assert driver.returncode == 0, driver.stderr[-3000:]
        data = json.loads(driver.stdout[driver.stdout.index("{"):])
        assert data["population"] == [r.index for r in reference.population]
        assert [p["index"] for p in data["pareto_front"]] == [r.index for r in reference.front]
        assert [p["logloss"] for p in data["pareto_front"]] == pytest.approx(
            [r.metrics.logloss for r in reference.front], rel=1e-9)


def test_cli_refuses_unclear_chip_exploration_and_a_missing_study(checkpoint, chip_yaml, tmp_path):
    runner = CliRunner()
    base = ["search", "--chip", str(chip_yaml), "--supernet", str(checkpoint), "--budget", "2", "--out", str(tmp_path)]
    cases = {"chip ranges apply with --explore-chip only": ["--chip-range", "adc.bits=4..8"],
             "--explore-chip needs at least one range": ["--explore-chip"],
             "did you mean 'bits'": ["--explore-chip", "--chip-range", "adc.bitz=4..8"]}
    for message, extra in cases.items():
        outcome = runner.invoke(app, [*base, *extra])
        assert outcome.exit_code != 0 and message in str(outcome.exception)
    missing = runner.invoke(app, ["search", "--resume", "--study", str(tmp_path / "none.db")])
    assert missing.exit_code != 0 and "holds no recpim search" in str(missing.exception)
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "none.db").exists()


def test_nasrec_preset_sets_nasrecs_sizes(checkpoint):
    from recpim.cli.cmd_search import build_settings

    settings = build_settings({"supernet": str(checkpoint), "chip": "isaac", "preset": "nasrec"}, None)
    assert (settings.evolution.population, settings.evolution.sample, settings.evolution.children) == (128, 64, 8)
    mixed = build_settings({"supernet": str(checkpoint), "preset": "nasrec", "population": 200}, None)
    assert (mixed.evolution.population, mixed.evolution.sample) == (200, 64)


def test_recpim_report_renders_the_searchs_own_files_and_links_breakdown_pages(reference, tmp_path):
    """front.json, top_k.json and `search --json` each carry a kind and render as a search report whose
    "breakdown" links open breakdown pages (they opened raw CostReport JSON)."""
    import re

    from recpim.cli.cmd_search import search_json

    files = write_search_outputs(reference, tmp_path)
    searched = tmp_path / "search_output.json"
    searched.write_text(json.dumps(search_json(reference), default=float))
    assert json.loads(searched.read_text())["kind"] == "search"
    html = Path(files["report_html"]).read_text()
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all(link.endswith("/breakdown.html") and (tmp_path / link).is_file() for link in links)
    runner = CliRunner()
    for source in (Path(files["front_json"]), Path(files["top_k_json"]), searched):
        out = tmp_path / f"{source.stem}_report"
        done = runner.invoke(app, ["report", str(source), "--out", str(out), "--json"])
        assert done.exit_code == 0, (source.name, done.output)
        written = json.loads(done.stdout)
        assert written["kind"] == "search"
        page = Path(written["html"]).read_text()
        hrefs = re.findall(r'href="([^"]+)"', page)
        assert hrefs and all(href.endswith("breakdown.html") and (out / href).resolve().is_file() for href in hrefs)


def test_a_profile_and_the_embedding_knobs_reach_the_search_cost(reference, tmp_path):
    """--profile and chip.embedding knobs (--explore-chip) change what a candidate's tables cost."""
    from recpim.arch.data.profile import DataProfile, FieldProfile
    from recpim.search.candidate import Candidate
    from recpim.search.evaluate import EvalContext, evaluate_candidate, worker_state
    from recpim.search.run import SearchOverrides

    shares = ((0.001, 0.2), (0.01, 0.6), (0.1, 0.95))
    fields = tuple(FieldProfile(f"C{i}", 1000, 100, 50, 1.0, shares, 1.3) for i in range(1, 40))
    path = DataProfile("skewed", 100, 0, fields).write(tmp_path / "profile.json")
    settings = SearchOverrides(profile=str(path)).apply_to(reference.settings)
    assert settings.profile == str(path) and settings.eval_context().profile.dataset == "skewed"
    subnet = reference.history[0].candidate.subnet
    energy = {}
    for name, context in (("uniform", reference.settings.eval_context()), ("skewed", settings.eval_context())):
        state = worker_state(EvalContext(**{**context.__dict__, "accuracy": "quant", "score_rows": 128}))
        for cache_kb in (0, 64):
            candidate = Candidate(subnet=subnet, chip_knobs={"chip.embedding.cache_kb": cache_kb})
            energy[(name, cache_kb)] = evaluate_candidate(state, 0, candidate).metrics.energy_pj_per_inference
    assert energy[("uniform", 0)] == energy[("skewed", 0)]          # no cache: skew changes nothing
    assert energy[("skewed", 64)] < energy[("uniform", 64)]         # a cache catches more of skewed lookups

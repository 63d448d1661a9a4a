"""The co-search driver: `run_search(settings, budget, study=...)`.

Generation by generation (search/evolution.py): propose the generation's candidates, evaluate
those the study does not hold yet through the executor (local process pool, Ray or serial),
commit each to the study the moment it completes, then admit the generation into the population.
A candidate equal to one evaluated in an earlier generation reuses that evaluation.

Reproducibility: the candidates, the population and the Pareto front after N candidates depend
only on the settings (seed included) and N -- not on the backend, the number of workers, the order
in which workers finish, nor on interruptions: a run killed at any point and resumed with
`resume=True` ends exactly as an uninterrupted one (the kill-and-resume test checks this). What
varies between runs is only bookkeeping: trial numbers and timestamps in the study, eval_s.
One driver per study at a time.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator
from rich.progress import TextColumn

from recpim.arch.data.location import require_data
from recpim.arch.data.profile import read_profile
from recpim.arch.model.space import SearchSpace
from recpim.arch.train.checkpoints import read_checkpoint
from recpim.arch.train.device import resolve_device
from recpim.errors import ConfigError, RecpimError
from recpim.interrupts import StopRequested, deferred_interrupts
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.search.candidate import Evaluated, KnobValue
from recpim.search.device_objective import MAX_DEVICE_DRAWS, DeviceStatistic
from recpim.search.evaluate import EvalContext, EvalTask, ResimulateTask, evaluate_task, resimulate_task
from recpim.search.evolution import EvolutionSettings, RegularizedEvolution
from recpim.search.executor import WorkerDied, default_workers, make_executor
from recpim.search.lock import study_lock
from recpim.search.objectives import Objective, pareto_front
from recpim.search.progress import eta_bar
from recpim.search.study import SearchStudy, storage_url
from recpim.validation import MAX_SEED, ValidatedModel

BUDGET_ATTR = "recpim_budget"


class SearchSettings(ValidatedModel):
    """Everything that decides a search's result (saved in the study; a resume must match it)."""

    config_source: ClassVar[str] = "search settings"

    chip: ChipConfig                           # the resolved base chip
    supernet: str                              # checkpoint path
    supernet_sha256: str
    space: SearchSpace                         # the supernet's search space (from its checkpoint)
    data: str = "synthetic"
    data_seed: int = Field(default=0, ge=0, le=MAX_SEED)
    objective: Objective = Objective()
    evolution: EvolutionSettings = EvolutionSettings()
    chip_ranges: dict[str, list[KnobValue]] = {}
    accuracy: Literal["crossbar", "quant"] = "crossbar"
    score_rows: int | None = Field(default=1024, ge=1)
    # Logit fine-tuning before each score (NASRec's recipe, on by default): 500 steps over the cached
    # body features of finetune_feature_rows train rows (None: fresh batches each step, NASRec's
    # exact loop, ~10x the cost per candidate; benchmarks/bench_ranking.py measures both).
    finetune_steps: int = Field(default=500, ge=0)
    finetune_feature_rows: int | None = Field(default=8192, ge=512)
    batch: int = Field(default=64, ge=1)
    # An embedding access profile (`recpim data profile`, absolute path): tables costed with its skew.
    profile: str | None = None
    # The robust objective (search/device_objective.py): > 0 scores each candidate on this many
    # programmed chips of its chip and ranks by their mean or 90th-percentile log loss.
    device_draws: int = Field(default=0, ge=0, le=MAX_DEVICE_DRAWS)
    device_statistic: DeviceStatistic = "p90"

    @model_validator(mode="after")
    def _draws_need_crossbars(self) -> SearchSettings:
        if self.device_draws and self.accuracy != "crossbar":
            raise ConfigError("search settings", [("device_draws", "scoring over programmed chips needs the chip's "
                                                                   "crossbar arithmetic: accuracy 'crossbar', not "
                                                                   f"{self.accuracy!r}")])
        return self

    @property
    def knob_ranges(self) -> dict[str, tuple[KnobValue, ...]]:
        return {key: tuple(values) for key, values in self.chip_ranges.items()}

    def eval_context(self) -> EvalContext:
        return EvalContext(chip=self.chip, supernet=self.supernet, data=self.data, data_seed=self.data_seed,
                           objective=self.objective, accuracy=self.accuracy,
                           score_rows=self.score_rows, finetune_steps=self.finetune_steps,
                           finetune_feature_rows=self.finetune_feature_rows, batch=self.batch,
                           profile=read_profile(self.profile) if self.profile else None,
                           device_draws=self.device_draws, device_statistic=self.device_statistic)


@dataclass(frozen=True)
class SearchOverrides:
    """The options of `recpim search` that decide its result, as given (None: not given), applied on
    top of a study's stored settings (resume) or the defaults by `SearchSettings.with_options`.
    Typed fields across the CLI -> search seam; each lands in its place in SearchSettings below."""

    seed: int | None = None
    population: int | None = None
    sample: int | None = None
    children: int | None = None
    objective: str | None = None
    target_energy_pj: float | None = None
    target_latency_ns: float | None = None
    alpha: float | None = None
    beta: float | None = None
    max_area_mm2: float | None = None
    max_power_w: float | None = None
    max_crossbars: int | None = None
    data: str | None = None
    accuracy: str | None = None
    score_rows: int | None = None
    finetune_steps: int | None = None
    finetune_feature_rows: int | None = None
    batch: int | None = None
    profile: str | None = None
    device_draws: int | None = None
    device_statistic: str | None = None
    chip_ranges: dict[str, tuple[KnobValue, ...]] | None = None   # None: keep the stored ranges

    def apply_to(self, settings: SearchSettings) -> SearchSettings:
        """`settings` with every given option replaced, validated again (an error names the setting)."""
        def given(**fields: Any) -> dict[str, Any]:
            return {name: value for name, value in fields.items() if value is not None}

        data = settings.model_dump()
        data["evolution"].update(given(seed=self.seed, population=self.population, sample=self.sample,
                                       children=self.children))
        data["objective"].update(given(kind=self.objective))
        data["objective"]["targets"].update(given(energy_pj_per_inference=self.target_energy_pj,
                                                  latency_ns_per_inference=self.target_latency_ns,
                                                  alpha=self.alpha, beta=self.beta))
        data["objective"]["budgets"].update(given(area_mm2=self.max_area_mm2, power_w=self.max_power_w,
                                                  crossbars=self.max_crossbars))
        data.update(given(data=self.data, accuracy=self.accuracy, score_rows=self.score_rows,
                          finetune_steps=self.finetune_steps, finetune_feature_rows=self.finetune_feature_rows,
                          batch=self.batch, profile=self.profile, device_draws=self.device_draws,
                          device_statistic=self.device_statistic))
        if self.chip_ranges is not None:
            data["chip_ranges"] = {key: list(values) for key, values in self.chip_ranges.items()}
        return SearchSettings(**data)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resolve_settings(chip: ChipConfig, supernet: str | Path, data: str | None = None,
                     chip_ranges: dict[str, tuple[KnobValue, ...]] | None = None, **fields: Any) -> SearchSettings:
    """Settings with the chip dumped, the checkpoint's path made absolute and hashed, and the data
    defaulting to what the supernet was trained on."""

    path = Path(supernet).expanduser().resolve()
    saved = read_checkpoint(path)            # a clear error for a missing or foreign file
    if data is None:   # the supernet's own data: its resolved path (older checkpoints: the spec as given)
        data = saved.data
        require_data(data, "--data", what=f"the data {path} was trained on")
    return SearchSettings(chip=chip, supernet=str(path), supernet_sha256=file_sha256(path), space=saved.space,
                          data=data, chip_ranges={k: list(v) for k, v in (chip_ranges or {}).items()}, **fields)


@dataclass
class SearchResult:
    study: str                                  # the study's storage URL
    settings: SearchSettings
    budget: int
    history: list[Evaluated]                    # by index
    population: list[Evaluated]                 # the final population, oldest first
    front: list[Evaluated]
    top_k: list[Evaluated]
    best_so_far: list[list[float]]              # [evaluations so far, best score]
    evaluated_now: int = 0                      # candidates this call evaluated (not read from the study)
    wall_s: float = 0.0
    front_reports: dict[int, CostReport] = field(default_factory=dict)   # index -> its DES CostReport
    files: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        statuses = [r.status for r in self.history]
        return {"evaluated": len(statuses), "feasible": statuses.count("ok"),
                "infeasible": statuses.count("infeasible"), "errors": statuses.count("error")}


def _top_k(records: list[Evaluated], objective: Objective, k: int) -> list[Evaluated]:
    """The k best feasible candidates by the objective's ranking over everything evaluated
    (one entry per distinct candidate)."""
    unique = {}
    for record in records:
        if record.feasible:
            unique.setdefault(record.candidate.key(), record)
    ranked = list(unique.values())
    return [ranked[i] for i in objective.order(ranked)[:k]]


def best_so_far(history: list[Evaluated], objective: Objective) -> list[list[float]]:
    series, best = [], None
    for count, record in enumerate(history, start=1):
        if record.feasible:
            score = objective.score(record.metrics)
            if best is None or objective.better_score(score, best):
                best = score
        if best is not None:
            series.append([count, best])
    return series


def stored_settings(study: SearchStudy) -> SearchSettings:
    """The settings a study was run with. Studies written before the settings held the space name
    only the checkpoint: its space is read from there (the file is checked against its hash later)."""
    data = dict(study.settings)
    if "space" not in data and "supernet" in data:
        data["space"] = read_checkpoint(data["supernet"]).space
    return SearchSettings(**data)


def _open_study(location: str | Path, settings: SearchSettings | None, resume: bool) -> tuple[SearchStudy,
                                                                                                SearchSettings]:
    if not resume:
        if settings is None:
            raise ConfigError("search", [("settings", "a new search needs its settings")])
        return SearchStudy.create(location, settings.model_dump(mode="json"), settings.objective), settings
    study = SearchStudy.open(location)
    stored = stored_settings(study)
    if settings is not None and settings != stored:
        given, saved = settings.model_dump(mode="json"), stored.model_dump(mode="json")
        changed = [key for key in saved if given.get(key) != saved.get(key)]
        raise ConfigError("search resume", [(key, f"the study was run with {saved[key]!r}, not {given[key]!r}")
                                            for key in changed])
    if Path(stored.supernet).is_file() and file_sha256(stored.supernet) != stored.supernet_sha256:
        raise ConfigError("search resume", [("supernet", f"{stored.supernet} changed since the study began")])
    return study, stored


def _progress(enabled: bool):
    return eta_bar("[bold]search[/]", enabled,
                   TextColumn("{task.fields[best]}  front {task.fields[front]}  infeasible {task.fields[infeasible]}"))


SLOW_CANDIDATE_S = 10.0   # above this mean time per candidate the bar says which settings make one cheaper


def slow_candidate_hint(settings: SearchSettings, mean_eval_s: float) -> str | None:
    """What to change when candidates are slow: the settings, among the cheaper ones, not already in use."""
    if mean_eval_s <= SLOW_CANDIDATE_S:
        return None
    cheaper = []
    if settings.device_draws > 3:
        cheaper.append(f"--accuracy-under-devices 3 (now {settings.device_draws} programmed chips per candidate)")
    elif settings.accuracy == "crossbar" and not settings.device_draws:
        cheaper.append("--accuracy quant (fake quantisation instead of simulated crossbars)")
    if settings.score_rows is None or settings.score_rows > 256:
        cheaper.append(f"--score-rows 256 (now {settings.score_rows or 'the whole split'})")
    if settings.finetune_steps > 100:
        cheaper.append(f"--finetune-steps 100 (now {settings.finetune_steps})")
    if not cheaper:
        return None
    return f"candidates take {mean_eval_s:.0f} s each; cheaper settings: " + ", ".join(cheaper)


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the search: `evaluated` candidates are in the study at `study`."""

    def __init__(self, study: str, evaluated: int, signal_name: str):
        super().__init__(signal_name)
        self.study, self.evaluated, self.signal_name = study, evaluated, signal_name


def run_search(settings: SearchSettings | None, budget: int | None, study: str | Path, resume: bool = False,
               backend: str = "local", workers: int | None = None, address: str | None = None,
               progress: bool = True, top_k: int = 10, resimulate: bool = True, device: str = "cpu",
               gpus_per_worker: float = 0.0, max_bad_rows_fraction: float = 0.01) -> SearchResult:
    """Run (or, resume=True, continue) the co-search until `budget` candidates are evaluated.

    With resume, `settings` may be None (the study's are used) and `budget` None (the study's
    last budget). resimulate: run each front point through the discrete-event simulator
    (result.front_reports). One driver per study: a second one gets StudyLockedError.
    device: where the workers score candidates (not part of the settings: a study resumes on any
    device); gpus_per_worker: GPUs the Ray backend reserves per task; max_bad_rows_fraction: the
    workers' limit on malformed data rows (open_dataset).

    Ctrl-C or SIGTERM: nothing more is dispatched, every candidate finished by then is committed,
    the workers are killed (not waited for), and SearchInterrupted says how many candidates the
    study holds; `resume=True` continues."""
    url = storage_url(study)
    with study_lock(url), deferred_interrupts() as interrupts:
        try:
            return _run_search(settings, budget, study, resume, backend, workers, address, progress, top_k,
                               resimulate, interrupts.check, device, gpus_per_worker, max_bad_rows_fraction)
        except StopRequested as stop:
            raise SearchInterrupted(url, _candidates_held(study), str(stop)) from None
        except WorkerDied as error:
            raise SearchAborted(f"{error}: the study {study} holds {_candidates_held(study)} evaluated candidates "
                                f"(every one that finished); continue with: recpim search --resume --study "
                                f"{study}") from None


class SearchAborted(RecpimError):
    """A search stopped by a failure outside recpim (a worker killed); the study keeps what finished."""


def _candidates_held(study: str | Path) -> int:
    try:
        return SearchStudy.open(study).held()
    except ConfigError:          # interrupted while the study was being created
        return 0


def _run_search(settings: SearchSettings | None, budget: int | None, study: str | Path, resume: bool,
                backend: str, workers: int | None, address: str | None, progress: bool, top_k: int,
                resimulate: bool, stop, device: str, gpus_per_worker: float,
                max_bad_rows_fraction: float) -> SearchResult:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    began = time.perf_counter()
    record_study, settings = _open_study(study, settings, resume)
    stored_budget = record_study.study.user_attrs.get(BUDGET_ATTR)
    budget = budget if budget is not None else stored_budget
    if budget is None or budget < 1:
        raise ConfigError("search", [("budget", f"got {budget!r}; allowed: an integer >= 1 (candidates to evaluate)")])
    record_study.study.set_user_attr(BUDGET_ATTR, max(budget, stored_budget or 0))

    space = settings.space
    objective, knob_ranges = settings.objective, settings.knob_ranges
    evolution = RegularizedEvolution(space, knob_ranges, settings.evolution, objective)
    history = record_study.history(space)
    evolution.replay(history, budget)
    if backend != "ray":  # refuse a bad --device here, not in every worker (Ray's machines may differ from this one)
        resolve_device(device)
    context = replace(settings.eval_context(), device=device, max_bad_rows_fraction=max_bad_rows_fraction)
    worker_count = workers or (default_workers() if backend == "local" else None)
    threads = max(1, default_workers() // worker_count) if backend == "local" else None
    first_open = settings.evolution.generation_indices(evolution.generation).start
    seen: dict[str, int] = {}               # candidate key -> index of its evaluation (earlier generations)
    for record in sorted(history.values(), key=lambda r: r.index):
        if record.index < first_open and record.status != "error" and record.duplicate_of is None:
            seen.setdefault(record.candidate.key(), record.index)
    evaluated_now, eval_s_now, hinted = 0, 0.0, False
    bar = _progress(progress)
    with bar, make_executor(backend, workers=worker_count, address=address,
                            gpus_per_worker=gpus_per_worker) as executor:
        status = _BarStatus(objective, list(history.values()))
        task = bar.add_task("search", total=budget, completed=min(len(history), budget), **status.fields())
        while True:
            indices = [i for i in settings.evolution.generation_indices(evolution.generation) if i < budget]
            if not indices:
                break
            todo = []
            for index in indices:
                candidate, parent = evolution.propose(index)
                if index in history:
                    if history[index].candidate != candidate:
                        raise ConfigError("search resume", [(f"candidate {index}", "the study holds another "
                                                             "candidate: it was written with other settings")])
                elif candidate.key() in seen:
                    record = history[seen[candidate.key()]].reused_as(index, parent)
                    record_study.commit(record, objective, space, knob_ranges)
                    history[index] = record
                    status.add(record)
                    bar.update(task, advance=1, **status.fields())
                else:
                    todo.append(EvalTask(context=context, index=index, candidate=candidate, parent=parent,
                                         torch_threads=threads))
            for _, record in executor.map(evaluate_task, todo, stop=stop):
                record_study.commit(record, objective, space, knob_ranges)
                history[record.index] = record
                evaluated_now += 1
                eval_s_now += record.eval_s
                status.add(record)
                bar.update(task, advance=1, **status.fields())
                hint = slow_candidate_hint(settings, eval_s_now / evaluated_now) if evaluated_now >= 2 else None
                if hint is not None and progress and not hinted:
                    bar.console.print(f"[yellow]note[/]: {hint}")
                    hinted = True
            stop()
            generation = [history[i] for i in indices]
            evolution.admit(generation)
            for record in generation:
                if record.status != "error":
                    seen.setdefault(record.candidate.key(), record.duplicate_of if record.duplicate_of is not None
                                    else record.index)
        ordered = [history[i] for i in sorted(history) if i < budget]
        result = SearchResult(study=record_study.url, settings=settings, budget=budget, history=ordered,
                              population=list(evolution.population), front=pareto_front(ordered),
                              top_k=_top_k(ordered, objective, top_k), best_so_far=best_so_far(ordered, objective),
                              evaluated_now=evaluated_now)
        if resimulate:
            tasks = [ResimulateTask(context=context, index=r.index, candidate=r.candidate) for r in result.front]
            for position, report in executor.map(resimulate_task, tasks, stop=stop):
                result.front_reports[result.front[position].index] = report
    result.wall_s = time.perf_counter() - began
    return result


class _BarStatus:
    """Best score, front size and infeasible count for the progress bar, kept up incrementally."""

    def __init__(self, objective: Objective, records: list[Evaluated]):
        self.objective = objective
        self.best: float | None = None
        self.front: list[Evaluated] = []
        self.infeasible = 0
        for record in records:
            self.add(record)

    def add(self, record: Evaluated) -> None:
        if not record.feasible:
            self.infeasible += 1
            return
        score = self.objective.score(record.metrics)
        if self.best is None or self.objective.better_score(score, self.best):
            self.best = score
        self.front = pareto_front([*self.front, record])

    def fields(self) -> dict[str, Any]:
        label = self.objective.score_label
        return {"best": f"{label} {self.best:.4f}" if self.best is not None else f"{label} -",
                "front": len(self.front), "infeasible": self.infeasible}

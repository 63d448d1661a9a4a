"""The work bench_ranking.py hands to its worker processes (top-level functions: they pickle by
name), and the cache of standalone results it reuses across runs. Each job opens its dataset once per
worker process and receives the search space as data, so no registry needs priming."""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from recpim.arch.data.datasets import CtrDataset, open_dataset
from recpim.arch.model.space import SearchSpace
from recpim.arch.model.subnet import SubnetConfig
from recpim.arch.train.loop import TrainConfig, configure_threads, load_supernet, run_training, train_supernet
from recpim.arch.train.probes import ProbeLog
from recpim.arch.train.scoring import (
    FinetuneRecipe,
    cached_split,
    evaluate,
    score_subnet,
    train_standalone,
    train_standalone_converged,
)

CACHED_FEATURE_ROWS = 65536  # a dearer variant of the search's scoring measured beside it: features of 64 k train rows
MAX_CACHED_ROWS = 3_000_000  # hold a 1-2 M-row benchmark file in memory (full shuffles, no re-parsing)

_DATASETS: dict[tuple[str, int], CtrDataset] = {}


def _dataset(spec: str, seed: int) -> CtrDataset:
    if (spec, seed) not in _DATASETS:
        _DATASETS[(spec, seed)] = open_dataset(spec, seed=seed, max_cached_rows=MAX_CACHED_ROWS)
    return _DATASETS[(spec, seed)]


def _space(dump: dict[str, Any]) -> SearchSpace:
    return SearchSpace(**dump)   # the space travels to each worker as data: no registry to prime


def _worker_init() -> None:
    configure_threads(1)  # pinned: run_training's automatic choice would oversubscribe the cores


def _train_supernet_job(spec: str, data_seed: int, space_dump: dict, config_dump: dict, path: str,
                        probe_subnets: list[str] = (), probe_every: int = 0) -> dict:
    dataset = _dataset(spec, data_seed)
    space = _space(space_dump)
    probed = [SubnetConfig.from_json(s, space=space) for s in probe_subnets]
    probes = ProbeLog.sample(dataset, probed, probe_every) if probe_every and probed else None
    result = train_supernet(dataset, TrainConfig(**config_dump), space=space, checkpoint=path, probes=probes)
    return {"seconds": result.seconds, "steps": result.step,
            "ms_per_step": 1e3 * result.seconds / max(1, len(result.losses)),
            "probes": [asdict(r) for r in probes.records] if probes else []}


def _standalone_job(spec: str, data_seed: int, space_dump: dict, subnet_json: str, config_dump: dict, seed: int,
                    quant: bool, score_rows: int | None) -> dict:
    dataset = _dataset(spec, data_seed)
    config = TrainConfig(**config_dump)
    subnet = SubnetConfig.from_json(subnet_json, space=_space(space_dump))
    score = train_standalone(subnet, dataset, config.steps, seed, config=config, quant=quant, max_rows=score_rows)
    return {"logloss": score.logloss, "auc": score.auc, "seconds": score.seconds}


def _score_job(spec: str, data_seed: int, space_dump: dict, checkpoint: str, subnet_json: str, quant: bool,
               score_rows: int | None, finetune_steps: int, recipe: FinetuneRecipe, search_rows: int) -> dict:
    supernet = load_supernet(checkpoint).supernet
    subnet = SubnetConfig.from_json(subnet_json, space=_space(space_dump))
    return _scores(spec, data_seed, supernet, subnet, quant, score_rows, finetune_steps, recipe, search_rows)


def _few_shot_job(spec: str, data_seed: int, space_dump: dict, checkpoint: str, subnet_jsons: list[str], quant: bool,
                  score_rows: int | None, finetune_steps: int, recipe: FinetuneRecipe, search_rows: int,
                  steps_per_part: int) -> tuple[dict, list[dict]]:
    """Few-shot lever: the defaults' supernet split on block 1's dense operator, each part trained
    `steps_per_part` more steps, every subnet scored on its part."""
    from recpim.arch.train.few_shot import train_few_shot

    loaded = load_supernet(checkpoint)
    began = time.perf_counter()
    few_shot = train_few_shot(loaded.supernet, _dataset(spec, data_seed), loaded.config, steps_per_part)
    seconds = time.perf_counter() - began
    steps = steps_per_part * len(few_shot.parts)
    info = {"seconds": seconds, "steps": steps, "ms_per_step": 1e3 * seconds / max(1, steps)}
    scores = []
    for text in subnet_jsons:
        subnet = SubnetConfig.from_json(text, space=_space(space_dump))
        scores.append(_scores(spec, data_seed, few_shot.part(subnet), subnet, quant, score_rows, finetune_steps,
                              recipe, search_rows))
    return info, scores


def _scores(spec: str, data_seed: int, supernet, subnet: SubnetConfig, quant: bool, score_rows: int | None,
            finetune_steps: int, recipe: FinetuneRecipe, search_rows: int) -> dict:
    dataset = _dataset(spec, data_seed)
    plain = score_subnet(supernet, subnet, dataset, quant=quant, max_rows=score_rows)
    tuned = score_subnet(supernet, subnet, dataset, quant=quant, max_rows=score_rows, finetune_steps=finetune_steps,
                         finetune=recipe)
    cached = score_subnet(supernet, subnet, dataset, quant=quant, max_rows=score_rows, finetune_steps=finetune_steps,
                          finetune=replace(recipe, feature_rows=CACHED_FEATURE_ROWS))
    # the search's default scoring (FinetuneRecipe's default feature rows, recpim search --finetune-feature-rows)
    search = score_subnet(supernet, subnet, dataset, quant=quant, max_rows=score_rows, finetune_steps=finetune_steps,
                          finetune=replace(recipe, feature_rows=search_rows))
    return {"plain": plain.logloss, "finetuned": tuned.logloss, "finetuned_auc": tuned.auc,
            "finetune_seconds": tuned.finetune_seconds, "plain_seconds": plain.seconds,
            "cached": cached.logloss, "cached_finetune_seconds": cached.finetune_seconds,
            "search": search.logloss, "search_finetune_seconds": search.finetune_seconds}


def _converged_job(spec: str, data_seed: int, space_dump: dict, subnet_json: str, config_dump: dict, seed: int,
                   max_steps: int, score_rows: int | None) -> dict:
    dataset = _dataset(spec, data_seed)
    subnet = SubnetConfig.from_json(subnet_json, space=_space(space_dump))
    result = train_standalone_converged(subnet, dataset, max_steps, seed, config=TrainConfig(**config_dump),
                                        max_rows=score_rows)
    return {"logloss": result.score.logloss, "best_step": result.best_step, "steps_run": result.steps_run,
            "stopped_early": result.stopped_early, "seconds": result.score.seconds}


def _baseline_job(spec: str, data_seed: int, name: str, config_dump: dict, seed: int, score_rows: int | None,
                  test_split: bool = False) -> dict:
    """A hand-made model trained with the same recipe and steps, scored on the same rows (and, with
    `test_split`, on as many test rows too)."""
    from recpim.arch.model.zoo import DLRM, DeepFM, LogisticRegression

    dataset = _dataset(spec, data_seed)
    config = TrainConfig(**config_dump).model_copy(update={"seed": seed})
    torch.manual_seed(seed)
    model = {"logistic_regression": LogisticRegression, "dlrm": DLRM, "deepfm": DeepFM}[name](dataset.schema)
    for module in model.modules():  # small uniform tables, as the supernet's
        if isinstance(module, torch.nn.Embedding) and name != "logistic_regression":
            torch.nn.init.uniform_(module.weight, -0.01, 0.01)

    def logits(dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        out = model(dense, sparse).squeeze(-1)
        return out if name == "logistic_regression" else torch.logit(out, eps=1e-7)

    began = time.perf_counter()
    run_training(model, lambda batch, _step: logits(batch.dense, batch.sparse), dataset, config)
    model.eval()
    loss, auc = evaluate(logits, cached_split(dataset, "val", score_rows))
    out = {"logloss": loss, "auc": auc, "seconds": time.perf_counter() - began}
    if test_split:
        out["logloss_test"], out["auc_test"] = evaluate(logits, cached_split(dataset, "test", score_rows))
    return out


class TruthCache:
    """Standalone results on disk, keyed by everything that decides them (job, data, space, subnet,
    recipe, seed, rows): a lever study reruns the supernet, not the ground truth. Standalone training
    is deterministic given these inputs (arch/train/loop.py), so a cached figure is what a rerun gives."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = json.loads(path.read_text()) if path.is_file() else {}
        self.pending: dict[str, Future] = {}

    def submit(self, pool: ProcessPoolExecutor, job, *job_args) -> Future:
        key = json.dumps([job.__name__, *job_args], sort_keys=True, default=str)
        if key in self.entries:
            done: Future = Future()
            done.set_result(self.entries[key])
            return done
        future = pool.submit(job, *job_args)
        self.pending[key] = future
        return future

    def save(self) -> None:
        self.entries.update({key: future.result() for key, future in self.pending.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.entries))

"""Scoring a subnet: log loss and ROC AUC on a held-out split.

- `score_subnet`: inherited supernet weights (optionally after fine-tuning ONLY the final logit
  layer, on a copy, on the train split), at the subnet's bits (fake quantisation) and optionally on
  simulated crossbars. The search calls it hundreds of times, so the evaluated split is
  materialised once per dataset and kept (weakly, per dataset object), and evaluation runs under
  torch.inference_mode in large batches.
- `train_standalone`: the ground truth, a StandaloneModel of the subnet trained from scratch with
  the same recipe, scored the same way.

Log loss is the mean binary cross-entropy (natural log) computed in float64; AUC is the exact
rank statistic (Mann-Whitney U with average ranks for ties, scipy.stats.rankdata).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from recpim.arch.crossbar.matmul import CrossbarArithmetic, CrossbarMode
from recpim.arch.data.datasets import CtrDataset
from recpim.arch.data.parsing import CtrBatch
from recpim.arch.model.modules import QuantBits
from recpim.arch.model.standalone import StandaloneModel
from recpim.arch.model.subnet import SubnetConfig
from recpim.arch.model.supernet import Supernet, init_embeddings
from recpim.arch.train.loop import (
    TrainConfig,
    configure_threads,
    init_weights,
    run_training,
    steps_per_epoch,
    train_batches,
)
from recpim.arch.train.optimizers import WarmupCosine
from recpim.arch.train.tensorboard import TensorBoardLog
from recpim.errors import ConfigError, DataError

EVAL_BATCH_SIZE = 128  # measured fastest on 2 cores (attention intermediates stay in cache)
FINETUNE_BATCH_SIZE = 512
FINETUNE_LR = 0.04          # NASRec's fine-tuning: Adagrad lr 0.04, eps 1e-2, cosine, clip 5, 500 steps


@dataclass(frozen=True)
class FinetuneRecipe:
    """How the logit layer of a subnet is retrained on inherited body features (NASRec's recipe
    by default: Adagrad lr 0.04, eps 1e-2, cosine decay after a 10 % linear warm-up, gradient
    clipping at norm 5, batch 512; the step count is score_subnet's finetune_steps)."""

    lr: float = FINETUNE_LR
    optimizer: str = "adagrad"      # or "adam"
    adagrad_eps: float = 1e-2
    warmup_fraction: float = 0.1
    grad_clip_norm: float | None = 5.0
    batch_size: int = FINETUNE_BATCH_SIZE
    # None: every step reads fresh train batches and runs the body on them (NASRec). N: the body
    # runs once on N train rows and the steps cycle over those cached features -- the same logit
    # training at a fraction of the cost (the body is frozen, so its features do not change).
    feature_rows: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.feature_rows is not None and self.feature_rows < self.batch_size:
            problems.append(("feature_rows", f"must be >= batch_size ({self.batch_size}), got {self.feature_rows}"))
        if self.lr <= 0:
            problems.append(("lr", f"must be > 0, got {self.lr}"))
        if self.optimizer not in ("adagrad", "adam"):
            problems.append(("optimizer", f"{self.optimizer!r}: allowed are adagrad, adam"))
        if not 0 <= self.warmup_fraction < 1:
            problems.append(("warmup_fraction", f"must be in [0, 1), got {self.warmup_fraction}"))
        if self.batch_size < 1:
            problems.append(("batch_size", f"must be >= 1, got {self.batch_size}"))
        if problems:
            raise ConfigError("fine-tuning recipe", problems)


@dataclass(frozen=True)
class SubnetScore:
    logloss: float
    auc: float
    rows: int
    split: str
    finetune_steps: int = 0
    quantized: bool = False
    crossbar: CrossbarArithmetic | None = None   # the chip's arithmetic the MVMs ran on (None: exact)
    source: str = "supernet"           # "supernet" (inherited weights) or "standalone" (trained alone)
    train_steps: int | None = None     # standalone only
    seconds: float = 0.0
    finetune_seconds: float = 0.0      # of `seconds`, spent fine-tuning the logit layer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)   # the crossbar arithmetic (a dataclass) becomes its dict too


# ---- metrics
def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC from ranks (ties get average ranks); nan when a class is absent."""
    labels = np.asarray(labels) > 0.5
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean binary cross-entropy of logits, in float64."""
    return float(F.binary_cross_entropy_with_logits(torch.as_tensor(logits, dtype=torch.float64),
                                                    torch.as_tensor(labels, dtype=torch.float64)))


# ---- evaluation data, materialised once per (dataset, split)
# per dataset: split -> (rows read, whether they are the whole split)
_SPLIT_CACHE: weakref.WeakKeyDictionary[CtrDataset, dict[str, tuple[CtrBatch, bool]]] = weakref.WeakKeyDictionary()


def cached_split(dataset: CtrDataset, split: str, max_rows: int | None = None) -> CtrBatch:
    """The split (or its first `max_rows` rows) as one batch, read once per dataset and then reused.
    A dataset too large to hold in memory is streamed for its first `max_rows` rows; without
    max_rows such a split is refused (DataError names the fix)."""
    if max_rows is not None and max_rows < 1:
        raise ConfigError("score", [("max_rows", f"must be >= 1, got {max_rows}")])
    per_dataset = _SPLIT_CACHE.setdefault(dataset, {})
    batch, complete = per_dataset.get(split, (None, False))
    if batch is None or (not complete and (max_rows is None or len(batch.label) < max_rows)):
        if dataset.in_memory:
            batch, complete = dataset.materialize(split), True
        elif max_rows is None:
            raise DataError(f"{dataset.name} is streamed (larger than its in-memory cache): score it on its first "
                            "rows with max_rows (--max-rows)")
        else:
            batch = _first_rows(dataset, split, max_rows)
            complete = len(batch.label) < max_rows
        per_dataset[split] = (batch, complete)
    if len(batch.label) == 0:
        raise DataError(f"{dataset.name}: the {split} split is empty")
    if max_rows is not None:
        batch = CtrBatch(batch.dense[:max_rows], batch.sparse[:max_rows], batch.label[:max_rows])
    return batch


def _first_rows(dataset: CtrDataset, split: str, rows: int) -> CtrBatch:
    parts: list[CtrBatch] = []
    for batch in dataset.batches(split, min(rows, 65_536)):
        parts.append(batch)
        if sum(len(p.label) for p in parts) >= rows:
            break
    if not parts:
        return CtrBatch(torch.empty(0, dataset.schema.num_dense),
                        torch.empty(0, dataset.schema.num_sparse, dtype=torch.long), torch.empty(0))
    return CtrBatch(*(torch.cat(tensors)[:rows] for tensors in zip(*parts, strict=True)))


def evaluate(logits_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch: CtrBatch,
             batch_size: int = EVAL_BATCH_SIZE) -> tuple[float, float]:
    """(log loss, AUC) of logits_fn over `batch`, in inference mode."""
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(batch.label), batch_size):
            outputs.append(logits_fn(batch.dense[start:start + batch_size], batch.sparse[start:start + batch_size]))
    logits = torch.cat(outputs).to("cpu", torch.float64).numpy()
    labels = batch.label.numpy()
    return log_loss(labels, logits), roc_auc(labels, logits)


# ---- inherited weights
def finetune_logit(supernet: Supernet, subnet: SubnetConfig, dataset: CtrDataset, steps: int, *, quant: bool = True,
                   recipe: FinetuneRecipe | None = None, seed: int = 0):
    """A copy of the subnet's logit layer trained alone for `steps` train batches (the body's outputs
    computed without gradients) with `recipe` (NASRec's by default); the supernet is not modified."""
    recipe = recipe or FinetuneRecipe()
    with _one_thread():
        return _finetune(supernet, subnet, dataset, steps, quant, recipe, seed)


@contextmanager
def _one_thread():
    """Run on one torch thread, then restore. Why: a reduction's float rounding depends on how many
    threads split it, and 500 optimizer steps amplify that into a different 7th digit, so a search
    would score a candidate differently in a serial run and in a worker. One thread makes the
    fine-tuned score a function of the inputs alone (the head is small; the cost is minor)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _finetune(supernet: Supernet, subnet: SubnetConfig, dataset: CtrDataset, steps: int, quant: bool,
              recipe: FinetuneRecipe, seed: int):
    head = supernet.logit_head(subnet)
    if recipe.optimizer == "adagrad":
        optimizer: torch.optim.Optimizer = torch.optim.Adagrad(head.parameters(), lr=recipe.lr, eps=recipe.adagrad_eps)
    else:
        optimizer = torch.optim.Adam(head.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(steps, int(round(recipe.warmup_fraction
                                                                                          * steps))))
    bits = Supernet.block_bits(subnet, quant)[-1]

    device = next(supernet.parameters()).device

    def body(batch: CtrBatch) -> torch.Tensor:
        with torch.no_grad():
            d, s = supernet.last_outputs(batch.dense.to(device), batch.sparse.to(device), subnet, quant)
            return torch.cat([d, s.flatten(1)], dim=1)

    for features, labels in _finetune_batches(dataset, recipe, seed, steps, body):
        loss = F.binary_cross_entropy_with_logits(head(features, quant=bits).squeeze(-1), labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(head.parameters(), recipe.grad_clip_norm)
        optimizer.step()
        schedule.step()
    return head.eval()


def _finetune_batches(dataset: CtrDataset, recipe: FinetuneRecipe, seed: int, steps: int,
                      body: Callable[[CtrBatch], torch.Tensor]):
    """(body features, labels) of each fine-tuning step: fresh batches, or cached features."""
    batches = train_batches(dataset, recipe.batch_size, seed)
    if recipe.feature_rows is None:
        for _ in range(steps):
            batch = next(batches)
            yield body(batch), batch.label
        return
    # at most one epoch: a small train split is cached once, not repeated (a streamed one has no epoch)
    count = -(-recipe.feature_rows // recipe.batch_size)
    if dataset.train_stream is None:
        count = min(count, steps_per_epoch(dataset, recipe.batch_size))
    parts = [next(batches) for _ in range(count)]
    features = torch.cat([body(batch) for batch in parts])[: recipe.feature_rows]
    labels = torch.cat([batch.label for batch in parts])[: recipe.feature_rows]
    generator = torch.Generator().manual_seed(seed)
    per_epoch = len(labels) // recipe.batch_size
    order = torch.randperm(len(labels), generator=generator)
    for step in range(steps):
        if step and step % per_epoch == 0:
            order = torch.randperm(len(labels), generator=generator)
        index = order[(step % per_epoch) * recipe.batch_size:(step % per_epoch + 1) * recipe.batch_size]
        yield features[index], labels[index]


def score_subnet(supernet: Supernet, subnet: SubnetConfig, dataset: CtrDataset, split: str = "val",
                 finetune_steps: int = 0, batch_size: int = EVAL_BATCH_SIZE, quant: bool = True,
                 crossbar: CrossbarArithmetic | None = None, seed: int = 0, max_rows: int | None = None,
                 finetune: FinetuneRecipe | None = None) -> SubnetScore:
    """Log loss and AUC of `subnet` with inherited weights on `split` (see the module docstring).
    quant: at the subnet's bits; crossbar: MVMs on simulated crossbars (implies quant; the
    fine-tuning itself runs with fake quantisation only); max_rows: score the first rows only."""
    began = time.perf_counter()
    if finetune_steps < 0:
        raise ConfigError("score_subnet", [("finetune_steps", f"must be >= 0, got {finetune_steps}")])
    quant = quant or crossbar is not None
    was_training = supernet.training
    supernet.eval()
    try:
        data = cached_split(dataset, split, max_rows)
        tuning_began = time.perf_counter()
        head = finetune_logit(supernet, subnet, dataset, finetune_steps, quant=quant, seed=seed,
                              recipe=finetune) if finetune_steps else None
        finetune_seconds = time.perf_counter() - tuning_began
        device = next(supernet.parameters()).device  # the data comes from the CPU
        if head is None:
            def logits(dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
                return supernet(dense.to(device), sparse.to(device), subnet, quant=quant, crossbar=crossbar)
        else:
            bits = Supernet.block_bits(subnet, quant)[-1]

            def logits(dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
                dense, sparse = dense.to(device), sparse.to(device)
                mode = CrossbarMode(crossbar) if crossbar is not None else None
                with mode if mode is not None else nullcontext():
                    d, s = supernet.last_outputs(dense, sparse, subnet, quant, mode)
                    with mode.at_bits(bits) if mode is not None else nullcontext():
                        return head(torch.cat([d, s.flatten(1)], dim=1), quant=bits).squeeze(-1)
        loss, auc = evaluate(logits, data, batch_size)
    finally:
        supernet.train(was_training)
    return SubnetScore(loss, auc, len(data.label), split, finetune_steps, quant,
                       crossbar, "supernet",
                       seconds=time.perf_counter() - began, finetune_seconds=finetune_seconds)


# ---- standalone models
def standalone_logits(model: StandaloneModel, dense: torch.Tensor, sparse: torch.Tensor,
                      crossbar: CrossbarArithmetic | None = None) -> torch.Tensor:
    """The model's logits; with `crossbar` every MVM runs on simulated crossbars at its block's bits
    (the model must be built with quantize=True)."""
    if crossbar is None:
        return model(dense, sparse)
    if not model.quantize:
        raise ConfigError("standalone_logits", [("crossbar", "needs a model built with quantize=True")])
    mode = CrossbarMode(crossbar)
    bits = [QuantBits(b.weight_bits, b.activation_bits) for b in model.subnet.blocks]
    hooks = [block.register_forward_pre_hook(lambda _m, _a, q=q: setattr(mode, "bits", q))
             for block, q in zip(model.blocks, bits, strict=True)]
    hooks.append(model.logit.register_forward_pre_hook(lambda _m, _a: setattr(mode, "bits", bits[-1])))
    try:
        with mode:
            return model(dense, sparse)
    finally:
        for hook in hooks:
            hook.remove()


def score_standalone(model: StandaloneModel, dataset: CtrDataset, split: str = "val",
                     crossbar: CrossbarArithmetic | None = None, max_rows: int | None = None,
                     batch_size: int = EVAL_BATCH_SIZE) -> tuple[float, float]:
    """(log loss, AUC) of a standalone model on `split`."""
    model.eval()
    data = cached_split(dataset, split, max_rows)
    return evaluate(lambda d, s: standalone_logits(model, d, s, crossbar), data, batch_size)


def train_standalone(subnet: SubnetConfig, dataset: CtrDataset, steps: int, seed: int = 0, *,
                     config: TrainConfig | None = None, quant: bool = False, split: str = "val",
                     crossbar: CrossbarArithmetic | None = None, max_rows: int | None = None,
                     progress: bool = False, return_model: bool = False, tensorboard: Path | str | None = None,
                     tensorboard_every: int = 50):
    """Ground truth: `subnet` as a StandaloneModel trained from scratch for `steps` steps with the
    supernet's recipe (config overrides it; its steps/seed are replaced by these), then scored on
    `split`. quant: train (quantisation-aware) and score at the subnet's bits. Returns the
    SubnetScore, or (score, model) with return_model=True. tensorboard: a folder for TensorBoard
    scalars (arch/train/tensorboard.py), validated every `tensorboard_every` steps on `split`'s first
    `max_rows` rows (the rows the score reads)."""
    began = time.perf_counter()
    configure_threads()
    config = (config or TrainConfig(space=subnet.space)).model_copy(update={"steps": steps, "seed": seed})
    quant = quant or crossbar is not None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StandaloneModel(subnet, dataset.schema, quantize=quant)
        init_weights(model, config.init)
        init_embeddings(model.embeddings)
        board = None
        if tensorboard is not None:
            rows = cached_split(dataset, split, max_rows)
            board = TensorBoardLog(tensorboard, config.batch_size, steps, every=tensorboard_every,
                                   validate=lambda m: evaluate(lambda d, s: standalone_logits(m, d, s, crossbar), rows))
        try:
            run_training(model, lambda batch, _step: model(batch.dense, batch.sparse), dataset, config,
                         progress=progress, title="standalone", on_step=board)
        finally:
            if board is not None:
                board.close()
    loss, auc = score_standalone(model, dataset, split, crossbar, max_rows)
    score = SubnetScore(loss, auc, len(cached_split(dataset, split, max_rows).label), split, 0, quant,
                        crossbar, "standalone", steps,
                        time.perf_counter() - began)
    return (score, model) if return_model else score


@dataclass(frozen=True)
class ConvergedScore:
    """A standalone model trained until its held-out loss stops improving (the converged truth)."""

    score: SubnetScore             # at the best step, on `split`
    best_step: int                 # the step whose weights were kept
    steps_run: int                 # where training stopped (a rise, or the step cap)
    stopped_early: bool            # True: stopped by `patience` checks without improvement
    stop_losses: tuple[float, ...]  # the held-out loss at every check


def train_standalone_converged(subnet: SubnetConfig, dataset: CtrDataset, max_steps: int, seed: int = 0, *,
                               config: TrainConfig | None = None, check_every: int = 250, patience: int = 2,
                               stop_split: str = "test", stop_rows: int | None = 16_384, split: str = "val",
                               quant: bool = False, max_rows: int | None = None) -> ConvergedScore:
    """A truth that means what users deploy: `subnet` trained alone until its log loss on
    `stop_split` (test by default, so the `split` every ranking figure is read on stays untouched)
    has not improved for `patience` checks of every `check_every` steps, or `max_steps` (the cap,
    over which the learning-rate schedule runs) are done; the weights of the best check are kept
    and scored on `split`. A fixed-step truth rewards the subnets that learn fastest; this one
    rewards what a converged model reaches."""
    if check_every < 1 or patience < 1 or max_steps < 1:
        raise ConfigError("converged truth", [("check_every", f"check_every={check_every}, patience={patience}, "
                                                              f"max_steps={max_steps}: each must be >= 1")])
    began = time.perf_counter()
    configure_threads()
    config = (config or TrainConfig(space=subnet.space)).model_copy(update={"steps": max_steps, "seed": seed})
    stop_data = cached_split(dataset, stop_split, stop_rows)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StandaloneModel(subnet, dataset.schema, quantize=quant)
        init_weights(model, config.init)
        init_embeddings(model.embeddings)
        losses: list[float] = []
        best: dict[str, Any] = {"loss": float("inf"), "step": 0, "state": None}

        def check(steps_done: int) -> bool:
            if steps_done % check_every and steps_done < max_steps:
                return False
            model.eval()
            loss, _ = evaluate(lambda d, s: standalone_logits(model, d, s), stop_data)
            model.train()
            losses.append(loss)
            if loss < best["loss"]:
                best.update(loss=loss, step=steps_done,
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})
            return len(losses) - 1 - losses.index(min(losses)) >= patience   # `patience` checks without a new best

        result = run_training(model, lambda batch, _step: model(batch.dense, batch.sparse), dataset, config,
                              title="standalone (converged)", stop_when=check)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    loss, auc = score_standalone(model, dataset, split, None, max_rows)
    score = SubnetScore(loss, auc, len(cached_split(dataset, split, max_rows).label), split, 0, quant, None,
                        "standalone", int(best["step"]), time.perf_counter() - began)
    return ConvergedScore(score=score, best_step=int(best["step"]), steps_run=result.step,
                          stopped_early=result.step < max_steps, stop_losses=tuple(losses))

"""Training: NASRec's recipe for the supernet (and for standalone models, the ground truth).

Recipe (reference/nasrec.md): Adagrad, lr 0.12, batch 512, cosine schedule with 10 % linear
warm-up, gradient clipping at norm 5, one epoch (or `steps`). Each supernet step samples one subnet
(single-operator any-connection, arch/model/subnet.py) from a generator seeded by (seed, step), so the
subnet of a step does not depend on how training was split into runs.

Determinism and resume: the same config and data give the same weights. Batch order is fixed by
(seed, epoch) and drop_last batches; a resumed run skips the batches already consumed, restores
model, optimizer, schedule and torch RNG state, and then computes bit for bit what an
uninterrupted run computes.

Checkpoints are plain state dicts, written atomically and read with torch.load(weights_only=True),
in two files: CKPT holds what scoring and the search need (weights, step, config, the space, the
dataset schema, the data's path and fingerprint); CKPT.resume holds what only a resume needs (the
optimizer state, two thirds of the bytes with Adagrad's per-weight sums, the schedule and the RNG
state). Both carry the same snapshot id; CKPT.resume is deleted when the run finishes.
A run saves one every `checkpoint_every` steps, at its end and when interrupted (Ctrl-C or
SIGTERM: the signal is deferred to the next step boundary, recpim/interrupts.py, so the saved
weights, optimizer state and step counter always belong together). The checkpoint path is checked
writable before the first step. A NaN or infinite loss stops the run with TrainingDivergedError
before that step updates anything; the last finite state stays on disk.

The recipe is tuned for NASRec's runs (one epoch of tens of millions of rows, ~70k steps). In a
few hundred steps Adagrad at lr 0.12 overshoots (measured on synthetic data: the loss spikes to
4-70 during warm-up and a 200-step supernet scores at chance); `optimizer="adam", lr=0.003`
(TrainConfig, `--optimizer adam --lr 0.003`) learns far faster in such short runs. Adagrad suits
weight sharing exactly: a zero gradient (an unused slice of a used weight) leaves its update at
zero, whereas Adam's momentum keeps moving weights a step did not use.

Levers for making shared weights learn what standalone models learn (each measured by
benchmarks/bench_ranking.py; the README gives what each did):
- `input_sharing` (arch/model/supernet.py): "per_operator" gives each producing operator its own input
  columns in every consumer;
- `full_path_fraction`: NASRec's warm-up. Over that first part of training a step runs the full
  supernet (Supernet.forward_full) with a probability falling linearly from 1 to 0, otherwise the
  sampled subnet; which one is a function of (seed, step), so resumed runs make the same choices;
- `adagrad_eps` 1e-2 and `init="xavier"`, as NASRec's scripts use them;
- `subnets_per_step` (arch/train/sandwich.py; 16 by default): each step's batch split among that many
  sampled subnets in one update -- with one subnet per step the wide space's shared weights learned
  nothing in 1500 steps (benchmarks/bench_supernet_learning.py), with 8 they rank, with 16 better (README);
- `sandwich_students` and `distill_weight` (arch/train/sandwich.py): the sandwich rule with in-place
  distillation from the full supernet (BigNAS/OFA);
- `embedding_lr` and `embedding_l2`: the tables' own learning rate, and an L2 penalty on the rows a
  batch reads;
- a data spec ending in `:stream` (synthetic data): fresh rows for every batch, so more steps never
  repeat a row (arch/data/synthetic.py);
- `sparse_embeddings`: embedding tables get sparse gradients and a sparse optimizer (sparse
  Adagrad, or SparseAdam beside Adam), as recommender trainers do: a step updates the rows it read,
  not every row of every table. Gradient clipping then covers the dense parameters only (the
  embedding rows' per-element Adagrad/Adam steps are bounded by the optimizer itself);
- `embedding_optimizer`: "rowwise" trains the tables with row-wise Adagrad (FBGEMM's
  EXACT_ROWWISE_ADAGRAD, arch/train/rowwise.py: one accumulated mean squared gradient per row), so
  their optimizer state in CKPT.resume is rows x 1 instead of the tables' size (twice it with Adam);
- `optimizer_state_dtype`: "bf16" keeps the dense optimizer's state in bfloat16 during training
  (arch/train/bf16_state.py), half of CKPT.resume, at a measured cost in log loss and step time.
"""

from __future__ import annotations

import itertools
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from recpim.arch.data.datasets import CtrDataset
from recpim.arch.data.location import data_fingerprint, resolve_data_spec
from recpim.arch.data.parsing import CtrBatch
from recpim.arch.model.modules import SlicedLinear
from recpim.arch.model.space import SearchSpace, get_space
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    RESUME_FORMAT,
    ResumeState,
    RunProvenance,
    SupernetCheckpoint,
    load_training_state,
    load_weights,
    read_checkpoint,
    save_snapshot,
)
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.device import Precision, PrecisionPolicy, resolve_device
from recpim.arch.train.distributed import (
    DistContext,
    RankLost,
    agree_to_stop,
    average_gradients,
    broadcast_parameters,
    mean_over_ranks,
)
from recpim.arch.train.optimizers import clip_gradients, make_optimizer
from recpim.arch.train.sandwich import supernet_step_loss
from recpim.errors import ConfigError, DataError, RecpimError
from recpim.interrupts import StopRequested, deferred_interrupts
from recpim.paths import check_output_file

# torch's sparse Adagrad builds its sparse tensors from indices it just coalesced; its notice that
# invariant checks are off by default says nothing about this use.
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

class TrainingDivergedError(RecpimError):
    """The loss became NaN or infinite (learning rate too high?): training stopped."""

    def __init__(self, message: str, loss: float):
        super().__init__(message)
        self.loss = loss


_PINNED_THREADS: int | None = None


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads and return them: `threads` (which then sticks: later automatic
    calls keep it), else $RECPIM_THREADS, else the cores this process may use minus the current
    load (1-minute load average), at least 1. Why: torch's OpenMP threads spin at every parallel
    region; on a machine whose cores are busy with other work, more threads than idle cores turn
    each small op into a wait for a descheduled thread (measured on a loaded 2-core machine: a
    512-row forward took 4 s with 2 threads and 0.8 s with 1)."""
    global _PINNED_THREADS
    if threads is not None:
        _PINNED_THREADS = max(1, threads)
    elif _PINNED_THREADS is not None:
        threads = _PINNED_THREADS
    elif os.environ.get("RECPIM_THREADS", "").isdigit():
        threads = int(os.environ["RECPIM_THREADS"])
    else:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cores = os.cpu_count() or 1
        try:
            load = os.getloadavg()[0]
        except OSError:  # pragma: no cover
            load = 0.0
        threads = int(min(cores, round(cores - load + 0.5)))
    threads = max(1, threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def init_weights(model: nn.Module, scheme: str) -> None:
    """"xavier": Xavier-uniform weights and zero biases for every linear layer (NASRec's scripts);
    "torch": keep nn.Linear's initialisation. Embeddings and norms are left as they are."""
    if scheme == "torch":
        return
    for module in model.modules():
        if isinstance(module, SlicedLinear | nn.Linear) and module.weight.numel():
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def train_step(model: nn.Module, logits_fn: Callable[[CtrBatch], torch.Tensor] | None, batch: CtrBatch,
               optimizer: torch.optim.Optimizer, scheduler: Any, grad_clip_norm: float | None, *,
               policy: PrecisionPolicy | None = None, scaler: torch.amp.GradScaler | None = None,
               distributed: DistContext | None = None,
               loss_fn: Callable[[CtrBatch], torch.Tensor] | None = None) -> float:
    """One step: BCE loss (or `loss_fn(batch)` when given: the sandwich rule's several forwards,
    arch/train/sandwich.py), backward, clip, Adagrad, schedule; returns the loss (of the global
    batch when `distributed`: the ranks' gradients and losses are averaged, arch/train/distributed.py).
    `policy` runs the forward under autocast; `scaler` (fp16) scales the loss and skips steps
    whose gradients overflowed. A non-finite loss raises TrainingDivergedError before anything is
    updated."""
    def compute() -> torch.Tensor:
        if loss_fn is not None:
            return loss_fn(batch).float()
        return F.binary_cross_entropy_with_logits(logits_fn(batch).float(), batch.label)

    if policy is not None:
        with policy.autocast():
            loss = compute()
    else:
        loss = compute()
    if not bool(torch.isfinite(loss.detach())):
        raise TrainingDivergedError(f"the loss is {float(loss.detach())}", float(loss.detach()))
    optimizer.zero_grad(set_to_none=True)
    (loss if scaler is None else scaler.scale(loss)).backward()
    average_gradients(model, distributed)  # before unscaling, so every rank sees the same overflow
    parts = getattr(optimizer, "parts", [optimizer])
    if scaler is not None:
        for part in parts:
            scaler.unscale_(part)
    if grad_clip_norm is not None:  # dense gradients only, see the module docstring
        grads = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
        clip_gradients(grads, grad_clip_norm)
    if scaler is None:
        optimizer.step()
    else:
        for part in parts:
            scaler.step(part)
        scaler.update()
    scheduler.step()
    return mean_over_ranks(float(loss.detach()), distributed, batch.label.device)


def steps_per_epoch(dataset: CtrDataset, batch_size: int) -> int:
    if dataset.train_stream is not None:
        raise ConfigError("training", [("steps", f"{dataset.name} streams its train split (no epoch to count): give "
                                                 "the number of steps")])
    rows = dataset.split_sizes()["train"]
    if rows < batch_size:
        raise DataError(f"{dataset.name}: the train split has {rows} rows, fewer than one batch of {batch_size}")
    return rows // batch_size


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train_batches(dataset: CtrDataset, batch_size: int, seed: int, start_step: int = 0,
                  shard: slice | None = None) -> Iterator[CtrBatch]:
    """Endless full train batches, shuffled per epoch by (seed, epoch), from batch `start_step` on;
    with `shard`, only those rows of each (global) batch (a data-parallel rank's part). A streamed
    train split (synthetic ...:stream) gives fresh rows for every batch instead, batch k seeded by
    (seed, k), so a resumed run continues the same stream."""
    if dataset.train_stream is not None:
        for index in itertools.count(start_step):
            chunk = dataset.train_stream.batch(seed, index, batch_size)
            yield (chunk if shard is None else chunk.take(np.arange(batch_size)[shard])).to_batch(copy=False)
        return
    per_epoch = steps_per_epoch(dataset, batch_size)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        batches = dataset.batches("train", batch_size, shuffle_seed=_epoch_seed(seed, epoch), drop_last=True,
                                  shard=shard)
        yield from itertools.islice(batches, skip, None)
        epoch, skip = epoch + 1, 0


@dataclass
class TrainResult:
    """What a training call did: the model (trained in place), how far the run is, its losses."""

    model: nn.Module
    config: TrainConfig
    step: int                  # steps done so far (== total_steps when finished)
    total_steps: int
    losses: list[float] = field(default_factory=list)  # of the steps run by this call
    seconds: float = 0.0
    checkpoint: Path | None = None

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps

    def to_dict(self) -> dict[str, Any]:
        tail = self.losses[-50:]
        return {"step": self.step, "total_steps": self.total_steps, "finished": self.finished,
                "steps_run": len(self.losses), "mean_loss_last_50": float(np.mean(tail)) if tail else None,
                "seconds": round(self.seconds, 3), "steps_per_second": round(len(self.losses) / self.seconds, 3)
                if self.seconds > 0 else None, "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                "config": self.config.model_dump(mode="json")}


@dataclass(frozen=True)
class LoadedSupernet:
    """A supernet with a checkpoint's weights, and that checkpoint (its space, config, step, data)."""

    supernet: Supernet
    checkpoint: SupernetCheckpoint

    @property
    def config(self) -> TrainConfig:
        return self.checkpoint.config

    @property
    def space(self) -> SearchSpace:
        return self.checkpoint.space


def load_supernet(path: Path | str, device: str | torch.device = "cpu") -> LoadedSupernet:
    """The supernet of the checkpoint at `path`, with its weights, on `device` (the checkpoint is
    read onto the CPU, map_location, whatever device wrote it), in eval mode."""
    checkpoint = read_checkpoint(path)
    with torch.random.fork_rng(devices=[]):
        supernet = Supernet(checkpoint.space, checkpoint.schema, checkpoint.config.input_sharing)
    load_weights(supernet, checkpoint.model, checkpoint.path)
    supernet.to(resolve_device(device))
    supernet.eval()
    return LoadedSupernet(supernet, checkpoint)


# ---- the loop
def _progress(enabled: bool, total: int, start: int, title: str):

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        TextColumn("loss {task.fields[loss]}"), disable=not enabled, transient=False)
    task = progress.add_task(title, total=total, completed=start, loss="-")
    return progress, task


def run_training(model: nn.Module, logits_fn: Callable[[CtrBatch, int], torch.Tensor] | None, dataset: CtrDataset,
                 config: TrainConfig, *, checkpoint: Path | str | None = None, resume: ResumeState | None = None,
                 provenance: RunProvenance | None = None, until_step: int | None = None, progress: bool = False,
                 title: str = "training", device: str | torch.device = "cpu", precision: Precision = "fp32",
                 distributed: DistContext | None = None,
                 loss_fn: Callable[[CtrBatch, int], torch.Tensor] | None = None,
                 stop_when: Callable[[int], bool] | None = None,
                 on_step: Callable[[nn.Module, int, float, list[float]], None] | None = None) -> TrainResult:
    """The recipe's loop over `logits_fn(batch, step)`. With `checkpoint`, saves state dicts there;
    `resume` (load_training_state) continues where it stopped; `provenance` is saved beside the
    weights (a supernet run's space, schema and data); `until_step` stops early
    (the checkpoint then lets a later call continue). `device` and `precision`: arch/train/device.py;
    `distributed`: data-parallel ranks (arch/train/distributed.py; rank 0 alone saves and shows progress).
    `loss_fn(batch, step)`, when given, is the step's loss instead of BCE on `logits_fn`'s logits
    (which may then be None). `stop_when(steps_done)`, called after every step, ends the run early
    when it returns True (early stopping: arch/train/scoring.py train_standalone_converged).
    `on_step(model, steps_done, loss, learning_rates)`, called after every step (arch/train/tensorboard.py)."""
    if (logits_fn is None) == (loss_fn is None):
        raise ConfigError("run_training", [("logits_fn", "give logits_fn or loss_fn, one of them")])
    configure_threads()
    device = resolve_device(device)
    policy = PrecisionPolicy(device, precision)
    scaler = policy.grad_scaler()
    if checkpoint is not None and (distributed is None or distributed.is_main):   # rank 0 alone writes
        check_output_file(checkpoint, "--out (checkpoint)")
    total = config.steps or steps_per_epoch(dataset, config.batch_size)
    model.to(device)
    broadcast_parameters(model, distributed)
    optimizer, scheduler = make_optimizer(model, config, total)
    start, losses_tail = 0, []
    if resume is not None:
        load_weights(model, resume.model, checkpoint or "the resume state")
        if resume.continues_optimizer:       # a finished run's checkpoint has none (nothing is left to run)
            optimizer.load_state_dict(resume.optimizer)
            scheduler.load_state_dict(resume.scheduler)
            torch.set_rng_state(resume.rng_torch)
        start, losses_tail = resume.step, list(resume.losses_tail)
    stop = total if until_step is None else min(total, until_step)
    result = TrainResult(model, config, start, total)
    if checkpoint is not None:
        result.checkpoint = Path(checkpoint)

    saved_steps: list[int] = ([start] if resume is not None else [])   # the steps saved at `checkpoint`

    def snapshot(step: int) -> None:
        if checkpoint is None or (distributed is not None and not distributed.is_main):
            return
        snapshot_id = f"{os.getpid()}-{time.time_ns()}-{step}"   # ties CKPT and CKPT.resume of one save
        state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model": model.state_dict(),
                 "step": step, "total_steps": total, "snapshot": snapshot_id,
                 "config": config.model_dump(mode="json"), "losses_tail": (losses_tail + result.losses)[-200:]}
        resume_state = None if step >= total else {   # finished: the optimizer state has no further use
            "format": RESUME_FORMAT, "version": CHECKPOINT_VERSION, "snapshot": snapshot_id, "step": step,
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state()}}
        # the previous pair stays whole until this one is (checkpoints.save_snapshot)
        save_snapshot(checkpoint, {**state, **(provenance.to_state() if provenance is not None else {})},
                      resume_state)
        saved_steps.append(step)

    model.train()
    shard = distributed.shard(config.batch_size) if distributed is not None else None
    batches = train_batches(dataset, config.batch_size, config.seed, start, shard=shard)
    bar, task = _progress(progress and (distributed is None or distributed.is_main), total, start, title)
    began = time.perf_counter()
    step = start
    try:
        with bar, deferred_interrupts() as interrupts:
            for step in range(start, stop):
                agree_to_stop(interrupts, distributed, device)   # a step boundary: the state is consistent
                batch = CtrBatch(*(t.to(device, non_blocking=True) for t in next(batches)))
                learning_rates = scheduler.get_last_lr() if on_step is not None else []   # this step's
                loss = train_step(model, None if logits_fn is None else (lambda b, s=step: logits_fn(b, s)),
                                  batch, optimizer, scheduler,
                                  config.grad_clip_norm, policy=policy, scaler=scaler, distributed=distributed,
                                  loss_fn=None if loss_fn is None else (lambda b, s=step: loss_fn(b, s)))
                result.losses.append(loss)
                result.step = step + 1
                bar.update(task, advance=1, loss=f"{loss:.4f}")
                if on_step is not None:
                    on_step(model, result.step, loss, learning_rates)
                if config.checkpoint_every and result.step % config.checkpoint_every == 0 and result.step < stop:
                    snapshot(result.step)
                if stop_when is not None and stop_when(result.step):
                    break
            snapshot(result.step)   # still deferred: a signal now cannot cut the final save short
    except StopRequested:
        with deferred_interrupts():
            snapshot(result.step)
        raise
    except TrainingDivergedError as error:
        raise _diverged(error, result.step, checkpoint, model, snapshot, saved_steps) from None
    except RankLost as lost:      # another rank died: rank 0 keeps the last completed step (issue 26)
        saved = result.step + int(lost.updated)   # a failure after the update: that step is complete
        if checkpoint is not None and distributed is not None and distributed.is_main:
            with deferred_interrupts():
                snapshot(saved)
            raise RankLost(f"{lost}; rank 0 saved step {saved} in {checkpoint}: continue with the same options "
                           "and --resume (with any number of ranks)") from None
        raise
    finally:
        result.seconds = time.perf_counter() - began
    model.eval()
    return result


def _diverged(error: TrainingDivergedError, step: int, checkpoint: Path | str | None, model: nn.Module,
              snapshot: Callable[[int], None], saved_steps: list[int]) -> TrainingDivergedError:
    """The error for a non-finite loss at step `step`, after saving the state before that step when
    every weight is still finite (otherwise the checkpoint on disk, if any, is the last finite one)."""
    what = f"training stopped at step {step + 1}: {error} (a learning rate too high for the data?)"
    if checkpoint is None:
        return TrainingDivergedError(what, error.loss)
    if all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        snapshot(step)
        kept = f"{checkpoint} holds the last finite state (step {step})"
    elif saved_steps:
        kept = f"{checkpoint} keeps the last checkpoint written with finite weights (step {saved_steps[-1]})"
    else:
        kept = "no checkpoint was written: the weights were non-finite before any save (try --checkpoint-every)"
    return TrainingDivergedError(f"{what}; {kept}", error.loss)


def train_supernet(dataset: CtrDataset, config: TrainConfig | None = None, *, space: SearchSpace | None = None,
                   checkpoint: Path | str | None = None,
                   resume: bool = False, until_step: int | None = None, progress: bool = False,
                   device: str | torch.device = "cpu", precision: Precision = "fp32",
                   distributed: DistContext | None = None, start_if_missing: bool = False,
                   probes: Callable[[Supernet, int], None] | None = None,
                   on_step: Callable[[nn.Module, int, float, list[float]], None] | None = None) -> TrainResult:
    """Train the supernet of `space` (default: the built-in space `config.space` names, which a
    given space must carry as its name) on `dataset`'s train split with NASRec's recipe.

    resume=True continues from `checkpoint` (which must hold a run of the same config); without a
    checkpoint file there it refuses (ConfigError), unless start_if_missing=True (`--resume-or-start`),
    which then starts at step 0. The checkpoint records the data's absolute path and fingerprint
    (arch/data/location.py). device, precision, distributed: run_training (none of them is part of
    the config: a run may resume on another device or with another number of ranks). `probes(supernet,
    step)` is called after every step (arch/train/probes.py logs fixed subnets' losses); `on_step`:
    run_training's."""
    config = config or TrainConfig()
    if space is None:
        space = get_space(config.space)
    elif space.name != config.space:
        raise ConfigError("train_supernet", [("space", f"{space.name!r}; the config names {config.space!r}")])
    if checkpoint is not None and (distributed is None or distributed.is_main):   # rank 0 alone writes
        check_output_file(checkpoint, "--out (checkpoint)")
    resume_state: ResumeState | None = None
    if resume:
        if checkpoint is None:
            raise ConfigError("train_supernet", [("checkpoint", "resume needs the checkpoint path")])
        if not Path(checkpoint).is_file() and not start_if_missing:
            raise ConfigError("--resume", [(str(checkpoint), "no checkpoint there to continue; train without "
                                                             "--resume to start at step 0, or pass "
                                                             "--resume-or-start to do that when none exists")])
        if Path(checkpoint).is_file():
            resume_state = load_training_state(checkpoint)
            saved = resume_state.config
            if saved != config:
                changed = sorted(k for k in TrainConfig.model_fields if getattr(saved, k) != getattr(config, k))
                raise ConfigError(f"resume {checkpoint}", [(k, f"checkpoint has {getattr(saved, k)!r}, this run "
                                                              f"{getattr(config, k)!r}") for k in changed])
            if resume_state.schema != dataset.schema:
                raise ConfigError(f"resume {checkpoint}", [("schema", "the dataset's schema differs from the "
                                                                      "checkpoint's")])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        supernet = Supernet(space, dataset.schema, config.input_sharing)
        init_weights(supernet, config.init)
    warmup_steps = int(round(config.full_path_fraction * (config.steps or steps_per_epoch(dataset, config.batch_size))))

    shard = distributed.shard(config.batch_size) if distributed is not None else None

    def loss(batch: CtrBatch, step: int) -> torch.Tensor:
        return supernet_step_loss(supernet, space, config, warmup_steps, batch, step, shard)

    provenance = RunProvenance(space=space, schema=dataset.schema, data_path=resolve_data_spec(config.data),
                               data_fingerprint=data_fingerprint(config.data))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return run_training(supernet, None, dataset, config, checkpoint=checkpoint, resume=resume_state,
                            provenance=provenance, until_step=until_step, progress=progress, title="supernet",
                            device=device, precision=precision, distributed=distributed, loss_fn=loss,
                            stop_when=None if probes is None else (lambda step: bool(probes(supernet, step))),
                            on_step=on_step)

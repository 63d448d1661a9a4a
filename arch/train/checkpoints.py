"""Supernet checkpoint files: CKPT (weights, step, config, space, schema, data) and CKPT.resume
(optimizer, schedule and RNG state of an unfinished run), plain state dicts written atomically and
read with torch.load(weights_only=True).

`read_checkpoint(path) -> SupernetCheckpoint` is the typed view every reader uses: the search
space travels in it as an object (no registry to prime), with the schema, the TrainConfig, the
step and the weights. `read_resume_state(path) -> ResumeState` is what a run continues from, and
`RunProvenance` what a supernet run saves beside its weights (space, schema, data). The
string-keyed dicts stay at the disk boundary (this module); torch's optimizer and scheduler state
dicts travel as torch gives them."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recpim.arch.data.location import DataFingerprint
from recpim.arch.data.schema import DatasetSchema
from recpim.arch.model.space import SearchSpace
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.packing import pack_state, unpack_state
from recpim.errors import ConfigError, RecpimError

CHECKPOINT_FORMAT = "recpim-supernet-checkpoint"
RESUME_FORMAT = "recpim-training-resume-state"
# 2: input sharing, full-path warm-up, sparse embedding optimizer state (all in one file)
# 3: the optimizer, schedule and RNG state in CKPT.resume beside the weights (removed when finished)
CHECKPOINT_VERSION = 3
READABLE_VERSIONS = (2, 3)


# Room kept free beyond a save's own bytes (zip headers, the file system's metadata).
SPACE_MARGIN_BYTES = 1 << 20


class CheckpointWriteError(RecpimError):
    """A checkpoint could not be written (no space left, a read-only file system ...); the previous
    checkpoint, if any, is kept whole."""


def state_bytes(state: Any) -> int:
    """The bytes of the tensors in a (nested) state dict: what torch.save writes, within its headers."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(state_bytes(value) for value in state.values())
    if isinstance(state, list | tuple):
        return sum(state_bytes(value) for value in state)
    return 0


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _no_space(path: Path, needed: int, free: int | None) -> CheckpointWriteError:
    have = f"{_mb(free)} free" if free is not None else "too little free"
    return CheckpointWriteError(f"no space left on device for the checkpoint {path}: this save needs about "
                                f"{_mb(needed)} and {path.parent} has {have}; the previous checkpoint there (if any) "
                                "is kept whole: free some space (or give another --out) and continue with --resume")


def require_space(path: Path | str, needed: int) -> None:
    """CheckpointWriteError (no space left on device, with both sizes) unless `path`'s folder has room
    for `needed` bytes more: checked before writing, so a full disk never cuts a save short."""
    path = Path(path)
    free = _free_bytes(path.parent)
    if free is not None and free < needed + SPACE_MARGIN_BYTES:
        raise _no_space(path, needed, free)


def save_checkpoint(path: Path | str, state: dict[str, Any]) -> Path:
    """Write atomically (a partly written file never replaces a good one); a full disk is told as
    such, with the bytes needed and free."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        torch.save(state, partial)
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)   # never leave a half-written file behind
        if isinstance(error, OSError | RuntimeError):   # torch reports unopenable files as RuntimeError
            needed, free = state_bytes(state), _free_bytes(path.parent)
            full = getattr(error, "errno", None) == errno.ENOSPC or "unexpected pos" in str(error) or \
                "No space left" in str(error) or (free is not None and free < needed + SPACE_MARGIN_BYTES)
            if full:
                raise _no_space(path, needed, free) from None
            raise CheckpointWriteError(f"cannot write the checkpoint {path}: {error}") from None
        raise
    return path


def pending_resume_path(checkpoint: Path | str) -> Path:
    """A save's new CKPT.resume while its CKPT is being written (CKPT.resume.next)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".resume.next")


def save_snapshot(checkpoint: Path | str, state: dict[str, Any], resume: dict[str, Any] | None) -> None:
    """One save of a run: CKPT and, for an unfinished run, CKPT.resume (None: the run finished, and its
    CKPT.resume is removed). The previous good pair stays until the new one is whole: the free space
    is checked first; the new resume state is written beside the old one (CKPT.resume.next), then
    CKPT replaces the old CKPT atomically, and only then does CKPT.resume.next become CKPT.resume
    (a reader also finds it there, by the snapshot id both carry, should the process die in between).
    A failed write removes what it began and leaves the previous CKPT and CKPT.resume as they were."""
    checkpoint = Path(checkpoint)
    pending = pending_resume_path(checkpoint)
    if resume is not None and "optimizer" in resume:
        resume = {**resume, "optimizer": pack_state(resume["optimizer"])}   # exact: arch/train/packing.py
    require_space(checkpoint, state_bytes(state) + (state_bytes(resume) if resume is not None else 0))
    if resume is not None:
        save_checkpoint(pending, resume)
    try:
        save_checkpoint(checkpoint, state)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    if resume is not None:
        os.replace(pending, resume_state_path(checkpoint))
    else:
        resume_state_path(checkpoint).unlink(missing_ok=True)


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """A checkpoint's state dicts, read with weights_only=True; ConfigError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), [("", "checkpoint file not found")])
    _require_torch_archive(path, f"not a recpim checkpoint ({CHECKPOINT_FORMAT})")
    try:
        # mmap: tensors are read when used, so loading a supernet for scoring skips the optimizer state
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        raise ConfigError(str(path), [("", f"not a readable checkpoint: {error}")]) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(str(path), [("format", f"not a {CHECKPOINT_FORMAT} file")])
    if state.get("version") not in READABLE_VERSIONS:
        raise ConfigError(str(path), [("version", f"{state.get('version')}; this recpim reads "
                                                  f"{', '.join(map(str, READABLE_VERSIONS))}")])
    return state


def _require_torch_archive(path: Path, what: str) -> None:
    """A ConfigError naming `path` unless it starts like a file torch.save writes (a zip archive):
    an empty, truncated-to-nothing or foreign file is told as such, not by torch's unpickler."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise ConfigError(str(path), [("", f"cannot be read: {error.strerror or error}")]) from None
    if not head:
        raise ConfigError(str(path), [("", f"{what}: the file is empty")])
    if head != b"PK\x03\x04":
        raise ConfigError(str(path), [("", f"{what}: not a file written by torch.save (no zip archive header)")])


def load_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], source: Path | str) -> None:
    """module.load_state_dict(weights), with missing, unexpected and wrongly shaped tensors told as a
    ConfigError naming `source` and each tensor (the checkpoint does not belong to this model)."""
    expected = module.state_dict()
    problems = [(key, "missing from the checkpoint") for key in expected if key not in weights]
    problems += [(key, "not a tensor of this model") for key in weights if key not in expected]
    problems += [(key, f"shape {tuple(weights[key].shape)} in the checkpoint, {tuple(tensor.shape)} in the model")
                 for key, tensor in expected.items()
                 if key in weights and tuple(weights[key].shape) != tuple(tensor.shape)]
    if problems:
        shown = problems[:8] + ([("...", f"{len(problems) - 8} more")] if len(problems) > 8 else [])
        raise ConfigError(f"{source} (weights do not fit the model its config describes; a damaged or edited "
                          "checkpoint?)", shown)
    module.load_state_dict(weights)


@dataclass(frozen=True)
class SupernetCheckpoint:
    """A supernet checkpoint (CKPT) as read; the resume state of an unfinished run stays in CKPT.resume."""

    path: Path
    version: int
    space: SearchSpace
    schema: DatasetSchema
    config: TrainConfig
    step: int                             # steps trained (== total_steps when finished)
    total_steps: int
    model: dict[str, torch.Tensor]        # the supernet's state dict (memory-mapped)
    losses_tail: tuple[float, ...]
    data: str                             # the data's resolved path (older checkpoints: the spec as given)
    data_fingerprint: DataFingerprint | None
    snapshot: str | None                  # ties CKPT to its CKPT.resume (version 3)

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps


def read_checkpoint(path: Path | str) -> SupernetCheckpoint:
    """The typed checkpoint at `path`; ConfigError if it is not one (or lacks a field)."""
    path = Path(path)
    state = load_checkpoint(path)
    missing = [key for key in ("model", "space", "schema", "config", "step", "total_steps") if key not in state]
    if missing:
        raise ConfigError(str(path), [(key, "missing from the checkpoint") for key in missing])
    config = TrainConfig(**state["config"])
    return SupernetCheckpoint(
        path=path, version=int(state["version"]), space=SearchSpace(**state["space"]),
        schema=DatasetSchema(**state["schema"]), config=config, step=int(state["step"]),
        total_steps=int(state["total_steps"]), model=state["model"],
        losses_tail=tuple(float(x) for x in state.get("losses_tail", ())),
        data=state.get("data_path") or config.data,
        data_fingerprint=DataFingerprint.from_dict(state.get("data_fingerprint")),
        snapshot=state.get("snapshot"))


def resume_state_path(checkpoint: Path | str) -> Path:
    """Where the optimizer, schedule and RNG state of an unfinished run live: CKPT.resume."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".resume")


@dataclass(frozen=True)
class RunProvenance:
    """What a supernet run saves beside its weights, so every reader knows what it was trained on."""

    space: SearchSpace
    schema: DatasetSchema
    data_path: str                          # the data spec with its path made absolute
    data_fingerprint: DataFingerprint | None

    def to_state(self) -> dict[str, Any]:
        return {"space": self.space.model_dump(mode="json"), "schema": self.schema.model_dump(mode="json"),
                "data_path": self.data_path,
                "data_fingerprint": None if self.data_fingerprint is None else self.data_fingerprint.to_dict()}


@dataclass(frozen=True)
class ResumeState:
    """What a run continues from: the checkpoint's weights and step and, for an unfinished run, the
    optimizer, schedule and RNG state of CKPT.resume (a finished run has none: nothing is left)."""

    config: TrainConfig
    schema: DatasetSchema | None             # None: a standalone run's checkpoint (no schema saved)
    step: int
    model: dict[str, torch.Tensor]
    losses_tail: tuple[float, ...]
    optimizer: dict[str, Any] | None = None   # torch's optimizer.state_dict()
    scheduler: dict[str, Any] | None = None
    rng_torch: torch.Tensor | None = None

    @property
    def continues_optimizer(self) -> bool:
        return self.optimizer is not None


def load_training_state(checkpoint: Path | str) -> ResumeState:
    """A checkpoint with its resume state (what run_training's `resume` takes). A finished run
    needs none; an unfinished one refuses a missing or mismatched CKPT.resume."""
    state = load_checkpoint(checkpoint)
    resume = state
    if "optimizer" not in state and state["step"] < state["total_steps"]:   # version 3, something left to run
        resume = _read_resume_file(checkpoint, state)
    return ResumeState(
        config=TrainConfig(**state["config"]),
        schema=DatasetSchema(**state["schema"]) if "schema" in state else None,
        step=int(state["step"]), model=state["model"],
        losses_tail=tuple(float(x) for x in state.get("losses_tail", ())),
        optimizer=resume.get("optimizer"), scheduler=resume.get("scheduler"),
        rng_torch=resume["rng"]["torch"] if "rng" in resume else None)


def _read_resume_file(checkpoint: Path | str, state: dict[str, Any]) -> dict[str, Any]:
    extra_path = resume_state_path(checkpoint)
    pending = pending_resume_path(checkpoint)
    if pending.is_file():        # the process died after CKPT was replaced, before CKPT.resume was
        try:
            extra = _load_resume(pending)
        except ConfigError:
            extra = None
        if extra is not None and extra.get("snapshot") == state.get("snapshot"):
            return extra
    if not extra_path.is_file():
        raise ConfigError(f"resume {checkpoint}", [(str(extra_path), "the optimizer state of this unfinished run is "
                                                                     "missing; without it the run cannot continue "
                                                                     "(train again without --resume)")])
    extra = _load_resume(extra_path)
    if extra.get("snapshot") != state.get("snapshot"):
        raise ConfigError(f"resume {checkpoint}", [(str(extra_path), f"is from another save (step {extra.get('step')}, "
                                                                     f"the checkpoint's is {state['step']}): the "
                                                                     "process died between the two writes; train "
                                                                     "again without --resume")])
    return extra


def _load_resume(extra_path: Path) -> dict[str, Any]:
    _require_torch_archive(extra_path, f"not a recpim resume state ({RESUME_FORMAT})")
    try:
        extra = torch.load(extra_path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise ConfigError(str(extra_path), [("", f"not a readable resume state: {error}")]) from None
    if not isinstance(extra, dict) or extra.get("format") != RESUME_FORMAT:
        raise ConfigError(str(extra_path), [("format", f"not a {RESUME_FORMAT} file")])
    try:
        return unpack_state(extra)
    except (KeyError, TypeError, IndexError, ValueError, RuntimeError) as error:
        raise ConfigError(str(extra_path), [("optimizer", f"a damaged packed tensor ({error}); train again "
                                                          "without --resume")]) from None


def read_resume_tensors(checkpoint: Path | str) -> dict[str, Any]:
    """An unfinished run's CKPT.resume as the run saved it (optimizer state unpacked)."""
    return _read_resume_file(checkpoint, load_checkpoint(checkpoint))

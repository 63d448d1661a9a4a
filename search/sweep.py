"""Sweeps: a grid over chip config keys (the rest fixed), run in parallel, cached by resolved config.

    settings = parse_settings(["crossbar.rows=64,128,256,512", "adc.bits=4..10"])
    result = run_sweep("dlrm", load_chip("isaac"), settings)
    result.write(out_dir)            # sweep.json, sweep.csv, inputs.json

Each grid point gets a status: "ok" (figures filled), "invalid" (the chip validators reject the
combination, e.g. rows_read_at_once > rows), "infeasible" (the model does not fit the chip:
CapacityError) or "error" (another RecpimError from the engine). None of these stops the sweep;
the message says why. Finished points go to a JSON cache as they complete, keyed by a hash of
the fully resolved chip, the model spec, the engine, the batch and the recpim version, so an
interrupted or repeated sweep only computes what is missing.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recpim import __version__
from recpim.arch.model.spec import resolve_model_spec
from recpim.errors import CapacityError, ConfigError, RecpimError
from recpim.mapping.cost import simulate_model_detailed
from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.pim.engine import ENGINES, Engine
from recpim.search.executor import make_executor
from recpim.search.progress import eta_bar
from recpim.search.sweep_result import METRICS, STATUSES, PointOutcome, SweepPoint, SweepResult, figures_of
from recpim.validation import get_dotted

__all__ = ["METRICS", "STATUSES", "SweepPoint", "SweepResult", "cache_key", "evaluate_point", "figures_of",
           "parse_setting", "parse_settings", "run_sweep", "validate_keys"]

CACHE_ENTRY_VERSION = 2   # 2: entries hold adc_lossy_layers (older ones are computed again)
DEFAULT_CACHE_DIR = Path("out/cache")
_INT_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
_SETTING_FORMS = "KEY=V1,V2,... (a list) or KEY=A..B (integers A to B inclusive)"
# Keys that set the model's bit widths (zoo and imported models) rather than a chip value.
MODEL_KEYS = ("model.weight_bits", "model.activation_bits")


def parse_value(text: str) -> Any:
    """'64' -> 64, '0.5' -> 0.5, 'true' -> True, 'none' -> None, anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if not text.isascii():     # int() and float() read full-width and other Unicode digits ('８' -> 8)
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """Parse one `--set` argument: 'crossbar.rows=64,128,256' or 'adc.bits=4..10'."""
    key, sep, values = text.partition("=")
    key, values = key.strip(), values.strip()
    if not sep or not key or not values:
        raise ConfigError("sweep setting", [(text, f"expected {_SETTING_FORMS}")])
    if ".." in values:
        match = _INT_RANGE.match(values)
        if match is None:
            raise ConfigError("sweep setting", [(key, f"range {values!r} is not A..B with integers A <= B; "
                                                      "list other values with commas, e.g. 0.5,1.0,2.0")])
        start, end = int(match.group(1)), int(match.group(2))
        if start > end:
            raise ConfigError("sweep setting", [(key, f"range {values!r} runs backwards; allowed: A..B with A <= B")])
        return key, list(range(start, end + 1))
    items = [item.strip() for item in values.split(",")]
    if any(not item for item in items):
        raise ConfigError("sweep setting", [(key, f"empty value in {values!r}; expected {_SETTING_FORMS}")])
    return key, [parse_value(item) for item in items]


def parse_settings(texts: list[str]) -> dict[str, list[Any]]:
    """Parse several `--set` arguments into {key: values} in the order given; a key may appear once."""
    settings: dict[str, list[Any]] = {}
    for text in texts:
        key, values = parse_setting(text)
        if key in settings:
            raise ConfigError("sweep setting", [(key, "set twice; give all its values in one --set")])
        settings[key] = values
    return settings


def validate_keys(chip: ChipConfig, settings: dict[str, list[Any]]) -> None:
    """Every key must name a leaf of the chip config (not a section), with at least one value."""
    if not settings:
        raise ConfigError("sweep settings", [("", f"nothing to sweep; give at least one {_SETTING_FORMS}")])
    data = chip.model_dump()
    problems = []
    for key, values in settings.items():
        if key in MODEL_KEYS:
            bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 32]
            if bad:
                problems.append((key, f"got {bad}; allowed: integers 1..32"))
            continue
        if key.startswith("model."):
            problems.append((key, f"not a model key a sweep takes; allowed: {', '.join(MODEL_KEYS)} (every other "
                                  f"key is a chip key: {', '.join(sorted(data))})"))
            continue
        try:
            node = get_dotted(data, key, root="the chip")
        except ConfigError as error:
            problems += [(key, message) for _, message in error.problems]
        else:
            if isinstance(node, dict):
                leaves = ", ".join(f"{key}.{name}" for name in sorted(node))
                problems.append((key, f"names a section, not a value; allowed: {leaves}"))
            elif isinstance(node, bool | int | float):   # a number or switch: a text value is a typo, never valid
                texts = [v for v in values if isinstance(v, str)]
                if texts:
                    wanted = "true/false" if isinstance(node, bool) else "numbers (ASCII digits)"
                    problems.append((key, f"got {texts}; allowed: {wanted} (the chip has {node!r})"))
        if not values:
            problems.append((key, "no values to sweep"))
    if problems:
        raise ConfigError("sweep settings", problems)


def grid_size(settings: dict[str, list[Any]]) -> int:
    """Points of the grid, without building it."""
    return math.prod(len(values) for values in settings.values())


def grid(settings: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product in the order given (the last key varies fastest)."""
    keys = list(settings)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*settings.values())]


def model_fingerprint(model: str) -> dict[str, str]:
    """The model spec, plus the hash of its file's content when it names a file (so edits miss the cache)."""
    path = Path(model)
    if path.is_file():
        return {"spec": model, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {"spec": model}


def cache_key(chip: ChipConfig, model: str, engine: str, batch: int, bits: tuple[int, int] = (8, 8)) -> str:
    """A hash of everything a point's result depends on (`bits`: the model's weight and activation bits)."""
    record = {"chip": chip.model_dump(mode="json"), "model": model_fingerprint(model), "engine": engine,
              "batch": batch, "recpim_version": __version__, "entry": CACHE_ENTRY_VERSION}
    if bits != (8, 8):   # the default keeps the keys of caches written before bits could be swept
        record["bits"] = list(bits)
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=8)
def _resolved_model(model: str, bits: tuple[int, int] = (8, 8)):
    """Lower a model spec once per worker process (lowering costs more than evaluating a point)."""
    return resolve_model_spec(model, weight_bits=bits[0], activation_bits=bits[1])


def _default_simulate(model: str, chip: ChipConfig, engine: str, batch: int, bits: tuple[int, int] = (8, 8)):
    """An Evaluation (the CostReport and the mapping, which knows the ADC-lossy layers)."""
    return simulate_model_detailed(_resolved_model(model, bits), chip, engine=engine, batch=batch)


@dataclass(frozen=True)
class PointTask:
    """One grid point for a worker: the point's chip, the model spec and how to cost it."""

    chip: ChipConfig
    model: str
    engine: Engine
    batch: int
    bits: tuple[int, int] = (8, 8)                 # the model's weight and activation bits
    simulate: Callable[[str, ChipConfig, str, int], CostReport] | None = None   # None: the default


def evaluate_point(task: PointTask) -> PointOutcome:
    """Run one grid point (in a worker). Module-level so the process pool and Ray can pickle it;
    a custom `simulate` must be module-level too."""
    try:
        if task.simulate is None:
            evaluated = _default_simulate(task.model, task.chip, task.engine, task.batch, task.bits)
            return PointOutcome("ok", report=evaluated.report,
                                adc_lossy_layers=len(evaluated.mapping.adc_lossy_layers))
        return PointOutcome("ok", report=task.simulate(task.model, task.chip, task.engine, task.batch))
    except CapacityError as error:
        return PointOutcome("infeasible", str(error))
    except ConfigError as error:
        return PointOutcome("invalid", _problems_text(error))
    except RecpimError as error:
        return PointOutcome("error", f"{type(error).__name__}: {error}")


def _problems_text(error: ConfigError) -> str:
    """The problems of a rejected point on one line ('crossbar: rows_read_at_once (256) cannot exceed rows (128)')."""
    return "; ".join(f"{path}: {message.removeprefix('got {...}; allowed: Value error, ')}"
                     for path, message in error.problems)


def _read_cache(path: Path) -> PointOutcome | None:
    try:
        entry = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None   # absent or half-written by an interrupted run: compute again
    if not isinstance(entry, dict) or entry.get("status") not in STATUSES:
        return None
    try:
        return PointOutcome.from_cache_dict(entry, str(path))
    except ConfigError:
        return None   # an entry this version cannot read: compute it again


def _write_cache(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(entry, default=float))
    partial.replace(path)   # atomic: an interrupt never leaves a truncated entry under the real name


def run_sweep(model: str, chip: ChipConfig, settings: dict[str, list[Any]], engine: str = "analytic",
              batch: int = 64, backend: str = "auto", workers: int | None = None,
              cache_dir: Path | str | None = DEFAULT_CACHE_DIR, progress: bool = True, address: str | None = None,
              simulate: Callable[[str, ChipConfig, str, int], Any] | None = None,
              weight_bits: int = 8, activation_bits: int = 8) -> SweepResult:
    """Evaluate `model` on every grid point of `settings` applied to `chip`.

    cache_dir None disables the cache. `simulate(model, chip, engine, batch) -> CostReport` defaults
    to recpim.mapping.cost.simulate_model; pass a module-level function to sweep another evaluator. The
    model's bits are `weight_bits`/`activation_bits`, or swept as `model.weight_bits` and
    `model.activation_bits` (zoo and imported models; a subnet JSON carries its own bits).
    """
    if engine not in ENGINES:
        raise ConfigError("sweep", [("engine", f"got {engine!r}; allowed: {', '.join(ENGINES)}")])
    if batch < 1:
        raise ConfigError("sweep", [("batch", f"got {batch}; allowed: an integer >= 1")])
    validate_keys(chip, settings)
    cache = Path(cache_dir) if cache_dir is not None else None
    points: list[SweepPoint | None] = []
    tasks: list[tuple[int, str, dict[str, Any]]] = []   # (point index, cache key, task)
    combos = grid(settings)
    for index, point_settings in enumerate(combos):
        overrides = {k: v for k, v in point_settings.items() if k not in MODEL_KEYS}
        bits = (point_settings.get("model.weight_bits", weight_bits),
                point_settings.get("model.activation_bits", activation_bits))
        try:
            point_chip = chip.with_overrides(overrides)
        except ConfigError as error:
            points.append(SweepPoint(index, point_settings, "invalid", message=_problems_text(error)))
            continue
        key = cache_key(point_chip, model, engine, batch, bits)
        entry = _read_cache(cache / f"{key}.json") if cache is not None else None
        if entry is not None:
            points.append(SweepPoint.from_outcome(index, point_settings, entry, from_cache=True))
            continue
        points.append(None)
        tasks.append((index, key, PointTask(point_chip, model, engine, batch, bits, simulate)))
    if tasks and simulate is None:
        _resolved_model(model, (weight_bits, activation_bits))   # an unknown model fails here, once
    if tasks:
        _run_tasks(tasks, points, combos, cache, backend, workers, address, progress)
    return SweepResult(model=model, chip=chip.name, engine=engine, batch=batch, settings=dict(settings),
                       points=[point for point in points if point is not None], base_chip=chip)


def _run_tasks(tasks, points, combos, cache, backend, workers, address, progress) -> None:
    """Compute the missing points through the executor, caching each as it finishes."""
    bar = eta_bar("[bold]sweep[/] {task.description}", progress)
    with bar, make_executor(backend, workers=workers, address=address) as executor:
        bar_task = bar.add_task(f"{len(tasks)} to compute, {len(points) - len(tasks)} cached or invalid",
                                total=len(tasks))
        for position, outcome in executor.map(evaluate_point, [task for _, _, task in tasks]):
            index, key, _ = tasks[position]
            if cache is not None and outcome.status != "error":   # errors may be transient: retry next time
                _write_cache(cache / f"{key}.json", {**outcome.to_cache_dict(), "key": key})
            points[index] = SweepPoint.from_outcome(index, combos[index], outcome, from_cache=False)
            bar.advance(bar_task)

"""Report pages of the runs' own records: a supernet training (`supernet train --json`, kind
supernet_train: loss curve, bad rows, config), a subnet's score (`supernet eval --json`, kind
subnet_score), the resolved inputs every run writes (inputs.json, kind inputs), a search's
best-so-far series (best_so_far.json) and study record (study.json), a search space
(`space info --json`), a subnet JSON (`space sample`; told by its keys: it is an input format the
model resolver reads strictly) and the demo's timings.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from recpim.errors import ConfigError
from recpim.reports import plots
from recpim.reports.document import Document, ReportFiles
from recpim.reports.page_data import cell, flatten, require
from recpim.reports.search_report import best_so_far_series
from recpim.reports.writer import write_documents

DASHBOARD = "optuna-dashboard"   # the command the study page names (pip install 'recpim[dashboard]')


def _finite_pairs(series: Any, source: str, key: str) -> list[tuple[float, float]]:
    """[[x, y], ...] of finite numbers (or plain y values, x = 1..n); a ConfigError naming `key` otherwise."""
    if not isinstance(series, list):
        raise ConfigError(f"result JSON {source}", [(key, f"got {type(series).__name__}; allowed: a list")])
    try:
        steps, values = best_so_far_series(series) if series else ([], [])
    except (TypeError, ValueError):
        raise ConfigError(f"result JSON {source}", [(key, "allowed: a list of numbers or of [step, value] pairs")]) \
            from None
    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise ConfigError(f"result JSON {source}", [(f"{key}[{bad[0]}]", f"got {values[bad[0]]!r}; allowed: a finite "
                                                                          "number")])
    return list(zip(steps, values, strict=True))


def write_training_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "training") -> ReportFiles:
    """A supernet training run: how far it got, its loss curve, bad rows, the config."""
    require(data, source, step=int, total_steps=int, config=dict)
    curve = _finite_pairs(data.get("loss_curve", []), source, "loss_curve")
    out_dir.mkdir(parents=True, exist_ok=True)
    config = data["config"]
    doc = Document(f"Supernet training: {config.get('space', '?')} on {config.get('data', '?')}")
    doc.heading("Summary")
    doc.table(["figure", "value"], [[key.replace("_", " "), cell(data.get(key))] for key in (
        "step", "total_steps", "finished", "steps_run", "mean_loss_last_50", "seconds", "steps_per_second",
        "device", "precision", "ranks", "checkpoint", "checkpoint_mb", "resume_state_mb") if key in data])
    doc.heading("Loss")
    if curve:
        doc.image(plots.best_so_far_curve(out_dir / "loss_curve.png", [s for s, _ in curve], [v for _, v in curve],
                                          ylabel="training loss (BCE)", xlabel="step",
                                          title="Training loss (mean over each stretch of steps)"),
                  "training loss curve", "Each point: the mean loss of the steps since the previous point.")
    else:
        doc.paragraph("The file holds no loss curve (written by a recpim before the curve was recorded, or no "
                      "step ran in this call).")
    doc.heading("Data")
    bad = data.get("bad_rows")
    doc.paragraph("Bad rows skipped: not recorded." if bad is None else
                  f"Bad rows skipped: {bad}" + (" (none)." if bad == 0 else "; `recpim supernet train` printed the "
                                                "first ones with their file and line."))
    doc.heading("Configuration")
    doc.table(["key", "value"], [[key, cell(value)] for key, value in flatten(config)])
    return write_documents(doc, out_dir, name, data)


def write_score_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "score") -> ReportFiles:
    """A subnet scored with inherited weights (and, with device draws, over programmed chips)."""
    require(data, source, logloss=float, auc=float)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Subnet score: {Path(str(data.get('subnet', 'subnet'))).name} on {data.get('dataset', '?')}")
    doc.table(["figure", "value"], [[key.replace("_", " "), cell(data.get(key))] for key in (
        "logloss", "auc", "split", "rows", "finetune_steps", "quantized", "source", "seconds", "checkpoint",
        "supernet_step", "subnet", "dataset") if key in data])
    if data.get("crossbar"):
        doc.table(["crossbar", "value"], [[key, cell(value)] for key, value in flatten(data["crossbar"])],
                  caption="The chip's crossbar arithmetic the score ran with")
    draws = data.get("device_draws")
    if isinstance(draws, dict):
        doc.heading("Programmed chips")
        losses = _finite_pairs(draws.get("loglosses", []), source, "device_draws.loglosses")
        doc.table(["figure", "value"], [[key.replace("_", " "), cell(draws.get(key))] for key in (
            "draws", "ideal_logloss", "mean_logloss", "std_logloss", "pessimistic_logloss", "ideal_auc", "mean_auc",
            "std_auc", "pessimistic_auc", "percentile", "seconds_per_draw") if key in draws])
        if losses:
            doc.image(plots.bar_chart(out_dir / "device_draws.png", [f"chip {i}" for i, _ in losses],
                                      [v for _, v in losses], title="Log loss on each programmed chip",
                                      xlabel="log loss"), "log loss per programmed chip")
    return write_documents(doc, out_dir, name, data)


def write_inputs_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "inputs") -> ReportFiles:
    """The resolved inputs of a run (what re-runs it), one dotted key per row."""
    require(data, source, inputs=dict)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Resolved inputs: {Path(source).name}")
    doc.table(["figure", "value"], [[key.replace("_", " "), cell(data.get(key))] for key in (
        "recpim_version", "python", "platform", "written_at") if key in data])
    doc.heading("Inputs")
    doc.table(["key", "value"], [[key, cell(value)] for key, value in flatten(data["inputs"])])
    return write_documents(doc, out_dir, name, data)


def write_best_so_far_page(data: dict[str, Any], out_dir: Path, source: str,
                           name: str = "best_so_far") -> ReportFiles:
    """A search's best score after each evaluation."""
    require(data, source, series=list)
    series = _finite_pairs(data["series"], source, "series")
    label = str(data.get("label", "best score"))
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Co-search progress: {label}")
    if series:
        doc.image(plots.best_so_far_curve(out_dir / "best_so_far.png", [s for s, _ in series],
                                          [v for _, v in series], ylabel=label, title=f"{label} so far"),
                  f"{label} so far")
        doc.table(["evaluations", label], [[s, v] for s, v in series])
    else:
        doc.paragraph("No candidate was scored yet.")
    return write_documents(doc, out_dir, name, data)


def write_study_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "study") -> ReportFiles:
    """Where a search's study lives, how to resume it and how to browse it."""
    require(data, source, study=str)
    out_dir.mkdir(parents=True, exist_ok=True)
    study = data["study"]
    doc = Document("Co-search study")
    doc.table(["figure", "value"], [["study", study], ["resume", cell(data.get("resume"))],
                                    ["browse", f"{DASHBOARD} {study}"]])
    doc.paragraph("Every evaluated candidate is one trial of this Optuna study: its objectives are named, its "
                  "choices are parameters, and its metrics, its config (subnet and chip knobs) and, for the front, "
                  f"its report pages are attributes. `{DASHBOARD} {study}` shows them (pip install "
                  "'recpim[dashboard]').")
    return write_documents(doc, out_dir, name, data)


def write_space_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "space") -> ReportFiles:
    require(data, source, name=str, num_blocks=int)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Search space: {data['name']}")
    doc.table(["key", "value"], [[key, cell(value)] for key, value in flatten(
        {k: v for k, v in data.items() if k != "kind"})])
    return write_documents(doc, out_dir, name, data)


def write_subnet_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "subnet") -> ReportFiles:
    require(data, source, space=str, blocks=list)
    blocks = [require(block, f"{source} blocks[{i}]", dense_op=str) for i, block in enumerate(data["blocks"])]
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Subnet of {data['space']}")
    doc.paragraph(f"{len(blocks)} blocks; embedding bits {data.get('embedding_bits', '?')}.")
    columns = ["dense_op", "dense_width", "sparse_op", "sparse_width", "dense_inputs", "sparse_inputs",
               "dense_to_sparse", "sparse_to_dense_fm", "weight_bits", "activation_bits"]
    doc.table(["block", *columns], [[i + 1, *(cell(block.get(c)) for c in columns)] for i, block in enumerate(blocks)])
    return write_documents(doc, out_dir, name, data)


def write_timings_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "timings") -> ReportFiles:
    require(data, source)
    stages = {key: float(value) for key, value in data.items()
              if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)}
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document("Demo: time per stage")
    if any(v > 0 for v in stages.values()):
        doc.image(plots.bar_chart(out_dir / "timings.png", list(stages), list(stages.values()),
                                  title="Seconds per stage", xlabel="seconds"), "seconds per stage")
    doc.table(["stage", "seconds"], [[key, value] for key, value in stages.items()])
    return write_documents(doc, out_dir, name, data)

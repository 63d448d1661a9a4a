"""`recpim search --chip PRESET_OR_YAML --supernet CKPT --budget N ...`: the joint evolutionary
co-search, a thin layer over recpim.search.run.run_search and
recpim.reports.search_outputs.write_search_outputs (the data files and the reports).

`--resume --study PATH` continues a study with the settings saved in it; options that decide the
result may be repeated (so the same command line plus --resume works) but must match the study's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from recpim.cli.output import console, notes, print_bad_rows, print_json
from recpim.errors import ConfigError
from recpim.interrupts import exit_code, signal_of
from recpim.paths import check_output_dir
from recpim.pim.presets import load_chip
from recpim.validation import MAX_SEED

if TYPE_CHECKING:   # the search stack (optuna, the supernet) loads only when a search runs
    from recpim.search.run import SearchSettings

def build_settings(options: dict[str, Any], stored: SearchSettings | None) -> SearchSettings:
    """SearchSettings from the options given (None: not given), on top of a study's stored settings
    (resume) or the defaults (a new search)."""
    from recpim.search.run import SearchOverrides, resolve_settings

    if stored is None:
        if not options.get("supernet"):
            raise ConfigError("recpim search", [("--supernet", "a new search needs a supernet checkpoint "
                                                               "(recpim supernet train ... --out CKPT)")])
        settings = resolve_settings(load_chip(options.get("chip") or "default"), options["supernet"],
                                    options.get("data"))
    else:
        settings = stored
        if options.get("chip"):
            settings = settings.model_copy(update={"chip": load_chip(options["chip"])})
        if options.get("supernet"):
            given = resolve_settings(settings.chip, options["supernet"], settings.data)
            settings = settings.model_copy(update={"supernet": given.supernet,
                                                   "supernet_sha256": given.supernet_sha256})
    sizes: dict[str, int] = {}
    if options.get("preset") is not None:
        if options["preset"] != "nasrec":
            raise ConfigError("recpim search", [("--preset", f"got {options['preset']!r}; allowed: nasrec")])
        from recpim.search.evolution import NASREC

        sizes = {name: getattr(NASREC, name) for name in ("population", "sample", "children")}
    chip_ranges = (_ranges(options, settings.chip)
                   if stored is None or options.get("explore_chip") or options.get("chip_range") else None)
    given = {name: options.get(name) for name in SearchOverrides.__dataclass_fields__ if name != "chip_ranges"}
    for name, value in sizes.items():
        given[name] = given[name] if given[name] is not None else value
    return SearchOverrides(**given, chip_ranges=chip_ranges).apply_to(settings)


# Validation rows a candidate scores (with the crossbar arithmetic) past which the search says what
# that costs: the default is 1024, and a candidate's score grows with the rows.
SCORE_ROWS_NOTE = 65_536


def _check_data(settings, max_bad_rows_fraction: float) -> None:
    """Read the search's data once here, in the supernet's schema, so data of another format (Avazu
    on a Criteo supernet) or too many bad rows stop the command at once with a clear message (in the
    workers they would fail every candidate or break the pool), and say what was skipped. A
    --score-rows beyond the validation split, or large enough to make each candidate slow, is told."""
    synthetic = settings.data.startswith("synthetic")
    large = settings.score_rows is None or settings.score_rows > SCORE_ROWS_NOTE
    if synthetic and not large:
        return
    from recpim.arch.data.datasets import open_dataset
    from recpim.arch.train.checkpoints import read_checkpoint

    schema = read_checkpoint(settings.supernet).schema
    try:
        dataset = open_dataset(settings.data, schema=schema, seed=settings.data_seed,
                               max_bad_rows_fraction=max_bad_rows_fraction)
    except ConfigError as error:
        raise ConfigError(f"--data {settings.data}", [*error.problems, (
            "", f"the supernet {settings.supernet} was trained on data of schema {schema.name!r}; give --data in "
                "that format (by default the search uses the supernet's own data)")]) from None
    if not synthetic:
        dataset.in_memory  # noqa: B018 -- a file that fits in memory is read whole (and checked) here
        print_bad_rows(dataset)
    if large:
        val_rows = dataset.split_sizes()["val"]
        rows = val_rows if settings.score_rows is None else min(settings.score_rows, val_rows)
        beyond = (f"--score-rows {settings.score_rows:,} is more than the validation split's {val_rows:,} rows; "
                  if settings.score_rows is not None and settings.score_rows > val_rows else "")
        slow = (" with the chip's crossbar arithmetic (the default is 1,024), so each evaluation takes far "
                "longer; the bar's first update comes when the first candidate finishes") if rows > SCORE_ROWS_NOTE \
            else ""
        notes.print(f"note: {beyond}every candidate scores {rows:,} validation rows{slow}")


def _note_device_draws(settings) -> None:
    """Say what --accuracy-under-devices does on this chip (nothing, on ideal cells) and what it costs."""
    if not settings.device_draws:
        return
    from recpim.mapping.arithmetic import crossbar_arithmetic

    seed, device = settings.chip.crossbar.nonideal.seed, crossbar_arithmetic(settings.chip).device
    if device is not None and not device.ideal and not device.random:
        notes.print(f"note: --accuracy-under-devices {settings.device_draws}: the chip {settings.chip.name}'s device "
                    "effects do not vary from chip to chip (no variation, faults or read noise): each candidate is "
                    "scored on its one programmed chip, beside its ideal cells")
        return
    if device is None or device.ideal:
        notes.print(f"note: --accuracy-under-devices {settings.device_draws}: the chip {settings.chip.name} models "
                    "ideal cells (no crossbar.nonideal effect), so every programmed chip is the same and candidates "
                    "are scored as without it; set crossbar.nonideal (e.g. programming_sigma) to draw chips")
        return
    notes.print(f"note: each candidate is scored on {settings.device_draws} programmed chips (seeds {seed}.."
                f"{seed + settings.device_draws - 1}) and on ideal cells, ranked by the "
                f"{settings.device_statistic} log loss: about {settings.device_draws + 1}x the scoring of one chip")


def device_cost_line(result) -> str | None:
    """The robust objective's per-candidate cost, from the candidates this run evaluated."""
    settings = result.settings
    if not settings.device_draws:
        return None
    scored = [r for r in result.history[len(result.history) - result.evaluated_now:] if r.status == "ok"]
    mean_s = sum(r.eval_s for r in scored) / len(scored) if scored else float("nan")
    draws = max((r.metrics.device_draws or 0 for r in scored), default=settings.device_draws)
    return (f"robust objective: {settings.device_statistic} log loss over {draws} programmed chip(s) per candidate; "
            f"{mean_s:.2f} s per scored candidate evaluated now ({len(scored)} of them)")


def _ranges(options: dict[str, Any], chip) -> dict[str, tuple]:
    from recpim.search.candidate import parse_chip_ranges

    texts = options.get("chip_range") or []
    if options.get("explore_chip") and not texts:
        raise ConfigError("recpim search", [("--chip-range", "--explore-chip needs at least one range, e.g. "
                                                             "--chip-range adc.bits=4..8 --chip-range "
                                                             "crossbar.bits_per_cell=1,2,4")])
    if texts and not options.get("explore_chip"):
        raise ConfigError("recpim search", [("--chip-range", "chip ranges apply with --explore-chip only")])
    return parse_chip_ranges(texts, chip) if texts else {}


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search(
        chip: str | None = typer.Option(None, "--chip", help="Base chip: a preset (isaac, puma...) or a chip YAML."),
        supernet: str | None = typer.Option(None, "--supernet", help="Supernet checkpoint (recpim supernet train)."),
        data: str | None = typer.Option(None, "--data", help="synthetic[:ROWS] or criteo:PATH... (default: the "
                                                             "supernet's training data)."),
        budget: int | None = typer.Option(None, "--budget", min=1, help="Candidates to evaluate in all."),
        objective: str | None = typer.Option(None, "--objective", help="pareto (log loss, energy, latency) or "
                                                                       "reward (MnasNet-style scalar)."),
        target_energy_pj: float | None = typer.Option(None, "--target-energy-pj", help="Reward target (pJ/inf)."),
        target_latency_ns: float | None = typer.Option(None, "--target-latency-ns", help="Reward target (ns)."),
        alpha: float | None = typer.Option(None, "--alpha", help="Reward exponent at/under target (-0.07)."),
        beta: float | None = typer.Option(None, "--beta", help="Reward exponent over target (-0.07)."),
        max_area_mm2: float | None = typer.Option(None, "--max-area-mm2", help="Hard budget: chip area."),
        max_power_w: float | None = typer.Option(None, "--max-power-w", help="Hard budget: power at throughput."),
        max_crossbars: int | None = typer.Option(None, "--max-crossbars", help="Hard budget: model footprint."),
        study: str | None = typer.Option(None, "--study", help="Study file or Optuna storage URL (default "
                                                               "OUT/study.db)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the study with its saved settings."),
        backend: str = typer.Option("local", "--backend", help="local (process pool), ray or serial."),
        address: str | None = typer.Option(None, "--address", help="Ray cluster address host:port."),
        workers: int | None = typer.Option(None, "--workers", min=1, help="Parallel evaluations."),
        device: str = typer.Option("cpu", "--device", help="where workers score candidates: auto | cpu | cuda | "
                                                           "cuda:N (with Ray, on the machine running the task)"),
        max_bad_rows_fraction: float = typer.Option(0.01, "--max-bad-rows-fraction", min=0.0, max=1.0,
                                                    help="stop with an error when more than this fraction of the "
                                                         "data rows read is malformed"),
        gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0,
                                              help="GPUs Ray reserves for each evaluation (0.25: four share one); "
                                                   "--backend ray only"),
        seed: int | None = typer.Option(None, "--seed", min=0, max=MAX_SEED, help="Seed of the evolution (default 0)."),
        preset: str | None = typer.Option(None, "--preset", help="nasrec: NASRec's sizes (population 128, sample "
                                                                 "64, 8 children; budget 128 + 240 x 8 = 2048)."),
        population: int | None = typer.Option(None, "--population", min=1, help="Population size (16; NASRec 128)."),
        sample: int | None = typer.Option(None, "--sample", min=1, help="Tournament sample (8; NASRec 64)."),
        children: int | None = typer.Option(None, "--children", min=1, help="Children per generation (4; NASRec 8)."),
        explore_chip: bool = typer.Option(False, "--explore-chip", help="Search chip knobs too (see --chip-range)."),
        chip_range: list[str] = typer.Option([], "--chip-range", help="KEY=V1,V2 or KEY=A..B; repeat per knob."),
        accuracy: str | None = typer.Option(None, "--accuracy", help="crossbar (simulated ADC/DAC, default) or "
                                                                     "quant (fake quantisation only)."),
        score_rows: int | None = typer.Option(None, "--score-rows", min=1, help="Validation rows scored (1024)."),
        finetune_steps: int | None = typer.Option(None, "--finetune-steps", min=0,
                                                  help="Logit fine-tuning steps before each score (500; 0: off)."),
        finetune_feature_rows: int | None = typer.Option(None, "--finetune-feature-rows", min=512,
                                                         help="Fine-tune on the cached body features of this many "
                                                              "train rows (8192)."),
        device_draws: int | None = typer.Option(None, "--accuracy-under-devices", min=0, max=1000,
                                                help="The robust objective: score each candidate on N programmed "
                                                     "chips of its chip (crossbar.nonideal: variation, faults, "
                                                     "read noise; seeds nonideal.seed..+N-1) and rank by their "
                                                     "--device-statistic log loss (0: off, the default)."),
        device_statistic: str | None = typer.Option(None, "--device-statistic",
                                                    help="With --accuracy-under-devices: p90 (the 90th-percentile "
                                                         "log loss, default) or mean."),
        batch: int | None = typer.Option(None, "--batch", min=1, help="Inferences per batch for the cost (64)."),
        profile: Path | None = typer.Option(None, "--profile", help="Embedding access profile JSON (recpim data "
                                                                    "profile): tables costed with its skew."),
        top_k: int = typer.Option(10, "--top-k", min=1, help="Candidates in top_k.json."),
        out: Path = typer.Option(Path("out/search"), "--out", help="Folder for the front, reports and study."),
        no_report: bool = typer.Option(False, "--no-report", help="Skip the Markdown/HTML report and plots."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    ) -> None:
        """Co-search recommender models (architecture and bit-widths[, chip knobs]) for a PIM chip."""
        from recpim.reports.search_outputs import write_search_outputs
        from recpim.search.run import SearchInterrupted, run_search, stored_settings
        from recpim.search.study import SearchStudy

        options = dict(locals())
        if profile is not None:   # resolved and checked now, stored with the study's settings
            from recpim.arch.data.profile import read_profile

            read_profile(profile)
            options["profile"] = str(profile.resolve())
        check_output_dir(out, "--out")            # before any candidate is evaluated
        location = study or str(out / "study.db")
        stored = stored_settings(SearchStudy.open(location)) if resume else None
        settings = build_settings(options, stored)
        if budget is None and preset == "nasrec" and not resume:
            from recpim.search.evolution import NASREC, NASREC_GENERATIONS

            budget = NASREC.budget_for_generations(NASREC_GENERATIONS)
        _check_data(settings, max_bad_rows_fraction)
        _note_device_draws(settings)
        try:
            result = run_search(settings, budget, location, resume=resume, backend=backend, workers=workers,
                                address=address, progress=not as_json, top_k=top_k, device=device,
                                gpus_per_worker=gpus_per_worker, max_bad_rows_fraction=max_bad_rows_fraction)
        except SearchInterrupted as stop:
            console.print(f"[yellow]interrupted[/] ({stop.signal_name}): the study {location} holds "
                          f"{stop.evaluated} evaluated candidates (every one that finished); the ones in flight were "
                          f"cancelled. Continue with: recpim search --resume --study {location}")
            raise typer.Exit(exit_code(stop)) from None
        except KeyboardInterrupt as stop:
            console.print(f"[yellow]interrupted[/] ({signal_of(stop).name}): every finished candidate is in "
                          f"{location}; continue with recpim search --resume --study {location}")
            raise typer.Exit(exit_code(stop)) from None
        try:
            write_search_outputs(result, out, report=not no_report)
        except (OSError, KeyboardInterrupt) as error:
            what = (f"interrupted ({signal_of(error).name})" if isinstance(error, KeyboardInterrupt)
                    else f"cannot write {getattr(error, 'filename', None) or out}: "
                         f"{(error.strerror or str(error)).lower()}")
            notes.print(f"[red]error[/]: {what} while writing the search's outputs in {out}; the study {location} "
                        f"holds all {len(result.history)} evaluated candidates; free some space if needed and run "
                        f"`recpim search --resume --study {location} --out {out}` to write the outputs (nothing "
                        "is evaluated again)")
            raise typer.Exit(exit_code(error) if isinstance(error, KeyboardInterrupt) else 1) from None
        if as_json:
            print_json(search_json(result))
        else:
            print_front(result)


def search_json(result) -> dict[str, Any]:
    from recpim.search.outputs import point_dict

    return {"kind": "search", "study": result.study,
            "budget": result.budget, **result.counts(), "evaluated_now": result.evaluated_now,
            "wall_s": round(result.wall_s, 3), "objective": result.settings.objective.kind,
            "pareto_front": [point_dict(r, result) for r in result.front],
            "top_k": [point_dict(r, result) for r in result.top_k],
            "population": [r.index for r in result.population], "best_so_far": result.best_so_far,
            "files": result.files, "settings": result.settings.model_dump(mode="json"),
            **({"device_cost": device_cost_line(result)} if result.settings.device_draws else {})}


def print_front(result) -> None:
    from recpim.search.outputs import point_dict

    points = [point_dict(r, result) for r in result.front]
    knobs = sorted({k for p in points for k in p["chip_knobs"]})
    table = Table(title=f"Pareto front ({len(points)} of {len(result.history)} candidates)")
    robust = bool(result.settings.device_draws)
    accuracy = ([f"log loss ({result.settings.device_statistic} of chips)", "ideal cells", "std"] if robust
                else ["log loss"])
    for column in ["name", *accuracy, "pJ/inf", "ns/inf", "DES pJ/inf", "DES ns/inf", *knobs]:
        table.add_column(column, justify="left" if column == "name" else "right", overflow="fold")
    for p in points:
        figures = [p["logloss"], p["ideal_logloss"], p["device_logloss_std"]] if robust else [p["logloss"]]
        values = [*figures, p["energy_pj_per_inference"], p["latency_ns_per_inference"],
                  p.get("des_energy_pj_per_inference", "-"), p.get("des_latency_ns_per_inference", "-"),
                  *(p["chip_knobs"].get(k, "-") for k in knobs)]
        table.add_row(p["subnet_id"], *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values))
    console.print(table)   # the shared console is wide without a terminal (recpim/cli/output.py)
    counts = result.counts()
    console.print(f"{counts['evaluated']} candidates ({counts['infeasible']} infeasible, {counts['errors']} errors), "
                  f"{result.evaluated_now} evaluated now in {result.wall_s:.1f} s; study: {result.study}")
    if line := device_cost_line(result):
        console.print(line)
    for name, path in result.files.items():
        console.print(f"{name}: {path}")

"""`recpim sweep MODEL --chip PRESET_OR_YAML --set crossbar.rows=64,128 --set adc.bits=4..10 ...`:
a grid over chip config keys (and the model's bits, `model.weight_bits` / `model.activation_bits`),
in parallel, cached; writes sweep.json, sweep.csv, inputs.json and the
sweep report (heatmaps, best point per metric). A thin layer over recpim.search.sweep.run_sweep and
recpim.reports.sweep_report.write_sweep_report.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import typer
from rich.table import Table

from recpim.cli.output import activation_bits_option, console, print_json, weight_bits_option
from recpim.errors import ConfigError
from recpim.paths import check_output_dir
from recpim.pim.presets import load_chip
from recpim.search.sweep_result import METRICS, SweepResult

# Figure -> short column header (the full names make an 80-column terminal cut the numbers).
LARGE_GRID_POINTS = 2000   # above this a sweep needs --yes (65,536 points ran a minute before a word)
_SHOWN = {"energy_pj_per_inference": "pJ/inf", "latency_ns_per_inference": "ns/inf", "area_mm2": "mm2",
          "edp_pj_ns": "EDP pJ*ns", "tops_per_w": "TOPS/W"}


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    def sweep(
        model: str = typer.Argument(..., help="The model: a zoo name (e.g. dlrm), a subnet JSON or a model file."),
        chip: str = typer.Option("default", "--chip", help="A chip preset (isaac, puma, ...) or a chip YAML file."),
        sets: list[str] = typer.Option(
            [], "--set", help="KEY=V1,V2,... or KEY=A..B (integers, inclusive); repeat for each swept key."),
        engine: str = typer.Option("analytic", "--engine", help="analytic or des (the SimPy simulator)."),
        batch: int = typer.Option(64, "--batch", min=1, help="Inferences per batch."),
        backend: str = typer.Option("auto", "--backend",
                                    help="auto (in this process while a pool would not pay for its start-up, "
                                         "then a process pool), local (process pool), serial or ray."),
        workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes (default: all CPUs)."),
        address: str | None = typer.Option(None, "--address", help="Ray cluster address host:port (backend ray)."),
        out: Path = typer.Option(Path("out/sweep"), "--out", help="Folder for the results and the report."),
        cache_dir: Path = typer.Option(Path("out/cache"), "--cache-dir", help="Cache of finished points."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Compute every point again."),
        no_report: bool = typer.Option(False, "--no-report", help="Write sweep.json/csv only, no plots."),
        lossless_only: bool = typer.Option(False, "--lossless-only",
                                           help="Pick the best points among those whose ADC loses no bits in any "
                                                "layer (a narrow ADC is cheap because it rounds)."),
        yes: bool = typer.Option(False, "--yes", help=f"Run a grid of more than {LARGE_GRID_POINTS:,} points."),
        as_json: bool = typer.Option(False, "--json", help="Print the sweep as one JSON object."),
        weight_bits: int = weight_bits_option("; sweep them with --set model.weight_bits=..."),
        activation_bits: int = activation_bits_option(),
    ) -> None:
        """Sweep chip config keys over a grid and report energy, latency, area and EDP per point."""
        # The sweep's stack (mapping, the simulator, process pools, matplotlib) loads only when a sweep runs.
        from recpim.search.sweep import grid_size, parse_settings, run_sweep

        settings = parse_settings(sets)
        check_output_dir(out, "--out")             # before any point is computed
        if not no_cache:
            check_output_dir(cache_dir, "--cache-dir")
        points = grid_size(settings)
        shape = " x ".join(f"{len(values)} {key}" for key, values in settings.items())
        if points > LARGE_GRID_POINTS and not yes:
            raise ConfigError("--yes", [("--set", f"the grid has {points:,} points ({shape}), more than "
                                                  f"{LARGE_GRID_POINTS:,}; narrow the ranges or pass --yes to run it")])
        print(f"sweep grid: {points:,} points ({shape})", file=sys.stderr)   # stderr: --json keeps stdout pure
        result = run_sweep(model, load_chip(chip), settings, engine=engine, batch=batch, backend=backend,
                           workers=workers, address=address, cache_dir=None if no_cache else cache_dir,
                           progress=True, weight_bits=weight_bits, activation_bits=activation_bits)
        if lossless_only:
            result = dataclasses.replace(result, lossless_only=True)
        files = {name: str(path) for name, path in result.write(out).items()}
        if not no_report:
            from recpim.reports.sweep_report import write_sweep_report  # (here: matplotlib, for the plots only)

            files.update({f"report_{k}": v for k, v in write_sweep_report(result, out).to_json_dict().items()
                          if k != "images"})
        if as_json:
            print_json({**result.to_json_dict(), "files": files})
        else:
            print_sweep(result, files)


def print_sweep(result: SweepResult, files: dict[str, str]) -> None:
    out = console   # wide without a terminal (recpim/cli/output.py)
    keys = result.swept_keys
    out.print(_table(f"sweep of {result.model} on {result.chip} ({result.engine}, batch {result.batch})",
                     [*keys, "status", *_SHOWN.values(), "ADC-lossy layers"],
                     [[*(p.settings[k] for k in keys), p.status, *(p.figures.get(m, "-") for m in _SHOWN),
                       _lossy(p)] for p in result.points]))
    best = result.best()
    title = "best point per metric" + (" (ADC-lossless points only)" if result.lossless_only else "")
    if best:
        out.print(_table(title, ["metric", "goal", "value", *keys, "ADC-lossy layers"],
                         [[m, METRICS[m][0], p.figures[m], *(p.settings[k] for k in keys), _lossy(p)]
                          for m, p in best.items()]))
        if any(p.lossy for p in best.values()):
            out.print("[yellow]note[/]: some best points round partial sums in the ADC (lossy layers > 0); their "
                      "accuracy is not the model's. --lossless-only picks among lossless points.")
    elif result.lossless_only and result.ok_points:
        out.print("[yellow]note[/]: no evaluated point is ADC-lossless; drop --lossless-only or widen adc.bits")
    for point in result.points:
        if point.status != "ok":
            out.print(f"[yellow]{point.status}[/] {point.settings}: {point.message}")
    for name, path in files.items():
        out.print(f"{name}: {path}")


def _lossy(point) -> str:
    if point.adc_lossy_layers is None:
        return "-"
    return f"{point.adc_lossy_layers} LOSSY" if point.adc_lossy_layers else "0"


def _table(title: str, columns: list[str], rows: list[list]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("metric", "status") else "right", overflow="fold")
    for row in rows:
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    return table

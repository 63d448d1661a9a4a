"""`recpim data profile KIND:PATH --out FILE`: per sparse field, how lookups spread over a table's
rows (distinct ids, the share of lookups to the hottest 0.1 / 1 / 10 % of rows, a fitted Zipf
exponent); a thin layer over recpim.arch.data.profile.profile_dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from recpim.cli.output import print_json, print_table
from recpim.paths import check_output_file

data_app = typer.Typer(help="Measure datasets: embedding access profiles for the cost model and the search.",
                       no_args_is_help=True)


@data_app.command("profile")
def profile(
    spec: str = typer.Argument(..., help="criteo:PATH, avazu:PATH or kdd12:DIR_OR_FILE"),
    out: Path | None = typer.Option(None, "--out", help="Write the profile JSON here (default: print it only)."),
    max_rows: int | None = typer.Option(None, "--max-rows", min=1, help="Read only the first rows."),
    show_progress: bool = typer.Option(True, "--progress/--no-progress", help="Rows read so far, on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile JSON."),
) -> None:
    """Read a dataset once and write its embedding access profile (kind: embedding_profile)."""
    from recpim.arch.data.profile import profile_dataset

    if out is not None:
        check_output_file(out, "--out")
    bar = Progress(SpinnerColumn(), TextColumn("profiling {task.fields[spec]}: {task.completed:,} rows"),
                   TimeElapsedColumn(), console=Console(stderr=True), disable=not show_progress, transient=True)
    with bar:
        task = bar.add_task("profile", total=None, spec=spec)
        result = profile_dataset(spec, max_rows=max_rows, progress=lambda rows: bar.update(task, completed=rows))
    if out is not None:
        result.write(out)
        print(f"profile written to {out}", file=sys.stderr)
    if as_json:
        print_json(result.to_json_dict())
        return
    print_table(f"{result.dataset}: {result.rows:,} rows ({result.bad_rows} bad)",
                ["name", "vocab", "distinct", "pooling", "top 0.1 %", "top 1 %", "top 10 %", "zipf s"],
                [[f.name, f.vocab_size, f.distinct_ids, f"{f.pooling:g}", f"{f.share_of_hottest(0.001):.3f}",
                  f"{f.share_of_hottest(0.01):.3f}", f"{f.share_of_hottest(0.1):.3f}", f"{f.zipf_exponent:.3f}"]
                 for f in result.fields])


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")

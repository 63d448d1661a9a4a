"""Helpers the command modules share for printing results."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from recpim.console import WIDTH_WITHOUT_TERMINAL, console, notes

# Console: for a command (or a test) that needs one of another width.
__all__ = ["WIDTH_WITHOUT_TERMINAL", "Console", "console", "notes", "print_bad_rows", "print_json", "print_table"]


def print_bad_rows(dataset: Any, examples: int = 5) -> None:
    """Say how many bad rows a command's dataset had and where the first ones are (never silent)."""
    report = dataset.bad_rows_so_far
    if report is None:
        notes.print(f"data {dataset.name}: bad rows not counted (no complete pass over the file was needed)")
        return
    head = f"data {dataset.name}: {report.rows_good} good rows, {report.count} bad row(s) skipped"
    if report.count == 0:
        notes.print(head)
        return
    lines = ", ".join(f"{bad.path}:{bad.line}" for bad in report.examples[:examples])
    more = " ..." if report.count > examples else ""
    notes.print(f"{head} ({report.bad_fraction:.3%}); first: {lines}{more}", markup=False, highlight=False)
    for bad in report.examples[:examples]:
        notes.print(f"  {bad}", markup=False, highlight=False)


def print_json(obj: Any) -> None:
    """Print a JSON document on stdout (never through rich, so pipes get plain JSON)."""
    print(json.dumps(obj, indent=2, sort_keys=False, default=float))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column not in ("name", "op", "component") else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*[_fmt(value) for value in row])
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def weight_bits_option(extra_help: str = "") -> Any:
    """--weight-bits, as map, simulate and sweep take it."""
    return typer.Option(8, "--weight-bits", min=1, max=32,
                        help=f"Weight bits of zoo and imported models (a subnet JSON has its own){extra_help}.")


def activation_bits_option() -> Any:
    """--activation-bits, as map, simulate and sweep take it."""
    return typer.Option(8, "--activation-bits", min=1, max=32, help="Activation bits of zoo and imported models.")

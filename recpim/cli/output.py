"""Helpers the command modules share for printing results."""

from __future__ import annotations

import json
import os
from typing import Any

from rich.console import Console
from rich.table import Table

# Rich sizes output to the terminal, and to 80 columns when there is none (a pipe, a CI log), which
# cut names such as `embedding_tables…` and `getitem…`. Without a terminal (and without $COLUMNS)
# the console is WIDTH_WITHOUT_TERMINAL wide; cells that are longer still fold onto a second line.
WIDTH_WITHOUT_TERMINAL = 200


def _make_console() -> Console:
    probe = Console()
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return probe
    return Console(width=WIDTH_WITHOUT_TERMINAL)


console = _make_console()


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

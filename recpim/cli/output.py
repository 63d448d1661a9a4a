"""Helpers the command modules share for printing results."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def print_json(obj: Any) -> None:
    """Print a JSON document on stdout (never through rich, so pipes get plain JSON)."""
    print(json.dumps(obj, indent=2, sort_keys=False, default=float))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column not in ("name", "op", "component") else "left")
    for row in rows:
        table.add_row(*[_fmt(value) for value in row])
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)

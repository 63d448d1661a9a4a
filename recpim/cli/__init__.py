"""The `recpim` command line. Each command group lives in its own module and is a thin layer
over a public function in recpim.api; this module only assembles them."""

from __future__ import annotations

import importlib
import sys

import typer

from recpim.errors import RecpimError

app = typer.Typer(
    name="recpim",
    help="Co-design recommender models and ReRAM processing-in-memory chips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Always dispatch on a command name, even while only one command group is registered."""


# One module per command group; each exposes register(app).
_COMMAND_MODULES = ["chip", "space", "graph", "map", "simulate", "supernet", "search", "sweep", "report", "demo"]
for _name in _COMMAND_MODULES:
    importlib.import_module(f"recpim.cli.cmd_{_name}").register(app)


def main() -> None:
    from recpim.interrupts import default_signals, terminate_as_interrupt

    terminate_as_interrupt()
    try:
        app()
    except RecpimError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        default_signals()

"""The `recpim` command line. Each command group lives in its own module and is a thin layer
over a public function in recpim.api; this module only assembles them."""

from __future__ import annotations

import sys

import typer

from recpim.cli import (
    cmd_chip,
    cmd_data,
    cmd_demo,
    cmd_graph,
    cmd_map,
    cmd_report,
    cmd_search,
    cmd_simulate,
    cmd_space,
    cmd_supernet,
    cmd_sweep,
)
from recpim.errors import RecpimError
from recpim.interrupts import default_signals, terminate_as_interrupt

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


# One module per command group; each exposes register(app). The order is the order of `recpim --help`.
for _group in (cmd_chip, cmd_space, cmd_graph, cmd_map, cmd_simulate, cmd_supernet, cmd_search, cmd_sweep, cmd_report,
               cmd_data, cmd_demo):
    _group.register(app)


def main() -> None:
    terminate_as_interrupt()
    try:
        app()
    except RecpimError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        default_signals()

"""The `recpim` command line. Each command group lives in its own module and is a thin layer
over a public function in recpim.api; this module only assembles them.

Commands load lazily: `recpim chip ...` imports only recpim.cli.cmd_chip (and what it needs), not the
stacks of the other commands (networkx, numpy, the mapping, the simulator, torch). `recpim --help`
imports none of them: it lists COMMANDS, whose help lines tests/test_cli_lazy.py keeps equal to the
commands' own. `recpim.cli.app` (what tests and notebooks invoke) is the full application, every
command registered, built on first access.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from recpim.errors import RecpimError
from recpim.interrupts import default_signals, terminate_as_interrupt

# name -> (module in recpim.cli, the help line `recpim --help` shows), in the order `recpim --help`
# lists them (typer puts single commands before command groups: space and supernet are groups).
COMMANDS: dict[str, tuple[str, str]] = {
    "chip": ("cmd_chip", "Area and power per component, PE, tile and chip, and the energy of each operation."),
    "graph": ("cmd_graph", "Lower a model to its workload graph and print every node's op, shapes, MACs and "
                           "weights."),
    "map": ("cmd_map", "Map MODEL onto a chip: crossbars, PEs and tiles per layer, digital ops, embedding tables, "
                       "NoC traffic."),
    "simulate": ("cmd_simulate", "Latency, throughput, energy and area of MODEL on a chip."),
    "search": ("cmd_search", "Co-search recommender models (architecture and bit-widths[, chip knobs]) for a PIM "
                             "chip."),
    "sweep": ("cmd_sweep", "Sweep chip config keys over a grid and report energy, latency, area and EDP per point."),
    "report": ("cmd_report", "Write a Markdown + standalone HTML report (with PNG plots and the JSON) for a result "
                             "file."),
    "demo": ("cmd_demo", "Synthetic data -> supernet -> co-search on the default chip -> simulation -> sweep -> "
                         "report."),
    "space": ("cmd_space", "NASRec search spaces: operators, widths, bit-widths, size; sample subnets."),
    "supernet": ("cmd_supernet", "Train the NASRec supernet on CTR data; score subnets with inherited weights."),
    "data": ("cmd_data", "Measure datasets: embedding access profiles for the cost model and the search."),
}
# The order in which the groups register (typer shows commands first, then groups, each in this order).
REGISTRATION_ORDER = ("chip", "space", "graph", "map", "simulate", "supernet", "search", "sweep", "report", "data",
                      "demo")
HELP = "Co-design recommender models and ReRAM processing-in-memory chips."


def _root() -> None:
    """Always dispatch on a command name, even while only one command group is registered."""


def build_app(names: tuple[str, ...] | None = None) -> typer.Typer:
    """The application with the command groups `names` registered (None: all), in REGISTRATION_ORDER."""
    application = typer.Typer(name="recpim", help=HELP, no_args_is_help=True, add_completion=False,
                              pretty_exceptions_enable=False)
    application.callback()(_root)
    for name in REGISTRATION_ORDER:
        if names is None or name in names:
            importlib.import_module(f"recpim.cli.{COMMANDS[name][0]}").register(application)
    return application


def _listing_app() -> typer.Typer:
    """An application that only lists the commands (for `recpim`, `recpim --help` and a mistyped command):
    each command is a placeholder with its help line, so no command module is imported."""
    application = typer.Typer(name="recpim", help=HELP, no_args_is_help=True, add_completion=False,
                              pretty_exceptions_enable=False)
    application.callback()(_root)
    for name, (_, help_line) in COMMANDS.items():
        application.command(name, help=help_line, add_help_option=False)(_root)
    return application


_full_app: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    """`recpim.cli.app`: the full application, built on first access."""
    global _full_app
    if name == "app":
        if _full_app is None:
            _full_app = build_app()
        return _full_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    terminate_as_interrupt()
    command = sys.argv[1] if len(sys.argv) > 1 else None
    application = build_app((command,)) if command in COMMANDS else _listing_app()
    try:
        application()
    except RecpimError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        default_signals()

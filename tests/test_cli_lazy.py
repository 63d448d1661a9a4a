"""The CLI loads only the command it runs (recpim/cli/__init__.py): `recpim --help` lists COMMANDS without
importing any command module, `recpim chip` pays for no graph, mapping or simulator stack, and a zoo
simulation for no torch. The listing's help lines are the commands' own."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.testing import CliRunner

from recpim.cli import COMMANDS, REGISTRATION_ORDER, _listing_app, build_app


def _help_lines(application: typer.Typer) -> dict[str, str]:
    group = typer.main.get_command(application)
    context = group.make_context("recpim", [], resilient_parsing=True)
    return {name: group.get_command(context, name).get_short_help_str(limit=1000)
            for name in group.list_commands(context)}


def test_the_listing_shows_every_command_with_its_own_help_line_in_the_same_order():
    full, listing = build_app(), _listing_app()
    assert sorted(REGISTRATION_ORDER) == sorted(COMMANDS)
    assert _help_lines(listing) == _help_lines(full)
    assert list(_help_lines(listing)) == list(COMMANDS)
    # typer shows commands before groups: the order of the real help is the order of COMMANDS
    result = CliRunner().invoke(full, ["--help"], terminal_width=200)
    shown = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ") and
             len(line.split()) > 1 and line.split()[1] in COMMANDS]
    assert shown == list(COMMANDS)


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import sys\nfrom recpim.cli import main\nsys.argv = " + repr(["recpim", *argv]) + "\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stderr.strip().splitlines()[-1].split())


def test_help_imports_no_command_module():
    loaded = _modules_after(["--help"])
    assert not {m for m in loaded if m.startswith("recpim.cli.cmd_")}
    assert not loaded & {"pydantic", "networkx", "numpy", "torch", "yaml"}


def test_chip_loads_no_graph_mapping_or_simulator_stack():
    loaded = _modules_after(["chip", "isaac", "--json"])
    assert "recpim.cli.cmd_chip" in loaded
    assert not {m for m in loaded if m.startswith(("recpim.cli.cmd_graph", "recpim.mapping", "recpim.search"))}
    assert not loaded & {"networkx", "numpy", "torch", "simpy", "matplotlib"}


def test_a_zoo_simulation_from_the_cli_imports_no_torch():
    loaded = _modules_after(["simulate", "vgg8", "--chip", "isaac", "--engine", "analytic", "--json"])
    assert "recpim.mapping.cost" in loaded
    assert not loaded & {"torch", "matplotlib", "optuna"}
    assert not {m for m in loaded if m.startswith("recpim.search")}   # no executor or process pools

"""The rich consoles every stage prints through: `console` (stdout) and `notes` (stderr).

A base utility, so the demo and the CLI (recpim.cli.output re-exports both) share one console
without the demo importing the CLI.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

# Rich sizes output to the terminal, and to 80 columns when there is none (a pipe, a CI log), which
# cut names such as `embedding_tables…` and `getitem…`. Without a terminal (and without $COLUMNS)
# the console is WIDTH_WITHOUT_TERMINAL wide; cells that are longer still fold onto a second line.
WIDTH_WITHOUT_TERMINAL = 200


def _make_console(stderr: bool = False, **options: Any) -> Console:
    probe = Console(stderr=stderr, **options)
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return probe
    return Console(stderr=stderr, width=WIDTH_WITHOUT_TERMINAL, **options)


console = _make_console()
# What a command says about its inputs goes to stderr, so --json stays plain on stdout.
notes = _make_console(stderr=True, soft_wrap=True)

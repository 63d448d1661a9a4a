"""Tables in a pipe or a CI log (no terminal) show whole names: rich would size them to 80 columns
and cut `embedding_tables`, `getitem_3`... to `embeddi…`, `getitem…`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONSOLE_SCRIPT = Path(sys.executable).with_name("recpim")


@pytest.mark.skipif(not CONSOLE_SCRIPT.is_file(), reason="the recpim console script is not installed beside python")
def test_a_piped_mapping_table_cuts_no_name():
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([str(CONSOLE_SCRIPT), "map", str(ROOT / "examples" / "subnet_small_seed0.json"), "--chip",
                           "default"], capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    assert "block1.merge.dense_to_sparse" in done.stdout and "embedding_bits_read_off_chip_per_inference" in done.stdout


def test_a_cell_longer_than_the_console_folds_instead_of_being_cut(capsys, monkeypatch):
    from recpim.cli import output

    monkeypatch.setattr(output, "console", output.Console(width=60, force_terminal=False))
    name = "block7_dense_sparse_interaction_merger_input_columns_of_every_producing_operator"
    output.print_table("layers", ["name", "value"], [[name, 1.0]])
    printed = capsys.readouterr().out
    assert "…" not in printed
    first_cells = [line.split("│")[1].strip() for line in printed.splitlines() if line.startswith("│")]
    assert "".join(first_cells).startswith(name)

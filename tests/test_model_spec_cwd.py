"""`module:callable` as the README documents it: the installed console script finds a module in the
working folder (its sys.path starts with the script's bin folder, not the working folder), and both
factory forms work: `(module, sample_inputs)` and a module with a `sample_inputs` method."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MODEL_FILE = '''
import torch
from torch import nn


def build():
    return nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 1)), torch.zeros(2, 8)


class WithInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(x)

    def sample_inputs(self):
        return torch.zeros(2, 6)


def build_module():
    return WithInputs()
'''
CONSOLE_SCRIPT = Path(sys.executable).with_name("recpim")


@pytest.mark.skipif(not CONSOLE_SCRIPT.is_file(), reason="the recpim console script is not installed beside python")
@pytest.mark.parametrize(("callable_name", "macs"), [("build", 8 * 4 + 4 * 1), ("build_module", 6 * 3)])
def test_the_console_script_finds_a_model_module_in_the_working_folder(tmp_path, callable_name, macs):
    (tmp_path / "my_cwd_model.py").write_text(MODEL_FILE)
    done = subprocess.run([str(CONSOLE_SCRIPT), "graph", f"my_cwd_model:{callable_name}", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_macs"] == macs

"""The hypothesis profiles of tests/conftest.py, run in a child pytest on a small property test:
CI ($CI set) draws the same examples every run, local runs draw new ones, and the deep profile
multiplies the examples a test asks for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

PROPERTY_TEST = '''
import os
from hypothesis import given, settings, strategies as st

@settings(max_examples=5)
@given(st.integers(0, 10**12))
def test_draw(value):
    with open(os.environ["DRAWN"], "a") as out:
        out.write(f"{value}\\n")
'''


def _drawn(tmp_path: Path, run: str, **env: str) -> list[int]:
    folder = tmp_path / run
    folder.mkdir()
    shutil.copy(TESTS / "conftest.py", folder / "conftest.py")
    (folder / "test_prop.py").write_text(PROPERTY_TEST)
    drawn = folder / "drawn.txt"
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    environment.update(env, DRAWN=str(drawn))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "property", str(folder)],
                          cwd=folder, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [int(line) for line in drawn.read_text().split()]


@pytest.mark.slow   # four child pytest runs
def test_ci_is_derandomized_local_runs_are_random_and_deep_multiplies(tmp_path):
    ci_first, ci_second = _drawn(tmp_path, "ci1", CI="1"), _drawn(tmp_path, "ci2", CI="true")
    assert ci_first == ci_second
    local_first, local_second = _drawn(tmp_path, "local1"), _drawn(tmp_path, "local2")
    assert local_first != local_second      # 5 draws from 10**12 values: equal only by a miracle
    deep = _drawn(tmp_path, "deep", HYPOTHESIS_PROFILE="deep")
    assert len(deep) > len(ci_first) * 10   # 5 asked for, 20x under the deep profile

"""benchmarks/check_readme.py finds every figure it checks in the README (the README's wording and
the script's table stay in step) and judges a figure at the README's own rounding."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("check_readme", ROOT / "benchmarks" / "check_readme.py")
check_readme = importlib.util.module_from_spec(SPEC)
sys.modules["check_readme"] = check_readme   # its dataclasses look their module up there
SPEC.loader.exec_module(check_readme)


@pytest.mark.parametrize("figure", check_readme.FIGURES, ids=lambda f: f.name)
def test_every_checked_figure_is_quoted_in_the_readme(figure):
    match = re.search(figure.pattern, (ROOT / "README.md").read_text())
    assert match is not None, f"{figure.name}: the README no longer says {figure.pattern!r}"
    float(match.group(figure.group))


@pytest.mark.parametrize("measured, quoted, agrees", [
    (329.81, "330", True), (0.37229, "0.372", True), (377267.47, "3.77e5", True), (377267.47, "3.78e5", False),
    (362640.8, "3.62e5", False), (15.9858, "15.99", True), (0.654, "0.65", True), (9.0, "9", True),
    (979.0, "979", True), (12.18084, "12.19", False)])
def test_a_figure_agrees_when_it_rounds_to_the_quote(measured, quoted, agrees):
    assert (check_readme.rounded_like(measured, quoted) == float(quoted)) is agrees

"""recpim's own figures against their pinned regression values (tests/golden_figures.py says why,
how to update them on purpose, and which change moves which figure). Tight: 1e-9 relative."""

from __future__ import annotations

import pytest
from golden_figures import CASES, GOLDEN, REL


def test_every_case_has_golden_figures_and_every_golden_figure_a_case():
    assert set(GOLDEN) == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_figure_matches_its_golden_value(case):
    measured = CASES[case]()
    assert set(measured) == set(GOLDEN[case])
    moved = {figure: (GOLDEN[case][figure], value) for figure, value in measured.items()
             if value != pytest.approx(GOLDEN[case][figure], rel=REL, abs=1e-12)}
    assert not moved, (f"{case}: (golden, measured) {moved}; if the change is meant, update tests/golden_figures.py "
                       "(run it to print the new table) and say why in the commit")

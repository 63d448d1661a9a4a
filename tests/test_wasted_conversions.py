"""Issue 22, item 6: a pair encoding that converts both columns of each pair, on a chip whose ADCs
could take their difference, is named in `recpim map` and `simulate` (their notes, printed and in
--json), pointing at crossbar.analog_subtraction; with analog subtraction on, or with an encoding
that has no column pairs, nothing is said."""

from __future__ import annotations

import pytest

import recpim.api as api
from recpim.mapping import map_model
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.engine import cost_inputs, run_engine


def _notes(chip) -> tuple[list[str], list[str]]:
    graph = api.resolve_model_spec("mlp3")
    mapping = map_model(graph, chip)
    report, _ = run_engine(workload_from_mapping(graph, mapping, chip), cost_inputs(chip), "analytic", batch=4)
    return list(mapping.notes), list(report.notes)


@pytest.mark.parametrize("encoding", ["differential", "sign_magnitude"])
def test_both_columns_converted_is_named_in_map_and_simulate(encoding):
    chip = api.load_chip("default").with_overrides({"weight_encoding": encoding,
                                                    "crossbar.analog_subtraction": False})
    mapped, simulated = _notes(chip)
    for notes in (mapped, simulated):
        wasted = [n for n in notes if "crossbar.analog_subtraction" in n]
        assert len(wasted) == 1 and encoding in wasted[0] and "both columns" in wasted[0]


@pytest.mark.parametrize("overrides", [{"weight_encoding": "differential", "crossbar.analog_subtraction": True},
                                       {"weight_encoding": "offset"}])
def test_no_note_when_the_adc_takes_the_difference_or_there_is_no_pair(overrides):
    mapped, simulated = _notes(api.load_chip("default").with_overrides(overrides))
    assert not [n for n in mapped + simulated if "analog_subtraction" in n]

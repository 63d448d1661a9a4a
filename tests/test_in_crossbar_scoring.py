"""In-crossbar embedding reads coupled to crossbar scoring (issue 25): with chip.embedding.mode
in_crossbar a table's rows reach the model through the chip's ADC (arch/crossbar/bag_read.py), so a
candidate scored with accuracy="crossbar" sees a lossy ADC in its embeddings; in gather mode it does not."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import tiny_space, train_tiny_supernet

from recpim.arch.crossbar.arithmetic import CrossbarArithmetic
from recpim.arch.crossbar.bag_read import crossbar_bag_sum
from recpim.arch.model.embeddings import EmbeddingTables
from recpim.crossbar_numbers import ENCODINGS
from recpim.pim.presets import load_chip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_bag_read_by_hand():
    """Offset encoding, 4-bit weights on 2-bit cells, one row holding -3: w_u = 5 = 0b0101, slices 1
    and 1; the reference column holds level 2^((4-1) mod 2) = 2 shifted by 2^2. A 2-bit ADC (the
    lossless width of one row) reads 1 + 4 * 1 - 4 * 2 = -3; a 1-bit ADC has step 2: round(1/2) = 0
    (ties to even), round(2/2) = 1 -> 0 + 0 - 4 * 2 = -8."""
    codes = torch.tensor([[[-3]]])
    assert crossbar_bag_sum(codes, CrossbarArithmetic(cell_bits=2, adc_bits=2), 4).item() == -3
    assert crossbar_bag_sum(codes, CrossbarArithmetic(cell_bits=2, adc_bits=1), 4).item() == -8


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 9), cell_bits=st.sampled_from((1, 2, 4)), encoding=st.sampled_from(ENCODINGS),
       subtract=st.booleans(), weight_bits=st.integers(2, 8), seed=st.integers(0, 1000), extra=st.integers(0, 3))
def test_a_bag_read_is_exact_from_its_lossless_adc_width(rows, cell_bits, encoding, subtract, weight_bits, seed,
                                                        extra):
    subtract = subtract and encoding != "offset"
    lossless = CrossbarArithmetic(rows_read_at_once=128, cell_bits=cell_bits, encoding=encoding,
                                  analog_subtraction=subtract).lossless_adc_bits(rows)
    arith = CrossbarArithmetic(cell_bits=cell_bits, adc_bits=lossless + extra, encoding=encoding,
                               analog_subtraction=subtract)
    limit = 2 ** (weight_bits - 1) - 1
    codes = torch.randint(-limit, limit + 1, (5, rows, 3), generator=torch.Generator().manual_seed(seed))
    assert torch.equal(crossbar_bag_sum(codes, arith, weight_bits), codes.sum(dim=1))


def test_the_error_of_a_read_shrinks_with_adc_bits_to_zero_at_the_lossless_width():
    torch.manual_seed(0)
    tables = EmbeddingTables((40, 50), 8)
    ids = torch.stack([torch.arange(40), torch.arange(40) % 50], dim=1)
    exact = tables(ids, 8)                          # fake-quantised rows: what gather mode delivers
    errors = []
    for adc_bits in (1, 2, 3, 4, 8):                 # 4-bit cells: one row needs 4 ADC bits
        arith = CrossbarArithmetic(cell_bits=4, adc_bits=adc_bits, embedding_fields=(0, 1))
        with torch.no_grad():
            errors.append((tables(ids, 8, crossbar=arith) - exact).abs().mean().item())
        # fields outside embedding_fields (gathered) are never touched, whatever the ADC
        gathered = CrossbarArithmetic(cell_bits=4, adc_bits=adc_bits, embedding_fields=(1,))
        assert torch.equal(tables(ids, 8, crossbar=gathered)[:, 0], exact[:, 0])
    assert errors[0] > errors[1] > errors[2] > 0 and errors[3] == errors[4] == 0


def test_to_dict_omits_the_fields_unless_set():
    assert "embedding_fields" not in CrossbarArithmetic().to_dict()
    assert CrossbarArithmetic(embedding_fields=(0, 2)).to_dict()["embedding_fields"] == (0, 2)


@pytest.fixture(scope="module")
def search_state(tmp_path_factory):
    from recpim.search.evaluate import EvalContext, worker_state
    from recpim.search.objectives import Objective
    from recpim.search.run import resolve_settings

    checkpoint = train_tiny_supernet(tiny_space("xbar_embedding_scoring"), tmp_path_factory.mktemp("supernet"))
    chip = load_chip("isaac").with_overrides({"name": "isaac-4tiles-reserve", "chip.tiles": 4, "chip.mesh_rows": 2,
                                              "chip.mesh_cols": 2, "chip.embedding_reram_mb": 64})
    settings = resolve_settings(chip, checkpoint, objective=Objective(kind="pareto"), accuracy="crossbar",
                                score_rows=256, batch=16)
    context = settings.eval_context()
    return worker_state(EvalContext(**{**context.__dict__, "finetune_steps": 0})), chip


def test_crossbar_scoring_sees_the_adc_in_in_crossbar_mode_only(search_state):
    from recpim.arch.model.lowering import lower_subnet
    from recpim.arch.model.subnet import sample_subnet
    from recpim.mapping.cost import evaluate_cost
    from recpim.mapping.embedding_lookup import in_crossbar_fields
    from recpim.search.candidate import Candidate
    from recpim.search.evaluate import evaluate_candidate

    state, chip = search_state
    subnet = sample_subnet(state.supernet.space, 4)
    graph = lower_subnet(subnet, state.dataset.schema)
    fields = tuple(range(state.dataset.schema.num_sparse))
    for mode, expected in (("gather", ()), ("in_crossbar", fields)):
        mapping = evaluate_cost(graph, chip.with_overrides({"chip.embedding.mode": mode}), engine="analytic").mapping
        assert in_crossbar_fields(mapping, graph) == expected   # one-hot tables in the reserve: read in crossbars
    loss = {}
    for mode in ("gather", "in_crossbar"):
        for adc_bits in (1, 8):   # isaac's 2-bit cells: one row needs 2 ADC bits, so 1 is lossy and 8 is not
            candidate = Candidate(subnet=subnet, chip_knobs={"chip.embedding.mode": mode, "adc.bits": adc_bits})
            result = evaluate_candidate(state, 0, candidate)
            assert result.status == "ok", result.message
            loss[(mode, adc_bits)] = result.metrics.logloss
    assert loss[("in_crossbar", 8)] == loss[("gather", 8)]     # a lossless read returns the rows themselves
    assert loss[("in_crossbar", 1)] != loss[("gather", 1)]     # a lossy ADC reaches the embeddings too
    assert loss[("in_crossbar", 1)] > loss[("in_crossbar", 8)]

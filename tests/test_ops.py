"""The torch operators: sliced (supernet) calls equal exact-size operators with the same weights and
execute only the active MACs; fake quantisation; the standalone model trains."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from recpim.arch.data.schema import DatasetSchema
from recpim.arch.model.modules import (
    AttentionOp,
    DotProductOp,
    EFCOp,
    FCOp,
    FMMerger,
    GatingOp,
    SlicedLinear,
    fake_quantize,
    gram_rows,
    num_pairs,
    source_segments,
)
from recpim.arch.model.space import nasrec_full
from recpim.arch.model.standalone import StandaloneModel
from recpim.arch.model.subnet import sample_subnet
from recpim.errors import ConfigError

B, DIM = 3, 16
NARROW = nasrec_full(name="test_ops_narrow", dense_widths=(16, 32, 64))


@pytest.fixture(autouse=True)
def seeded_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def sliced_weight(layer: SlicedLinear, out: int, segments) -> torch.Tensor:
    return torch.cat([layer.weight[:out, a:a + n] for a, n in segments], dim=1)


def copy_linear(exact: SlicedLinear, shared: SlicedLinear, out: int, segments) -> None:
    with torch.no_grad():
        exact.weight.copy_(sliced_weight(shared, out, segments))
        if exact.bias is not None:
            exact.bias.copy_(shared.bias[:out])


def copy_norm(exact, shared) -> None:
    with torch.no_grad():
        d = exact.weight.shape[0]
        exact.weight.copy_(shared.weight[:d])
        exact.bias.copy_(shared.bias[:d])


def flops(fn) -> int:
    # The math backend runs attention as the two batched matmuls torch's FLOP counter sees (the
    # fused CPU kernel it picks otherwise is not counted); the products are the same.
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_gram_rows_balance_the_dot_product():
    assert [gram_rows(w) for w in (16, 32, 64, 128, 256, 512, 768, 1024)] == [6, 8, 11, 16, 23, 32, 39, 45]
    assert all(abs(num_pairs(gram_rows(w)) - w) <= gram_rows(w) for w in (16, 64, 1024))


def test_source_segments_give_each_source_its_own_slot():
    # sources 0..3 with slots 13, 1024, 1024, 1024; active sources 0 and 2 at widths 13 and 64
    assert source_segments([0, 2], [13, 32, 64, 16], [13, 1024, 1024, 1024]) == [(0, 13), (1037, 64)]


def test_sliced_fc_equals_exact_fc_and_runs_only_active_macs():
    shared = FCOp(max_in=13 + 1024, max_width=1024)
    segments = source_segments([0, 1], [13, 64], [13, 1024])
    x = torch.randn(B, 13 + 64)
    exact = FCOp(13 + 64, 128)
    copy_linear(exact.linear, shared.linear, 128, segments)
    copy_norm(exact.norm, shared.norm)
    torch.testing.assert_close(shared(x, 128, segments), exact(x))
    assert flops(lambda: shared(x, 128, segments)) == flops(lambda: exact(x)) == 2 * B * 77 * 128


def test_sliced_gating_equals_exact_gating():
    shared = GatingOp(max_left=100, max_right=100, max_width=64)
    left, right = torch.randn(B, 20), torch.randn(B, 30)
    exact = GatingOp(20, 30, 32)
    copy_linear(exact.gate, shared.gate, 32, [(50, 20)])
    copy_linear(exact.value, shared.value, 32, [(10, 30)])
    copy_norm(exact.norm, shared.norm)
    torch.testing.assert_close(shared(left, right, 32, [(50, 20)], [(10, 30)]), exact(left, right))


def test_sliced_dot_product_equals_exact_and_shares_pair_columns():
    shared = DotProductOp(max_dense_in=40, max_rows_in=60, max_width=1024)
    dense, sparse = torch.randn(B, 13), torch.randn(B, 26, DIM)
    width = 64
    n = gram_rows(width)
    exact = DotProductOp(13, 26, width)
    copy_linear(exact.row_proj, shared.row_proj, n, [(0, 26)])
    # the pairs of n rows are the first n(n-1)/2 columns after the dense slot, whatever the max width
    copy_linear(exact.out_proj, shared.out_proj, width, [(0, 13), (40, num_pairs(n))])
    copy_norm(exact.norm, shared.norm)
    out = shared(dense, sparse, width, [(0, 13)], [(0, 26)])
    torch.testing.assert_close(out, exact(dense, sparse))
    assert flops(lambda: shared(dense, sparse, width, [(0, 13)], [(0, 26)])) == flops(lambda: exact(dense, sparse))


def test_sliced_sparse_ops_equal_exact_ops():
    sparse = torch.randn(B, 34, DIM)
    segments = [(0, 26), (100, 8)]          # raw rows and a block's 8 merger rows, in their slots
    efc = EFCOp(max_rows_in=200, max_width=64)
    exact_efc = EFCOp(34, 32)
    copy_linear(exact_efc.linear, efc.linear, 32, segments)
    copy_norm(exact_efc.norm, efc.norm)
    torch.testing.assert_close(efc(sparse, 32, segments), exact_efc(sparse))

    attention = AttentionOp(max_rows_in=200, max_width=64, dim=DIM, heads=8)
    exact_attention = AttentionOp(34, 16, DIM, 8)
    state = {k: v for k, v in attention.state_dict().items() if not k.startswith("row_proj")}
    exact_attention.load_state_dict(state, strict=False)
    copy_linear(exact_attention.row_proj, attention.row_proj, 16, segments)
    out = attention(sparse, 16, segments)
    assert out.shape == (B, 16, DIM)
    torch.testing.assert_close(out, exact_attention(sparse))

    fm = FMMerger(DIM, max_width=1024)
    exact_fm = FMMerger(DIM, 64)
    copy_linear(exact_fm.linear, fm.linear, 64, [(0, DIM)])
    copy_norm(exact_fm.norm, fm.norm)
    torch.testing.assert_close(fm(sparse, 64), exact_fm(sparse))


def test_fm_merger_is_layer_norm_of_the_projected_sum_of_pairwise_row_products():
    # Three sparse rows of dim 2, worked by hand: pairwise products summed per dim are
    # dim 0: 1*3 + 1*0 + 3*0 = 3, dim 1: 2*(-1) + 2*4 + (-1)*4 = 2.
    sparse = torch.tensor([[[1.0, 2.0], [3.0, -1.0], [0.0, 4.0]]], dtype=torch.float64)
    fm = FMMerger(2, max_width=4).double()
    with torch.no_grad():
        fm.linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [7.0, 7.0]]))
        fm.norm.weight.copy_(torch.tensor([1.0, 2.0, 0.5, 9.0]))
        fm.norm.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 9.0]))
    projected = torch.tensor([[3.0, 2.0, 5.0]], dtype=torch.float64)   # W[:3] (3, 2): the width-3 slice
    mean, var = 10 / 3, ((3 - 10 / 3) ** 2 + (2 - 10 / 3) ** 2 + (5 - 10 / 3) ** 2) / 3
    by_hand = (projected - mean) / (var + 1e-5) ** 0.5 * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([0.0, 1.0, -1.0])
    torch.testing.assert_close(fm(sparse, 3), by_hand.double())
    # Random rows: the operator equals the pairwise definition (not the square-of-sum shortcut it uses).
    rows = torch.randn(B, 5, DIM, dtype=torch.float64)
    pairwise = sum(rows[:, i] * rows[:, j] for i in range(5) for j in range(i + 1, 5))
    wide = FMMerger(DIM, max_width=64).double()
    expected = torch.nn.functional.layer_norm(pairwise @ wide.linear.weight[:32].T, (32,), wide.norm.weight[:32],
                                              wide.norm.bias[:32], 1e-5)
    torch.testing.assert_close(wide(rows, 32), expected)


def test_fake_quantize_levels_and_straight_through_gradient():
    x = torch.linspace(-2.0, 1.0, 101, requires_grad=True)
    q = fake_quantize(x, 4)
    scale = 2.0 / 7                                      # max|x| onto level 7 (4 bits, signed)
    levels = torch.round(q.detach() / scale)
    torch.testing.assert_close(levels * scale, q.detach())
    assert levels.abs().max() == 7 and len(levels.unique()) <= 15
    q.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))
    assert fake_quantize(x, None) is x
    errors = [(fake_quantize(x, b) - x).abs().max().item() for b in (4, 6, 8)]
    assert errors[0] > errors[1] > errors[2] and errors[2] <= 2.0 / 127 / 2 + 1e-6


def test_standalone_model_trains_and_quantises():
    schema = DatasetSchema(name="tiny", num_dense=13, vocab_sizes=(20,) * 26)
    subnet = sample_subnet(NARROW, 4)
    model = StandaloneModel(subnet, schema)
    dense, sparse = torch.randn(32, 13), torch.randint(0, 20, (32, 26))
    labels = (dense[:, 0] > 0).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(dense, sparse), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    quantised = StandaloneModel(subnet, schema, quantize=True)
    quantised.load_state_dict(model.state_dict())
    with torch.no_grad():
        exact, approx = model(dense, sparse), quantised(dense, sparse)
    assert not torch.equal(exact, approx)
    assert torch.corrcoef(torch.stack([exact, approx]))[0, 1] > 0.9


def test_standalone_model_checks_its_inputs_and_handles_no_dense_features():
    schema = DatasetSchema(name="no_dense", num_dense=0, vocab_sizes=(9,) * 4)
    model = StandaloneModel(sample_subnet(nasrec_full(), 2), schema)
    assert model(torch.zeros(5, 0), torch.randint(0, 9, (5, 4))).shape == (5,)
    with pytest.raises(ConfigError, match=r"expected \[B, 4\]"):
        model(torch.zeros(5, 0), torch.randint(0, 9, (5, 3)))
    with pytest.raises(ConfigError, match="integer ids"):
        model(torch.zeros(5, 0), torch.zeros(5, 4))

"""torch.fx import: MACs against torch's own FLOP counter, op kinds, per-sample counts, error listing."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from recpim.arch.graph.fx_import import graph_from_module
from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.errors import UnsupportedModelError


def torch_macs_per_sample(module: nn.Module, inputs: tuple) -> int:
    """Multiply-accumulates torch executes per sample (matmul/conv FLOPs count 2 per MAC)."""
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops() // 2 // inputs[0].shape[0]


def kinds(graph: WorkloadGraph) -> list[str]:
    return [str(node.kind) for node in graph.nodes()]


class ConvNet(nn.Module):
    """Strided, grouped and padded convs, batch norm, adaptive pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5, stride=2, padding=2)
        self.bn = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, groups=4, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(32, 7)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        return self.head(torch.flatten(self.pool(self.conv2(x)), 1))


class ParamMatmuls(nn.Module):
    """Weights used through matmul/@/F.linear/einsum, a batch folded into rows, split pieces."""

    def __init__(self):
        super().__init__()
        self.right = nn.Parameter(torch.randn(12, 20))
        self.left = nn.Parameter(torch.randn(6, 5))
        self.linear_weight = nn.Parameter(torch.randn(9, 20))

    def forward(self, x):                                # x: (B, 5, 12)
        a = x @ self.right                               # (B, 5, 20): MVM (12 x 20) x 5
        b = torch.matmul(self.left, x)                   # (B, 6, 12): MVM (5 x 6) x 12
        rows = a.reshape(-1, 20)                         # (B*5, 20): batch folded into rows
        c = F.linear(rows, self.linear_weight)           # (B*5, 9)
        first, second = torch.chunk(b, 2, dim=1)         # (B, 3, 12) each
        d = torch.einsum("bij,bkj->bik", first, second)  # (B, 3, 3): activation x activation
        return c.view(x.size(0), -1).sum(1) + d.flatten(1).mean(1)


class Attention(nn.Module):
    def __init__(self, fused: bool):
        super().__init__()
        self.fused = fused
        self.qkv = nn.Linear(16, 48)

    def forward(self, x):                                # x: (B, 10, 16)
        q, k, v = self.qkv(x).split(16, dim=-1)
        q, k, v = (t.view(x.size(0), 10, 2, 8).transpose(1, 2) for t in (q, k, v))
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = torch.softmax(q @ k.transpose(-2, -1) / 8**0.5, dim=-1) @ v
        return out.transpose(1, 2).flatten(2)


class Bags(nn.Module):
    def __init__(self):
        super().__init__()
        self.bag = nn.EmbeddingBag(50, 8, mode="sum")
        self.table = nn.Embedding(30, 8)
        self.fc = nn.Linear(16, 4)

    def forward(self, ids, single):                      # ids: (B, 3), single: (B,)
        return self.fc(torch.cat([self.bag(ids), self.table(single)], dim=1))


CUSTOM_MODELS = {
    "convnet": (ConvNet, lambda: (torch.randn(2, 3, 20, 20),)),
    "param_matmuls": (ParamMatmuls, lambda: (torch.randn(3, 5, 12),)),
    "attention": (lambda: Attention(fused=False), lambda: (torch.randn(2, 10, 16),)),
    "bags": (Bags, lambda: (torch.randint(0, 50, (4, 3)), torch.randint(0, 30, (4,)))),
}


@pytest.mark.parametrize("name", sorted(CUSTOM_MODELS))
def test_macs_equal_torch_flop_counter(name):
    torch.manual_seed(0)
    factory, make_inputs = CUSTOM_MODELS[name]
    module, inputs = factory(), make_inputs()
    graph = graph_from_module(module, inputs, name)
    assert graph.total_macs == torch_macs_per_sample(module, inputs)
    assert graph.total_macs > 0
    round_trip = WorkloadGraph.from_json_dict(graph.to_json_dict())
    assert round_trip.to_json_dict() == graph.to_json_dict()


def test_conv_is_an_im2col_mvm_per_output_position():
    graph = graph_from_module(ConvNet(), (torch.randn(2, 3, 20, 20),), "convnet")
    conv1, conv2 = graph.node("conv1"), graph.node("conv2")
    assert (conv1.kind, conv1.weight_shape, conv1.vectors) == (OpKind.MVM, (3 * 5 * 5, 16), 10 * 10)
    assert conv1.macs == 75 * 16 * 100 and conv1.ops == 16 * 100  # bias adds are digital ops
    assert (conv2.weight_shape, conv2.vectors, conv2.extra["groups"]) == ((16 // 4 * 9, 32), 25, 4)
    assert conv2.input_shapes == ((16, 5, 5),) and conv2.output_shape == (32, 5, 5)
    assert graph.node("max_pool2d").ops == 16 * 5 * 5 * 4  # 2x2 window per output
    assert graph.node("bn").kind == OpKind.MUL


def test_weights_on_either_side_and_batch_folding_count_per_sample():
    graph = graph_from_module(ParamMatmuls(), (torch.randn(3, 5, 12),), "m")
    right, left, linear = graph.node("matmul"), graph.node("matmul_1"), graph.node("linear")
    assert (right.kind, right.weight_shape, right.vectors) == (OpKind.MVM, (12, 20), 5)
    assert (left.kind, left.weight_shape, left.vectors) == (OpKind.MVM, (5, 6), 12)
    assert (linear.weight_shape, linear.vectors, linear.macs) == ((20, 9), 5, 20 * 9 * 5)
    assert graph.node("reshape").output_shape == (5, 20)  # (B*5, 20) is 5 rows per sample
    einsum = graph.node("einsum")
    assert (einsum.kind, einsum.macs) == (OpKind.ACT_MATMUL, 3 * 3 * 12)
    assert einsum.input_shapes == ((3, 12), (3, 12))
    assert graph.node("getitem").input_shapes == ((6, 12),)  # a chunk piece reads the chunked tensor


def test_fused_attention_counts_the_same_macs_as_the_explicit_one():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 16)
    explicit = graph_from_module(Attention(fused=False), (x,), "explicit")
    fused = graph_from_module(Attention(fused=True), (x,), "fused")
    assert fused.total_macs == explicit.total_macs == 10 * 16 * 48 + 2 * (2 * 10 * 10 * 8)
    assert [str(n.kind) for n in explicit.nodes()].count("act_matmul") == 2
    # softmax per score, from the one digital-cost table (5: max, subtract, exp, sum, divide; was 3)
    assert fused.node("scaled_dot_product_attention").ops == 5 * 2 * 10 * 10


def test_embedding_lookups_bits_and_bytes():
    graph = graph_from_module(Bags(), (torch.randint(0, 50, (4, 3)), torch.randint(0, 30, (4,))), "bags",
                              weight_bits=4, activation_bits=6)
    bag, table, fc = graph.node("bag"), graph.node("table"), graph.node("fc")
    assert (bag.kind, bag.weight_shape, bag.lookups, bag.ops) == (OpKind.EMBEDDING, (50, 8), 3, 3 * 8)
    assert (table.lookups, table.input_shapes, table.output_shape) == (1, ((),), (8,))
    assert bag.weight_bits == table.weight_bits == fc.weight_bits == 4
    assert graph.node("ids").activation_bits == 32 and graph.node("ids").bytes_written == 3 * 4  # 32-bit ids
    assert fc.activation_bits == 6 and fc.bytes_read == 16 * 6 // 8 and fc.bytes_written == -(-4 * 6 // 8)
    assert graph.weight_bits_total == 16 * 4 * 4
    graph.check()


def test_indexed_tables_are_lookups_and_like_tensors_are_constants():
    class Gather(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.randn(40, 6))

        def forward(self, ids, x):                       # ids: (B, 5), x: (B, 6)
            mask = torch.zeros_like(x)                   # a constant, not an activation
            rows = self.table[ids].sum(1)                # (B, 6): 5 lookups per sample, pooled
            return torch.where(x > 0, rows, mask)

    graph = graph_from_module(Gather(), (torch.randint(0, 40, (3, 5)), torch.randn(3, 6)), "gather")
    lookup = graph.node("getitem")
    assert (lookup.kind, lookup.weight_shape, lookup.lookups, lookup.output_shape) == (
        OpKind.EMBEDDING, (40, 6), 5, (5, 6))
    assert graph.node("sum_1").ops == 5 * 6
    assert sorted(kinds(graph)) == sorted(["input", "input", "embedding", "reduce", "add", "add", "output"])
    assert graph.node("where").input_shapes == ((6,), (6,))  # the compare and the rows; the mask is constant
    assert "zeros_like" not in graph.graph


@settings(max_examples=25, deadline=None)
@given(
    channels_in=st.integers(1, 6), groups=st.sampled_from([1, 2]), channels_per_group=st.integers(1, 4),
    kernel=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2), size=st.integers(4, 10),
    hidden=st.integers(1, 40), batch=st.integers(1, 3),
)
def test_random_conv_linear_stacks_match_flop_counter(channels_in, groups, channels_per_group, kernel, stride,
                                                      padding, size, hidden, batch):
    channels_in *= groups
    conv = nn.Conv2d(channels_in, groups * channels_per_group, kernel, stride=stride, padding=padding, groups=groups)
    out_size = (size + 2 * padding - kernel) // stride + 1
    if out_size < 1:
        return
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(groups * channels_per_group * out_size**2, hidden))
    inputs = (torch.randn(batch, channels_in, size, size),)
    graph = graph_from_module(model, inputs, "random")
    assert graph.total_macs == torch_macs_per_sample(model, inputs)
    assert next(n for n in graph.nodes() if n.kind == OpKind.MVM).vectors == out_size**2


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.rnn = nn.GRU(8, 8, batch_first=True)

    def forward(self, x):
        spectrum = torch.fft.rfft(x).real                # unsupported 1
        running = torch.cumsum(x, dim=1)                 # unsupported 2
        sequence, _ = self.rnn(x.unsqueeze(1))           # unsupported 3 (a leaf module we cannot lower)
        return self.fc(running) + sequence.squeeze(1) + spectrum[:, :1]


def test_unsupported_ops_are_all_listed_in_one_error_with_source_lines():
    with pytest.raises(UnsupportedModelError) as caught:
        graph_from_module(Unsupported(), (torch.randn(2, 8),), "bad")
    message = str(caught.value)
    lines, first = inspect.getsourcelines(Unsupported.forward)
    line_of = {key: first + i for i, text in enumerate(lines) for key in ("rfft", "cumsum", "self.rnn") if key in text}
    assert "has 3 operation(s)" in message
    for key, node_name in (("rfft", "fft_rfft"), ("cumsum", "cumsum"), ("self.rnn", "rnn")):
        entry = next(line for line in message.splitlines() if line.strip().startswith(f"- {node_name}:"))
        assert f"test_fx_import.py:{line_of[key]}" in entry, entry
    assert "GRU" in message and "supported:" in message


def test_data_dependent_control_flow_is_a_clear_error():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(UnsupportedModelError, match="control flow"):
        graph_from_module(Branchy(), (torch.randn(2, 3),), "branchy")


def test_wrong_sample_input_is_an_error_not_a_crash():
    with pytest.raises(UnsupportedModelError, match="sample inputs"):
        graph_from_module(nn.Linear(4, 2), (torch.randn(2, 5),), "linear")


def test_reduction_over_the_batch_is_rejected():
    class BatchMean(nn.Module):
        def forward(self, x):
            return x.mean()

    with pytest.raises(UnsupportedModelError, match="mixes samples"):
        graph_from_module(BatchMean(), (torch.randn(4, 3),), "batch_mean")


def test_module_training_flag_is_restored():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train()
    graph = graph_from_module(model, (torch.randn(2, 3),), "dropout")
    assert model.training
    assert [str(n.kind) for n in graph.nodes()] == ["input", "mvm", "reshape", "output"]  # dropout is identity


class ScaledSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x * 0.5

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_custom_autograd_function_is_lowered_from_its_forward():
    class UsesFunction(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(ScaledSquare.apply(x))

    graph = graph_from_module(UsesFunction(), (torch.randn(2, 4),), "autograd_fn")
    assert kinds(graph) == ["input", "mul", "mul", "mvm", "output"] and graph.total_macs == 12

"""Import any PyTorch nn.Module into a WorkloadGraph with torch.fx.

The module is traced symbolically (torch.fx), then one sample input runs through the traced graph
(ShapeProp) so every node knows its tensor shapes. Each fx node is then lowered by a rule:
Linear/conv/matmul-by-a-constant become crossbar MVMs (a conv is an im2col MVM applied once per
output position), embedding lookups stay lookups, products of two activations become `act_matmul`,
and elementwise/normalisation/pooling ops become digital vector ops. Shape-only glue (x.size(0),
int arithmetic) and constants (parameters, buffers, tensors built without the input) make no node.

Dim 0 of every activation is the batch: counts are measured on the whole sample batch and divided
by it, so `x.view(-1, d)` that folds the batch into rows is still counted per sample.

Every node no rule covers is collected; the import raises ONE UnsupportedModelError listing them
all with their source lines, so a user fixes a model in one pass.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from recpim.arch.graph.digital_cost import ops_per_element  # the table the direct lowering counts with too
from recpim.arch.graph.embedding import EmbeddingAccess
from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode, tensor_bytes
from recpim.errors import UnsupportedModelError

ID_BITS = 32  # integer tensors (sparse ids) travel as 32-bit words

# Functions and Tensor methods, by name (leading underscores and in-place "_" stripped).
_SIMPLE_FUNCTIONS: dict[OpKind, set[str]] = {
    OpKind.ADD: {"add", "sub", "rsub", "iadd", "isub", "neg", "where", "masked_fill", "maximum", "minimum",
                 "gt", "ge", "lt", "le", "eq", "ne", "logical_and", "logical_or", "logical_not"},  # compare-class
    OpKind.MUL: {"mul", "truediv", "div", "imul", "itruediv", "pow", "square", "sqrt", "rsqrt", "exp", "log",
                 "abs", "reciprocal"},
    OpKind.RELU: {"relu", "relu6", "leaky_relu", "hardtanh", "clamp", "clip"},
    OpKind.SIGMOID: {"sigmoid", "tanh", "gelu", "silu", "elu", "softplus", "hardsigmoid", "hardswish"},
    OpKind.SOFTMAX: {"softmax", "log_softmax"},
    OpKind.LAYERNORM: {"layer_norm", "group_norm", "rms_norm", "normalize"},
    OpKind.REDUCE: {"sum", "mean", "amax", "amin", "max", "min", "prod"},
    OpKind.POOL: {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
                  "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"},
    OpKind.CONCAT: {"cat", "concat", "concatenate", "stack", "hstack", "vstack"},
    OpKind.RESHAPE: {"flatten", "unflatten", "view", "reshape", "squeeze", "unsqueeze", "transpose", "permute",
                     "t", "contiguous", "getitem", "expand", "expand_as", "repeat", "clone", "detach", "to", "float",
                     "half", "type_as", "dropout", "narrow", "select", "index_select", "gather", "movedim",
                     "swapaxes", "view_as", "getattr", "tile"},
}
_FUNCTION_KIND = {name: kind for kind, names in _SIMPLE_FUNCTIONS.items() for name in names}
_SPLITS = {"split", "chunk", "unbind", "tensor_split"}  # tuple of views: the pieces alias the input
_MATMULS = {"matmul", "mm", "bmm"}
_CONVS = {"conv1d", "conv2d", "conv3d"}
_SHAPE_GLUE_FORBIDDEN = {"item", "tolist", "nonzero"}  # scalars read from data: not shape glue
_CONSTANT_LIKE = {"zeros_like", "ones_like", "full_like", "empty_like", "new_zeros", "new_ones", "new_full",
                  "new_empty"}  # take only a shape from an activation: constants

# Leaf torch.nn modules, by class.
_MODULE_KIND: dict[type, OpKind] = {
    nn.ReLU: OpKind.RELU, nn.ReLU6: OpKind.RELU, nn.LeakyReLU: OpKind.RELU, nn.Hardtanh: OpKind.RELU,
    nn.Sigmoid: OpKind.SIGMOID, nn.Tanh: OpKind.SIGMOID, nn.GELU: OpKind.SIGMOID, nn.SiLU: OpKind.SIGMOID,
    nn.ELU: OpKind.SIGMOID, nn.Softplus: OpKind.SIGMOID, nn.Hardsigmoid: OpKind.SIGMOID,
    nn.Hardswish: OpKind.SIGMOID, nn.Softmax: OpKind.SOFTMAX, nn.LogSoftmax: OpKind.SOFTMAX,
    nn.LayerNorm: OpKind.LAYERNORM, nn.GroupNorm: OpKind.LAYERNORM, nn.RMSNorm: OpKind.LAYERNORM,
    nn.MaxPool1d: OpKind.POOL, nn.MaxPool2d: OpKind.POOL, nn.MaxPool3d: OpKind.POOL, nn.AvgPool1d: OpKind.POOL,
    nn.AvgPool2d: OpKind.POOL, nn.AvgPool3d: OpKind.POOL, nn.AdaptiveAvgPool1d: OpKind.POOL,
    nn.AdaptiveAvgPool2d: OpKind.POOL, nn.AdaptiveMaxPool1d: OpKind.POOL, nn.AdaptiveMaxPool2d: OpKind.POOL,
    nn.Flatten: OpKind.RESHAPE, nn.Unflatten: OpKind.RESHAPE, nn.Identity: OpKind.RESHAPE,
    nn.Dropout: OpKind.RESHAPE,
}

SUPPORTED_SUMMARY = (
    "nn.Linear, nn.Conv1d/2d/3d, nn.Embedding(Bag), F.linear/conv/embedding with constant weights, "
    "matmul/mm/bmm/@/scaled_dot_product_attention, elementwise arithmetic, activations, softmax, "
    "layer/group/batch norm, pooling, reductions, cat/stack, views/reshapes/indexing, split/chunk"
)


@dataclass
class _Lowered:
    """What a rule returns for one fx node (shapes and counts are per sample)."""

    kind: OpKind
    weight_shape: tuple[int, ...] | None = None
    vectors: int = 1
    macs: int = 0
    ops: int = 0
    lookups: int = 0
    extra: dict | None = None
    embedding: EmbeddingAccess | None = None


def graph_from_module(
    module: nn.Module, sample_inputs: tuple, name: str, weight_bits: int = 8, activation_bits: int = 8
) -> WorkloadGraph:
    """Trace `module`, run `sample_inputs` (batch in dim 0) through it and lower it to a checked graph."""
    if not isinstance(sample_inputs, tuple):
        sample_inputs = (sample_inputs,)
    traced = _trace(module, name)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            ShapeProp(traced).propagate(*sample_inputs)
    except Exception as error:  # a wrong sample input shape, dtype...
        raise UnsupportedModelError(
            f"model {name!r}: running the sample inputs through the traced model failed: "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        module.train(was_training)
    return _Importer(traced, name, weight_bits, activation_bits).run()


def _trace(module: nn.Module, name: str) -> fx.GraphModule:
    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(module)
    except Exception as error:
        raise UnsupportedModelError(
            f"model {name!r} cannot be traced by torch.fx ({type(error).__name__}: {error}). recpim reads models "
            "by symbolic tracing, which cannot follow control flow or Python values that depend on tensor data; "
            "make such branches depend on constructor arguments instead."
        ) from error
    return fx.GraphModule(tracer.root, graph, name)


def source_line(node: fx.Node) -> str:
    """`file:line (code)` of the innermost frame outside torch that created the node."""
    torch_dir = os.path.dirname(torch.__file__)
    frames = re.findall(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*([^\n]*)', node.stack_trace or "")
    user_frames = [f for f in frames if not os.path.abspath(f[0]).startswith(torch_dir)]
    if not user_frames:
        return "<unknown source line>"
    path, line, code = user_frames[-1]
    relative = os.path.relpath(path)
    return f"{path if relative.startswith('..') else relative}:{line} ({code.strip()})"


def _op_name(target) -> str:
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    name = name.lstrip("_")
    return name[:-1] if name.endswith("_") else name  # in-place variants (relu_, add_) count as the op


def _qualified_name(target) -> str:
    try:
        return fx.node._get_qualified_name(target)
    except Exception:  # a private helper of torch.fx: fall back to the plain name
        return getattr(target, "__name__", repr(target))


def _numel(shape) -> int:
    return math.prod(shape)


class _Importer:
    def __init__(self, traced: fx.GraphModule, name: str, weight_bits: int, activation_bits: int):
        self.traced = traced
        self.weight_bits = weight_bits
        self.activation_bits = activation_bits
        self.workload = WorkloadGraph(name)
        self.producers: dict[fx.Node, list[str]] = {}  # activation fx node -> workload node name(s)
        self.unsupported: list[str] = []
        self.rejected: set[fx.Node] = set()
        shapes = [self._meta(n).shape for n in traced.graph.nodes if n.op == "placeholder" and self._meta(n)]
        if not any(shapes):
            raise UnsupportedModelError(f"model {name!r} takes no tensor inputs with a batch dimension")
        self.batch = int(next(shape for shape in shapes if shape)[0])

    # ---- fx metadata helpers
    @staticmethod
    def _meta(node) -> TensorMetadata | None:
        meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
        return meta if isinstance(meta, TensorMetadata) else None

    def _is_activation(self, arg) -> bool:
        return isinstance(arg, fx.Node) and arg in self.producers

    def _activation_args(self, node: fx.Node) -> list[fx.Node]:
        found: list[fx.Node] = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n) if self._is_activation(n) else None)
        return found

    def _per_sample(self, shape) -> tuple[int, ...] | None:
        """Shape of one sample's slice; None when the tensor mixes samples across the batch."""
        shape = tuple(int(d) for d in shape)
        if not shape or shape[0] % self.batch:
            return None
        return (shape[0] // self.batch, *shape[1:]) if shape[0] != self.batch else shape[1:]

    def _bits(self, meta: TensorMetadata) -> int:
        if meta.dtype.is_floating_point or meta.dtype.is_complex:
            return self.activation_bits
        return 8 if meta.dtype == torch.bool else ID_BITS

    # ---- main walk
    def run(self) -> WorkloadGraph:
        fx_names = {n.name for n in self.traced.graph.nodes}
        for node in self.traced.graph.nodes:
            if node.op == "output":
                for index, producer in enumerate(self._output_producers(node)):
                    name = "output" if index == 0 else f"output_{index}"
                    while index and name in fx_names:
                        name += "_"
                    self._add(name, node, OpKind.OUTPUT, [producer],
                              self.workload.node(producer).output_shape, self.workload.node(producer).activation_bits)
            elif node.op == "placeholder":
                meta = self._meta(node)
                if meta is not None and self._per_sample(meta.shape) is not None:  # else: a constant input
                    self._add_tensor_node(node, _Lowered(OpKind.INPUT), [])
            elif node.op in ("call_module", "call_function", "call_method"):
                self._visit(node)
        if self.unsupported:
            lines = "\n".join(f"  - {item}" for item in self.unsupported)
            raise UnsupportedModelError(
                f"model {self.workload.name!r} has {len(self.unsupported)} operation(s) recpim cannot lower "
                f"to a workload graph:\n{lines}\nsupported: {SUPPORTED_SUMMARY}"
            )
        self.workload.metadata.update({"importer": "torch.fx", "sample_batch": self.batch,
                                       "weight_bits": self.weight_bits, "activation_bits": self.activation_bits})
        return self.workload.check()

    def _output_producers(self, node: fx.Node) -> list[str]:
        names: list[str] = []
        fx.node.map_arg(node.args, lambda n: names.extend(self.producers.get(n, [])))
        return list(dict.fromkeys(names))

    def _visit(self, node: fx.Node) -> None:
        inputs = self._activation_args(node)
        if not inputs:
            return  # built from constants and shapes only: a constant, not an activation
        meta = node.meta.get("tensor_meta")
        name = _op_name(node.target) if node.op != "call_module" else ""
        if name == "getitem" and node.args[0] in self.rejected:  # a piece of a rejected op: listed already
            self.producers[node] = []
            return
        if name in _CONSTANT_LIKE:
            return
        if meta is None:  # a Python value (size, int arithmetic): shape glue, unless it reads data
            if name in _SHAPE_GLUE_FORBIDDEN:
                self._reject(node, "reads tensor data into Python")
            return
        if not isinstance(meta, TensorMetadata):  # a tuple of tensors
            if name in _SPLITS:
                self.producers[node] = [p for arg in inputs for p in self.producers[arg]]
            elif name in {"max", "min"}:  # (values, indices): lowered as a reduction of the values
                self._lower(node, inputs, meta[0], name)
            else:
                self._reject(node, "returns several tensors")
            return
        self._lower(node, inputs, meta, name)

    def _lower(self, node: fx.Node, inputs: list[fx.Node], meta: TensorMetadata, name: str) -> None:
        out_shape = self._per_sample(meta.shape)
        if out_shape is None:
            self._reject(node, f"its output {tuple(meta.shape)} mixes samples across the batch dimension")
            return
        try:
            lowered = self._rule(node, inputs, meta, name)
        except _Reject as why:
            self._reject(node, str(why))
            return
        if lowered is None:
            self._reject(node, "no lowering rule")
            return
        self._add_tensor_node(node, lowered, inputs, meta)

    def _reject(self, node: fx.Node, why: str) -> None:
        self.producers[node] = []  # still an activation, so the nodes after it are checked (and listed) too
        self.rejected.add(node)
        self.unsupported.append(f"{node.name}: {node.op} {self._source(node)} at {source_line(node)}: {why}")

    # ---- building workload nodes
    def _add_tensor_node(self, node: fx.Node, lowered: _Lowered, inputs: list[fx.Node], meta=None) -> None:
        meta = meta or self._meta(node)
        producers = [p for arg in inputs for p in self.producers[arg]]
        self._add(node.name, node, lowered.kind, producers, self._per_sample(meta.shape), self._bits(meta), lowered)
        self.producers[node] = [node.name]

    def _add(self, name, node, kind, producers, out_shape, bits, lowered: _Lowered | None = None) -> None:
        lowered = lowered or _Lowered(kind)
        in_nodes = [self.workload.node(p) for p in producers]
        in_shapes = tuple(n.output_shape for n in in_nodes)
        free = kind in (OpKind.CONCAT, OpKind.RESHAPE)
        has_weights = kind in (OpKind.MVM, OpKind.EMBEDDING)
        extra = dict(lowered.extra or {})
        if node.op not in ("placeholder", "output"):
            extra["source_line"] = source_line(node)
        self.workload.add_node(WorkloadNode(
            name=name, kind=kind, input_shapes=in_shapes, output_shape=out_shape, activation_bits=bits,
            weight_shape=lowered.weight_shape, weight_bits=self.weight_bits if has_weights else None,
            vectors=lowered.vectors, macs=lowered.macs, ops=lowered.ops, lookups=lowered.lookups,
            embedding=lowered.embedding,
            bytes_read=0 if free or kind == OpKind.INPUT else sum(
                tensor_bytes(n.output_shape, n.activation_bits) for n in in_nodes),
            bytes_written=0 if free or kind == OpKind.OUTPUT else tensor_bytes(out_shape, bits),
            source=self._source(node), extra=extra,
        ))
        for producer in dict.fromkeys(producers):
            self.workload.add_edge(producer, name)

    def _source(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return f"{node.target} ({type(self.traced.get_submodule(node.target)).__name__})"
        if node.op == "call_method":
            return f"Tensor.{node.target}"
        if node.op == "call_function":
            return _qualified_name(node.target)
        return node.op

    # ---- lowering rules
    def _rule(self, node, inputs, meta, name) -> _Lowered | None:
        out_total = _numel(meta.shape)
        if node.op == "call_module":
            return self._module_rule(node, inputs, meta)
        if name in _MATMULS or name == "linear":
            return self._matmul_rule(node, meta, name)
        if name in _CONVS:
            weight = node.args[1] if len(node.args) > 1 else node.kwargs["weight"]
            groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
            return self._conv(meta, self._constant_shape(weight, "a conv weight"), self._has_bias(node, 2), groups)
        if name == "embedding" and not self._is_activation(node.args[1]):
            return self._embedding(node.args[0], self._constant_shape(node.args[1], "embedding weight"), meta)
        if name == "getitem" and self._is_activation(node.args[1]) and not self._is_activation(node.args[0]) \
                and len(self._constant_shape(node.args[0], "indexed table")) == 2:
            # table[ids] with a constant 2-D table is an embedding lookup
            return self._embedding(node.args[1], self._constant_shape(node.args[0], "indexed table"), meta)
        if name == "scaled_dot_product_attention":
            return self._attention(node, meta)
        if name == "einsum":
            return self._einsum(node, meta)
        if name == "batch_norm":  # inference batch norm: a per-channel scale and shift
            return _Lowered(OpKind.MUL, ops=2 * out_total // self.batch, extra={"function": name})
        kind = _FUNCTION_KIND.get(name)
        if kind is None:
            return None
        if kind == OpKind.REDUCE and len(inputs) > 1:  # torch.max(a, b): an elementwise compare
            return _Lowered(OpKind.ADD, ops=out_total // self.batch, extra={"function": name})
        if kind == OpKind.REDUCE:
            return _Lowered(kind, ops=sum(_numel(self._meta(a).shape) for a in inputs) // self.batch)
        if kind == OpKind.POOL:
            return self._pool(inputs, meta, node.args[1] if len(node.args) > 1 else node.kwargs.get("kernel_size"),
                              adaptive=name.startswith("adaptive"))
        return _Lowered(kind, ops=ops_per_element(kind) * out_total // self.batch,
                        extra={"function": name} if name not in ("add", "mul", "relu", "sigmoid") else None)

    def _module_rule(self, node, inputs, meta) -> _Lowered | None:
        module = self.traced.get_submodule(node.target)
        out_total = _numel(meta.shape)
        if isinstance(module, nn.Linear):
            return self._mvm(module.in_features, module.out_features, meta, module.bias is not None)
        if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            return self._conv(meta, tuple(module.weight.shape), module.bias is not None, module.groups)
        if isinstance(module, nn.Embedding):
            return self._embedding(node.args[0], tuple(module.weight.shape), meta)
        if isinstance(module, nn.EmbeddingBag):
            return self._embedding_bag(node, module)
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d):
            return _Lowered(OpKind.MUL, ops=2 * out_total // self.batch, extra={"function": "batch_norm"})
        kind = _MODULE_KIND.get(type(module))
        if kind == OpKind.POOL:
            return self._pool(inputs, meta, getattr(module, "kernel_size", None), adaptive="Adaptive" in
                              type(module).__name__)
        if kind is None:
            return None
        return _Lowered(kind, ops=ops_per_element(kind) * out_total // self.batch,
                        extra={"function": type(module).__name__})

    def _constant_shape(self, arg, what: str) -> tuple[int, ...]:
        meta = self._meta(arg)
        if meta is None or self._is_activation(arg):
            raise _Reject(f"{what} must be a parameter or constant")
        return tuple(int(d) for d in meta.shape)

    def _has_bias(self, node, position: int) -> bool:
        bias = node.args[position] if len(node.args) > position else node.kwargs.get("bias")
        return bias is not None

    def _mvm(self, k: int, n: int, meta, bias: bool, extra=None) -> _Lowered:
        vectors = _numel(meta.shape) // (self.batch * n)
        return _Lowered(OpKind.MVM, weight_shape=(k, n), vectors=vectors, macs=k * n * vectors,
                        ops=n * vectors if bias else 0, extra=extra)

    def _conv(self, meta, weight_shape, bias: bool, groups: int | None = None) -> _Lowered:
        c_out, c_in_per_group, *kernel = weight_shape
        k = c_in_per_group * _numel(kernel)  # im2col rows: C_in / groups * kernel area
        extra = {"im2col": True, "kernel": kernel}
        if groups and groups > 1:
            extra["groups"] = groups
        return self._mvm(k, c_out, meta, bias, extra)

    def _matmul_rule(self, node, meta, name) -> _Lowered:
        left, right = node.args[0], node.args[1]
        if name == "linear":  # y = x W^T: W is (out, in)
            if not self._is_activation(right):
                out_f, in_f = self._constant_shape(right, "linear weight")
                return self._mvm(in_f, out_f, meta, self._has_bias(node, 2))
            return self._act_matmul(meta, self._meta(left).shape[-1])
        left_act, right_act = self._is_activation(left), self._is_activation(right)
        if left_act and right_act:
            return self._act_matmul(meta, self._meta(left).shape[-1])
        weight = self._constant_shape(right if left_act else left, "matmul operand")
        if len(weight) > 2:
            raise _Reject(f"a batch of constant weight matrices {weight} is not a single crossbar matrix")
        if len(weight) == 1:
            return self._mvm(weight[0], 1, meta, False)
        k, n = (weight[0], weight[1]) if left_act else (weight[1], weight[0])
        return self._mvm(k, n, meta, False)

    def _act_matmul(self, meta, contracted: int) -> _Lowered:
        return _Lowered(OpKind.ACT_MATMUL, macs=_numel(meta.shape) * int(contracted) // self.batch)

    def _attention(self, node, meta) -> _Lowered:
        query, key = self._meta(node.args[0]).shape, self._meta(node.args[1]).shape
        scores = _numel(query[:-1]) * key[-2]  # (batch, heads, L) x S
        per_sample = lambda count: count // self.batch  # noqa: E731
        return _Lowered(OpKind.ACT_MATMUL, macs=per_sample(scores * query[-1] + scores * meta.shape[-1]),
                        ops=per_sample(ops_per_element(OpKind.SOFTMAX) * scores),
                        extra={"function": "scaled_dot_product_attention"})

    def _einsum(self, node, meta) -> _Lowered:
        equation, *operands = node.args
        if len(operands) == 1 and isinstance(operands[0], list | tuple):
            operands = list(operands[0])
        if len(operands) != 2 or "..." in equation or not all(self._is_activation(o) for o in operands):
            raise _Reject("only two-activation einsum without '...' is lowered")
        lhs, out = equation.replace(" ", "").split("->")
        sizes: dict[str, int] = {}
        for letters, operand in zip(lhs.split(","), operands, strict=True):
            sizes.update(zip(letters, self._meta(operand).shape, strict=True))
        contracted = [c for c in sizes if c not in out]
        return self._act_matmul(meta, _numel(sizes[c] for c in contracted))

    def _embedding(self, indices, weight_shape, meta) -> _Lowered:
        lookups = _numel(self._meta(indices).shape) // self.batch
        return _Lowered(OpKind.EMBEDDING, weight_shape=weight_shape, lookups=lookups)

    def _embedding_bag(self, node, module: nn.EmbeddingBag) -> _Lowered:
        """A bag per row of a 2-D id tensor (pooling = its width), or with 1-D ids and offsets, the
        offsets' bags per sample and the mean ids per bag of the sample batch (measured pooling)."""
        ids = _numel(self._meta(node.args[0]).shape)
        offsets = node.args[1] if len(node.args) > 1 else node.kwargs.get("offsets")
        if offsets is None:
            bags, source = 1, "given"
        else:
            count = _numel(self._meta(offsets).shape) - (1 if module.include_last_offset else 0)
            bags, source = max(1, count // self.batch), "measured"
        pooling = max(1.0, ids / (self.batch * bags))
        access = EmbeddingAccess(bags=bags, pooling=pooling, reduction=module.mode, pooling_source=source)
        return _Lowered(OpKind.EMBEDDING, weight_shape=tuple(module.weight.shape), lookups=access.lookups,
                        ops=access.lookups * module.embedding_dim,   # pooling the bag's rows
                        embedding=access)

    def _pool(self, inputs, meta, kernel, adaptive: bool) -> _Lowered:
        if adaptive or kernel is None:
            ops = _numel(self._meta(inputs[0]).shape) // self.batch  # every input element is visited once
        else:
            spatial = len(meta.shape) - 2
            window = _numel(kernel) if isinstance(kernel, tuple | list) else kernel ** spatial
            ops = _numel(meta.shape) * window // self.batch
        return _Lowered(OpKind.POOL, ops=ops)


class _Reject(Exception):
    """A rule recognised the op but cannot lower this use of it."""

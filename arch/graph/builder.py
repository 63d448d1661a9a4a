"""GraphBuilder: adds WorkloadNodes whose input shapes, bytes read and edges follow from the
producers named; what the direct lowering (arch/model/lowering.py) and each operator's lowering
(arch/model/operators.py) build graphs with. Torch-free."""

from __future__ import annotations

from math import prod
from typing import Any

from recpim.arch.graph.digital_cost import bias_ops, ops_per_element
from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode, tensor_bytes


class GraphBuilder:
    def __init__(self, graph: WorkloadGraph):
        self.graph = graph

    def add(self, name: str, kind: OpKind, inputs: list[str], output_shape: tuple[int, ...], bits: int,
            **fields: Any) -> str:
        producers = [self.graph.node(n) for n in inputs]
        fields.setdefault("bytes_read", sum(tensor_bytes(p.output_shape, p.activation_bits) for p in producers))
        node = WorkloadNode(
            name=name, kind=kind, input_shapes=tuple(p.output_shape for p in producers), output_shape=output_shape,
            activation_bits=bits, bytes_written=tensor_bytes(output_shape, bits), source=name, **fields,
        )
        self.graph.add_node(node)
        for producer in dict.fromkeys(inputs):
            self.graph.add_edge(producer, name)
        return name

    def mvm(self, name: str, source: str, k: int, n: int, output_shape: tuple[int, ...], vectors: int,
            weight_bits: int, activation_bits: int, bias: bool) -> str:
        """A crossbar MVM of a (k, n) weight applied `vectors` times; a bias costs its adds as
        digital ops on the node (as the torch.fx importer counts them), never as MACs."""
        return self.add(name, OpKind.MVM, [source], output_shape, activation_bits,
                        weight_shape=(k, n), weight_bits=weight_bits, vectors=vectors,
                        macs=k * n * vectors, ops=bias_ops(n, vectors) if bias else 0, extra={"bias": bias})

    def elementwise(self, name: str, kind: OpKind, inputs: list[str], bits: int) -> str:
        """A digital vector op over its first input's shape, costed by arch/graph/digital_cost.py."""
        shape = self.graph.node(inputs[0]).output_shape
        return self.add(name, kind, inputs, shape, bits, ops=ops_per_element(kind) * prod(shape))

    def concat(self, name: str, inputs: list[str], output_shape: tuple[int, ...], bits: int) -> str:
        """Concatenation of several producers; a single producer passes through unchanged."""
        if len(inputs) == 1:
            return inputs[0]
        return self.add(name, OpKind.CONCAT, inputs, output_shape, bits)

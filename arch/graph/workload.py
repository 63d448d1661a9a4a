"""WorkloadGraph: the one typed dataflow graph every downstream stage (mapping, simulation,
search) sees. A networkx DiGraph whose nodes carry a `WorkloadNode` under the attribute "op" and
whose edges carry `tensor_bytes`.

All shapes and counts are per sample (batch dimension excluded).

Op kinds and what the mapping does with them:
- ``input``: raw dense features / image; no compute.
- ``embedding``: table lookups; weight_shape = (table rows, embedding dim); `lookups` rows read;
  `embedding` (an EmbeddingAccess, arch/graph/embedding.py): bags, pooling, reduction and access
  distribution, None for a plain lookup (one-hot bags, uniform access).
- ``mvm``: weight-stationary matrix-vector products on crossbars. weight_shape = (K, N): K inputs
  (crossbar rows), N outputs (columns), applied `vectors` times per sample (a conv's H_out*W_out
  positions, an EFC's embedding dim, attention's rows). macs = K * N * vectors.
- ``act_matmul``: products of two activations (pairwise dots, attention scores/values): digital.
- ``add``, ``mul``, ``relu``, ``sigmoid``, ``softmax``, ``layernorm``, ``reduce``, ``pool``:
  digital vector ops, counted in `ops`.
- ``concat``, ``reshape``: free data moves.
- ``output``: the logit / prediction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import networkx as nx

from recpim.arch.graph.embedding import EmbeddingAccess, one_hot
from recpim.errors import ConfigError
from recpim.units import BITS_PER_BYTE, ceil_div


class OpKind(StrEnum):
    INPUT = "input"
    EMBEDDING = "embedding"
    MVM = "mvm"
    ACT_MATMUL = "act_matmul"
    ADD = "add"
    MUL = "mul"
    RELU = "relu"
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    LAYERNORM = "layernorm"
    REDUCE = "reduce"
    POOL = "pool"
    CONCAT = "concat"
    RESHAPE = "reshape"
    OUTPUT = "output"


DIGITAL_KINDS = frozenset(
    {OpKind.ACT_MATMUL, OpKind.ADD, OpKind.MUL, OpKind.RELU, OpKind.SIGMOID, OpKind.SOFTMAX,
     OpKind.LAYERNORM, OpKind.REDUCE, OpKind.POOL}
)
FREE_KINDS = frozenset({OpKind.INPUT, OpKind.CONCAT, OpKind.RESHAPE, OpKind.OUTPUT})


@dataclass(frozen=True)
class WorkloadNode:
    name: str
    kind: OpKind
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    activation_bits: int = 8
    weight_shape: tuple[int, ...] | None = None
    weight_bits: int | None = None
    vectors: int = 1          # MVM: input vectors per sample
    macs: int = 0             # multiply-accumulates per sample (MVM and act_matmul)
    ops: int = 0              # other digital ops per sample (elementwise, softmax, ...)
    lookups: int = 0          # embedding rows read per sample
    bytes_read: int = 0       # activations read per sample (weights stay in place)
    bytes_written: int = 0    # activations written per sample
    source: str = ""          # where it came from: "block3.dense.fc", a torch.fx node, ...
    extra: dict[str, Any] = field(default_factory=dict)
    embedding: EmbeddingAccess | None = None   # embedding nodes: pooling and access (None: one-hot, uniform)

    @property
    def embedding_access(self) -> EmbeddingAccess:
        """This embedding node's pooling and access: as given, or one-hot bags with uniform access."""
        return self.embedding if self.embedding is not None else one_hot(self.lookups)

    @property
    def weight_count(self) -> int:
        if self.weight_shape is None:
            return 0
        count = 1
        for dim in self.weight_shape:
            count *= dim
        return count

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["weight_count"] = self.weight_count
        if self.embedding is None:
            del data["embedding"]   # (graphs without pooling data serialise as before)
        else:
            data["embedding"] = self.embedding.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkloadNode:
        data = dict(data)
        data.pop("weight_count", None)
        data["kind"] = OpKind(data["kind"])
        data["input_shapes"] = tuple(tuple(s) for s in data["input_shapes"])
        data["output_shape"] = tuple(data["output_shape"])
        if data.get("weight_shape") is not None:
            data["weight_shape"] = tuple(data["weight_shape"])
        if data.get("embedding") is not None:
            data["embedding"] = EmbeddingAccess.from_dict(data["embedding"])
        return cls(**data)


def tensor_bytes(shape: tuple[int, ...], bits: int) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return ceil_div(count * bits, BITS_PER_BYTE)


class WorkloadGraph:
    """A model as a dataflow graph. Build it with add_node/add_edge, then call check()."""

    def __init__(self, name: str, metadata: dict[str, Any] | None = None):
        self.name = name
        self.metadata = dict(metadata or {})
        self.graph = nx.DiGraph()
        self._order: list[WorkloadNode] | None = None   # topological order, kept until the graph changes
        self.version = 0      # bumped by every add_node/add_edge, so caches of derived data know when to drop it

    # ---- building
    def add_node(self, node: WorkloadNode) -> WorkloadNode:
        if node.name in self.graph:
            raise ValueError(f"duplicate node name {node.name!r}")
        self.graph.add_node(node.name, op=node)
        self._order = None
        self.version += 1
        return node

    def add_edge(self, producer: str, consumer: str) -> None:
        src = self.node(producer)
        self.graph.add_edge(producer, consumer, tensor_bytes=tensor_bytes(src.output_shape, src.activation_bits))
        self._order = None
        self.version += 1

    # ---- reading
    def node(self, name: str) -> WorkloadNode:
        return self.graph.nodes[name]["op"]

    def nodes(self) -> list[WorkloadNode]:
        """Nodes in a deterministic topological order (computed once per version of the graph: the
        mapping walks it several times). Build graphs through add_node/add_edge, which keep it true."""
        if self._order is None:
            insertion_order = {name: index for index, name in enumerate(self.graph.nodes)}
            self._order = [self.node(n) for n in
                           nx.lexicographical_topological_sort(self.graph, key=insertion_order.__getitem__)]
        return list(self._order)

    def predecessors(self, name: str) -> list[str]:
        return list(self.graph.predecessors(name))

    def successors(self, name: str) -> list[str]:
        return list(self.graph.successors(name))

    @property
    def total_macs(self) -> int:
        return sum(node.macs for node in self.nodes())

    @property
    def total_ops(self) -> int:
        return sum(node.ops for node in self.nodes())

    @property
    def weight_bits_total(self) -> int:
        return sum(n.weight_count * (n.weight_bits or 0) for n in self.nodes() if n.kind == OpKind.MVM)

    def check(self) -> WorkloadGraph:
        """Acyclic, and every edge's producer output matches one of the consumer's input shapes."""
        problems = []
        if not nx.is_directed_acyclic_graph(self.graph):
            problems.append(("graph", f"has a cycle: {nx.find_cycle(self.graph)}"))
        for producer, consumer in self.graph.edges:
            out_shape = self.node(producer).output_shape
            in_shapes = self.node(consumer).input_shapes
            if out_shape not in in_shapes:
                problems.append(
                    (f"{producer}->{consumer}", f"output shape {out_shape} is not among inputs {in_shapes}")
                )
        if problems:
            raise ConfigError(f"workload graph {self.name!r}", problems)
        return self

    # ---- serialisation (node-link JSON)
    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metadata": self.metadata,
            "total_macs": self.total_macs,
            "total_ops": self.total_ops,
            "nodes": [node.to_dict() for node in self.nodes()],
            "edges": [
                {"source": u, "target": v, "tensor_bytes": d["tensor_bytes"]} for u, v, d in self.graph.edges(data=True)
            ],
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> WorkloadGraph:
        workload = cls(data["name"], data.get("metadata"))
        for node in data["nodes"]:
            workload.add_node(WorkloadNode.from_dict(node))
        for edge in data["edges"]:
            workload.add_edge(edge["source"], edge["target"])
        return workload

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2)

    def write_graphml(self, path: str) -> None:
        """GraphML with flat attributes (GraphML cannot hold nested values)."""
        flat = nx.DiGraph()
        for node in self.nodes():
            attrs = {k: (v if isinstance(v, int | float | str) else json.dumps(v)) for k, v in node.to_dict().items()}
            flat.add_node(node.name, **attrs)
        for u, v, d in self.graph.edges(data=True):
            flat.add_edge(u, v, tensor_bytes=d["tensor_bytes"])
        nx.write_graphml(flat, path)

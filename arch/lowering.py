"""Lowering: SubnetConfig + DatasetSchema -> WorkloadGraph, node for node what the standalone model
(arch/standalone.py) computes, per sample.

Node naming: "block3.dense.fc", "block3.sparse.q_proj", "block3.merge.fm", "embedding.C7", ...

Choices and why:
- One embedding node per field: every field has its own table (vocab x dim) and the mapping decides
  per table whether it lives in on-chip ReRAM or off-chip DRAM; `lookups` = 1 row per sample each.
  A concat node stacks the rows into the [fields, dim] block-0 sparse output.
- MAC counts are what torch executes. The Dot-Product's pairwise dots run as one batched matmul
  P P^T over all n x n pairs (n^2 * dim MACs) of which n(n-1)/2 are kept; `extra` records both.
  Attention scores and context are n^2 * dim MACs each (summed over heads). MVM biases are added
  by the digital unit after the crossbar; they are listed in `extra` and not counted as MACs,
  exactly as torch's FLOP counter does not count them.
- Bits: every node of block i carries block i's activation bits, MVMs its weight bits; embeddings
  use the embedding bits; the logit uses the last block's bits (as StandaloneModel(quantize=True)).
  Raw dense features enter at the highest activation precision of the blocks that read them;
  sparse ids are 32-bit integers.
- bytes_read: the tensors a node reads (each at its producer's bits); bytes_written: its output at
  its own activation bits. Embedding nodes read one id and write one row.
- `ops` of digital nodes, per output element unless stated: relu, sigmoid, add, mul: 1; softmax: 5
  (scale, max-subtract, exp, sum, divide); layernorm: 7 (mean, subtract, square, variance, scale,
  affine multiply, affine add); FM reduce over R rows of dim D: 3RD + 3D.
"""

from __future__ import annotations

from typing import Any

from recpim.arch.graph import OpKind, WorkloadGraph, WorkloadNode, tensor_bytes
from recpim.arch.ops import gram_rows, num_pairs
from recpim.arch.schema import DatasetSchema
from recpim.arch.space import BINARY_DENSE_OPS, DenseOp, SparseOp
from recpim.arch.subnet import BlockConfig, SubnetConfig, source_dims
from recpim.errors import ConfigError

ID_BITS = 32
SOFTMAX_OPS_PER_ELEMENT = 5
LAYERNORM_OPS_PER_ELEMENT = 7


def _count(shape: tuple[int, ...]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


class _GraphBuilder:
    """Adds nodes whose input shapes, bytes read and edges follow from the producers named."""

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
            block: BlockConfig, bias: bool) -> str:
        return self.add(name, OpKind.MVM, [source], output_shape, block.activation_bits,
                        weight_shape=(k, n), weight_bits=block.weight_bits, vectors=vectors,
                        macs=k * n * vectors, extra={"bias": bias})

    def elementwise(self, name: str, kind: OpKind, inputs: list[str], bits: int, ops_per_element: int = 1) -> str:
        shape = self.graph.node(inputs[0]).output_shape
        return self.add(name, kind, inputs, shape, bits, ops=ops_per_element * _count(shape))

    def concat(self, name: str, inputs: list[str], output_shape: tuple[int, ...], bits: int) -> str:
        """Concatenation of several producers; a single producer passes through unchanged."""
        if len(inputs) == 1:
            return inputs[0]
        return self.add(name, OpKind.CONCAT, inputs, output_shape, bits)


def lower_subnet(subnet: SubnetConfig, schema: DatasetSchema, name: str | None = None) -> WorkloadGraph:
    """The WorkloadGraph of `subnet` on `schema` (checked: acyclic, shapes consistent)."""
    space = subnet.search_space
    dim = schema.embedding_dim
    if dim % space.attention_heads and any(b.sparse_op == SparseOp.ATTENTION for b in subnet.blocks):
        raise ConfigError("lowering", [
            ("schema.embedding_dim", f"{dim} is not divisible by the space's {space.attention_heads} heads")])
    dense_dims, sparse_rows = source_dims(subnet, schema)
    graph = WorkloadGraph(
        name or f"{subnet.space}-subnet-{schema.name}",
        metadata={"source": "subnet", "space": subnet.space, "schema": schema.name, "subnet": subnet.to_dict()},
    )
    g = _GraphBuilder(graph)

    # ---- source 0: raw features
    readers = [b for b in subnet.blocks if 0 in b.dense_sources()]
    dense_in_bits = max(b.activation_bits for b in readers) if readers else subnet.blocks[0].activation_bits
    dense_outs = [g.add("dense_input", OpKind.INPUT, [], (dense_dims[0],), dense_in_bits)]
    ids = g.add("sparse_ids", OpKind.INPUT, [], (schema.num_sparse,), ID_BITS)
    emb_bits = subnet.embedding_bits
    rows = [
        g.add(f"embedding.C{field + 1}", OpKind.EMBEDDING, [ids], (1, dim), emb_bits,
              weight_shape=(vocab, dim), weight_bits=emb_bits, lookups=1, bytes_read=ID_BITS // 8,
              extra={"field": field})
        for field, vocab in enumerate(schema.vocab_sizes)
    ]
    sparse_outs = [g.concat("embeddings", rows, (schema.num_sparse, dim), emb_bits)]

    # ---- blocks
    for index, block in enumerate(subnet.blocks, start=1):
        d, s = _lower_block(g, f"block{index}", block, dense_outs, sparse_outs, dense_dims, sparse_rows, dim,
                            space.merger_rows, space.attention_heads)
        dense_outs.append(d)
        sparse_outs.append(s)

    # ---- final logit over concat(last dense, flattened last sparse)
    last = subnet.blocks[-1]
    features = dense_dims[-1] + sparse_rows[-1] * dim
    concat = g.add("logit.concat", OpKind.CONCAT, [dense_outs[-1], sparse_outs[-1]], (features,), last.activation_bits)
    logit = g.mvm("logit", concat, features, 1, (1,), 1, last, bias=True)
    g.add("output", OpKind.OUTPUT, [logit], (1,), last.activation_bits)
    return graph.check()


def _lower_block(g: _GraphBuilder, key: str, block: BlockConfig, dense_outs: list[str], sparse_outs: list[str],
                 dense_dims: list[int], sparse_rows: list[int], dim: int, merger_rows: int,
                 heads: int) -> tuple[str, str]:
    bits, width = block.activation_bits, block.dense_width
    rows_in = sum(sparse_rows[j] for j in block.sparse_inputs)
    sparse_in = g.concat(f"{key}.sparse_in", [sparse_outs[j] for j in block.sparse_inputs], (rows_in, dim), bits)

    # ---- dense operator
    op = f"{key}.dense"
    if block.dense_op in BINARY_DENSE_OPS:
        left, right = dense_outs[block.dense_left], dense_outs[block.dense_right]
        k_left, k_right = dense_dims[block.dense_left], dense_dims[block.dense_right]
        if block.dense_op == DenseOp.GATING:
            gate = g.mvm(f"{op}.gate_proj", left, k_left, width, (width,), 1, block, bias=True)
            gate = g.elementwise(f"{op}.sigmoid", OpKind.SIGMOID, [gate], bits)
            value = g.mvm(f"{op}.value_proj", right, k_right, width, (width,), 1, block, bias=True)
            combined = g.elementwise(f"{op}.mul", OpKind.MUL, [gate, value], bits)
        else:
            a = g.mvm(f"{op}.left_proj", left, k_left, width, (width,), 1, block, bias=False)
            b = g.mvm(f"{op}.right_proj", right, k_right, width, (width,), 1, block, bias=False)
            combined = g.elementwise(f"{op}.add", OpKind.ADD, [a, b], bits)
        d = g.elementwise(f"{op}.norm", OpKind.LAYERNORM, [combined], bits, LAYERNORM_OPS_PER_ELEMENT)
    else:
        k = sum(dense_dims[j] for j in block.dense_inputs)
        dense_in = g.concat(f"{key}.dense_in", [dense_outs[j] for j in block.dense_inputs], (k,), bits)
        if block.dense_op == DenseOp.FC:
            fc = g.mvm(f"{op}.fc", dense_in, k, width, (width,), 1, block, bias=False)
            norm = g.elementwise(f"{op}.norm", OpKind.LAYERNORM, [fc], bits, LAYERNORM_OPS_PER_ELEMENT)
            d = g.elementwise(f"{op}.relu", OpKind.RELU, [norm], bits)
        else:
            n = gram_rows(width)
            pairs = num_pairs(n)
            proj = g.mvm(f"{op}.row_proj", sparse_in, rows_in, n, (n, dim), dim, block, bias=True)
            dots = g.add(f"{op}.pair_dots", OpKind.ACT_MATMUL, [proj], (pairs,), bits, macs=n * n * dim,
                         extra={"gram_rows": n, "pairs": pairs, "useful_macs": pairs * dim})
            cat = g.add(f"{op}.concat", OpKind.CONCAT, [dense_in, dots], (k + pairs,), bits)
            out = g.mvm(f"{op}.out_proj", cat, k + pairs, width, (width,), 1, block, bias=False)
            d = g.elementwise(f"{op}.norm", OpKind.LAYERNORM, [out], bits, LAYERNORM_OPS_PER_ELEMENT)

    # ---- sparse operator
    op, sw = f"{key}.sparse", block.sparse_width
    if block.sparse_op == SparseOp.EFC:
        efc = g.mvm(f"{op}.efc", sparse_in, rows_in, sw, (sw, dim), dim, block, bias=False)
        norm = g.elementwise(f"{op}.norm", OpKind.LAYERNORM, [efc], bits, LAYERNORM_OPS_PER_ELEMENT)
        s = g.elementwise(f"{op}.relu", OpKind.RELU, [norm], bits)
    else:
        proj = g.mvm(f"{op}.row_proj", sparse_in, rows_in, sw, (sw, dim), dim, block, bias=True)
        q, k_, v = (g.mvm(f"{op}.{p}_proj", proj, dim, dim, (sw, dim), sw, block, bias=True) for p in "qkv")
        scores = g.add(f"{op}.scores", OpKind.ACT_MATMUL, [q, k_], (heads, sw, sw), bits, macs=sw * sw * dim,
                       extra={"heads": heads})
        probs = g.elementwise(f"{op}.softmax", OpKind.SOFTMAX, [scores], bits, SOFTMAX_OPS_PER_ELEMENT)
        context = g.add(f"{op}.context", OpKind.ACT_MATMUL, [probs, v], (sw, dim), bits, macs=sw * sw * dim,
                        extra={"heads": heads})
        out = g.mvm(f"{op}.out_proj", context, dim, dim, (sw, dim), sw, block, bias=True)
        residual = g.elementwise(f"{op}.residual", OpKind.ADD, [proj, out], bits)
        s = g.elementwise(f"{op}.norm", OpKind.LAYERNORM, [residual], bits, LAYERNORM_OPS_PER_ELEMENT)

    # ---- mergers (the dense->sparse rows come from the dense output before the FM is added)
    pseudo = None
    if block.dense_to_sparse:
        flat = merger_rows * dim
        proj = g.mvm(f"{key}.merge.dense_to_sparse", d, width, flat, (flat,), 1, block, bias=False)
        norm = g.elementwise(f"{key}.merge.dense_to_sparse_norm", OpKind.LAYERNORM, [proj], bits,
                             LAYERNORM_OPS_PER_ELEMENT)
        pseudo = g.add(f"{key}.merge.pseudo_rows", OpKind.RESHAPE, [norm], (merger_rows, dim), bits)
    if block.sparse_to_dense_fm:
        fm = g.add(f"{key}.merge.fm", OpKind.REDUCE, [s], (dim,), bits, ops=3 * sw * dim + 3 * dim)
        proj = g.mvm(f"{key}.merge.fm_proj", fm, dim, width, (width,), 1, block, bias=False)
        norm = g.elementwise(f"{key}.merge.fm_norm", OpKind.LAYERNORM, [proj], bits, LAYERNORM_OPS_PER_ELEMENT)
        d = g.elementwise(f"{key}.merge.fm_add", OpKind.ADD, [d, norm], bits)
    if pseudo is not None:
        s = g.add(f"{key}.sparse_out", OpKind.CONCAT, [s, pseudo], (sw + merger_rows, dim), bits)
    return d, s

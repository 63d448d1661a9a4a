"""Lowering: SubnetConfig + DatasetSchema -> WorkloadGraph, node for node what the standalone model
(arch/model/standalone.py) computes, per sample.

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
- `ops` of digital nodes come from the one per-element table of arch/graph/digital_cost.py (shared with
  the torch.fx importer, so a subnet costs the same both ways); an MVM's bias adds are `ops` on
  the MVM node; the FM reduce over R rows of dim D costs 3RD + 3D.
- Each operator's nodes come from its entry in the operator registry (arch/model/operators.py).
- Torch-free: lowering a subnet JSON (`recpim map subnet.json`) never imports torch.
"""

from __future__ import annotations

from recpim.arch.data.schema import DatasetSchema
from recpim.arch.graph.builder import GraphBuilder
from recpim.arch.graph.digital_cost import fm_ops
from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.arch.model.operators import DENSE_OPERATORS, SPARSE_OPERATORS, LoweringInputs
from recpim.arch.model.space import SparseOp
from recpim.arch.model.subnet import BlockConfig, SubnetConfig, source_dims
from recpim.errors import ConfigError

ID_BITS = 32   # sparse ids travel as 32-bit words (as the torch.fx importer counts integer tensors)


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
    g = GraphBuilder(graph)

    # ---- source 0: raw features
    readers = [b for b in subnet.blocks if 0 in b.dense_sources()]
    dense_in_bits = max(b.activation_bits for b in readers) if readers else subnet.blocks[0].activation_bits
    dense_outs = [g.add("dense_input", OpKind.INPUT, [], (dense_dims[0],), dense_in_bits)]
    ids = g.add("sparse_ids", OpKind.INPUT, [], (schema.num_sparse,), ID_BITS)
    emb_bits = subnet.embedding_bits
    # a searched embedding dim: tables of emb_dim columns (what the lookups read), the rows then
    # padded with zeros to the operators' dim (EmbeddingTables.forward does the same)
    emb_dim = subnet.dim(dim)
    rows = [
        g.add(f"embedding.C{field + 1}", OpKind.EMBEDDING, [ids], (1, emb_dim), emb_bits,
              weight_shape=(vocab, emb_dim), weight_bits=emb_bits, lookups=1, bytes_read=ID_BITS // 8,
              extra={"field": field})
        for field, vocab in enumerate(schema.vocab_sizes)
    ]
    sparse_outs = [g.concat("embeddings", rows, (schema.num_sparse, emb_dim), emb_bits)]
    if emb_dim < dim:
        sparse_outs = [g.add("embeddings.pad", OpKind.RESHAPE, sparse_outs, (schema.num_sparse, dim), emb_bits,
                             extra={"zero_columns": dim - emb_dim})]

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
    logit = g.mvm("logit", concat, features, 1, (1,), 1, last.weight_bits, last.activation_bits, bias=True)
    g.add("output", OpKind.OUTPUT, [logit], (1,), last.activation_bits)
    return graph.check()


def _lower_block(g: GraphBuilder, key: str, block: BlockConfig, dense_outs: list[str], sparse_outs: list[str],
                 dense_dims: list[int], sparse_rows: list[int], dim: int, merger_rows: int,
                 heads: int) -> tuple[str, str]:
    bits, width = block.activation_bits, block.dense_width
    rows_in = sum(sparse_rows[j] for j in block.sparse_inputs)
    sparse_in = g.concat(f"{key}.sparse_in", [sparse_outs[j] for j in block.sparse_inputs], (rows_in, dim), bits)

    # ---- dense operator, then sparse operator (arch/model/operators.py)
    dense = DENSE_OPERATORS[block.dense_op]
    shared = dict(block=block, sparse_in=sparse_in, rows_in=rows_in, dim=dim, heads=heads)
    if dense.reads_left_right:
        inputs = LoweringInputs(key=f"{key}.dense", left=dense_outs[block.dense_left],
                                left_width=dense_dims[block.dense_left], right=dense_outs[block.dense_right],
                                right_width=dense_dims[block.dense_right], **shared)
    else:
        k = sum(dense_dims[j] for j in block.dense_inputs)
        dense_in = g.concat(f"{key}.dense_in", [dense_outs[j] for j in block.dense_inputs], (k,), bits)
        inputs = LoweringInputs(key=f"{key}.dense", dense_in=dense_in, dense_in_width=k, **shared)
    d = dense.lower(g, inputs)
    sw = block.sparse_width
    s = SPARSE_OPERATORS[block.sparse_op].lower(g, LoweringInputs(key=f"{key}.sparse", **shared))

    # ---- mergers (the dense->sparse rows come from the dense output before the FM is added)
    pseudo = None
    if block.dense_to_sparse:
        flat = merger_rows * dim
        proj = g.mvm(f"{key}.merge.dense_to_sparse", d, width, flat, (flat,), 1, block.weight_bits, bits, bias=False)
        norm = g.elementwise(f"{key}.merge.dense_to_sparse_norm", OpKind.LAYERNORM, [proj], bits)
        pseudo = g.add(f"{key}.merge.pseudo_rows", OpKind.RESHAPE, [norm], (merger_rows, dim), bits)
    if block.sparse_to_dense_fm:
        fm = g.add(f"{key}.merge.fm", OpKind.REDUCE, [s], (dim,), bits, ops=fm_ops(sw, dim))
        proj = g.mvm(f"{key}.merge.fm_proj", fm, dim, width, (width,), 1, block.weight_bits, bits, bias=False)
        norm = g.elementwise(f"{key}.merge.fm_norm", OpKind.LAYERNORM, [proj], bits)
        d = g.elementwise(f"{key}.merge.fm_add", OpKind.ADD, [d, norm], bits)
    if pseudo is not None:
        s = g.add(f"{key}.sparse_out", OpKind.CONCAT, [s, pseudo], (sw + merger_rows, dim), bits)
    return d, s

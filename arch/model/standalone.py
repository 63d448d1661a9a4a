"""The standalone model of one SubnetConfig: the operators of arch/model/modules.py built with exact dims.

Data flow of block i (NASRec's choice block):
  dense_in  = concat of the dense outputs of its dense_inputs (features axis), or left/right;
  sparse_in = concat of the sparse outputs of its sparse_inputs (rows axis; all rows are `dim` wide);
  d = dense_op(dense_in[, sparse_in]);  s = sparse_op(sparse_in)
  if dense_to_sparse:    z = merger(d)                 (computed from d before the FM is added)
  if sparse_to_dense_fm: d = d + fm_proj(FM(s))
  if dense_to_sparse:    s = concat(s, z) along rows
The logit is linear over concat(d_N, flatten(s_N)). Source 0 is (raw dense features, embeddings).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

from recpim.arch.data.schema import DatasetSchema
from recpim.arch.model.embeddings import EmbeddingTables
from recpim.arch.model.modules import DenseToSparseMerger, FMMerger, LogitOp, OperatorInputs, QuantBits
from recpim.arch.model.operators import DENSE_OPERATORS, SPARSE_OPERATORS, OperatorDims
from recpim.arch.model.space import SparseOp
from recpim.arch.model.subnet import BlockConfig, SubnetConfig, raw_dense_width, source_dims
from recpim.errors import ConfigError


class StandaloneBlock(nn.Module):
    def __init__(self, block: BlockConfig, dense_dims: list[int], sparse_rows: list[int], dim: int,
                 merger_rows: int, heads: int):
        super().__init__()
        self.config = block
        width = block.dense_width
        self.dense_operator = DENSE_OPERATORS[block.dense_op]   # arch/model/operators.py
        sides = (dense_dims[block.dense_left], dense_dims[block.dense_right]) \
            if self.dense_operator.reads_left_right else (0, 0)
        dims = OperatorDims(dense_in=sum(dense_dims[j] for j in block.dense_inputs), left_in=sides[0],
                            right_in=sides[1], rows_in=sum(sparse_rows[j] for j in block.sparse_inputs),
                            width=width, dim=dim, heads=heads)
        self.dense: nn.Module = self.dense_operator.module_class().build(dims)
        self.sparse: nn.Module = SPARSE_OPERATORS[block.sparse_op].module_class().build(
            replace(dims, width=block.sparse_width))
        self.dense_to_sparse = DenseToSparseMerger(width, merger_rows, dim) if block.dense_to_sparse else None
        self.fm = FMMerger(dim, width) if block.sparse_to_dense_fm else None

    def forward(self, dense_outs: list[torch.Tensor], sparse_outs: list[torch.Tensor],
                quant: QuantBits | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        block = self.config
        sparse_in = torch.cat([sparse_outs[j] for j in block.sparse_inputs], dim=1)
        if self.dense_operator.reads_left_right:
            inputs = OperatorInputs(left=dense_outs[block.dense_left], right=dense_outs[block.dense_right],
                                    sparse=sparse_in)
        else:
            inputs = OperatorInputs(dense=torch.cat([dense_outs[j] for j in block.dense_inputs], dim=1),
                                    sparse=sparse_in)
        d = self.dense.run(inputs, None, quant)
        s = self.sparse.run(inputs, None, quant)
        pseudo_rows = self.dense_to_sparse(d, quant=quant) if self.dense_to_sparse is not None else None
        if self.fm is not None:
            d = d + self.fm(s, quant=quant)
        if pseudo_rows is not None:
            s = torch.cat([s, pseudo_rows], dim=1)
        return d, s


class StandaloneModel(nn.Module):
    """forward(dense [B, num_dense] float, sparse [B, num_sparse] long ids) -> logits [B].

    With quantize=True every block runs at its weight/activation bits and the embeddings at the
    subnet's embedding bits (fake quantisation); the logit layer uses the last block's bits."""

    def __init__(self, subnet: SubnetConfig, schema: DatasetSchema, quantize: bool = False):
        super().__init__()
        space = subnet.search_space
        self.subnet, self.schema, self.quantize = subnet, schema, quantize
        dim = schema.embedding_dim
        if dim % space.attention_heads and any(b.sparse_op == SparseOp.ATTENTION for b in subnet.blocks):
            raise ConfigError("standalone model", [
                ("schema.embedding_dim", f"{dim} is not divisible by the space's {space.attention_heads} heads")])
        self.dense_dims, self.sparse_rows = source_dims(subnet, schema)
        self.embeddings = EmbeddingTables(schema.vocab_sizes, dim)
        self.blocks = nn.ModuleList(
            StandaloneBlock(block, self.dense_dims, self.sparse_rows, dim, space.merger_rows, space.attention_heads)
            for block in subnet.blocks
        )
        self.logit = LogitOp(self.dense_dims[-1] + self.sparse_rows[-1] * dim)

    def _check_inputs(self, dense: torch.Tensor, sparse: torch.Tensor) -> None:
        problems = []
        if dense.dim() != 2 or dense.shape[1] != self.schema.num_dense:
            problems.append(("dense", f"shape {tuple(dense.shape)}; expected [B, {self.schema.num_dense}]"))
        if sparse.dim() != 2 or sparse.shape[1] != self.schema.num_sparse:
            problems.append(("sparse", f"shape {tuple(sparse.shape)}; expected [B, {self.schema.num_sparse}]"))
        elif sparse.dtype not in (torch.int64, torch.int32):
            problems.append(("sparse", f"dtype {sparse.dtype}; expected integer ids"))
        if not problems and dense.shape[0] != sparse.shape[0]:
            problems.append(("batch", f"dense has {dense.shape[0]} rows, sparse {sparse.shape[0]}"))
        if problems:
            raise ConfigError(f"input of the standalone model for schema {self.schema.name!r}", problems)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        # (not while torch.fx traces the model, arch/graph/fx_import.py: shapes are symbolic then;
        # its sample run checks)
        if not is_fx_symbolic_tracing():
            self._check_inputs(dense, sparse)
        if self.schema.num_dense == 0:  # one all-zero pseudo feature, see raw_dense_width
            dense = dense.new_zeros(dense.shape[0], raw_dense_width(self.schema))
        blocks = self.subnet.blocks
        dense_outs = [dense]
        sparse_outs = [self.embeddings(sparse, self.subnet.embedding_bits if self.quantize else None,
                                       self.subnet.dim(self.schema.embedding_dim))]
        for config, block in zip(blocks, self.blocks, strict=True):
            quant = QuantBits(config.weight_bits, config.activation_bits) if self.quantize else None
            d, s = block(dense_outs, sparse_outs, quant)
            dense_outs.append(d)
            sparse_outs.append(s)
        last = blocks[-1]
        quant = QuantBits(last.weight_bits, last.activation_bits) if self.quantize else None
        return self.logit(dense_outs[-1], sparse_outs[-1], quant=quant)

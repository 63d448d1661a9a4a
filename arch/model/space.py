"""NASRec search spaces as data: which operators, widths, connections and bit-widths a candidate
may use. A space is a frozen table; SubnetConfig (arch/model/subnet.py) is one point in it.

Blocks are numbered from 1; "block 0" is the raw features (dense features and the embedded sparse
fields). Block i may read any *earlier* source, i.e. any of blocks 0..i-1 (not only block i-1):
that is NASRec's any-connection.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from math import comb, log10
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from recpim.errors import ConfigError
from recpim.validation import config_problems


class DenseOp(StrEnum):
    FC = "fc"                    # ReLU(W x + b) over the concatenated dense inputs
    DOT_PRODUCT = "dot_product"  # pairwise dots of projected sparse rows, with the dense inputs
    GATING = "gating"            # sigmoid(W_g left) * (W_v right)
    SUM = "sum"                  # W_l left + W_r right


class SparseOp(StrEnum):
    EFC = "efc"              # linear layer across embedding rows
    ATTENTION = "attention"  # multi-head self-attention over embedding rows


# Dense operators that read one left and one right dense input instead of a set of dense inputs.
BINARY_DENSE_OPS = frozenset({DenseOp.GATING, DenseOp.SUM})

NASREC_DENSE_WIDTHS = (16, 32, 64, 128, 256, 512, 768, 1024)
NASREC_SPARSE_WIDTHS = (16, 32, 48, 64)
DEFAULT_BITS = (4, 6, 8)

# The block fields a space restricts to a set of choices -> the SearchSpace field holding that set:
# the one table that subnet validation and mutation (arch/model/subnet.py) and the study's parameters
# (search/study.py) read. Input sets and merger flags are rules, not choice sets (BlockConfig.problems).
BLOCK_CHOICE_FIELDS: dict[str, str] = {
    "dense_op": "dense_ops",
    "dense_width": "dense_widths",
    "sparse_op": "sparse_ops",
    "sparse_width": "sparse_widths",
    "weight_bits": "weight_bits",
    "activation_bits": "activation_bits",
}


def _check_choices(name: str, values: tuple, low: int, high: int) -> list[tuple[str, str]]:
    problems = []
    if len(values) == 0:
        problems.append((name, "must hold at least one choice"))
    if len(set(values)) != len(values):
        problems.append((name, f"has duplicates: {[str(v) for v in values]}"))
    bad = [v for v in values if isinstance(v, int) and not low <= v <= high]
    if bad:
        problems.append((name, f"values {bad} are outside the allowed {low}..{high}"))
    return problems


class SearchSpace(BaseModel):
    """One NASRec-style search space. Every choice is a parameter, so sweeps and tests can build
    smaller or larger spaces than the published two."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    num_blocks: int = Field(default=7, ge=1, le=64)
    dense_ops: tuple[DenseOp, ...] = tuple(DenseOp)
    sparse_ops: tuple[SparseOp, ...] = tuple(SparseOp)
    dense_widths: tuple[int, ...] = NASREC_DENSE_WIDTHS
    sparse_widths: tuple[int, ...] = NASREC_SPARSE_WIDTHS
    max_inputs: int = Field(default=4, ge=1, le=64)
    weight_bits: tuple[int, ...] = DEFAULT_BITS
    activation_bits: tuple[int, ...] = DEFAULT_BITS
    embedding_bits: tuple[int, ...] = DEFAULT_BITS
    # The embedding dims a subnet may choose (issue 25): () keeps every subnet at the data schema's
    # dim, as before. A chosen dim d reads the leading d columns of the shared tables (the supernet
    # slices them as it slices widths); each value must be at most the schema's embedding_dim.
    embedding_dims: tuple[int, ...] = ()
    allow_dense_to_sparse: bool = True
    allow_sparse_to_dense_fm: bool = True
    merger_rows: int = Field(default=8, ge=1, le=1024)      # pseudo-embedding rows of dense->sparse
    attention_heads: int = Field(default=8, ge=1, le=64)   # NASRec's Transformer uses 8 heads

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise ConfigError(f"search space {data.get('name', '')!r}", config_problems(error, SearchSpace)) from None

    @model_validator(mode="after")
    def _choices_are_sets(self) -> SearchSpace:
        problems = []
        problems += _check_choices("dense_ops", self.dense_ops, 0, 0)
        problems += _check_choices("sparse_ops", self.sparse_ops, 0, 0)
        problems += _check_choices("dense_widths", self.dense_widths, 1, 65536)
        problems += _check_choices("sparse_widths", self.sparse_widths, 1, 65536)
        for key in ("weight_bits", "activation_bits", "embedding_bits"):
            problems += _check_choices(key, getattr(self, key), 1, 32)
        if self.embedding_dims:
            problems += _check_choices("embedding_dims", self.embedding_dims, 1, 65536)
        if problems:
            raise ConfigError(f"search space {self.name!r}", problems)
        return self

    @model_serializer(mode="wrap")
    def _omit_unsearched_dims(self, handler: Any) -> dict[str, Any]:
        # a space without a dim choice dumps as it did before the choice existed (checkpoints,
        # `recpim space` and stored outputs stay byte-identical)
        data = handler(self)
        if not self.embedding_dims:
            data.pop("embedding_dims", None)
        return data

    def block_choices(self) -> dict[str, tuple]:
        """{block field: its allowed values} (BLOCK_CHOICE_FIELDS)."""
        return {name: getattr(self, attr) for name, attr in BLOCK_CHOICE_FIELDS.items()}

    # ---- the size of the space
    def input_subsets(self, block: int) -> int:
        """Number of allowed input sets of block `block` (1-based): non-empty subsets of the
        `block` earlier sources {0..block-1} with at most max_inputs members."""
        return sum(comb(block, k) for k in range(1, min(block, self.max_inputs) + 1))

    def block_configs(self, block: int) -> int:
        """Distinct configurations of block `block` (1-based); see `size`."""
        subsets = self.input_subsets(block)
        dense = 0
        for op in self.dense_ops:
            connections = block * block if op in BINARY_DENSE_OPS else subsets
            dense += len(self.dense_widths) * connections
        sparse = len(self.sparse_ops) * len(self.sparse_widths) * subsets
        mergers = (2 if self.allow_dense_to_sparse else 1) * (2 if self.allow_sparse_to_dense_fm else 1)
        return dense * sparse * mergers * len(self.weight_bits) * len(self.activation_bits)

    def size(self) -> int:
        """Exact number of distinct SubnetConfigs in this space.

        With N blocks, m = max_inputs and S_i = sum_{k=1}^{min(i, m)} C(i, k) the number of
        input sets of block i (non-empty subsets of its i earlier sources 0..i-1):

            size = |E| * prod_{i=1}^{N} B_i
            B_i  = D_i * (|SO| * |SW| * S_i) * M * |WB| * |AB|
            D_i  = sum over dense ops o of |DW| * (i * i  if o in {Gating, Sum}  else S_i)

        where DW/SW are the dense/sparse widths, SO the sparse operators, WB/AB/E the weight,
        activation and embedding bit choices (times |ED|, the embedding dims, when the space
        searches them), and M in {1, 2, 4} the merger on/off combinations.
        A Gating/Sum block stores one left and one right source (i choices each, which may be the
        same source) and no dense input set; FC and Dot-Product store a dense input set. Every
        block has one sparse operator with its own sparse input set (Dot-Product also reads it).
        The count is of configurations; functionally equivalent ones (Sum(a, b) vs Sum(b, a))
        are counted separately, as a search sees them.
        """
        total = len(self.embedding_bits) * max(len(self.embedding_dims), 1)
        for block in range(1, self.num_blocks + 1):
            total *= self.block_configs(block)
        return total

    def log10_size(self) -> float:
        return log10(self.size())

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: the table of choices and the size of the space."""
        data = self.model_dump(mode="json")
        data["size"] = self.size()
        data["size_log10"] = round(self.log10_size(), 3)
        return data


def nasrec_small(num_blocks: int = 7, **overrides: Any) -> SearchSpace:
    """NASRec-Small: dense FC and Dot-Product, sparse EFC."""
    fields: dict[str, Any] = dict(
        name="nasrec_small",
        description="NASRec-Small: dense FC, Dot-Product; sparse EFC",
        num_blocks=num_blocks,
        dense_ops=(DenseOp.FC, DenseOp.DOT_PRODUCT),
        sparse_ops=(SparseOp.EFC,),
    )
    fields.update(overrides)
    return SearchSpace(**fields)


def nasrec_full(num_blocks: int = 7, **overrides: Any) -> SearchSpace:
    """NASRec-Full: dense FC, Dot-Product, Gating, Sum; sparse EFC, Attention."""
    fields: dict[str, Any] = dict(
        name="nasrec_full",
        description="NASRec-Full: dense FC, Dot-Product, Gating, Sum; sparse EFC, Attention",
        num_blocks=num_blocks,
        dense_ops=(DenseOp.FC, DenseOp.DOT_PRODUCT, DenseOp.GATING, DenseOp.SUM),
        sparse_ops=(SparseOp.EFC, SparseOp.ATTENTION),
    )
    fields.update(overrides)
    return SearchSpace(**fields)


def with_embedding_dims(space: SearchSpace, dims_text: str) -> SearchSpace:
    """`space` whose subnets also choose an embedding dim from `dims_text` ("4,8,16"), named
    `<space>_dims4-8-16` (a custom space: it travels in the checkpoints trained on it)."""
    parts = [part.strip() for part in dims_text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise ConfigError("--embedding-dims", [(dims_text, "expected comma-separated positive integers, e.g. 4,8,16 "
                                                           "(each at most the data's embedding dim)")])
    dims = tuple(sorted({int(part) for part in parts}))
    name = f"{space.name}_dims{'-'.join(map(str, dims))}"
    return SearchSpace(**{**space.model_dump(), "name": name, "embedding_dims": dims,
                          "description": f"{space.description}; embedding dims {', '.join(map(str, dims))}"})


# ---- the built-in spaces by name. Only a cache of these two: a custom space is never looked up by
# name; it travels as an object, with the subnets sampled from it (SubnetConfig.search_space) and in
# the checkpoints trained on it (arch/train/checkpoints.py read_checkpoint(path).space).
_ALIASES = {"small": "nasrec_small", "full": "nasrec_full"}


@cache
def _builtin_spaces() -> dict[str, SearchSpace]:
    return {"nasrec_small": nasrec_small(), "nasrec_full": nasrec_full()}


def space_names() -> list[str]:
    return sorted(_builtin_spaces())


def get_space(name: str) -> SearchSpace:
    """A built-in space by name: 'nasrec_small', 'nasrec_full' or the aliases 'small' and 'full'."""
    key = _ALIASES.get(name, name)
    if key not in _builtin_spaces():
        allowed = ", ".join(sorted(_ALIASES) + space_names())
        raise ConfigError("search space", [("name", f"unknown space {name!r}; built in: {allowed} (a custom space "
                                                    "is passed as a SearchSpace, e.g. a checkpoint's space)")])
    return _builtin_spaces()[key]

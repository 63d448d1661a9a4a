"""SubnetConfig: one candidate of a search space, as plain validated JSON; seeded sampling and
mutation that only ever produce valid candidates.

Numbering: `blocks[k]` in the JSON is block k+1. Input indices name *sources*: 0 is the raw
features (dense features / embedded sparse fields), j >= 1 is block j's output. Block i may read
any earlier source 0..i-1. Error messages name blocks by this 1-based number ("block3.dense_width").

A config is canonical: FC and Dot-Product carry a `dense_inputs` set and no left/right;
Gating and Sum carry `dense_left`/`dense_right` and an empty `dense_inputs`. Input sets are stored
sorted. So two configs are equal exactly when they describe the same architecture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from recpim.arch.data.schema import DatasetSchema
from recpim.arch.model.space import (
    BINARY_DENSE_OPS,
    BLOCK_CHOICE_FIELDS,
    DenseOp,
    SearchSpace,
    SparseOp,
    get_space,
    space_names,
)
from recpim.errors import ConfigError, parse_json
from recpim.validation import config_problems


class BlockConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dense_op: DenseOp
    dense_width: int
    sparse_op: SparseOp
    sparse_width: int
    dense_inputs: tuple[int, ...] = ()
    dense_left: int | None = None
    dense_right: int | None = None
    sparse_inputs: tuple[int, ...]
    dense_to_sparse: bool = False      # dense->sparse merger: merger_rows pseudo-embedding rows
    sparse_to_dense_fm: bool = False   # sparse->dense FM merger added to the dense output
    weight_bits: int
    activation_bits: int

    @field_validator("dense_inputs", "sparse_inputs", mode="after")
    @classmethod
    def _sorted(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(value))

    def problems(self, block: int, space: SearchSpace) -> list[tuple[str, str]]:
        """Every way this block (1-based number `block`) breaks `space`'s rules."""
        key = f"block{block}"
        out: list[tuple[str, str]] = []

        def choice(field: str, allowed: tuple) -> None:
            value = getattr(self, field)
            if value not in allowed:
                shown = ", ".join(str(a) for a in allowed)
                out.append((f"{key}.{field}", f"{value} is not allowed; allowed: {shown}"))

        for field, allowed in space.block_choices().items():
            choice(field, allowed)
        if self.dense_to_sparse and not space.allow_dense_to_sparse:
            out.append((f"{key}.dense_to_sparse", f"space {space.name!r} has no dense->sparse merger"))
        if self.sparse_to_dense_fm and not space.allow_sparse_to_dense_fm:
            out.append((f"{key}.sparse_to_dense_fm", f"space {space.name!r} has no sparse->dense FM merger"))
        sources = f"sources 0..{block - 1}"
        out += _input_set_problems(f"{key}.sparse_inputs", self.sparse_inputs, block, space.max_inputs)
        if self.dense_op in BINARY_DENSE_OPS:
            if self.dense_inputs:
                out.append((f"{key}.dense_inputs", f"must be empty for {self.dense_op}; it reads dense_left/right"))
            for side in ("dense_left", "dense_right"):
                value = getattr(self, side)
                if value is None or not 0 <= value < block:
                    out.append((f"{key}.{side}", f"{value!r} is not allowed for {self.dense_op}; allowed: {sources}"))
        else:
            out += _input_set_problems(f"{key}.dense_inputs", self.dense_inputs, block, space.max_inputs)
            for side in ("dense_left", "dense_right"):
                if getattr(self, side) is not None:
                    out.append((f"{key}.{side}", f"must be null for {self.dense_op}; only gating/sum read it"))
        return out

    def dense_sources(self) -> tuple[int, ...]:
        """Sources this block's dense operator reads (left, right for Gating/Sum)."""
        if self.dense_op in BINARY_DENSE_OPS:
            return (self.dense_left, self.dense_right)  # type: ignore[return-value]
        return self.dense_inputs


def _input_set_problems(key: str, inputs: tuple[int, ...], block: int, max_inputs: int) -> list[tuple[str, str]]:
    limit = min(block, max_inputs)
    allowed = f"1..{limit} distinct sources from 0..{block - 1}"
    if not 1 <= len(inputs) <= limit or len(set(inputs)) != len(inputs) or any(not 0 <= j < block for j in inputs):
        return [(key, f"{list(inputs)} is not allowed; allowed: {allowed}")]
    return []


class SubnetConfig(BaseModel):
    """One candidate architecture (with its bit-widths) of the space named `space`.
    The final logit reads the last block's dense output and its flattened sparse output.

    A config is checked against a space given explicitly: `SubnetConfig.from_dict(data, space=...)`
    (or load_subnet(path, space=...)); without one, `space` must name a built-in
    space (arch/model/space.py get_space). The space it was checked against travels with it
    (`search_space`, kept through pickling), so a subnet of a custom space needs no registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    space: str
    embedding_bits: int
    blocks: tuple[BlockConfig, ...] = Field(min_length=1)
    # The chosen embedding dim when the space searches dims (SearchSpace.embedding_dims); None:
    # the data schema's dim. Placed last so that a config without it dumps as before.
    embedding_dim: int | None = None
    _space: SearchSpace | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _fits_its_space(self, info: ValidationInfo) -> SubnetConfig:
        # the space to check in: the one passed in the validation context (from_dict's `space`),
        # else the one this instance already carries, else the built-in space of that name. (No
        # custom __init__ on this model: pydantic would validate through it and drop the context.)
        space = (info.context or {}).get("space") or (getattr(self, "__pydantic_private__", None) or {}).get("_space")
        if space is None:
            space = get_space(self.space)
        elif space.name != self.space:
            raise ConfigError("subnet config", [("space", f"{self.space!r}; it is read in space {space.name!r}")])
        problems = self.problems(space)
        if problems:
            raise ConfigError("subnet config", problems)
        self._space = space
        return self

    def problems(self, space: SearchSpace) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if len(self.blocks) != space.num_blocks:
            out.append(("blocks", f"has {len(self.blocks)} blocks; space {space.name!r} has {space.num_blocks}"))
        if self.embedding_bits not in space.embedding_bits:
            allowed = ", ".join(map(str, space.embedding_bits))
            out.append(("embedding_bits", f"{self.embedding_bits} is not allowed; allowed: {allowed}"))
        if self.embedding_dim is not None and self.embedding_dim not in space.embedding_dims:
            allowed = ", ".join(map(str, space.embedding_dims)) or "none (the space does not search dims)"
            out.append(("embedding_dim", f"{self.embedding_dim} is not allowed; allowed: {allowed}"))
        if self.embedding_dim is None and space.embedding_dims:
            allowed = ", ".join(map(str, space.embedding_dims))
            out.append(("embedding_dim", f"missing; space {space.name!r} searches embedding dims {allowed}"))
        for index, block in enumerate(self.blocks):
            out += block.problems(index + 1, space)
        return out

    def dim(self, schema_dim: int) -> int:
        """The embedding dim this subnet reads: its chosen dim, else the schema's; ConfigError when
        the chosen dim exceeds the schema's (the tables hold schema_dim columns)."""
        if self.embedding_dim is None:
            return schema_dim
        if self.embedding_dim > schema_dim:
            raise ConfigError("subnet config", [("embedding_dim", f"{self.embedding_dim} exceeds the data schema's "
                                                                  f"embedding_dim {schema_dim}")])
        return self.embedding_dim

    def validate_in(self, space: SearchSpace) -> SubnetConfig:
        """Check this config against `space` (any space); ConfigError if it does not fit."""
        problems = self.problems(space)
        if problems:
            raise ConfigError(f"subnet config in space {space.name!r}", problems)
        return self

    @property
    def search_space(self) -> SearchSpace:
        """The space this config was checked against."""
        return self._space if self._space is not None else get_space(self.space)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if self.embedding_dim is None:   # as before dims were searchable: stored JSON stays byte-identical
            del data["embedding_dim"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str = "subnet config", space: SearchSpace | None = None) -> SubnetConfig:
        """Read and check a config; `space`: the space to check it in (None: the built-in space it names)."""
        if not isinstance(data, dict):
            raise ConfigError(source, [("", f"expected a JSON object, got {type(data).__name__}")])
        try:
            return cls.model_validate(data, context={"space": space})
        except ValidationError as error:
            raise ConfigError(source, config_problems(error, cls, rename=_block_numbers)) from None

    @classmethod
    def from_json(cls, text: str, source: str = "subnet JSON", space: SearchSpace | None = None) -> SubnetConfig:
        return cls.from_dict(parse_json(text, source), source, space)


def load_subnet(path: str | Path, space: SearchSpace | None = None) -> SubnetConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), [("", "file not found")])
    return SubnetConfig.from_json(path.read_text(), source=str(path), space=space)


def _block_numbers(loc: tuple) -> list:
    """("blocks", 2, "dense_width") -> ["block3", "dense_width"]: blocks are named by number."""
    loc = list(loc)
    if len(loc) >= 2 and loc[0] == "blocks" and isinstance(loc[1], int):
        return [f"block{loc[1] + 1}", *loc[2:]]
    return loc


# ---- shapes every consumer (standalone model, lowering, supernet) agrees on
def raw_dense_width(schema: DatasetSchema) -> int:
    """Width of source 0's dense output. A schema without dense features (Avazu) gets one
    all-zero pseudo feature, as NASRec's own Avazu pipeline does, so every dense operator has an
    input and block 1 (which can only read source 0) is always well defined."""
    return max(schema.num_dense, 1)


def source_dims(subnet: SubnetConfig, schema: DatasetSchema) -> tuple[list[int], list[int]]:
    """(dense widths, sparse row counts) of sources 0..N. Sparse rows all have
    schema.embedding_dim columns; a block's rows are its sparse width plus the merger rows."""
    merger_rows = subnet.search_space.merger_rows
    dense = [raw_dense_width(schema)]
    rows = [schema.num_sparse]
    for block in subnet.blocks:
        dense.append(block.dense_width)
        rows.append(block.sparse_width + (merger_rows if block.dense_to_sparse else 0))
    return dense, rows


# ---- sampling and mutation
Rng = np.random.Generator | int


def _rng(rng: Rng) -> np.random.Generator:
    """A generator from a seed (ints give reproducible streams) or the generator itself."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _pick(rng: np.random.Generator, values: tuple | list) -> Any:
    return values[int(rng.integers(len(values)))]


def _sample_inputs(rng: np.random.Generator, block: int, max_inputs: int) -> tuple[int, ...]:
    """Single-operator any-connection: 1 + Binomial(min(i-1, max_inputs-1), 0.5) distinct sources
    drawn uniformly from the i earlier ones (0..i-1); NASRec's 1 + Binomial(min(i-1, 3), 0.5)."""
    size = 1 + int(rng.binomial(min(block - 1, max_inputs - 1), 0.5))
    return tuple(sorted(int(j) for j in rng.choice(block, size=size, replace=False)))


def _dense_connections(rng: np.random.Generator, op: DenseOp, block: int, space: SearchSpace) -> dict[str, Any]:
    if op in BINARY_DENSE_OPS:
        return dict(dense_inputs=(), dense_left=int(rng.integers(block)), dense_right=int(rng.integers(block)))
    return dict(dense_inputs=_sample_inputs(rng, block, space.max_inputs), dense_left=None, dense_right=None)


def _sample_block(rng: np.random.Generator, block: int, space: SearchSpace) -> dict[str, Any]:
    dense_op = _pick(rng, space.dense_ops)
    fields = dict(
        dense_op=dense_op,
        dense_width=_pick(rng, space.dense_widths),
        sparse_op=_pick(rng, space.sparse_ops),
        sparse_width=_pick(rng, space.sparse_widths),
        sparse_inputs=_sample_inputs(rng, block, space.max_inputs),
        dense_to_sparse=bool(space.allow_dense_to_sparse and rng.random() < 0.5),
        sparse_to_dense_fm=bool(space.allow_sparse_to_dense_fm and rng.random() < 0.5),
        weight_bits=_pick(rng, space.weight_bits),
        activation_bits=_pick(rng, space.activation_bits),
    )
    fields.update(_dense_connections(rng, dense_op, block, space))
    return fields


def sample_subnet(space: SearchSpace, rng_or_seed: Rng) -> SubnetConfig:
    """A random subnet: per block one dense and one sparse operator, widths, any-connection
    input sets, mergers on/off with probability 1/2 and bit-widths, all uniform."""
    rng = _rng(rng_or_seed)
    blocks = [BlockConfig(**_sample_block(rng, i, space)) for i in range(1, space.num_blocks + 1)]
    embedding_bits = _pick(rng, space.embedding_bits)
    # drawn last and only when searched, so a space without dims draws the same stream as before
    embedding_dim = _pick(rng, space.embedding_dims) if space.embedding_dims else None
    return _build(space, embedding_bits, blocks, embedding_dim)


def _build(space: SearchSpace, embedding_bits: int, blocks: list[BlockConfig],
           embedding_dim: int | None = None) -> SubnetConfig:
    """Assemble and check a config of `space`; it carries `space` (SubnetConfig.search_space)."""
    if space.name in space_names() and get_space(space.name) != space:
        # its JSON would be read back in the built-in space of that name, which it does not fit
        raise ConfigError("search space", [("name", f"{space.name!r} names a built-in space but differs from it; "
                                                    "give this space its own name")])
    subnet = SubnetConfig.model_construct(space=space.name, embedding_bits=embedding_bits, blocks=tuple(blocks),
                                          embedding_dim=embedding_dim)
    subnet.validate_in(space)
    subnet._space = space
    return subnet


def _other(rng: np.random.Generator, values: tuple, current: Any) -> Any:
    return _pick(rng, [v for v in values if v != current])


def _mutations(block: BlockConfig, i: int, space: SearchSpace) -> list[str]:
    """The mutation kinds that can change this block (1-based number i) within `space`."""
    choices = space.block_choices()
    # (this order of kinds is part of what a seeded mutation produces: keep it)
    kinds = [kind for kind in ("dense_op", "dense_width", "sparse_op", "sparse_width") if len(choices[kind]) > 1]
    if space.input_subsets(i) > 1:
        kinds.append("sparse_inputs")
        if block.dense_op not in BINARY_DENSE_OPS:
            kinds.append("dense_inputs")
    if block.dense_op in BINARY_DENSE_OPS and i > 1:
        kinds.append("dense_left_right")
    if space.allow_dense_to_sparse or space.allow_sparse_to_dense_fm:
        kinds.append("merger")
    kinds += [kind for kind in ("weight_bits", "activation_bits") if len(choices[kind]) > 1]
    return kinds


def _mutate_block(rng: np.random.Generator, block: BlockConfig, i: int, space: SearchSpace, kind: str) -> BlockConfig:
    fields = block.model_dump()
    if kind == "dense_op":
        op = _other(rng, space.dense_ops, block.dense_op)
        fields["dense_op"] = op
        # Keep the connections when the new operator reads the same kind of input.
        if (op in BINARY_DENSE_OPS) != (block.dense_op in BINARY_DENSE_OPS):
            fields.update(_dense_connections(rng, op, i, space))
    elif kind in BLOCK_CHOICE_FIELDS:   # a width, the sparse operator or a bit-width
        fields[kind] = _other(rng, space.block_choices()[kind], getattr(block, kind))
    elif kind in ("dense_inputs", "sparse_inputs"):
        current = getattr(block, kind)
        new = current
        while new == current:  # terminates: _mutations checked that >= 2 input sets exist
            new = _sample_inputs(rng, i, space.max_inputs)
        fields[kind] = new
    elif kind == "dense_left_right":
        side = _pick(rng, ("dense_left", "dense_right"))
        fields[side] = _other(rng, tuple(range(i)), getattr(block, side))
    elif kind == "merger":
        options = [m for m, allowed in (("dense_to_sparse", space.allow_dense_to_sparse),
                                        ("sparse_to_dense_fm", space.allow_sparse_to_dense_fm)) if allowed]
        flag = _pick(rng, options)
        fields[flag] = not getattr(block, flag)
    else:  # pragma: no cover - kinds come from _mutations
        raise ValueError(kind)
    return BlockConfig(**fields)


def mutate(subnet: SubnetConfig, space: SearchSpace, rng: Rng, num_changes: int | None = None) -> SubnetConfig:
    """A child of `subnet` with `num_changes` (default: uniform 1..6) random changes: an operator,
    a width, an input set (or a left/right input), a merger flag, a weight/activation bit-width or
    the embedding bits. Each change alters the config, and the child always differs from its
    parent (changes that happen to cancel out are followed by another), and is always valid."""
    if subnet.space != space.name:
        raise ConfigError("mutate", [("space", f"subnet is from {subnet.space!r}, not {space.name!r}")])
    subnet.validate_in(space)
    rng = _rng(rng)
    if num_changes is None:
        num_changes = int(rng.integers(1, 7))
    if num_changes < 1:
        raise ConfigError("mutate", [("num_changes", f"{num_changes} is not allowed; allowed: >= 1")])
    blocks = list(subnet.blocks)
    embedding_bits, embedding_dim = subnet.embedding_bits, subnet.embedding_dim
    changes = 0
    while changes < num_changes or (tuple(blocks) == subnet.blocks and embedding_bits == subnet.embedding_bits
                                    and embedding_dim == subnet.embedding_dim):
        targets = [(k, kinds) for k, b in enumerate(blocks) if (kinds := _mutations(b, k + 1, space))]
        if len(space.embedding_bits) > 1:
            targets.append((-1, ["embedding_bits"]))
        if len(space.embedding_dims) > 1:
            targets.append((-2, ["embedding_dim"]))
        if not targets:
            raise ConfigError("mutate", [("space", f"space {space.name!r} holds a single config; nothing to mutate")])
        k, kinds = targets[int(rng.integers(len(targets)))]
        if k == -1:
            embedding_bits = _other(rng, space.embedding_bits, embedding_bits)
        elif k == -2:
            embedding_dim = _other(rng, space.embedding_dims, embedding_dim)
        else:
            blocks[k] = _mutate_block(rng, blocks[k], k + 1, space, _pick(rng, kinds))
        changes += 1
    return _build(space, embedding_bits, blocks, embedding_dim)

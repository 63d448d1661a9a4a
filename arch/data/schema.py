"""DatasetSchema: the shape of a CTR dataset as the models see it (after preprocessing).

Dense features are floats (log(x+1) of Criteo's integer counts); every sparse field is an id
hashed into a vocabulary of `vocab_sizes[i]` rows of a `embedding_dim`-wide table.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# NASRec hashes every categorical field into a bounded vocabulary; these caps keep a Criteo-shaped
# model's tables at a realistic but laptop-sized scale. Users set their own per field.
DEFAULT_VOCAB_CAP = 100_000


class DatasetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    num_dense: int = Field(ge=0, le=10_000)
    vocab_sizes: tuple[int, ...] = Field(min_length=1)
    embedding_dim: int = Field(default=16, ge=1, le=1024)

    @model_validator(mode="after")
    def _positive_vocabs(self) -> DatasetSchema:
        bad = [i for i, size in enumerate(self.vocab_sizes) if size < 1]
        if bad:
            raise ValueError(f"vocab_sizes at fields {bad} must be >= 1")
        return self

    @property
    def num_sparse(self) -> int:
        return len(self.vocab_sizes)


def criteo_schema(vocab_cap: int = DEFAULT_VOCAB_CAP) -> DatasetSchema:
    """Criteo Kaggle: 13 integer features, 26 categorical fields (true cardinalities capped)."""
    # Cardinalities of C1..C26 in the Kaggle train set (as commonly reported for DLRM's preprocessing).
    cardinalities = (
        1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
        27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
    )
    return DatasetSchema(
        name="criteo", num_dense=13, vocab_sizes=tuple(min(c, vocab_cap) for c in cardinalities)
    )


def avazu_schema(vocab_cap: int = DEFAULT_VOCAB_CAP) -> DatasetSchema:
    """Avazu: no dense features after dropping `id`; 22 categorical fields (hour split into
    hour-of-day and weekday gives 23 here, as NASRec's preprocessing does). Cardinalities are
    approximate (as reported for the full train set); only their caps matter to the models."""
    cardinalities = (
        24, 7, 7, 7, 4737, 7745, 26, 8552, 559, 36, 2686408, 6729486, 8251, 5, 4, 2626, 8, 9,
        435, 4, 68, 172, 60,
    )
    return DatasetSchema(
        name="avazu", num_dense=0, vocab_sizes=tuple(min(c, vocab_cap) for c in cardinalities)
    )


def kdd_schema(vocab_cap: int = DEFAULT_VOCAB_CAP) -> DatasetSchema:
    """KDD Cup 2012 track 2 as NASRec preprocesses it: 3 numeric features (Impression, Depth,
    Position) and 10 id fields (DisplayURL, AdID, AdvertiserID, QueryID, KeywordID, TitleID,
    DescriptionID, UserID, and the user's Gender and Age). Cardinalities are approximate (ids seen
    in the released files); only their caps matter to the models."""
    cardinalities = (
        26273, 641707, 14847, 26243606, 1249785, 4051441, 3171830, 22023547, 3, 7,
    )
    return DatasetSchema(name="kdd12", num_dense=3, vocab_sizes=tuple(min(c, vocab_cap) for c in cardinalities))


SCHEMAS = {"criteo": criteo_schema, "avazu": avazu_schema, "kdd12": kdd_schema}

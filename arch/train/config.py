"""TrainConfig: everything that decides a training run's result, saved with its checkpoint. Its own
module (torch-free) so that the optimizers (arch/train/optimizers.py), the checkpoint reader
(arch/train/checkpoints.py) and the training loop (arch/train/loop.py) all import it from below."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_serializer, model_validator

from recpim.arch.model.sharing import InputSharing
from recpim.validation import MAX_SEED, ValidatedModel

# Far beyond any real run (NASRec's one Criteo epoch is ~70 k steps), and small enough that the
# warm-up (a fraction of the steps) and the cosine schedule stay meaningful; 2**63 steps would never
# leave the warm-up.
MAX_STEPS = 10**9


class TrainConfig(ValidatedModel):
    """Everything that decides a training run's result (saved with its checkpoint)."""

    config_source: ClassVar[str] = "train config"

    data: str = "synthetic"                # dataset spec (open_dataset) the run was given
    data_seed: int = Field(default=0, ge=0, le=MAX_SEED)   # open_dataset's seed: the split (and the synthetic draw)
    space: str = "nasrec_full"            # the space's name (a custom space is passed to train_supernet)
    steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)  # None: one epoch of the train split
    batch_size: int = Field(default=512, ge=1)
    optimizer: Literal["adagrad", "adam"] = "adagrad"
    lr: float = Field(default=0.12, gt=0)
    warmup_fraction: float = Field(default=0.1, ge=0, lt=1)
    grad_clip_norm: float | None = Field(default=5.0, gt=0)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    quant_aware: bool = False              # forward each sampled subnet at its own bits (fake quant)
    checkpoint_every: int = Field(default=0, ge=0)  # 0: at the end (and on interrupt) only
    # ---- weight sharing (arch/train/loop.py's docstring); supernet runs only, standalone runs ignore them
    input_sharing: InputSharing = "per_operator"
    full_path_fraction: float = Field(default=0.1, ge=0, le=1)
    # the sandwich rule (arch/train/sandwich.py): 0 trains one sampled subnet per step (NASRec); n >= 1
    # trains the largest network and n children per step, the children distilled from it by distill_weight
    sandwich_students: int = Field(default=0, ge=0, le=8)
    distill_weight: float = Field(default=0.0, ge=0, le=1)
    sandwich_teacher: Literal["largest_subnet", "full_path"] = "largest_subnet"
    # each step splits its batch into this many equal parts, each part training its own sampled subnet, their
    # losses averaged in one update (arch/train/sandwich.py); 1 is NASRec's one subnet per step. 16 by default:
    # with one subnet per step the wide ranking space's shared weights learned nothing in 4000 steps (benchmarks/
    # bench_supernet_learning.py), with 8 its subnets ranked at tau 0.57 after fine-tuning, with 16 at 0.63
    # (bench_ranking.py against the same truths; README, issue 21). The sandwich rule is a different step: it
    # needs subnets_per_step=1.
    subnets_per_step: int = Field(default=16, ge=1, le=64)
    # ---- optimizer details
    adagrad_eps: float = Field(default=1e-2, gt=0)     # NASRec's scripts; torch's default is 1e-10
    init: Literal["torch", "xavier"] = "torch"
    sparse_embeddings: bool = True
    embedding_lr: float | None = Field(default=None, gt=0)   # the tables' optimizer (None: `lr`)
    embedding_l2: float = Field(default=0.0, ge=0)           # L2 on the embedding rows a batch reads
    # The tables' optimizer state (arch/train/optimizers.py): "elementwise" keeps one Adagrad sum per weight
    # (two Adam moments beside Adam), as large as the tables; "rowwise" is FBGEMM's EXACT_ROWWISE_ADAGRAD
    # (arch/train/rowwise.py), one value per row, whichever `optimizer` the dense parameters use.
    embedding_optimizer: Literal["elementwise", "rowwise"] = "elementwise"
    # The dense parameters' optimizer state during training (arch/train/bf16_state.py): "fp32" as torch keeps
    # it; "bf16" keeps Adagrad's sums or Adam's moments in bfloat16 (stochastically rounded), half the bytes
    # of an unfinished run's CKPT.resume, at a measured cost in log loss (README, The resumable state).
    optimizer_state_dtype: Literal["fp32", "bf16"] = "fp32"

    @model_serializer(mode="wrap")
    def _omit_defaults_added_later(self, handler):
        """Leave `embedding_optimizer` out of a dump while it is "elementwise", and `optimizer_state_dtype`
        while it is "fp32" (what a dump without them means), so checkpoints, --json outputs and
        bench_ranking's truth-cache keys of runs that use neither option stay what they were before them."""
        data = handler(self)
        if isinstance(data, dict):
            if self.embedding_optimizer == "elementwise":
                data.pop("embedding_optimizer", None)
            if self.optimizer_state_dtype == "fp32":
                data.pop("optimizer_state_dtype", None)
        return data

    @model_validator(mode="after")
    def _one_step_rule(self) -> TrainConfig:
        if self.sandwich_students and self.subnets_per_step > 1:
            raise ValueError(f"subnets_per_step={self.subnets_per_step} with sandwich_students="
                             f"{self.sandwich_students}: a step follows one rule; with the sandwich rule set "
                             "subnets_per_step=1 (--subnets-per-step 1)")
        return self

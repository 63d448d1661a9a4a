"""Monte-Carlo accuracy on real ReRAM: a subnet scored on N programmed chips (issue 24).

A chip whose crossbar.nonideal draws its cells at random (programming variation, stuck-at faults,
read noise) gives every programmed chip a different log loss. `score_device_draws` scores the
subnet (inherited supernet weights, the logit layer fine-tuned once, as score_subnet does) on the
chip's ideal cells and on N chips, chip seeds base .. base + N - 1 (base: crossbar.nonideal.seed),
and reports the mean, the standard deviation and a pessimistic percentile of log loss (the 90th: a
chip worse than 9 in 10) and AUC (the 10th) beside the ideal-cell figure.

Default N = 10 (DEFAULT_DEVICE_DRAWS): each draw costs one simulated scoring (the same as scoring on
the chip's ideal cells, plus the cells' draws), so 10 draws cost 10 such scorings; the mean's
standard error is then std / sqrt(10) = 0.32 std, and the 90th percentile sits between the two
worst draws -- enough to rank candidates whose spreads differ, not a tail estimate. Raise N for a
sharper percentile (its error shrinks as 1 / sqrt(N)).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from recpim.arch.crossbar.matmul import CrossbarArithmetic, CrossbarMode
from recpim.arch.data.datasets import CtrDataset
from recpim.arch.model.subnet import SubnetConfig
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.scoring import (
    EVAL_BATCH_SIZE,
    FinetuneRecipe,
    SubnetScore,
    cached_split,
    evaluate,
    finetune_logit,
)
from recpim.errors import ConfigError

DEFAULT_DEVICE_DRAWS = 10
PESSIMISTIC_PERCENTILE = 90.0   # of log loss (higher is worse); AUC takes the mirror, the 10th


@dataclass(frozen=True)
class DeviceDrawScore:
    """A subnet's accuracy on N programmed chips beside the same chip with ideal cells."""

    ideal: SubnetScore                  # the chip's arithmetic (ADC, DAC, slicing) on ideal cells
    loglosses: tuple[float, ...]        # one per programmed chip
    aucs: tuple[float, ...]
    chip_seeds: tuple[int, ...]
    percentile: float = PESSIMISTIC_PERCENTILE
    seconds: float = 0.0                # the draws' scoring, fine-tuning and the ideal-cell score excluded

    @property
    def draws(self) -> int:
        return len(self.loglosses)

    @property
    def mean_logloss(self) -> float:
        return float(np.mean(self.loglosses))

    @property
    def std_logloss(self) -> float:
        return float(np.std(self.loglosses, ddof=1)) if self.draws > 1 else 0.0

    @property
    def pessimistic_logloss(self) -> float:
        return float(np.percentile(self.loglosses, self.percentile))

    @property
    def mean_auc(self) -> float:
        return float(np.mean(self.aucs))

    @property
    def std_auc(self) -> float:
        return float(np.std(self.aucs, ddof=1)) if self.draws > 1 else 0.0

    @property
    def pessimistic_auc(self) -> float:
        return float(np.percentile(self.aucs, 100.0 - self.percentile))

    @property
    def seconds_per_draw(self) -> float:
        return self.seconds / max(self.draws, 1)

    def to_dict(self) -> dict:
        return {"draws": self.draws, "chip_seeds": list(self.chip_seeds), "percentile": self.percentile,
                "ideal_logloss": self.ideal.logloss, "ideal_auc": self.ideal.auc,
                "mean_logloss": self.mean_logloss, "std_logloss": self.std_logloss,
                "pessimistic_logloss": self.pessimistic_logloss,
                "mean_auc": self.mean_auc, "std_auc": self.std_auc, "pessimistic_auc": self.pessimistic_auc,
                "loglosses": list(self.loglosses), "aucs": list(self.aucs),
                "seconds": self.seconds, "seconds_per_draw": self.seconds_per_draw,
                "ideal_score": asdict(self.ideal)}


def score_device_draws(supernet: Supernet, subnet: SubnetConfig, dataset: CtrDataset, crossbar: CrossbarArithmetic,
                       draws: int = DEFAULT_DEVICE_DRAWS, split: str = "val", finetune_steps: int = 0,
                       batch_size: int = EVAL_BATCH_SIZE, seed: int = 0, max_rows: int | None = None,
                       finetune: FinetuneRecipe | None = None,
                       percentile: float = PESSIMISTIC_PERCENTILE) -> DeviceDrawScore:
    """Log loss and AUC of `subnet` (inherited weights) on `draws` programmed chips of `crossbar`
    (module docstring). The logit layer is fine-tuned once (seed `seed`) and shared by every draw."""
    if draws < 1:
        raise ConfigError("device draws", [("draws", f"must be >= 1, got {draws}")])
    if not 0 <= percentile <= 100:
        raise ConfigError("device draws", [("percentile", f"must be in [0, 100], got {percentile}")])
    if crossbar is None or crossbar.ideal_cells:
        raise ConfigError("device draws", [("crossbar.nonideal", "the chip models ideal cells: every programmed "
                                                                 "chip is the same; set crossbar.nonideal (e.g. "
                                                                 "programming_sigma) to draw chips")])
    began = time.perf_counter()
    was_training = supernet.training
    supernet.eval()
    try:
        data = cached_split(dataset, split, max_rows)
        head = finetune_logit(supernet, subnet, dataset, finetune_steps, quant=True, seed=seed,
                              recipe=finetune) if finetune_steps else None
        finetune_seconds = time.perf_counter() - began
        ideal_arith = crossbar.without_device_effects()
        ideal_began = time.perf_counter()
        loss, auc = evaluate(_logits(supernet, subnet, head, ideal_arith), data, batch_size)
        ideal = SubnetScore(loss, auc, len(data.label), split, finetune_steps, True, ideal_arith, "supernet",
                            seconds=time.perf_counter() - ideal_began + finetune_seconds,
                            finetune_seconds=finetune_seconds)
        base = crossbar.device.chip_seed
        seeds = tuple(range(base, base + draws)) if crossbar.device.random else (base,)
        draws_began = time.perf_counter()
        results = [evaluate(_logits(supernet, subnet, head, crossbar.with_chip_seed(s)), data, batch_size)
                   for s in seeds]
    finally:
        supernet.train(was_training)
    return DeviceDrawScore(ideal, tuple(r[0] for r in results), tuple(r[1] for r in results), seeds, percentile,
                           time.perf_counter() - draws_began)


def _logits(supernet: Supernet, subnet: SubnetConfig, head, crossbar: CrossbarArithmetic):
    """The subnet's logits on `crossbar` (inherited weights; `head`: a fine-tuned logit layer or None).
    One CrossbarMode per batch: each forward pass numbers its layers from 0 (the draws' layer key)."""
    device = next(supernet.parameters()).device
    if head is None:
        def logits(dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
            return supernet(dense.to(device), sparse.to(device), subnet, quant=True, crossbar=crossbar)
        return logits
    bits = Supernet.block_bits(subnet, True)[-1]

    def tuned(dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        mode = CrossbarMode(crossbar)
        with mode:
            d, s = supernet.last_outputs(dense.to(device), sparse.to(device), subnet, True, mode)
            with mode.at_bits(bits):
                return head(torch.cat([d, s.flatten(1)], dim=1), quant=bits).squeeze(-1)
    return tuned

"""The robust co-search objective (issue 24, item 5): a candidate's accuracy as the chip delivers it.

With `device_draws` N > 0 (`recpim search --accuracy-under-devices N`), a candidate whose chip draws
its cells at random (crossbar.nonideal: programming variation, stuck-at faults, read noise) is scored
on N programmed chips of that chip -- chip seeds crossbar.nonideal.seed .. seed + N - 1, the same
seeds for every candidate, so candidates are compared on the same chips -- by
recpim.arch.train.device_draws.score_device_draws (the logit layer fine-tuned once and shared by
the draws). The figure the objective ranks by (CandidateMetrics.logloss) is then the mean or the
90th percentile (`device_statistic`: "mean" | "p90"; the AUC beside it the mean or the 10th
percentile) of the draws' log losses, not the one chip the search otherwise scores. The record
keeps the ideal-cell figure and the draws' mean, std and p90 beside it (`device_*` fields).

A chip whose cells are ideal (no crossbar.nonideal effect on) has one programmed chip only: the
candidate is scored exactly as without device draws (score_subnet on its chip), and that figure is
every statistic (std 0, one draw). So the robust objective with every effect off equals the ideal
scoring bit for bit. A chip with deterministic effects only (off-state current, IR drop, drift) is
one chip too: one draw, beside the ideal-cell figure.

Cost: N + 1 simulated scorings of the candidate (the N chips and the ideal cells) and one
fine-tuning, against one scoring and one fine-tuning without draws; the drawn chips run the
bit-sliced simulation, which is slower than an ideal chip with a lossless ADC (its exact shortcut).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, get_args

from recpim.search.metrics import CandidateMetrics

DeviceStatistic = Literal["mean", "p90"]
DEVICE_STATISTICS: tuple[str, ...] = get_args(DeviceStatistic)
MAX_DEVICE_DRAWS = 1000


def robust_metrics(metrics: CandidateMetrics, draws, statistic: DeviceStatistic) -> CandidateMetrics:
    """`metrics` scored by `draws` (a DeviceDrawScore): log loss and AUC are the `statistic` of the
    draws; the ideal-cell figure and the draws' spread are kept beside them."""
    if statistic == "p90":
        logloss, auc = draws.pessimistic_logloss, draws.pessimistic_auc
    else:
        logloss, auc = draws.mean_logloss, draws.mean_auc
    return replace(metrics.with_accuracy(logloss, auc, draws.ideal.rows), ideal_logloss=float(draws.ideal.logloss),
                   device_draws=draws.draws, device_logloss_mean=draws.mean_logloss,
                   device_logloss_std=draws.std_logloss, device_logloss_p90=draws.pessimistic_logloss)


def single_chip_metrics(metrics: CandidateMetrics, logloss: float, auc: float, rows: int) -> CandidateMetrics:
    """`metrics` of a chip with ideal cells under the robust objective: its one chip is every draw."""
    return replace(metrics.with_accuracy(logloss, auc, rows), ideal_logloss=float(logloss), device_draws=1,
                   device_logloss_mean=float(logloss), device_logloss_std=0.0, device_logloss_p90=float(logloss))


def score_candidate_under_devices(supernet, subnet, dataset, crossbar, draws: int, *, finetune_steps: int,
                                  max_rows: int | None, finetune):
    """The candidate's DeviceDrawScore over `draws` programmed chips of `crossbar` (random cells), or
    None when `crossbar` has ideal cells (then the caller's plain score is the figure: module docstring).
    The fine-tuning's seed is 0, as the search's plain scoring."""
    if crossbar is None or crossbar.ideal_cells:
        return None
    from recpim.arch.train.device_draws import score_device_draws  # torch: only in workers that score

    return score_device_draws(supernet, subnet, dataset, crossbar, draws=draws, split="val",
                              finetune_steps=finetune_steps, seed=0, max_rows=max_rows, finetune=finetune)

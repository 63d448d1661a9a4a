"""Training a few-shot supernet (arch/model/few_shot.py): each part, warm-started from the one-shot
supernet, trains `steps_per_part` more steps on subnets of its own part only, with the one-shot
run's recipe (optimizer, lr schedule over these steps, batch, quantisation-aware or not). The part
of step k draws its subnet from (seed, part, k), so a rerun trains the same subnets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from recpim.arch.data.datasets import CtrDataset
from recpim.arch.data.parsing import CtrBatch
from recpim.arch.model.few_shot import FewShotSupernet, sample_in_part, split_choices
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.loop import run_training


def train_few_shot(one_shot: Supernet, dataset: CtrDataset, config: TrainConfig, steps_per_part: int,
                   progress: bool = False) -> FewShotSupernet:
    """The few-shot supernet of `one_shot` (which is not modified), each part trained further."""
    few_shot = FewShotSupernet.from_one_shot(one_shot)
    space = few_shot.space
    part_config = config.model_copy(update={"steps": steps_per_part, "checkpoint_every": 0})
    for index, op in enumerate(split_choices(space)):
        part = few_shot.parts[op.value]

        def loss(batch: CtrBatch, step: int, part: Supernet = part, op=op, index: int = index) -> torch.Tensor:
            subnet = sample_in_part(space, op, np.random.default_rng([config.seed, 0xFE5, index, step]))
            logits = part(batch.dense, batch.sparse, subnet, quant=config.quant_aware)
            return F.binary_cross_entropy_with_logits(logits.float(), batch.label)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed + index)
            run_training(part, None, dataset, part_config, loss_fn=loss, progress=progress,
                         title=f"few-shot part {op.value}")
        part.eval()
    return few_shot

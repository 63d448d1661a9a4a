"""Probe subnets: a few fixed subnets whose inherited-weight log loss on a fixed train sample and
on a validation sample is logged every `every` supernet steps (issue 21's diagnosis: does the
supernet overfit its train rows -- the train loss falls while the validation loss rises -- or do
the shared weights simply learn slowly -- both stay high?)."""

from __future__ import annotations

from dataclasses import dataclass, field

from recpim.arch.data.datasets import CtrDataset
from recpim.arch.data.parsing import CtrBatch
from recpim.arch.model.subnet import SubnetConfig
from recpim.arch.model.supernet import Supernet
from recpim.arch.train.loop import train_batches
from recpim.arch.train.scoring import cached_split, evaluate


@dataclass(frozen=True)
class ProbeRecord:
    step: int
    probe: int              # index into ProbeLog.subnets
    train_logloss: float    # on the fixed train sample
    val_logloss: float


@dataclass
class ProbeLog:
    subnets: list[SubnetConfig]
    every: int
    train_rows: CtrBatch
    val_rows: CtrBatch
    records: list[ProbeRecord] = field(default_factory=list)

    @classmethod
    def sample(cls, dataset: CtrDataset, subnets: list[SubnetConfig], every: int, rows: int = 8192,
               seed: int = 0) -> ProbeLog:
        """Probes on the first `rows` validation rows and `rows` train rows (the first batch drawn
        with `seed`; a streamed train split gives fresh rows, which the supernet never trains on)."""
        train = next(train_batches(dataset, rows, seed))
        return cls(subnets, every, train, cached_split(dataset, "val", rows))

    def __call__(self, supernet: Supernet, step: int) -> None:
        if step % self.every:
            return
        was_training = supernet.training
        supernet.eval()
        for index, subnet in enumerate(self.subnets):
            train, _ = evaluate(lambda d, s, n=subnet: supernet(d, s, n), self.train_rows)
            val, _ = evaluate(lambda d, s, n=subnet: supernet(d, s, n), self.val_rows)
            self.records.append(ProbeRecord(step, index, train, val))
        supernet.train(was_training)

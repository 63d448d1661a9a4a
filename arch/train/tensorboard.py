"""TensorBoard scalars of a training run (`recpim supernet train --tensorboard DIR`, and
`train_standalone(..., tensorboard=DIR)`), written with torch.utils.tensorboard, which needs the
`tensorboard` package (the extra `recpim[tensorboard]`).

Per step: train/loss (the step's loss; of the global batch under data parallelism),
train/learning_rate (the dense parameters'; train/learning_rate_embeddings too when the tables
have their own), train/rows_per_s (global rows over the wall time since the previous step, the
first step's including start-up). Every `every` steps and at the last: val/logloss and val/auc of
what `validate(model)` scores (the caller's choice: a supernet run scores a fixed probe subnet, a
standalone run the model itself). Validation runs under inference mode with the torch RNG state
saved and restored, so asking for scalars changes no weight (a test holds it bit for bit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from recpim.errors import ConfigError

INSTALL = "pip install 'recpim[tensorboard]' (or pip install tensorboard)"


def summary_writer_class(option: str = "--tensorboard"):
    """torch's SummaryWriter; a ConfigError naming `option` and the extra when tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ConfigError(option, [("", f"writing TensorBoard scalars needs the tensorboard package ({error}); "
                                        f"install it with {INSTALL}, or leave {option} out")]) from None
    return SummaryWriter


class TensorBoardLog:
    """A step callback (run_training's `on_step`) writing scalars into `log_dir`."""

    def __init__(self, log_dir: Path | str, rows_per_step: int, total_steps: int,
                 validate: Callable[[nn.Module], tuple[float, float]] | None = None, every: int = 50):
        if every < 1:
            raise ConfigError("--tensorboard-every", [(str(every), "allowed: an integer >= 1")])
        self.log_dir = Path(log_dir)
        self.writer = summary_writer_class()(log_dir=str(self.log_dir))
        self.rows_per_step, self.total_steps = rows_per_step, total_steps
        self.validate, self.every = validate, every
        self._last = time.perf_counter()

    def __call__(self, model: nn.Module, step: int, loss: float, learning_rates: list[float]) -> None:
        now = time.perf_counter()
        self.writer.add_scalar("train/loss", loss, step)
        if learning_rates:
            self.writer.add_scalar("train/learning_rate", learning_rates[0], step)
            if len(learning_rates) > 1 and learning_rates[-1] != learning_rates[0]:
                self.writer.add_scalar("train/learning_rate_embeddings", learning_rates[-1], step)
        if now > self._last:
            self.writer.add_scalar("train/rows_per_s", self.rows_per_step / (now - self._last), step)
        if self.validate is not None and (step % self.every == 0 or step == self.total_steps):
            with torch.random.fork_rng(devices=[]):
                was_training = model.training
                model.eval()
                try:
                    logloss, auc = self.validate(model)
                finally:
                    model.train(was_training)
            self.writer.add_scalar("val/logloss", logloss, step)
            self.writer.add_scalar("val/auc", auc, step)
        self._last = time.perf_counter()    # validation time is not training time

    def close(self) -> None:
        self.writer.close()

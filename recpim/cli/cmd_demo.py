"""`recpim demo`: the whole flow on embedded defaults (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path

import typer

from recpim.paths import check_output_dir
from recpim.validation import MAX_SEED


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("out/demo"), "--out", help="Where the demo writes everything."),
        budget: int = typer.Option(32, "--budget", min=4, help="Candidates the co-search evaluates."),
        train_steps: int = typer.Option(400, "--train-steps", min=1, help="Supernet training steps."),
        seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="Seed of every random choice."),
    ) -> None:
        """Synthetic data -> supernet -> co-search on the default chip -> simulation -> sweep -> report."""
        from recpim.demo import DemoSettings, run_demo

        check_output_dir(out, "--out")     # a file there is refused before any step runs
        run_demo(out, DemoSettings(budget=budget, train_steps=train_steps, seed=seed))

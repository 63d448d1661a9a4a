"""`recpim demo`: the whole flow on embedded defaults (what `make demo` runs)."""

from __future__ import annotations

from pathlib import Path

import typer

from recpim.paths import check_output_dir
from recpim.validation import MAX_SEED

ACCURACIES = ("crossbar", "quant")   # the search's --accuracy choices (recpim.search.run.SearchSettings)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("out/demo"), "--out", help="Where the demo writes everything."),
        budget: int = typer.Option(32, "--budget", min=4, help="Candidates the co-search evaluates."),
        train_steps: int = typer.Option(400, "--train-steps", min=1, help="Supernet training steps."),
        seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="Seed of every random choice."),
        accuracy: str | None = typer.Option(None, "--accuracy", help="How the search scores a candidate: crossbar "
                                                                     "(simulated ADC/DAC, default) or quant (fake "
                                                                     "quantisation only, faster)."),
        score_rows: int | None = typer.Option(None, "--score-rows", min=1, help="Validation rows each candidate "
                                                                                "scores (the search's default 1024)."),
        finetune_steps: int | None = typer.Option(None, "--finetune-steps", min=0,
                                                  help="Logit fine-tuning steps before each score (500; 0: off)."),
    ) -> None:
        """Synthetic data -> supernet -> co-search on the default chip -> simulation -> sweep -> report."""
        from recpim.demo import DemoSettings, run_demo

        if accuracy is not None and accuracy not in ACCURACIES:
            raise typer.BadParameter(f"got {accuracy!r}; allowed: {', '.join(ACCURACIES)}", param_hint="--accuracy")
        check_output_dir(out, "--out")     # a file there is refused before any step runs
        run_demo(out, DemoSettings(budget=budget, train_steps=train_steps, seed=seed, accuracy=accuracy,
                                   score_rows=score_rows, finetune_steps=finetune_steps))

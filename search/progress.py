"""The progress bar of long search-side work (sweeps, the co-search): rich, on stderr (so --json keeps
stdout plain), with elapsed time and an ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def eta_bar(title: str, enabled: bool, *extra: ProgressColumn) -> Progress:
    """A bar `title` [####  ] done/total elapsed ETA remaining, then the `extra` columns."""
    return Progress(TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), *extra, console=Console(stderr=True), disable=not enabled,
                    transient=False)

"""The report plots, drawn with matplotlib's object API on the Agg canvas.

Figure + FigureCanvasAgg (not pyplot) keeps no global state: safe in worker processes and
threads, never opens a window, and needs no display. Every function writes one PNG and returns
its path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

DPI = 110
PALETTE = colormaps["tab20"]


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


# Tick labels with 3 significant figures and no shared "1e10" offset text (it collides with titles).
_short = FuncFormatter(lambda value, _: f"{value:.3g}")


def _norm(values: Sequence[float]):
    """A log colour scale when positive values span more than two decades, else linear."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        return LogNorm(vmin=min(finite), vmax=max(finite))
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    return Normalize(vmin=low, vmax=high if high > low else low + 1)


def bar_chart(path: Path, labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str,
              highlight: str | None = None) -> Path:
    """Horizontal bars, largest at the top; `highlight` (e.g. the bottleneck) is drawn in red."""
    height = 1.2 + 0.32 * max(1, len(labels))
    fig = Figure(figsize=(7.5, height))
    ax = fig.add_subplot()
    positions = np.arange(len(labels))[::-1]
    colours = ["#c53030" if label == highlight else "#2b6cb0" for label in labels]
    ax.barh(positions, values, color=colours)
    ax.set_yticks(positions, labels=list(labels))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    top = max(values, default=0)
    for position, value in zip(positions, values, strict=True):
        ax.text(value + top * 0.01, position, f"{value:.3g}", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.15 if top > 0 else 1)
    return _save(fig, path)


def stacked_share_bar(path: Path, rows: dict[str, dict[str, float]], *, title: str) -> Path:
    """One horizontal bar per row, its segments as percentages of the row's total (labels >= 4 %)."""
    fig = Figure(figsize=(9, 1.6 + 0.9 * len(rows)))
    ax = fig.add_subplot()
    segments = list(dict.fromkeys(name for parts in rows.values() for name in parts))
    colour = {name: PALETTE(i % 20) for i, name in enumerate(segments)}
    labelled: set[str] = set()
    for position, parts in enumerate(reversed(rows.values())):
        total = sum(parts.values()) or 1.0
        left = 0.0
        for name, value in parts.items():
            share = 100.0 * value / total
            ax.barh(position, share, left=left, color=colour[name], edgecolor="white",
                    label=None if name in labelled else name)
            labelled.add(name)
            if share >= 4:
                ax.text(left + share / 2, position, f"{name}\n{share:.0f}%", ha="center", va="center", fontsize=7)
            left += share
    ax.set_yticks(range(len(rows)), labels=list(reversed(rows)))
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of total (%)")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(6, len(segments)), fontsize=8, frameon=False)
    return _save(fig, path)


def heatmap(path: Path, grid: list[list[float | None]], *, x_labels: Sequence[str], y_labels: Sequence[str],
            xlabel: str, ylabel: str, title: str, colorbar_label: str, best: tuple[int, int] | None = None,
            lossy: set[tuple[int, int]] | None = None) -> Path:
    """grid[row][col] with None for points without a figure (drawn grey and marked 'x');
    `best` (row, col) is outlined; `lossy` cells (ADC-lossy points) are hatched and tagged 'lossy'."""
    values = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
    fig = Figure(figsize=(1.6 + 0.9 * max(3, len(x_labels)), 1.4 + 0.6 * max(3, len(y_labels))))
    ax = fig.add_subplot()
    ax.set_facecolor("#d9d9d9")
    norm = _norm(values[np.isfinite(values)].tolist())
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", norm=norm, aspect="auto", origin="lower")
    fig.colorbar(image, ax=ax, label=colorbar_label, format=_short)
    ax.set_xticks(range(len(x_labels)), labels=list(x_labels))
    ax.set_yticks(range(len(y_labels)), labels=list(y_labels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    annotate = values.size <= 144
    for (row, col), value in np.ndenumerate(values):
        if not np.isfinite(value):
            ax.text(col, row, "x", ha="center", va="center", color="#555555", fontsize=10)
        elif annotate:
            dark = norm(value) < 0.5
            ax.text(col, row, f"{value:.3g}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    for row, col in sorted(lossy or ()):
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#c53030",
                               linewidth=0))
        ax.text(col + 0.45, row - 0.45, "lossy", ha="right", va="bottom", fontsize=6, color="#c53030")
    if best is not None:
        ax.add_patch(_outline(best))
    return _save(fig, path)


def _outline(cell: tuple[int, int]):
    from matplotlib.patches import Rectangle

    row, col = cell
    return Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="#e53e3e", linewidth=2.5)


def line_chart(path: Path, x_values: Sequence, series: dict[str, Sequence[float | None]], *, xlabel: str,
               ylabel: str, title: str, best_x=None, lossy_x: Sequence | None = None) -> Path:
    """One line per series over x (numbers on a log2 axis when they span 8x or more; text evenly spaced).
    Missing points (None) break the line; points at `lossy_x` (ADC-lossy) are ringed in red."""
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in x_values)
    xs = list(x_values) if numeric else list(range(len(x_values)))
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    marked = [i for i, x in enumerate(x_values) if x in list(lossy_x or ())]
    for label, ys in series.items():
        ax.plot(xs, [np.nan if y is None else y for y in ys], marker="o", label=label)
        ring = [(xs[i], ys[i]) for i in marked if ys[i] is not None]
        if ring:
            ax.scatter([x for x, _ in ring], [y for _, y in ring], s=140, facecolors="none", edgecolors="#c53030",
                       linewidths=1.5, zorder=3, label="ADC-lossy")
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 8:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, labels=[str(x) for x in x_values])
    elif not numeric:
        ax.set_xticks(xs, labels=[str(x) for x in x_values])
    if best_x is not None and best_x in list(x_values):
        ax.axvline(xs[list(x_values).index(best_x)], color="#e53e3e", linestyle="--", alpha=0.7, label="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1 or best_x is not None or marked:
        ax.legend(fontsize=8)
    return _save(fig, path)


def pareto_scatter(path: Path, *, energy_pj: Sequence[float], logloss: Sequence[float], latency_ns: Sequence[float],
                   labels: Sequence[str], zoo: Sequence[tuple[str, float, float]] = (), title: str) -> Path:
    """Log loss against energy per inference (log x), coloured by latency; the front joined by a step
    line; zoo models as black crosses with their names."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    norm = _norm(list(latency_ns))
    order = np.argsort(energy_pj)
    ax.step(np.asarray(energy_pj)[order], np.asarray(logloss)[order], where="post", color="#a0aec0", zorder=1)
    points = ax.scatter(energy_pj, logloss, c=latency_ns, cmap="plasma", norm=norm, s=55, edgecolors="black",
                        linewidths=0.5, zorder=2, label="front")
    fig.colorbar(points, ax=ax, label="latency of one inference (ns)", format=_short)
    if len(labels) <= 20:
        for x, y, text in zip(energy_pj, logloss, labels, strict=True):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    for name, energy, loss in zoo:
        ax.scatter([energy], [loss], marker="X", s=90, color="black", zorder=3)
        ax.annotate(name, (energy, loss), textcoords="offset points", xytext=(5, -10), fontsize=8, weight="bold")
    if min(list(energy_pj) + [e for _, e, _ in zoo]) > 0:
        ax.set_xscale("log")
    ax.set_xlabel("energy per inference (pJ)")
    ax.set_ylabel("log loss")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if zoo:
        from matplotlib.lines import Line2D

        ax.legend(handles=[points, Line2D([], [], marker="X", color="black", linestyle="", markersize=9,
                                          label="zoo models")], fontsize=8)
    return _save(fig, path)


def best_so_far_curve(path: Path, steps: Sequence[int], values: Sequence[float], *, ylabel: str, title: str,
                      xlabel: str = "evaluations") -> Path:
    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    ax.step(steps, values, where="post", color="#2b6cb0")
    ax.plot(steps, values, "o", color="#2b6cb0", markersize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)

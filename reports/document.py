"""A report as a list of blocks, written once and rendered both to Markdown and to standalone HTML.

Each report module (breakdown, sweep, search) builds a Document; markdown.py and html.py render it,
so the two forms always say the same thing; writer.write_documents writes both and the JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Cell = str | int | float | Link | None


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str | Link, ...]


@dataclass(frozen=True)
class Image:
    path: Path          # a PNG on disk: linked from Markdown, embedded (base64) in HTML
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""


Block = Heading | Paragraph | Bullets | Image | Table


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Heading(text, level))

    def paragraph(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def bullets(self, items: list[str | Link]) -> None:
        self.blocks.append(Bullets(tuple(items)))

    def image(self, path: Path, alt: str, caption: str = "") -> None:
        self.blocks.append(Image(Path(path), alt, caption))

    def table(self, columns: list[str], rows: list[list[Cell]], caption: str = "") -> None:
        self.blocks.append(Table(tuple(columns), tuple(tuple(row) for row in rows), caption))

    @property
    def images(self) -> list[Path]:
        return [block.path for block in self.blocks if isinstance(block, Image)]


@dataclass(frozen=True)
class ReportFiles:
    """What a report writer produced."""

    html: Path
    markdown: Path
    json: Path
    images: list[Path]

    def to_json_dict(self) -> dict[str, Any]:
        return {"html": str(self.html), "markdown": str(self.markdown), "json": str(self.json),
                "images": [str(path) for path in self.images]}


def format_cell(value: Cell) -> str:
    """Numbers to 4 significant figures; None as an em dash; everything else as text."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, Link):
        return value.text
    return str(value)


def format_settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in settings.items())


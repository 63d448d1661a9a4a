"""Render a report Document as Markdown; images are linked relative to the Markdown file."""

from __future__ import annotations

import os
from pathlib import Path

from recpim.reports.document import Bullets, Cell, Document, Heading, Image, Link, Paragraph, Table, format_cell


def _cell(value: Cell) -> str:
    text = f"[{value.text}]({value.href})" if isinstance(value, Link) else format_cell(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _relative(path: Path, base_dir: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base_dir.resolve())).as_posix()


def render_markdown(doc: Document, base_dir: Path) -> str:
    """Markdown text of `doc`; image links are relative to `base_dir` (where the .md file lives)."""
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += ["#" * min(6, block.level) + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += [f"- {_cell(item) if isinstance(item, Link) else item}" for item in block.items] + [""]
        elif isinstance(block, Image):
            lines += [f"![{block.alt}]({_relative(block.path, base_dir)})", ""]
            if block.caption:
                lines += [f"*{block.caption}*", ""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"**{block.caption}**", ""]
            lines.append("| " + " | ".join(block.columns) + " |")
            lines.append("|" + "|".join("---" for _ in block.columns) + "|")
            lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in block.rows]
            lines.append("")
    return "\n".join(lines)


def write_markdown(doc: Document, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(doc, path.parent))
    return path

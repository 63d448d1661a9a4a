"""Render a report Document as one standalone HTML page: CSS inline, every image embedded as a
base64 data URI, no script and no external resource, so the file can be mailed or archived alone.
`write_index` writes a page linking several reports (with their pictures) for a run such as the demo.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from recpim.reports.document import Bullets, Cell, Document, Heading, Image, Link, Paragraph, Table, format_cell

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1d232a; line-height: 1.45; }
h1 { border-bottom: 2px solid #2b6cb0; padding-bottom: .3rem; }
h2 { margin-top: 2rem; color: #2b4c7e; }
table { border-collapse: collapse; margin: .8rem 0 1.4rem; font-size: .92rem; }
th, td { border: 1px solid #cbd5e0; padding: .25rem .6rem; }
th { background: #edf2f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }
figure { margin: 1rem 0 1.6rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #e2e8f0; }
figcaption { font-size: .88rem; color: #4a5568; }
.section { border: 1px solid #e2e8f0; border-radius: 6px; padding: .6rem 1rem 1rem; margin: 1.2rem 0; }
.thumbs img { max-width: 32%; height: auto; margin: .2rem; border: 1px solid #e2e8f0; vertical-align: top; }
"""


def data_uri(path: Path) -> str:
    """The PNG at `path` as a data URI (the page then needs no file beside it)."""
    payload = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{payload}"


def _cell_html(value: Cell) -> str:
    if isinstance(value, Link):
        return f'<a href="{escape(value.href, quote=True)}">{escape(value.text)}</a>'
    return escape(format_cell(value))


def _is_number(value: Cell) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _td(value: Cell) -> str:
    return f'<td class="num">{_cell_html(value)}</td>' if _is_number(value) else f"<td>{_cell_html(value)}</td>"


def _page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{escape(title)}</h1>", *body, "</body>", "</html>", "",
    ])


def render_html(doc: Document) -> str:
    body: list[str] = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            level = max(2, min(6, block.level))
            body.append(f"<h{level}>{escape(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_cell_html(item) if isinstance(item, Link) else escape(item)}</li>"
                            for item in block.items)
            body.append(f"<ul>{items}</ul>")
        elif isinstance(block, Image):
            caption = f"<figcaption>{escape(block.caption)}</figcaption>" if block.caption else ""
            body.append(f'<figure><img src="{data_uri(block.path)}" alt="{escape(block.alt, quote=True)}">'
                        f"{caption}</figure>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{escape(column)}</th>" for column in block.columns)
            rows = "".join("<tr>" + "".join(_td(value) for value in row) + "</tr>" for row in block.rows)
            caption = f"<caption>{escape(block.caption)}</caption>" if block.caption else ""
            body.append(f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return _page(doc.title, body)


def write_html(doc: Document, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(doc), encoding="utf-8")
    return path


@dataclass(frozen=True)
class IndexSection:
    """One entry of an index page: a title linking to a report, a line about it, and its pictures."""

    title: str
    # The report: a Path is a file path (absolute, or relative to the working folder, like any path
    # a run is given, e.g. out/demo/search/search.html); a str is a link relative to the index's folder.
    href: str | Path
    description: str = ""
    images: list[Path] = field(default_factory=list)   # PNGs shown as embedded thumbnails


def write_index(out_dir: Path | str, sections: list[IndexSection | dict], title: str = "recpim results",
                intro: str = "", name: str = "index.html") -> Path:
    """Write `out_dir/index.html` linking each section's report, with its pictures embedded.

    A section may be an IndexSection or a dict with the same keys."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = [f"<p>{escape(intro)}</p>"] if intro else []
    for raw in sections:
        section = raw if isinstance(raw, IndexSection) else IndexSection(**raw)
        href = Path(section.href)
        if isinstance(section.href, Path) or href.is_absolute():
            href = Path(os.path.relpath(href.resolve(), out_dir.resolve()))
        thumbs = "".join(
            f'<a href="{escape(href.as_posix(), quote=True)}"><img src="{data_uri(image)}" '
            f'alt="{escape(section.title, quote=True)}: {escape(Path(image).stem, quote=True)}"></a>'
            for image in section.images)
        body.append(
            '<div class="section">'
            f'<h2><a href="{escape(href.as_posix(), quote=True)}">{escape(section.title)}</a></h2>'
            + (f"<p>{escape(section.description)}</p>" if section.description else "")
            + (f'<div class="thumbs">{thumbs}</div>' if thumbs else "")
            + "</div>")
    path = out_dir / name
    path.write_text(_page(title, body), encoding="utf-8")
    return path

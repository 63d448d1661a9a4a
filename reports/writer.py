"""Write one report Document in every form: <name>.md, <name>.html and <name>.json.

Above document.py (the model) and markdown.py / html.py (its renderers), so none of them imports
another upward.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recpim.reports.document import Document, ReportFiles
from recpim.reports.html import write_html
from recpim.reports.markdown import write_markdown


def write_documents(doc: Document, out_dir: Path, name: str, data: dict[str, Any]) -> ReportFiles:
    """Write <name>.md, <name>.html and <name>.json (the machine-readable `data`) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    return ReportFiles(html=write_html(doc, out_dir / f"{name}.html"),
                       markdown=write_markdown(doc, out_dir / f"{name}.md"), json=json_path, images=doc.images)

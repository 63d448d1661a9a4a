"""Every run writes its fully resolved inputs beside its outputs so it can be re-run."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recpim import __version__


def write_resolved_inputs(out_dir: Path | str, inputs: dict[str, Any], name: str = "inputs.json") -> Path:
    """Write `inputs` (already JSON-able: chip dumps, subnet dicts, seeds...) with version info."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "kind": "inputs",                     # `recpim report` renders it
        "recpim_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": inputs,
    }
    path = out_dir / name
    path.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return path

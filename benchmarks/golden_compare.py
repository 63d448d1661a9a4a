"""Compare two folders written by benchmarks/golden_cli.sh: every file must be byte-identical. The sweep files
begin with the sweep's stderr (the grid size and a progress bar with its elapsed time), so for them the JSON
document after it is compared byte for byte. Usage: python benchmarks/golden_compare.py BEFORE AFTER"""

from __future__ import annotations

import sys
from pathlib import Path


def stdout_part(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.startswith("sweep_"):
        start = data.find(b"\n{")
        return data[start + 1:] if start >= 0 else data
    return data


def main() -> int:
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    names = sorted(p.name for p in before.iterdir() if p.is_file())
    missing = [n for n in names if not (after / n).is_file()]
    different = [n for n in names if n not in missing and stdout_part(before / n) != stdout_part(after / n)]
    empty = [n for n in names if not (before / n).stat().st_size]
    print(f"{len(names) - len(missing) - len(different)} of {len(names)} files byte-identical; "
          f"different: {different or 'none'}; missing: {missing or 'none'}; empty in BEFORE: {empty or 'none'}")
    return 1 if missing or different or empty else 0


if __name__ == "__main__":
    sys.exit(main())

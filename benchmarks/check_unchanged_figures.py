"""Check that `recpim map/simulate --json` print the same bytes before and after a change.

For every zoo model and examples/*.json on every chip preset, this writes what `recpim map MODEL
--chip C --json` and `recpim simulate MODEL --chip C --engine analytic|des --json` print (the same
functions and the same json.dumps the CLI uses, in one process), one file per run, or the error a
run raises. Run it with one tree's interpreter to --write a directory, then with the other's to
--compare against it:

    /work/main/.venv/bin/python benchmarks/check_unchanged_figures.py --write /tmp/figures-main
    .venv/bin/python benchmarks/check_unchanged_figures.py --compare /tmp/figures-main

It prints one line per differing file and exits 1 if any differ (runs the baseline lacks, such as a
model added to the zoo since, are listed as new).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _runs():
    from recpim.arch.model.spec import ZOO_NAMES
    from recpim.pim.presets import list_presets

    models = [*ZOO_NAMES, *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.json"))]
    for model in models:
        for preset in list_presets():
            for what in ("map", "analytic", "des"):
                yield model, preset, what


def _figure(model: str, preset: str, what: str) -> str:
    from recpim.arch.model.spec import resolve_model_spec
    from recpim.mapping import map_model
    from recpim.mapping.cost import simulate_model
    from recpim.pim.presets import load_chip

    try:
        graph = resolve_model_spec(str(ROOT / model) if model.endswith(".json") else model)
        chip = load_chip(preset)
        if what == "map":
            data = map_model(graph, chip).to_json_dict()
        else:
            data = simulate_model(graph, chip, engine=what, batch=64).to_json_dict()
        return json.dumps(data, indent=2, sort_keys=False, default=float) + "\n"
    except Exception as error:   # a run that fails must fail the same way
        return f"error: {type(error).__name__}: {error}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--compare", type=Path)
    args = parser.parse_args()
    differ = 0
    count = 0
    for model, preset, what in _runs():
        name = f"{Path(model).stem}__{preset}__{what}.json"
        text = _figure(model, preset, what)
        count += 1
        if args.write:
            args.write.mkdir(parents=True, exist_ok=True)
            (args.write / name).write_text(text)
            continue
        if not (args.compare / name).is_file():
            print(f"new (not in {args.compare}): {name}")
            continue
        if (args.compare / name).read_text() != text:
            differ += 1
            print(f"DIFFERS: {name}")
    if args.compare:
        print(f"{count} runs, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

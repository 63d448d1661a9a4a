"""Speed of what a sweep of thousands of points repeats: mapping + stage building, the analytic model,
and the CLI's start-up. Prints medians of several runs (min in brackets: the machine's other load
shows as the gap). Targets are printed beside the cold rows only: a warm row reuses the mapping
memo's stored result (or its per-chip shapes), which no target was set for.

Targets (issue 14): mapping + stage building of the NASRec-Full example subnet on isaac <= 2 ms;
VGG-8 mapped on a 4096-tile mesh <= 20 ms; `recpim chip isaac --json` <= 0.4 s and `recpim --help`
<= 0.5 s wall (issue 23; benchmarks/bench_speed.py measures these beside a baseline tree).
Run: .venv/bin/python benchmarks/bench_mapping.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from recpim.api import load_chip, resolve_model_spec
from recpim.arch.graph.workload import WorkloadGraph
from recpim.mapping import map_model, memo
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.engine import cost_inputs, run_engine

ROOT = Path(__file__).resolve().parents[1]
SUBNET = str(ROOT / "examples" / "subnet_full_seed0.json")
RECPIM = str(Path(sys.executable).with_name("recpim"))


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median, min) wall seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def cold(fn):
    """fn with the mapping memo emptied first (a dict clear, microseconds): the row times a first
    mapping, what a sweep's new point pays."""
    def run():
        memo.clear()
        return fn()
    return run


def main() -> None:
    chip = load_chip("isaac")
    subnet = resolve_model_spec(SUBNET)
    mapping = map_model(subnet, chip)
    workload = workload_from_mapping(subnet, mapping, chip)
    inputs = cost_inputs(chip)
    print(f"NASRec-Full subnet {Path(SUBNET).name}: {len(subnet.nodes())} nodes, {len(workload.stages)} stages, "
          "on isaac")
    fresh = iter([_copy(subnet) for _ in range(30)])   # new graph objects, built outside the timing
    # "cold": the memo (recpim.mapping.memo) emptied before each call, what a sweep's new (model,
    # chip) point pays; "warm": the same graph and chip again (memoised), or a new graph of known
    # layer shapes on a known chip (a search's next subnet: the per-chip shape cache).
    rows = [
        ("mapping, cold", cold(lambda: map_model(subnet, chip)), 30, 2e-3),
        ("mapping, new graph on a known chip", lambda: map_model(next(fresh), chip), 30, None),
        ("mapping, warm (same graph and chip)", lambda: map_model(subnet, chip), 30, None),
        ("stage building", lambda: workload_from_mapping(subnet, mapping, chip), 30, None),
        ("mapping + stage building, cold", cold(lambda: workload_from_mapping(subnet, map_model(subnet, chip), chip)),
         30, 2e-3),
        ("mapping + stage building, warm", lambda: workload_from_mapping(subnet, map_model(subnet, chip), chip),
         30, None),
        ("analytic model, batch 64", lambda: run_engine(workload, inputs, "analytic", batch=64), 30, None),
    ]
    vgg8 = resolve_model_spec("vgg8")
    mesh = chip.with_overrides({"chip.tiles": 4096, "chip.mesh_rows": 64, "chip.mesh_cols": 64})
    rows.append(("VGG-8 on a 4096-tile mesh, cold", cold(lambda: map_model(vgg8, mesh)), 5, 20e-3))
    rows.append(("VGG-8 on a 4096-tile mesh, warm", lambda: map_model(vgg8, mesh), 5, None))
    for name, fn, repeats, target in rows:
        median, fastest = timed(fn, repeats)
        # Targets apply to cold rows only: a memoised row hands back a stored result and cannot miss.
        memoised = "warm" in name or "known chip" in name
        goal = f"(target <= {target * 1e3:g} ms)" if target else ("(memoised: no target)" if memoised else "")
        print(f"{name:36s} {median * 1e3:9.2f} ms [{fastest * 1e3:.2f}] {goal}")
    for args, target in ((["chip", "isaac", "--json"], 0.4), (["--help"], 0.5)):
        median, fastest = timed(lambda a=args: subprocess.run([RECPIM, *a], capture_output=True, check=True), 3)
        print(f"{'recpim ' + ' '.join(args):36s} {median:9.2f} s  [{fastest:.2f}] (target <= {target:g} s)")


def _copy(graph: WorkloadGraph) -> WorkloadGraph:
    """A new graph object equal to `graph`: the memo knows its layer shapes, not the graph."""
    return WorkloadGraph.from_json_dict(graph.to_json_dict())


if __name__ == "__main__":
    main()

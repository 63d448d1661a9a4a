"""The cost engines against an older tree, in the same run (issue 23, item 1).

Times `run_engine` (the engine alone, after mapping and stage building) on VGG-8 and the NASRec-Full
example subnet at batch 64 on isaac, in this tree and, with --baseline, in a worktree of an older
commit that has its own virtual environment (e.g. the tree before the fidelity work:
`git worktree add --detach ../old 7797514`, then copy a venv there and `pip install -e .`).
Each figure is the median CPU time of several runs (process time: the shared machine's load
inflates wall time of anything longer than a scheduler slice), printed with the ratio to the
baseline. Targets: DES VGG-8 <= 0.8 s, DES subnet <= 0.5 s, analytic subnet <= 1 ms, VGG-8 <= 5 ms.

With --parts it also prints where one analytic call on the subnet spends its time in this tree (stage
costs, the index-form graph, handoff paths, batch recursion, energy pricing; medians of the parts
timed one after another inside each call, as analyze runs them).

Run: .venv/bin/python benchmarks/bench_engine_regression.py [--baseline ../old] [--repeats 5] [--parts]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

# Runs inside either tree's interpreter: only names both trees have.
CHILD = r"""
import json, statistics, sys, time
from pathlib import Path
import recpim.api as api
resolve = getattr(api, "resolve_model_spec", None) or getattr(api, "resolve_model")
from recpim.mapping import map_model
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.engine import cost_inputs, run_engine
tree, repeats = Path(sys.argv[1]), int(sys.argv[2])
chip = api.load_chip("isaac")
inputs = cost_inputs(chip)
out = {}
for label, model in (("VGG-8", "vgg8"), ("NASRec-Full subnet", str(tree / "examples" / "subnet_full_seed0.json"))):
    graph = resolve(model)
    workload = workload_from_mapping(graph, map_model(graph, chip), chip)
    for engine, runs in (("analytic", 20 * repeats), ("des", repeats)):
        run_engine(workload, inputs, engine, batch=64)   # warm
        times = []
        for _ in range(runs):
            start = time.process_time()
            run_engine(workload, inputs, engine, batch=64)
            times.append(time.process_time() - start)
        out[f"{label} {engine}"] = statistics.median(times)
print(json.dumps(out))
"""

# The analytic engine's parts in this tree (pim/analytic.py, pim/marked_graph.py), in analyze's order.
PARTS = r"""
import json, statistics, sys, time
from pathlib import Path
import recpim.api as api
from recpim.mapping import map_model
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim import analytic
from recpim.pim.cost_report import energy_per_inference
from recpim.pim.engine import cost_inputs
from recpim.pim.marked_graph import StageGraph
tree, repeats = Path(sys.argv[1]), int(sys.argv[2])
chip = api.load_chip("isaac")
inputs = cost_inputs(chip)
graph = api.resolve_model_spec(str(tree / "examples" / "subnet_full_seed0.json"))
workload = workload_from_mapping(graph, map_model(graph, chip), chip)
laps = {}
for _ in range(20 * repeats):
    start = time.process_time()
    stage_times, busy, parts, transfer_ns = analytic._costs(workload, inputs.timing, analytic.DEFAULT_WAVES_PER_EVENT)
    marks = [("stage costs", time.process_time())]
    stages = StageGraph.build(workload, stage_times, transfer_ns)
    marks.append(("index-form graph", time.process_time()))
    stages.handoff_lengths_ns()
    marks.append(("handoff paths", time.process_time()))
    fill_ns, batch_ns = stages.batch_ns(64, max(stage_times.values()))
    marks.append(("batch recursion", time.process_time()))
    energy_per_inference(workload, inputs.energy_pj_per_action, 1.0, batch_ns / 64, 64)
    marks.append(("energy pricing", time.process_time()))
    for name, end in marks:
        laps.setdefault(name, []).append(end - start)
        start = end
print(json.dumps({name: statistics.median(times) for name, times in laps.items()}))
"""

TARGETS_S = {"VGG-8 des": 0.8, "NASRec-Full subnet des": 0.5, "NASRec-Full subnet analytic": 1e-3,
             "VGG-8 analytic": 5e-3}


def measure(tree: Path, repeats: int, child: str = CHILD) -> dict[str, float]:
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{tree} has no .venv/bin/python: give --baseline a worktree with its own venv")
    done = subprocess.run([str(python), "-c", child, str(tree), str(repeats)], capture_output=True, text=True,
                          cwd=tree, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    if done.returncode:
        raise SystemExit(f"timing in {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="worktree of an older commit, with its own .venv")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parts", action="store_true", help="also time the analytic engine's parts in this tree")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    now = measure(here, args.repeats)
    before = measure(args.baseline.resolve(), args.repeats) if args.baseline else {}
    print(f"{'engine, batch 64 on isaac':32} {'this tree':>12} {'baseline':>12} {'ratio':>7} {'target':>9}")
    for key, seconds in now.items():
        base = before.get(key)
        unit, scale = ("ms", 1e3) if "analytic" in key else ("s", 1.0)
        base_text = f"{base * scale:10.3f} {unit}" if base else f"{'-':>12}"
        ratio = f"{seconds / base:6.2f}x" if base else f"{'-':>7}"
        print(f"{key:32} {seconds * scale:9.3f} {unit:2} {base_text} {ratio} {TARGETS_S[key] * scale:6.1f} {unit}")
    if args.parts:
        print("analytic, NASRec-Full subnet, this tree: median CPU time of each part of one call")
        for name, seconds in measure(here, args.repeats, PARTS).items():
            print(f"  {name:30} {seconds * 1e3:9.3f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

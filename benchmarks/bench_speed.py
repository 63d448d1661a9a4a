"""Speed of what an architect's loop pays (issue 23): start-up of the CLI, one zoo simulation and a
VGG-8 sweep as whole processes from the shell, and the cold mapping, each beside the same measurement
on a baseline tree (a git worktree of the code before the change, with its own .venv) in the same run,
interleaved, so the machine's other load falls on both alike.

Prints, per figure, the median wall seconds and the median CPU seconds (the process and its children:
on a shared machine the CPU time is what the code costs, the wall time what a user waited) over
--repeats runs, with the baseline's and the ratio baseline / this tree.

Targets: `recpim chip isaac --json` <= 0.4 s, `recpim --help` <= 0.5 s, `recpim simulate vgg8 --engine
analytic --json` <= 1.2 s, a 4 crossbar sizes x 7 ADC bits VGG-8 sweep <= 3 s (analytic engine), mapping
of the NASRec-Full example subnet cold <= 2 ms, VGG-8 on a 4096-tile mesh cold <= 20 ms.

    .venv/bin/python benchmarks/bench_speed.py --baseline ../wt-base --repeats 5
    .venv/bin/python benchmarks/bench_speed.py --baseline ../wt-base --repeats 10 --only-mapping   # mapping rows
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["--set", "crossbar.rows=64,128,256,512", "--set", "adc.bits=4..10", "--set", "crossbar.rows_read_at_once=64",
         "--engine", "analytic", "--no-cache", "--no-report", "--json"]
COMMANDS = [  # (figure, recpim arguments, target seconds)
    ("recpim chip isaac --json", ["chip", "isaac", "--json"], 0.4),
    ("recpim --help", ["--help"], 0.5),
    ("recpim simulate vgg8 --engine analytic --json", ["simulate", "vgg8", "--chip", "isaac", "--engine", "analytic",
                                                       "--json"], 1.2),
    ("recpim sweep vgg8, 4 rows x 7 ADC bits (analytic)", ["sweep", "vgg8", "--chip", "isaac", *SWEEP], 3.0),
]
# Run inside each tree's interpreter: medians (wall, CPU) in ms of cold mappings (the memo emptied first).
MAPPING_SNIPPET = r"""
import json, statistics, sys, time
from recpim.api import load_chip, resolve_model_spec
from recpim.mapping import map_model, memo
chip = load_chip("isaac")
cases = {"subnet": (resolve_model_spec(sys.argv[1]), chip, 40),
         "vgg8_4096": (resolve_model_spec("vgg8"),
                       chip.with_overrides({"chip.tiles": 4096, "chip.mesh_rows": 64, "chip.mesh_cols": 64}), 9)}
out = {}
for name, (graph, target, repeats) in cases.items():
    wall, cpu = [], []
    for _ in range(repeats):
        memo.clear()
        w, c = time.perf_counter(), time.process_time()
        map_model(graph, target)
        cpu.append(time.process_time() - c); wall.append(time.perf_counter() - w)
    out[name] = [statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3, min(wall) * 1e3]
print(json.dumps(out))
"""
MAPPING_ROWS = [("mapping cold, NASRec-Full subnet on isaac", "subnet", 2.0),
                ("mapping cold, VGG-8 on a 4096-tile mesh", "vgg8_4096", 20.0)]


def run_timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall s, CPU s of the process and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, env={**os.environ, "COLUMNS": "80"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{done.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_pair(runs: list[tuple[float, float]]) -> tuple[float, float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs), min(w for w, _ in runs)


def fmt(value: float, unit: str) -> str:
    return f"{value:7.3f} {unit}" if unit == "s" else f"{value:7.2f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a worktree of the code before the change, with its .venv")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-mapping", action="store_true")
    parser.add_argument("--only-mapping", action="store_true", help="the cold mapping rows alone (no CLI processes)")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    print("trees: " + ", ".join(f"{name} {path}" for name, path in trees.items()) + f"; {args.repeats} runs each, "
          f"interleaved; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'figure':52s} {'tree':10s} {'wall median':>12s} {'CPU median':>11s} {'wall min':>10s}  target")
    with tempfile.TemporaryDirectory() as scratch:
        for figure, arguments, target in ([] if args.only_mapping else COMMANDS):
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            for repeat in range(args.repeats):
                for name, tree in trees.items():
                    extra = ["--out", str(Path(scratch) / f"{name.replace(' ', '_')}_{repeat}")] \
                        if arguments[0] == "sweep" else []
                    runs[name].append(run_timed([str(tree / ".venv" / "bin" / "recpim"), *arguments, *extra], tree))
            report(figure, {name: median_pair(r) for name, r in runs.items()}, target, "s")
    if not args.only_mapping:
        pool_start_up(args.repeats)
    if args.skip_mapping:
        return
    results: dict[str, list[dict[str, list[float]]]] = {name: [] for name in trees}
    for _ in range(max(1, args.repeats // 2)):
        for name, tree in trees.items():
            done = subprocess.run([str(tree / ".venv" / "bin" / "python"), "-c", MAPPING_SNIPPET,
                                   str(tree / "examples" / "subnet_full_seed0.json")], cwd=tree, capture_output=True,
                                  text=True, check=True)
            results[name].append(json.loads(done.stdout))
    for figure, case, target in MAPPING_ROWS:
        report(figure, {name: (statistics.median(r[case][0] for r in runs), statistics.median(r[case][1] for r in runs),
                               min(r[case][2] for r in runs)) for name, runs in results.items()}, target, "ms")


def pool_start_up(repeats: int) -> None:
    """What the auto backend weighs: one VGG-8 sweep point in this process vs the first results of a fresh
    2-worker spawn pool (its start-up: processes that import recpim's stack and lower the model)."""
    from recpim.pim.presets import load_chip
    from recpim.search.executor import LocalExecutor
    from recpim.search.sweep import PointTask, evaluate_point

    chip = load_chip("isaac")
    tasks = [PointTask(chip.with_overrides({"adc.bits": bits}), "vgg8", "analytic", 64) for bits in (5, 6)]
    evaluate_point(tasks[0])   # this process's stack loaded, as in a sweep
    point, pool = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate_point(tasks[1])
        point.append(time.perf_counter() - start)
        start = time.perf_counter()
        with LocalExecutor(2) as executor:
            executor.map_ordered(evaluate_point, tasks)
        pool.append(time.perf_counter() - start - point[-1])
    print(f"{'one VGG-8 sweep point in this process':52s} {'this tree':10s} {fmt(statistics.median(point), 's'):>12s}")
    print(f"{'2-worker pool start-up (first two points less one)':52s} {'this tree':10s} "
          f"{fmt(statistics.median(pool), 's'):>12s} {'':11s} {fmt(min(pool), 's'):>10s}  "
          "(the auto backend's POOL_START_S)")


def report(figure: str, figures: dict[str, tuple[float, float, float]], target: float, unit: str) -> None:
    for name, (wall, cpu, fastest) in figures.items():
        goal = f"<= {target:g} {unit}" if name == "this tree" else ""
        print(f"{figure:52s} {name:10s} {fmt(wall, unit):>12s} {fmt(cpu, unit):>11s} {fmt(fastest, unit):>10s}  {goal}")
    if "baseline" in figures:
        ours, theirs = figures["this tree"], figures["baseline"]
        print(f"{'':52s} {'ratio':10s} {theirs[0] / ours[0]:11.2f}x {theirs[1] / ours[1]:10.2f}x "
              f"{theirs[2] / ours[2]:9.2f}x  (baseline / this tree)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Speed of the cost engines (issue 5): prints median wall times of several runs and ratios.

Targets: the analytic model of a NASRec-Full subnet on isaac <= 1 ms; the simulator for a batch of
64 of that subnet <= 0.5 s; a 4 crossbar sizes x 7 ADC resolutions sweep with the simulator
<= 15 s on 2 cores. Every figure is a median of several runs (the count is printed beside it); the
sweep runs parallel and serial in turn, each with a fresh cache, so the speed-up is measured under
the same load. Run: .venv/bin/python benchmarks/bench_engines.py [--sweep-repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from recpim.api import load_chip, resolve_model_spec
from recpim.mapping import map_model, memo
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.engine import cost_inputs, run_engine
from recpim.search.sweep import run_sweep

SUBNET = str(Path(__file__).resolve().parents[1] / "examples" / "subnet_full_seed0.json")


def run_times(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn, repeats: int) -> float:
    return statistics.median(run_times(fn, repeats))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-repeats", type=int, default=3, help="runs of each sweep (median reported)")
    args = parser.parse_args(argv)
    chip = load_chip("isaac")
    graph = resolve_model_spec(SUBNET)
    inputs = cost_inputs(chip)
    mapping = map_model(graph, chip)
    workload = workload_from_mapping(graph, mapping, chip)
    print(f"model: NASRec-Full subnet {Path(SUBNET).name} ({graph.total_macs:,} MACs, {len(workload.stages)} stages, "
          f"{mapping.crossbars_used} crossbars) on isaac")

    analytic_s = median_seconds(lambda: run_engine(workload, inputs, "analytic", batch=64), 50)

    def cold_mapping() -> None:
        memo.clear()
        workload_from_mapping(graph, map_model(graph, chip), chip)

    map_s = median_seconds(cold_mapping, 5)
    des_s = median_seconds(lambda: run_engine(workload, inputs, "des", batch=64), 5)
    print(f"analytic model, batch 64:        {analytic_s * 1e3:8.3f} ms   (median of 50; target <= 1 ms)")
    print(f"mapping + stage building, cold:  {map_s * 1e3:8.1f} ms   (median of 5, memo cleared; before either engine)")
    print(f"simulator (SimPy), batch 64:     {des_s * 1e3:8.1f} ms   (median of 5; target <= 500 ms)")
    print(f"simulator / analytic:            {des_s / analytic_s:8.0f} x")

    settings = {"crossbar.rows": [64, 128, 256, 512], "adc.bits": list(range(4, 11)),
                "crossbar.rows_read_at_once": [64]}
    def sweep(backend: str, cache: Path) -> None:
        result = run_sweep(SUBNET, chip, settings, engine="des", batch=64, backend=backend, workers=2,
                           cache_dir=cache, progress=False)
        assert sum(p.status == "ok" for p in result.points) == 28, result.counts()

    parallel, serial, cached = [], [], []
    for _ in range(args.sweep_repeats):   # parallel and serial in turn, each from an empty cache
        with tempfile.TemporaryDirectory() as folder:
            parallel += run_times(lambda f=folder: sweep("local", Path(f)), 1)
            cached += run_times(lambda f=folder: sweep("local", Path(f)), 1)
        with tempfile.TemporaryDirectory() as folder:
            serial += run_times(lambda f=folder: sweep("serial", Path(f)), 1)
    n = args.sweep_repeats
    parallel_s, serial_s, cached_s = (statistics.median(t) for t in (parallel, serial, cached))
    ratios = [s / p for s, p in zip(serial, parallel, strict=True)]
    print(f"sweep 4 rows x 7 ADC bits (des): {parallel_s:8.2f} s    (median of {n}, range {min(parallel):.2f}-"
          f"{max(parallel):.2f} s; 2 workers; target <= 15 s)")
    print(f"  same sweep, serial:            {serial_s:8.2f} s    (median of {n}, range {min(serial):.2f}-"
          f"{max(serial):.2f} s; speed-up per pair: median {statistics.median(ratios):.2f} x, "
          f"{min(ratios):.2f}-{max(ratios):.2f} x)")
    print(f"  same sweep, from the cache:    {cached_s:8.2f} s    (median of {n})")


if __name__ == "__main__":
    main()

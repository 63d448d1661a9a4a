"""Speed of the cost engines (issue 5): prints median wall times of several runs and ratios.

Targets: the analytic model of a NASRec-Full subnet on isaac <= 1 ms; the simulator for a batch of
64 of that subnet <= 0.5 s; a 4 crossbar sizes x 7 ADC resolutions sweep with the simulator
<= 15 s on 2 cores. Run: .venv/bin/python benchmarks/bench_engines.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from recpim.api import load_chip, resolve_model_spec
from recpim.mapping import map_model
from recpim.mapping.to_workload import workload_from_mapping
from recpim.pim.engine import cost_inputs, run_engine
from recpim.search.sweep import run_sweep

SUBNET = str(Path(__file__).resolve().parents[1] / "examples" / "subnet_full_seed0.json")


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    chip = load_chip("isaac")
    graph = resolve_model_spec(SUBNET)
    inputs = cost_inputs(chip)
    mapping = map_model(graph, chip)
    workload = workload_from_mapping(graph, mapping, chip)
    print(f"model: NASRec-Full subnet {Path(SUBNET).name} ({graph.total_macs:,} MACs, {len(workload.stages)} stages, "
          f"{mapping.crossbars_used} crossbars) on isaac")

    analytic_s = median_seconds(lambda: run_engine(workload, inputs, "analytic", batch=64), 50)
    map_s = median_seconds(lambda: workload_from_mapping(graph, map_model(graph, chip), chip), 5)
    des_s = median_seconds(lambda: run_engine(workload, inputs, "des", batch=64), 5)
    print(f"analytic model, batch 64:        {analytic_s * 1e3:8.3f} ms   (target <= 1 ms)")
    print(f"mapping + stage building:        {map_s * 1e3:8.1f} ms   (before either engine)")
    print(f"simulator (SimPy), batch 64:     {des_s * 1e3:8.1f} ms   (target <= 500 ms)")
    print(f"simulator / analytic:            {des_s / analytic_s:8.0f} x")

    settings = {"crossbar.rows": [64, 128, 256, 512], "adc.bits": list(range(4, 11)),
                "crossbar.rows_read_at_once": [64]}
    with tempfile.TemporaryDirectory() as cache:
        def sweep(backend: str) -> None:
            result = run_sweep(SUBNET, chip, settings, engine="des", batch=64, backend=backend, workers=2,
                               cache_dir=Path(cache) / backend, progress=False)
            assert sum(p.status == "ok" for p in result.points) == 28, result.counts()
        parallel_s = median_seconds(lambda: sweep("local"), 1)
        cached_s = median_seconds(lambda: sweep("local"), 3)
    with tempfile.TemporaryDirectory() as cache:
        serial_s = median_seconds(lambda: run_sweep(SUBNET, chip, settings, engine="des", batch=64,
                                                    backend="serial", cache_dir=Path(cache), progress=False), 1)
    print(f"sweep 4 rows x 7 ADC bits (des): {parallel_s:8.2f} s    (2 workers; target <= 15 s)")
    print(f"  same sweep, serial:            {serial_s:8.2f} s    (parallel speed-up {serial_s / parallel_s:.2f} x)")
    print(f"  same sweep, from the cache:    {cached_s:8.2f} s")


if __name__ == "__main__":
    main()

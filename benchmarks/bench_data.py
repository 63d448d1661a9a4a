"""Data path benchmark (issue 13, item 4): prints its figures; a script, not a test.

On a generated Criteo-format TSV (label, 13 integers with 20 % empty, 26 eight-hex-digit ids with
10 % empty; written once to --workdir, never into the repository):
(a) parse + hash rows/s of one complete pass with each reader (pyarrow columnar, per-row Python),
    median of --repeats runs, one torch/pyarrow thread;
(b) rows/s of a pass read back from the memmap cache (median of --repeats): every chunk's train
    rows copied out of the mapping into memory (ArrayChunk.take), as a training pass gets them;
(c) peak RSS of one streamed pass over --rows and over --memory-rows rows, each in a fresh
    process (streaming means memory flat in the number of rows).

Run: .venv/bin/python benchmarks/bench_data.py [--rows 1000000] [--memory-rows 5000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def generate_criteo(path: Path, rows: int, seed: int = 0, chunk: int = 200_000) -> Path:
    """A Criteo-format TSV of `rows` rows drawn from a seeded generator (reused when present)."""
    if path.is_file() and path.with_suffix(".done").is_file():
        return path
    rng = np.random.default_rng(seed)
    hex_digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    with path.open("wb") as handle:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            label = rng.random(n) < 0.25
            ints = rng.geometric(0.01, size=(n, 13)) - 1
            ints_empty = rng.random((n, 13)) < 0.2
            ids = hex_digits[rng.integers(0, 16, size=(n, 26, 8))].view("S8").reshape(n, 26)
            ids_empty = rng.random((n, 26)) < 0.1
            lines = []
            for i in range(n):
                dense = [b"" if ints_empty[i, j] else str(ints[i, j]).encode() for j in range(13)]
                sparse = [b"" if ids_empty[i, j] else ids[i, j] for j in range(26)]
                lines.append(b"\t".join([b"1" if label[i] else b"0", *dense, *sparse]))
            handle.write(b"\n".join(lines) + b"\n")
    path.with_suffix(".done").write_text(str(rows))
    return path


def one_pass(spec: str, reader: str, cache_dir: Path | None = None) -> tuple[float, int]:
    """Wall seconds of one complete streamed pass (parse, checks, hash, split) and its good rows;
    the pass's CPU seconds (all threads) are in LAST_CPU_S."""
    from recpim.arch.data.datasets import open_dataset

    dataset = open_dataset(spec, reader=reader, max_cached_rows=0, cache_dir=cache_dir)
    began, cpu_began = time.perf_counter(), time.process_time()
    rows = 0
    for chunk in dataset.chunks("train"):  # each chunk is the split's rows copied into memory (ArrayChunk.take)
        rows += len(chunk)
    seconds = time.perf_counter() - began
    LAST_CPU_S.append(time.process_time() - cpu_began)
    return seconds, dataset.bad_rows.rows_good


LAST_CPU_S: list[float] = []  # CPU seconds of each pass: on a shared machine, wall time includes other work


def child_peak_rss(spec: str, reader: str) -> dict:
    """Run one streamed pass in a fresh process; its peak RSS (MiB) and rows."""
    code = (f"import json, resource, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_data; "
            f"s, n = bench_data.one_pass({spec!r}, {reader!r}); "
            "print(json.dumps({'seconds': s, 'rows': n, 'peak_rss_mib': "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RECPIM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=5_000_000, help="0 skips part (c)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python-rows", type=int, default=200_000, help="rows for the (slow) per-row reader")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/recpim-bench-data"))
    args = parser.parse_args()

    import pyarrow as pa
    import torch

    torch.set_num_threads(1)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    args.workdir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    path = generate_criteo(args.workdir / f"criteo_{args.rows}.tsv", args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({args.rows:,} rows, {size_mb:.0f} MB; ready in {time.perf_counter() - began:.0f} s)")

    print("(a) parse + hash, one complete pass, one thread")
    LAST_CPU_S.clear()
    arrow = [one_pass(f"criteo:{path}", "arrow") for _ in range(args.repeats)]
    arrow_s, arrow_cpu = statistics.median(s for s, _ in arrow), statistics.median(LAST_CPU_S)
    print(f"  arrow  : {args.rows / arrow_s / 1e6:.3f} M rows/s ({size_mb / arrow_s:.0f} MB/s), median of "
          f"{args.repeats}: {', '.join(f'{s:.2f}' for s, _ in arrow)} s; per CPU second "
          f"{args.rows / arrow_cpu / 1e6:.3f} M rows/s")
    LAST_CPU_S.clear()
    small = generate_criteo(args.workdir / f"criteo_{args.python_rows}.tsv", args.python_rows)
    python = [one_pass(f"criteo:{small}", "python") for _ in range(args.repeats)]
    python_s = statistics.median(s for s, _ in python)
    print(f"  python : {args.python_rows / python_s / 1e6:.3f} M rows/s (per-row reader, {args.python_rows:,} rows), "
          f"median of {args.repeats}; per CPU second {args.python_rows / statistics.median(LAST_CPU_S) / 1e6:.3f} M")
    print(f"  target : >= 1 M rows/s on one core -> {'met' if args.rows / arrow_s >= 1e6 else 'NOT met'}")

    print("(b) from the memmap cache")
    cache = args.workdir / "cache"
    one_pass(f"criteo:{path}", "arrow", cache_dir=cache)  # writes the cache (or finds it)
    LAST_CPU_S.clear()
    cached = [one_pass(f"criteo:{path}", "arrow", cache_dir=cache) for _ in range(max(args.repeats, 5))]
    cached_s = statistics.median(s for s, _ in cached)
    print(f"  cache  : {args.rows / cached_s / 1e6:.2f} M rows/s (per CPU second "
          f"{args.rows / statistics.median(LAST_CPU_S) / 1e6:.2f} M), median of {len(cached)} "
          f"(target >= 10 M rows/s -> {'met' if args.rows / cached_s >= 1e7 else 'NOT met'})")

    if args.memory_rows:
        print("(c) peak RSS of one streamed pass (fresh process each)")
        big = generate_criteo(args.workdir / f"criteo_{args.memory_rows}.tsv", args.memory_rows)
        for rows, file in ((args.rows, path), (args.memory_rows, big)):
            figures = child_peak_rss(f"criteo:{file}", "arrow")
            print(f"  {rows:>10,} rows: peak RSS {figures['peak_rss_mib']:.0f} MiB, "
                  f"{rows / figures['seconds'] / 1e6:.3f} M rows/s")


if __name__ == "__main__":
    main()

"""Data path benchmark (issue 13 item 4, issue 23 item 5): prints its figures; a script, not a test.

On a generated Criteo-format TSV (label, 13 integers with 20 % empty, 26 eight-hex-digit ids with
10 % empty; written once to --workdir, never into the repository), one torch/pyarrow/polars thread,
medians of --repeats runs, each figure beside its baseline measured in the same run:
(a) parse + hash: rows parsed per second of one complete pass (every row parsed, the train split's
    rows delivered) with the compiled (numba) reader, the pyarrow reader it replaces (the baseline)
    and the per-row Python reader (the reference); wall time and per CPU second (on a shared
    machine the CPU figure is the one-core figure). When polars is installed, its CSV split alone
    and with its own (non-FNV) hash, for the choice of library (it is not a dependency).
(b) the memmap cache: train rows delivered per second by a pass read from the cache (split, range
    checks and copy in one compiled pass), against the pre-v2 path replayed on a copy of the same
    rows in its layout (int64 ids; numpy split, then ArrayChunk.take). Rows delivered, not rows in
    the file: a training pass gets the 80 % train split (issue 27 item 12).
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
    """Wall seconds of one complete streamed pass delivering the train split (parse, checks, hash,
    split) and the rows it delivered; the pass's CPU seconds (all threads) go to LAST_CPU_S."""
    from recpim.arch.data.datasets import open_dataset

    dataset = open_dataset(spec, reader=reader, max_cached_rows=0, cache_dir=cache_dir)
    began, cpu_began = time.perf_counter(), time.process_time()
    rows = 0
    for chunk in dataset.chunks("train"):  # each chunk is the split's rows copied into memory
        rows += len(chunk)
    seconds = time.perf_counter() - began
    LAST_CPU_S.append(time.process_time() - cpu_began)
    return seconds, rows


LAST_CPU_S: list[float] = []  # CPU seconds of each pass: on a shared machine, wall time includes other work


def replayed_v1_cache_pass(folder: Path, seed: int = 0) -> tuple[float, int]:
    """The pre-v2 cache read (recpim before issue 23 item 5): memmaps of int64 ids sliced per chunk,
    parsing.assign_splits in numpy, then ArrayChunk.take of the train rows. Wall seconds and rows
    delivered; CPU seconds to LAST_CPU_S."""
    from recpim.arch.data.parsing import ArrayChunk, assign_splits

    meta = json.loads((folder / "meta.json").read_text())
    began, cpu_began = time.perf_counter(), time.process_time()
    rows, widths = meta["rows"], {"dense": meta["num_dense"], "sparse": meta["num_sparse"]}
    arrays = {}
    for name, dtype in (("dense", np.float32), ("sparse", np.int64), ("label", np.float32), ("row_index", np.int64)):
        shape = (rows, widths[name]) if name in widths else (rows,)
        arrays[name] = np.asarray(np.memmap(folder / f"{name}.bin", dtype=dtype, mode="r", shape=shape))
    delivered, start = 0, 0
    for length in meta["chunk_lengths"]:
        chunk = ArrayChunk(*(arrays[name][start:start + length] for name in ("dense", "sparse", "label", "row_index")))
        splits = assign_splits(chunk.row_index, seed, (0.8, 0.1, 0.1))
        delivered += len(chunk.take(splits == 0))
        start += length
    seconds = time.perf_counter() - began
    LAST_CPU_S.append(time.process_time() - cpu_began)
    return seconds, delivered


def v1_copy(entry: Path, folder: Path) -> Path:
    """The cache entry's rows in the pre-v2 layout (int64 ids), for the replayed baseline."""
    if (folder / "meta.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    meta = json.loads((entry / "meta.json").read_text())
    for name in ("dense", "label", "row_index"):
        (folder / f"{name}.bin").write_bytes((entry / f"{name}.bin").read_bytes())
    ids = np.fromfile(entry / "sparse.bin", dtype=meta["sparse_dtype"])
    ids.astype(np.int64).tofile(folder / "sparse.bin")
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def polars_passes(path: Path, repeats: int) -> str:
    """polars' CSV split of the file (all columns as strings), and with its own hash of the 26 id
    columns and a cast of the 13 integers: rows per CPU second, medians."""
    try:
        import polars as pl
    except ImportError:
        return "not installed (pip install polars to compare)"
    names = [f"c{i}" for i in range(40)]
    split_only, with_hash = [], []
    for _ in range(repeats):
        began = time.process_time()
        frame = pl.read_csv(path, separator="\t", has_header=False, new_columns=names, quote_char=None,
                            schema_overrides={n: pl.String for n in names})
        split_only.append(time.process_time() - began)
        frame.select([pl.col(f"c{i}").hash(seed=0) % 99_999 for i in range(14, 40)]
                     + [pl.col(f"c{i}").cast(pl.Int64, strict=False) for i in range(1, 14)])
        with_hash.append(time.process_time() - began)
    rows = len(frame)
    return (f"split only {rows / statistics.median(split_only) / 1e6:.3f} M rows per CPU second; with its own hash "
            f"and integer cast {rows / statistics.median(with_hash) / 1e6:.3f} M (polars {pl.__version__})")


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

    os.environ.setdefault("POLARS_MAX_THREADS", "1")
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

    print("(a) parse + hash, one complete pass, one thread: rows parsed per second")
    began = time.perf_counter()
    from recpim.arch.data import kernel  # noqa: F401  (numba import and its cached machine code, paid once)

    print(f"  numba import + kernel load: {time.perf_counter() - began:.2f} s once per process (compiling it "
          "afresh, the first time on a machine: a few seconds)")
    one_pass(f"criteo:{path}", "compiled")  # warm: the kernel's first call
    figures = {}
    for reader, file, rows in (("compiled", path, args.rows), ("arrow", path, args.rows)):
        LAST_CPU_S.clear()
        passes = [one_pass(f"criteo:{file}", reader) for _ in range(args.repeats)]
        wall = statistics.median(s for s, _ in passes)
        figures[reader] = (rows / wall, rows / statistics.median(LAST_CPU_S))
        runs = ", ".join(f"{s:.2f}" for s, _ in passes)
        print(f"  {reader:8}: {rows / wall / 1e6:.3f} M rows/s wall ({size_mb / wall:.0f} MB/s), per CPU second "
              f"{figures[reader][1] / 1e6:.3f} M; median of {args.repeats}: {runs} s")
    LAST_CPU_S.clear()
    small = generate_criteo(args.workdir / f"criteo_{args.python_rows}.tsv", args.python_rows)
    python = [one_pass(f"criteo:{small}", "python") for _ in range(args.repeats)]
    python_s = statistics.median(s for s, _ in python)
    print(f"  python  : {args.python_rows / python_s / 1e6:.3f} M rows/s wall (the per-row reference, "
          f"{args.python_rows:,} rows), per CPU second {args.python_rows / statistics.median(LAST_CPU_S) / 1e6:.3f} M")
    print(f"  compiled / arrow: {figures['compiled'][0] / figures['arrow'][0]:.2f}x wall, "
          f"{figures['compiled'][1] / figures['arrow'][1]:.2f}x per CPU second")
    print(f"  polars  : {polars_passes(path, args.repeats)}")
    print(f"  target  : >= 1 M rows/s on one core (per CPU second) -> "
          f"{'met' if figures['compiled'][1] >= 1e6 else 'NOT met'}")

    print("(b) from the memmap cache: train rows delivered per second (80 % of the file's rows)")
    cache = args.workdir / "cache"
    one_pass(f"criteo:{path}", "compiled", cache_dir=cache)  # writes the cache (or finds it)
    from recpim.arch.data.datasets import open_dataset

    entry = open_dataset(f"criteo:{path}", cache_dir=cache, max_cached_rows=0)._source.entry(20)
    old = v1_copy(entry, args.workdir / "cache-v1-layout")
    results = {}
    for label, run in (("v2 (compiled)", lambda: one_pass(f"criteo:{path}", "compiled", cache_dir=cache)),
                       ("v1 replayed", lambda: replayed_v1_cache_pass(old))):
        LAST_CPU_S.clear()
        passes = [run() for _ in range(max(args.repeats, 5))]
        wall, delivered = statistics.median(s for s, _ in passes), passes[0][1]
        results[label] = (delivered / wall, delivered / statistics.median(LAST_CPU_S))
        print(f"  {label:14}: {delivered / wall / 1e6:.2f} M train rows/s wall, per CPU second "
              f"{results[label][1] / 1e6:.2f} M ({delivered:,} rows delivered of {args.rows:,}; median of "
              f"{len(passes)})")
    new, base = results["v2 (compiled)"], results["v1 replayed"]
    print(f"  v2 / v1: {new[0] / base[0]:.2f}x wall, {new[1] / base[1]:.2f}x per CPU second; target >= 10 M rows/s "
          f"(per CPU second) -> {'met' if new[1] >= 1e7 else 'NOT met'}")

    if args.memory_rows:
        print("(c) peak RSS of one streamed pass, compiled reader (fresh process each)")
        big = generate_criteo(args.workdir / f"criteo_{args.memory_rows}.tsv", args.memory_rows)
        for rows, file in ((args.rows, path), (args.memory_rows, big)):
            figures = child_peak_rss(f"criteo:{file}", "compiled")
            print(f"  {rows:>10,} rows: peak RSS {figures['peak_rss_mib']:.0f} MiB, "
                  f"{rows / figures['seconds'] / 1e6:.3f} M rows/s")


if __name__ == "__main__":
    main()

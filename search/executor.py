"""One executor interface for parallel work (sweep points, search candidates).

`make_executor("auto" | "local" | "serial" | "ray", workers=None, address=None)` returns an Executor:

    with make_executor("local", workers=2) as executor:
        for index, result in executor.map(fn, items):   # completion order, with the item's index
            ...

`map` yields `(index, result)` pairs in the order the work FINISHES (so a progress bar moves and
finished work can be saved at once); `index` is the item's position in `items`. `map_ordered`
collects them back into input order. If `fn` raises, `map` cancels what has not started and
re-raises the first error. `map(fn, items, stop=check)` calls `check()` after yielding each batch of
finished work (at least every POLL_S seconds); when it raises (recpim.interrupts.StopRequested
after Ctrl-C), nothing more is dispatched, and leaving the executor's `with` block on a
KeyboardInterrupt kills the workers instead of waiting for the work they hold.

Workers die with their parent: each local worker ignores SIGINT and SIGTERM (the parent decides
what an interrupt means; a Ctrl-C reaches the whole process group, and so does the SIGTERM of
`timeout`, `systemctl stop` or Slurm's `scancel`; the parent then kills its workers), asks Linux
for SIGKILL when its parent dies (PR_SET_PDEATHSIG), and runs a watchdog thread that exits when
the parent is gone (other systems, or a parent killed before the request took effect).

Backends:
- serial: in this process, one item after another (tests, debugging, pdb).
- auto: serial while that is quicker, a local pool once it is not. It runs items in this process,
  timing them; as soon as the items left would take longer one after another than a pool's start-up
  (POOL_START_S, measured: spawned workers import recpim's stack and prepare their first item) plus
  their share on `workers` processes, it hands the rest to a local pool. A few cheap points never pay
  for a pool; a long sweep of dear points pays for it after its first point. Results do not depend
  on the choice (the same function runs on the same items).
- local: a process pool with the "spawn" start method. spawn never copies a parent that holds
  threads (torch, rich) into a child, so it is safe everywhere; the price is that `fn` and the
  items must be picklable: a module-level function and plain data.
- ray: Ray tasks on an existing cluster (`ray.init(address=...)`; address None means "auto":
  RAY_ADDRESS or a cluster started on this machine with `ray start --head`). Ray is the optional
  extra `recpim[ray]` and is imported only here, only when asked for. `gpus_per_worker` reserves
  that many GPUs (a fraction shares one) for each task, so Ray places tasks only where GPUs are
  free and sets CUDA_VISIBLE_DEVICES for them; the task's own `--device` then picks the GPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

from recpim.errors import ConfigError, RecpimError

Backend = Literal["auto", "local", "ray", "serial"]
BACKENDS: tuple[str, ...] = ("auto", "local", "ray", "serial")


POLL_S = 0.25               # how often map() checks `stop` while work is running
WATCHDOG_S = 1.0            # how often a worker checks that its parent is alive
PR_SET_PDEATHSIG = 1        # linux/prctl.h
# What a local pool costs before its workers return their first results: spawning processes that import
# recpim's mapping and cost stack and lower the model. benchmarks/bench_speed.py ("2-worker pool start-up")
# measured 3.7 s on 2 cores shared with other jobs (load average 8), when one VGG-8 sweep point took 28 ms
# in the sweep's own process; a quiet machine starts a pool in about a third of that. Too high a guess
# keeps a sweep serial a little longer than needed, too low a guess pays for a pool that does not repay it.
POOL_START_S = 2.0


class ExecutorError(RecpimError):
    """An execution backend is unavailable (Ray missing, cluster unreachable)."""


class WorkerDied(ExecutorError):
    """A local worker process ended abruptly (killed by a signal, or by the kernel for memory)."""


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_S)
        if os.getppid() != parent:      # re-parented: the driver is gone, and so is any use of our work
            os._exit(1)


def worker_init(parent: int) -> None:
    """Initializer of every local worker process (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl: the watchdog remains
            pass
    if os.getppid() != parent:          # the parent died before prctl: no signal will come
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="recpim-parent-watchdog").start()


class Executor:
    """Runs `fn(item)` for each item; use as a context manager so workers are always released."""

    backend: str = "?"

    def __init__(self, workers: int):
        self.workers = workers

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            stop: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def map_ordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """All results in the order of `items`."""
        items = list(items)
        results: list[Any] = [None] * len(items)
        for index, result in self.map(fn, items):
            results[index] = result
        return results

    def close(self) -> None:
        """Release workers; pending work is cancelled."""

    def terminate(self) -> None:
        """Release workers at once, killing the work they hold (after an interrupt)."""
        self.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type | None, *exc_info: object) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.terminate()
        else:
            self.close()


class SerialExecutor(Executor):
    backend = "serial"

    def __init__(self) -> None:
        super().__init__(workers=1)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            stop: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(items):
            if stop is not None:
                stop()
            yield index, fn(item)


class LocalExecutor(Executor):
    """A spawn-context process pool, created on first use and kept until close()."""

    backend = "local"

    def __init__(self, workers: int):
        super().__init__(workers)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=worker_init, initargs=(os.getpid(),))
        return self._pool

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            stop: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
        pool = self._get_pool()
        index_of: dict[Future, int] = {pool.submit(fn, item): index for index, item in enumerate(items)}
        pending = set(index_of)
        try:
            while pending:
                # Polled, so `stop` is heard within POLL_S even while every worker is busy.
                done, pending = wait(pending, timeout=POLL_S if stop else None, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=index_of.__getitem__):
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise WorkerDied(f"a worker process ended abruptly while it held item {index_of[future]} "
                                         "(killed by a signal, or by the kernel when memory ran out); the work "
                                         "finished before it is kept") from None
                    yield index_of[future], result
                if stop is not None:
                    stop()
        finally:
            for future in pending:   # an error, an interrupt or a consumer that stopped early
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def terminate(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        # ProcessPoolExecutor has no public kill before Python 3.14 (terminate_workers); its
        # processes are in `_processes` in every version that recpim supports.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=5)


class AutoExecutor(Executor):
    """Serial in this process while that is quicker, then a local pool (see the module docs)."""

    backend = "auto"

    def __init__(self, workers: int, pool_start_s: float = POOL_START_S):
        super().__init__(workers)
        self.pool_start_s = pool_start_s
        self._local: LocalExecutor | None = None
        self.serial_items = 0          # how many items ran in this process (the rest went to the pool)

    def pool_pays(self, mean_s: float, left: int) -> bool:
        """Whether `left` items of `mean_s` seconds each finish sooner on a pool than one after another."""
        if self.workers < 2 or left < 2:
            return False
        return self.pool_start_s + mean_s * left / min(self.workers, left) < mean_s * left

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            stop: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
        items = list(items)
        spent = 0.0
        for index, item in enumerate(items):
            if index and self.pool_pays(spent / index, len(items) - index):
                self._local = self._local or LocalExecutor(self.workers)
                for position, result in self._local.map(fn, items[index:], stop):
                    yield index + position, result
                return
            if stop is not None:
                stop()
            start = time.perf_counter()
            result = fn(item)
            spent += time.perf_counter() - start
            self.serial_items += 1
            yield index, result

    def close(self) -> None:
        if self._local is not None:
            self._local.close()

    def terminate(self) -> None:
        if self._local is not None:
            self._local.terminate()


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """The one Ray task: calls `fn` (passed as an argument, so builtins and partials work too)."""
    return fn(item)


class RayExecutor(Executor):
    """Ray tasks on an existing cluster. `workers` caps the tasks in flight (None: no cap)."""

    backend = "ray"

    def __init__(self, workers: int | None, address: str | None, gpus_per_worker: float = 0.0):
        super().__init__(workers or 0)
        self.gpus_per_worker = gpus_per_worker
        try:
            import ray
        except ImportError:
            raise ExecutorError(
                "backend 'ray' needs Ray, which is not installed; install the extra with "
                "`pip install 'recpim[ray]'` (or `pip install ray`), or use --backend local"
            ) from None
        self._ray = ray
        self.address = address or "auto"
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ExecutorError(
                    f"cannot connect to a Ray cluster at '{self.address}': {error}. Start one with "
                    "`ray start --head` and pass its address (host:port), or use --backend local"
                ) from None
        self._remote: Any = None

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any],
            stop: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        if self._remote is None:
            self._remote = ray.remote(num_gpus=self.gpus_per_worker)(_call) if self.gpus_per_worker else \
                ray.remote(_call)
        remote = self._remote
        queue = list(enumerate(items))
        cap = self.workers or len(queue)
        in_flight: dict[Any, int] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < cap:
                    index, item = queue.pop(0)
                    in_flight[remote.remote(fn, item)] = index
                done, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_S if stop else None)
                for ref in done:
                    yield in_flight.pop(ref), ray.get(ref)
                if stop is not None:
                    stop()
        finally:
            for ref in in_flight:
                ray.cancel(ref)

    def close(self) -> None:
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()


def default_workers() -> int:
    """Worker processes for the local backend: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_executor(backend: str = "local", workers: int | None = None, address: str | None = None,
                  gpus_per_worker: float = 0.0) -> Executor:
    """An executor for `backend` ('auto', 'local', 'ray' or 'serial').

    workers: processes for 'local' and 'auto' (default: the usable CPUs), a cap on tasks in flight for
    'ray' (default: none), ignored by 'serial'. address: the Ray cluster (host:port or 'auto'); only
    'ray' takes it. gpus_per_worker: GPUs Ray reserves per task (0: none); only 'ray' takes it.
    """
    if gpus_per_worker < 0 or (gpus_per_worker and backend != "ray"):
        raise ConfigError("executor", [("gpus_per_worker", f"got {gpus_per_worker}; allowed: >= 0, and only with "
                                                           "the 'ray' backend (local workers share this machine's "
                                                           "devices through --device)")])
    if backend not in BACKENDS:
        raise ConfigError("executor", [("backend", f"got {backend!r}; allowed: {', '.join(BACKENDS)}")])
    if workers is not None and workers < 1:
        raise ConfigError("executor", [("workers", f"got {workers}; allowed: an integer >= 1")])
    if address is not None and backend != "ray":
        raise ConfigError("executor", [("address", f"only the 'ray' backend takes an address, not {backend!r}")])
    if backend == "serial":
        return SerialExecutor()
    if backend == "local":
        return LocalExecutor(workers or default_workers())
    if backend == "auto":
        return AutoExecutor(workers or default_workers())
    return RayExecutor(workers, address, gpus_per_worker)

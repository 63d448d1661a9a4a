"""`recpim supernet train --nproc N`: start N data-parallel ranks on this machine and stay in charge of them.

What torchrun's standalone mode did here, and why recpim launches its ranks itself:
- options are checked once, here, before any rank starts (a bad --device, --precision or --batch-size
  used to print N copies of the same error glued together, then torchrun's report), and the ranks
  are refused beyond this process's cores (CPU) or GPUs, and warned about beyond its memory;
- a terminal's Ctrl-C, and the SIGTERM of `timeout`, `systemctl stop` or Slurm, reach the launcher
  alone (the ranks run in their own process group); it forwards the signal to every rank, the ranks
  agree at their next step boundary to stop (arch/train/distributed.py, `agree_to_stop`), rank 0
  saves, and the launcher returns only when every rank has ended: its "saved" is true when printed,
  and no rank lives on to race a `--resume` (torchrun returned while rank 0 was still writing);
- a rank that dies (killed, out of memory) ends the run with one line naming it; the surviving
  ranks' collectives fail, and rank 0, when it survives, saves the last completed step first;
- every rank dies with the launcher (PR_SET_PDEATHSIG: SIGTERM, so rank 0 still saves).

The ranks find each other over TCP on 127.0.0.1 (MASTER_ADDR/MASTER_PORT, RANK, WORLD_SIZE,
LOCAL_RANK: the environment torchrun would give them), so `torchrun ... -m recpim supernet train`
runs the very same code on many machines.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recpim.console import notes
from recpim.errors import ConfigError

POLL_S = 0.2
# After one rank died, how long the others get to notice (their collective fails) and save.
GRACE_S = 600.0
# Below this much available memory per rank (torch's runtime, the model, its optimizer state and a
# batch in flight) the launcher warns that the ranks may not fit.
MIN_MEMORY_PER_RANK_GB = 1.0
PR_SET_PDEATHSIG = 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _available_memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1e6
    except OSError:  # pragma: no cover - not Linux
        return None
    return None


def check_ranks(nproc: int, device: str, precision: str, batch_size: int) -> None:
    """Refuse what every rank would refuse, and more ranks than this machine can run (ConfigError
    naming the option); warn when the ranks may not fit in memory."""
    from recpim.arch.train.device import PrecisionPolicy, resolve_device

    torch_device = resolve_device(device)
    PrecisionPolicy(torch_device, precision)
    if batch_size < nproc or batch_size % nproc:
        raise ConfigError("--batch-size", [(str(batch_size), f"the global batch is split evenly over the "
                                                             f"{nproc} ranks of --nproc; allowed: a multiple of "
                                                             f"{nproc}")])
    if torch_device.type == "cuda":
        import torch

        if nproc > torch.cuda.device_count():
            raise ConfigError("--nproc", [(str(nproc), f"one rank per GPU; this machine has "
                                                       f"{torch.cuda.device_count()} CUDA device(s)")])
    elif nproc > _cores():
        raise ConfigError("--nproc", [(str(nproc), f"this process may use {_cores()} CPU core(s); each rank is a "
                                                   f"whole training process, so more ranks than cores only wait "
                                                   f"on each other; allowed: at most {_cores()}")])
    memory = _available_memory_gb()
    if memory is not None and nproc * MIN_MEMORY_PER_RANK_GB > memory:
        notes.print(f"[yellow]warning[/]: --nproc {nproc}: {memory:.1f} GB of memory is available, under "
                    f"{MIN_MEMORY_PER_RANK_GB:g} GB per rank; every rank holds the whole model and its optimizer "
                    "state, so the ranks may run out of memory")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In each rank before exec: SIGTERM when the launcher dies (the rank then saves and ends)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover
            pass


def _ended_by(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:  # pragma: no cover
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def launch_ranks(nproc: int, argv: list[str], program: list[str] | None = None) -> int:
    """Run `python -m recpim ARGV` (or `PROGRAM ARGV`) as `nproc` ranks (see the module docstring);
    the exit status: 0, 128 + the signal after an interrupt, or rank 0's (else 1) when a rank failed."""
    program = program or [sys.executable, "-m", "recpim"]
    port = _free_port()
    logs = Path(tempfile.mkdtemp(prefix="recpim-ranks-"))
    ranks: list[subprocess.Popen] = []
    base = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(nproc),
            "LOCAL_WORLD_SIZE": str(nproc)}
    base.setdefault("OMP_NUM_THREADS", "1")     # as torchrun sets it: N ranks share the cores
    received: list[int] = []

    def forward(signum: int, frame: object) -> None:
        received.append(signum)
        for rank in ranks:
            if rank.poll() is None:
                rank.send_signal(signum)
        if len(received) == 1:
            notes.print(f"{signal.Signals(signum).name}: the ranks stop at their next step boundary and rank 0 "
                        "saves; waiting for them (a second signal stops them without saving)")

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        for rank in range(nproc):
            env = {**base, "RANK": str(rank), "LOCAL_RANK": str(rank)}
            # rank 0 speaks (progress, the result); the others' output is kept in a file, shown if they fail
            log = None if rank == 0 else open(logs / f"rank{rank}.log", "wb")   # noqa: SIM115 - closed below
            ranks.append(subprocess.Popen([*program, *argv], env=env, start_new_session=True,
                                          preexec_fn=_die_with_parent, stdout=log, stderr=log))
            if log is not None:
                log.close()
        notes.print(f"launched {nproc} ranks on 127.0.0.1:{port} (pids {', '.join(str(r.pid) for r in ranks)})")
        dead_since: float | None = None
        while any([rank.poll() is None for rank in ranks]):     # a list: every rank polled
            failed = [(number, rank) for number, rank in enumerate(ranks)
                      if rank.returncode is not None and rank.returncode != 0 and not received]
            if failed and dead_since is None:
                dead_since = time.monotonic()
                number, rank = failed[0]
                notes.print(f"[red]rank {number}[/] (pid {rank.pid}) ended ({_ended_by(rank.returncode)}); the other "
                            f"ranks stop when their next collective fails, rank 0 saving the last completed step")
            if dead_since is not None and time.monotonic() - dead_since > GRACE_S:
                for number, rank in enumerate(ranks):
                    if rank.poll() is None:
                        notes.print(f"rank {number} did not end within {GRACE_S:.0f} s of the other's end: killed")
                        rank.kill()
            time.sleep(POLL_S)
        return _outcome(ranks, received, logs)
    finally:
        for rank in ranks:            # an exception here (not a signal: those are forwarded) leaves no rank
            if rank.poll() is None:
                rank.kill()
                rank.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for log in logs.glob("*.log"):
            log.unlink()
        logs.rmdir()


def _outcome(ranks: list[subprocess.Popen], received: list[int], logs: Path) -> int:
    codes = [rank.returncode for rank in ranks]
    if received:
        return 128 + received[0]
    if all(code == 0 for code in codes):
        return 0
    for number, code in enumerate(codes):
        if number and code != 0 and codes[0] == 0:   # rank 0 said nothing wrong: show the other's last lines
            text = (logs / f"rank{number}.log").read_bytes().decode("utf-8", "replace").strip().splitlines()
            notes.print(f"rank {number} ({_ended_by(code)}): " + " | ".join(text[-3:]), markup=False)
    summary = ", ".join(f"rank {number}: {_ended_by(code)}" for number, code in enumerate(codes) if code != 0)
    notes.print(f"the data-parallel run failed ({summary})")
    return codes[0] if codes[0] not in (0, None) and codes[0] > 0 else 1

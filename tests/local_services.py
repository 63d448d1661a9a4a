"""Services the tests start on 127.0.0.1 and stop afterwards: a free port, a real Ray head."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Ray maps "127.0.0.1" to the machine's outward address unless told this is a single-machine
# cluster; usage stats would try to reach the network.
RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _wait_for_port(port: int, process: subprocess.Popen, timeout_s: float) -> None:
    """Wait until the Ray head's GCS accepts connections: `ray start --block` returns at once, and on
    a loaded machine a driver that connects before the head is up gives up after 5 seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`ray start --head` exited with {process.returncode} before its port {port} opened")
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"the Ray head did not open port {port} within {timeout_s:.0f} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def local_ray_head(num_cpus: int) -> Iterator[tuple[str, dict[str, str]]]:
    """Start `ray start --head` on a free loopback port; yields (address, env for drivers). Skips the
    test when Ray or its command is missing."""
    pytest.importorskip("ray", reason="Ray is not installed (optional extra recpim[ray])")
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip(f"the ray command is not beside {sys.executable}")
    env = {**os.environ, **RAY_LOOPBACK_ENV}
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="rpray")   # short: Ray's socket paths must stay under 108 chars
    # --block keeps `ray start` in the foreground: SIGTERM to that one process drains the node and
    # stops the processes it started, and nothing else on the machine.
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         f"--num-cpus={num_cpus}", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, head, timeout_s=180.0)
        yield f"127.0.0.1:{port}", env
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)   # the group this helper created for the head
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)

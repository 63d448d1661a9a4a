"""The executor interface: serial, local process pool and a real Ray head on 127.0.0.1.

Functions mapped here are module-level so spawned workers can import them (spawn carries the
parent's sys.path, which holds this folder under pytest)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest
from local_services import local_ray_head

from recpim.errors import ConfigError
from recpim.search.executor import BACKENDS, ExecutorError, make_executor


def sleep_then_return(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("three is not allowed")
    return value


def worker_pid(_: int) -> int:
    return os.getpid()


@pytest.mark.parametrize("backend", ["serial", "local", "auto"])
def test_map_yields_every_index_once_with_its_result(backend):
    with make_executor(backend, workers=2) as executor:
        pairs = list(executor.map(math.factorial, range(10)))
    assert sorted(index for index, _ in pairs) == list(range(10))
    assert all(result == math.factorial(index) for index, result in pairs)


def test_map_ordered_restores_input_order():
    with make_executor("local", workers=2) as executor:
        assert executor.map_ordered(math.factorial, [5, 0, 3]) == [120, 1, 6]


def test_local_map_yields_in_completion_order_and_runs_in_other_processes():
    with make_executor("local", workers=2) as executor:
        order = [index for index, _ in executor.map(sleep_then_return, [0.8, 0.0])]
        pids = set(executor.map_ordered(worker_pid, range(4)))
    assert order == [1, 0]            # the quick item finishes first
    assert os.getpid() not in pids


@pytest.mark.parametrize("backend", ["serial", "local", "auto"])
def test_an_error_in_fn_is_raised_by_map(backend):
    with make_executor(backend, workers=2) as executor, pytest.raises(ValueError, match="three"):
        list(executor.map(fail_on_three, range(6)))


def test_bad_arguments_are_config_errors_naming_what_is_allowed():
    with pytest.raises(ConfigError, match="allowed: auto, local, ray, serial"):
        make_executor("threads")
    with pytest.raises(ConfigError, match="workers"):
        make_executor("local", workers=0)
    with pytest.raises(ConfigError, match="only the 'ray' backend takes an address"):
        make_executor("local", address="127.0.0.1:6379")
    assert set(BACKENDS) == {"auto", "local", "ray", "serial"}


def test_auto_keeps_cheap_items_in_this_process():
    with make_executor("auto", workers=2) as executor:
        pids = executor.map_ordered(worker_pid, range(20))
        assert executor.serial_items == 20 and executor._local is None   # no pool was started
    assert set(pids) == {os.getpid()}


def test_auto_hands_dear_items_to_a_pool_after_timing_the_first():
    items = [0.3] * 6
    with make_executor("auto", workers=2) as executor:
        executor.pool_start_s = 0.05          # a pool that starts at once pays for 5 items of 0.3 s
        pairs = list(executor.map(sleep_then_return, items))
        assert executor.serial_items == 1 and executor._local is not None
        pids = executor._local.map_ordered(worker_pid, range(2))
    assert sorted(index for index, _ in pairs) == list(range(6)) and all(r == 0.3 for _, r in pairs)
    assert os.getpid() not in pids


@pytest.mark.parametrize(("mean_s", "left", "workers", "pays"), [
    (0.02, 27, 2, False),     # a 28-point analytic sweep: 0.54 s left, less than the pool's start-up
    (0.5, 27, 2, True),       # the simulator: 13.5 s left, 2 + 6.75 s on two workers
    (10.0, 27, 1, False),     # one worker is never quicker than this process
    (10.0, 1, 8, False),      # one item left: nothing to share
    (1.0, 5, 2, True),        # 2 + 2.5 < 5
    (1.0, 4, 2, False),       # 2 + 2 = 4, not < 4
])
def test_auto_switches_exactly_when_the_pool_repays_its_start_up(mean_s, left, workers, pays):
    executor = make_executor("auto", workers=workers)
    assert executor.pool_start_s == 2.0
    assert executor.pool_pays(mean_s, left) is pays


def test_ray_backend_without_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)   # makes `import ray` raise ImportError
    with pytest.raises(ExecutorError, match=r"pip install 'recpim\[ray\]'"):
        make_executor("ray")



DRIVER = """
import json, math, sys
from recpim.search.executor import make_executor
with make_executor("ray", workers=2, address=sys.argv[1]) as executor:
    pairs = list(executor.map(math.factorial, range(8)))
    ordered = executor.map_ordered(math.isqrt, [16, 81, 2])
print(json.dumps({"pairs": pairs, "ordered": ordered}))
"""


@pytest.mark.slow
def test_ray_backend_runs_a_map_on_a_real_local_head():
    with local_ray_head(num_cpus=1) as (address, env):
        driver = subprocess.run([sys.executable, "-c", DRIVER, address], env=env, capture_output=True, text=True,
                                timeout=120)
        assert driver.returncode == 0, driver.stderr[-3000:]
        data = json.loads(driver.stdout.strip().splitlines()[-1])
        assert sorted(tuple(pair) for pair in data["pairs"]) == [(i, math.factorial(i)) for i in range(8)]
        assert data["ordered"] == [4, 9, 1]

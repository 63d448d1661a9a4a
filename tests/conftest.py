"""Shared fixtures: a realistic CostReport built by the cost engines on a hand-made pipeline
(embedding lookups, a stack of crossbar layers and a digital interaction), for report tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from recpim.pim.analytic import analyze
from recpim.pim.des import simulate
from recpim.pim.timing import ChipTiming
from recpim.pim.workload import (
    ACTIVITY_KEYS,
    ActionEnergies,
    Activity,
    PipelineWorkload,
    Stage,
    StageKind,
    TileBuffer,
    Transfer,
)

# Hypothesis profiles. "random" (local runs): new examples every run, so a laptop keeps exploring.
# "ci" (selected when $CI is set): derandomize=True, the examples follow from each test's source,
# so a landing never fails on an example no earlier run saw (and a failure reproduces exactly).
# "deep" (`make test-deep`): random, with DEEP_FACTOR times each test's examples, for nightly runs.
# $HYPOTHESIS_PROFILE names one explicitly.
DEEP_FACTOR = 20
settings.register_profile("random", deadline=None)
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("deep", deadline=None, max_examples=100 * DEEP_FACTOR, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "random")
settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_collection_modifyitems(config, items):
    """Mark every property test `property` (so `pytest -m property` selects them) and, under the deep
    profile, multiply the examples a test asks for in its own @settings (which a profile cannot)."""
    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if not getattr(test, "is_hypothesis_test", False):
            continue
        item.add_marker(pytest.mark.property)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        # A test without its own max_examples already has the deep profile's (not multiplied again).
        if HYPOTHESIS_PROFILE == "deep" and current is not None and \
                current.max_examples < settings.default.max_examples:
            test._hypothesis_internal_use_settings = settings(current,
                                                              max_examples=current.max_examples * DEEP_FACTOR)

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip is for a missing optional service (Chromium, Ray, a GPU, ../shared data), never for one
    of recpim's own modules: a skip whose reason names a recpim module, or an import of one that
    failed, is turned into a failure, so a moved module fails the suite instead of shrinking it."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if "recpim." in reason or "No module named 'recpim" in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped on recpim's own code (must fail instead): {reason}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """End every run with its skip count and each reason (the README quotes them): a skip is a test a
    reader might believe ran, so the count is printed even when it is zero."""
    skipped = terminalreporter.stats.get("skipped", [])
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.section(f"skips: {len(skipped)}", sep="-")
    for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        terminalreporter.write_line(f"{count:4d} x {reason}")

# ISAAC-like per-action energies (pJ): an 8-bit ADC conversion, a 1-bit DAC drive, a 256-bit eDRAM access...
ENERGY_PJ_PER_ACTION = {"adc_conversion": 1.5625, "dac_drive": 0.39, "cell_read": 0.0012, "sample_hold": 0.0001,
                        "shift_add": 0.05, "register_byte": 0.01, "buffer_access": 17.25, "bus_bit": 0.05,
                        "router_flit_hop": 10.0, "dram_bit": 20.0, "vector_op": 0.5,
                        "maxpool_op": 0.33, "psum_add": 0.02, "row_periphery": 0.007, "column_periphery": 0.001,
                        "embedding_cache_bit": 0.05, "dram_rank_bit": 12.0, "dram_channel_bit": 8.0,
                        "near_memory_op": 0.5, "tile_add": 0.02}
assert set(ENERGY_PJ_PER_ACTION) == set(ACTIVITY_KEYS)
ENERGIES = ActionEnergies.from_dict(ENERGY_PJ_PER_ACTION)
AREA_MM2_BY_COMPONENT = {"crossbar": 12.0, "adc": 30.0, "dac": 3.0, "buffer": 8.5, "noc": 5.0, "vector_unit": 2.5}
LEAKAGE_MW = 50.0


def _mvm(name: str, tile: int, predecessors: tuple[str, ...], k: int, n: int, vectors: int = 4) -> Stage:
    steps = 8
    return Stage(name=name, kind=StageKind.MVM, tile=tile, predecessors=predecessors, replicas=1, vectors=vectors,
                 steps_per_vector=steps, row_groups=1, conversions_per_adc_per_read=128,
                 buffers=(TileBuffer(tile, write_bits=vectors * k * 8, read_bits=vectors * k * 8),),
                 macs=k * n * vectors,
                 activity=Activity(**{"adc_conversion": vectors * steps * n, "cell_read": vectors * steps * k * n,
                           "dac_drive": vectors * steps * k, "buffer_access": vectors * (k + n) // 32}))


def pipeline(mlp_layers: int = 12) -> PipelineWorkload:
    """emb -> fc0 .. fc{n-1} (widths shrinking) with an interaction after fc1, over 3 tiles."""
    stages = [Stage(name="emb", kind=StageKind.EMBEDDING, tile=0, dram_bits=26 * 16 * 32,
                    activity=Activity(**{"dram_bit": 26 * 16 * 32}))]
    previous = "emb"
    for index in range(mlp_layers):
        k, n = max(16, 512 >> (index // 3)), max(16, 256 >> (index // 3))
        name = f"fc{index}"
        stages.append(_mvm(name, tile=index % 3, predecessors=(previous,), k=k, n=n, vectors=1 + index % 5))
        previous = name
        if index == 1:
            stages.append(Stage(name="interaction", kind=StageKind.DIGITAL, tile=1, predecessors=(previous,),
                                digital_ops=27 * 27 * 16, buffers=(TileBuffer(1, write_bits=2048, read_bits=2048),),
                                macs=27 * 27 * 8, activity=Activity(**{"vector_op": 27 * 27 * 16})))
            previous = "interaction"
    names = [s.name for s in stages]
    transfers = tuple(Transfer(p, c, 256, ((0, 1),)) for p, c in zip(names, names[1:], strict=False)
                      if stages[names.index(p)].tile != stages[names.index(c)].tile)
    return PipelineWorkload("dlrm-like", tuple(stages), transfers, tiles_used=3,
                            macs_per_inference=sum(s.macs for s in stages))


def timing() -> ChipTiming:
    return ChipTiming(cycle_ns=1 / 1.2, crossbar_read_ns=100.0, adc_conversion_ns=1 / 1.28, buffer_width_bits=256,
                      buffer_ports=1, buffer_access_ns=1 / 1.2, dac_step_ns=1 / 1.2, tile_adders=1, vector_units=2,
                      vector_ops_per_cycle=32,
                      link_bandwidth_gbps=38.4, hop_latency_ns=1.0, flit_bits=256, dram_bandwidth_gbps=25.6,
                      dram_latency_ns=50.0)


@pytest.fixture
def cost_report():
    """An analytic CostReport of the 12-layer pipeline at batch 8."""
    return analyze(pipeline(), timing(), ENERGIES, LEAKAGE_MW, AREA_MM2_BY_COMPONENT, "isaac-like",
                   batch=8)


@pytest.fixture
def des_cost_report():
    """The simulator's CostReport of the same pipeline (it has queueing waits per resource)."""
    return simulate(pipeline(), timing(), ENERGIES, LEAKAGE_MW, AREA_MM2_BY_COMPONENT, "isaac-like",
                    batch=8)[0]


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models and matmuls run far faster on one thread than on two contended cores (and the same
    on every machine); the thread count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

"""Replication of the slowest layers into spare PEs to balance the inter-layer pipeline (ISAAC).

In a layer pipeline the steady-state time per inference is set by the slowest stage. A layer with
R copies of its crossbars does its read steps R at a time (copies take different vectors of one
inference, or different inferences of a batch), so its pipeline interval is read_steps / R.
Policy "balance": repeatedly give one more copy to the layer with the largest interval (ties: the
earlier layer) while the PEs it needs are spare; stop as soon as the slowest layer cannot get one,
because copies of any other layer would no longer shorten the pipeline. Policy "none": R = 1.
"""

from __future__ import annotations

import heapq
from fractions import Fraction

from recpim.pim.config import ChipConfig

from .placement import chip_pes, pes_needed


def balance_replicas(layers: list[tuple[str, int, int]], chip: ChipConfig, policy: str) -> dict[str, int]:
    """Copies per layer for (name, crossbars of one copy, read steps per inference) in topological order.

    Never exceeds the chip's PEs (the caller has checked that one copy of each layer fits).
    """
    replicas = {name: 1 for name, _, _ in layers}
    if policy == "none" or not layers:
        return replicas
    if policy != "balance":
        raise ValueError(f"unknown replication policy {policy!r}; allowed: none, balance")
    base = {name: crossbars for name, crossbars, _ in layers}
    spare = chip_pes(chip) - sum(pes_needed(crossbars, chip) for crossbars in base.values())
    heap = [(-Fraction(steps, 1), index, name, steps) for index, (name, _, steps) in enumerate(layers)]
    heapq.heapify(heap)
    while heap:
        _, index, name, steps = heapq.heappop(heap)
        copies = replicas[name]
        # Jump straight to the copies that bring this layer below the next slowest (or as far as
        # the spare PEs allow); with ties this is one copy at a time.
        next_interval = -heap[0][0] if heap else Fraction(0)
        wanted = steps // next_interval + 1 if next_interval > 0 else None
        pes_now = pes_needed(copies * base[name], chip)
        affordable = (pes_now + spare) * chip.pe.crossbars // base[name]
        target = affordable if wanted is None else min(int(wanted), affordable)
        if target <= copies:
            break
        spare -= pes_needed(target * base[name], chip) - pes_now
        replicas[name] = target
        heapq.heappush(heap, (-Fraction(steps, target), index, name, steps))
    return replicas

"""Replication of the slowest layers into spare PEs to balance the inter-layer pipeline (ISAAC).

In a layer pipeline the steady-state time per inference is set by the slowest stage. A layer with
R copies of its crossbars splits the input vectors of one inference between its copies, so its
interval is ceil(vectors / R) x the read steps of one vector; more copies than vectors per inference
would sit idle and are never made. Policy "balance": repeatedly give the layer with the largest
interval (ties: the earlier layer) the copies that bring it below the next slowest, while the PEs
they need are spare; stop as soon as the slowest layer cannot be shortened, because copies of any
other layer would no longer shorten the pipeline. Policy "none": R = 1.
"""

from __future__ import annotations

import heapq

from recpim.pim.config import ChipConfig

from .placement import chip_pes, pes_needed


def balance_replicas(layers: list[tuple[str, int, int, int]], chip: ChipConfig, policy: str) -> dict[str, int]:
    """Copies per layer for (name, crossbars of one copy, read steps per vector, vectors per
    inference) in topological order. Never exceeds the chip's PEs (the caller has checked that one
    copy of each layer fits) nor a layer's vectors."""
    replicas = {name: 1 for name, *_ in layers}
    if policy == "none" or not layers:
        return replicas
    if policy != "balance":
        raise ValueError(f"unknown replication policy {policy!r}; allowed: none, balance")
    count = len(layers)
    base = [crossbars for _, crossbars, _, _ in layers]
    steps_of = [steps for _, _, steps, _ in layers]
    vectors_of = [vectors for _, _, _, vectors in layers]
    copies_of = [1] * count
    spare = chip_pes(chip) - sum(pes_needed(crossbars, chip) for crossbars in base)
    per_pe = chip.pe.crossbars
    # Heap keys -interval x count + index: the slowest interval first, ties to the earlier layer (the
    # order of (-interval, index) pairs, as one int: no tuple per copy decision).
    heap = [-steps * vectors * count + index for index, (_, _, steps, vectors) in enumerate(layers)]
    heapq.heapify(heap)
    while heap:   # (ceil_div, pes_needed, min and max written out: this loop runs once per copy decision)
        index = heapq.heappop(heap) % count
        steps, vectors, copies, crossbars = steps_of[index], vectors_of[index], copies_of[index], base[index]
        # The fewest copies that bring this layer below the next slowest interval (at most one copy
        # per vector), limited by the spare PEs.
        next_interval = -(heap[0] // count) if heap else 0
        if next_interval:
            vectors_per_copy_wanted = -(-next_interval // steps) - 1
            wanted = -(-vectors // vectors_per_copy_wanted) if vectors_per_copy_wanted > 1 else vectors
            if wanted > vectors:
                wanted = vectors
        else:
            wanted = vectors
        pes_now = -(-copies * crossbars // per_pe)
        affordable = (pes_now + spare) * per_pe // crossbars
        target = wanted if wanted < affordable else affordable
        if target <= copies or -(-vectors // target) == -(-vectors // copies):
            break
        spare -= -(-target * crossbars // per_pe) - pes_now
        copies_of[index] = target
        heapq.heappush(heap, steps * (-vectors // target) * count + index)
    return {name: copies for (name, *_), copies in zip(layers, copies_of, strict=True)}

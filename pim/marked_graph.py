"""The analytic model's pipeline as a marked graph: the stage DAG in index form, the longest paths
that bound the period of a double-buffered handoff, and the batch followed inference by inference.

Each stage serves one inference at a time; a producer may be at most HANDOFF_SLOTS inferences ahead
of each consumer. Every float here is formed by the same additions, in the same order, as the
written-out recursions these replace (tests/analytic_reference.py; a hypothesis test holds them
equal bit for bit on random DAGs): a max is exact in any order, a sum is not, so only the maxima are
taken over numpy rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recpim.pim.workload import PipelineWorkload
from recpim.units import ceil_div

HANDOFF_SLOTS = 2          # double-buffered handoff between layers
EXACT_INFERENCES = 32      # inferences the batch recursion follows exactly before extrapolating
MAX_CYCLICITY = 4          # periodic regimes repeating every 1..4 inferences are recognised
_TOLERANCE = 1e-9          # relative and absolute, np.allclose's test for "the same advance"
_FEW_INPUTS = 3            # a join of more producers reduces their gathered rows in one numpy call


@dataclass(frozen=True)
class StageGraph:
    """The stage DAG (stages in topological order) with each stage's time and each edge's transfer delay."""

    names: list[str]
    times_ns: list[float]
    inputs: list[tuple[tuple[int, float], ...]]   # per stage: (producer, transfer delay ns), predecessor order
    edges: list[tuple[int, int]]                  # (producer, consumer), in stage then predecessor order
    # A stage's bounds from earlier inferences: itself one inference back and each consumer two back,
    # as indices into the two history rows [b - 2, b - 1] laid end to end, one segment per stage.
    earlier: np.ndarray
    earlier_starts: np.ndarray

    @classmethod
    def build(cls, workload: PipelineWorkload, stage_times: dict[str, float],
              transfer_ns: dict[tuple[str, str], float]) -> StageGraph:
        names = [stage.name for stage in workload.stages]
        index = {name: i for i, name in enumerate(names)}
        size = len(names)
        consumers: list[list[int]] = [[] for _ in names]
        inputs: list[tuple[tuple[int, float], ...]] = []
        edges: list[tuple[int, int]] = []
        delays: dict[str, dict[str, float]] = {}   # consumer -> producer -> transfer time (most edges have none)
        for (producer, consumer), ns in transfer_ns.items():
            delays.setdefault(consumer, {})[producer] = ns
        for i, stage in enumerate(workload.stages):
            if not stage.predecessors:
                inputs.append(())
                continue
            into = delays.get(stage.name)
            if into is None:
                own = tuple([(index[p], 0.0) for p in stage.predecessors])
            else:
                own = tuple([(index[p], into.get(p, 0.0)) for p in stage.predecessors])
            inputs.append(own)
            for p, _ in own:
                consumers[p].append(i)
                edges.append((p, i))
        earlier: list[int] = []
        starts = []
        for i, after in enumerate(consumers):
            starts.append(len(earlier))
            earlier.append(size + i)
            earlier += after
        return cls(names, [stage_times[name] for name in names], inputs, edges,
                   np.array(earlier, dtype=np.intp), np.array(starts, dtype=np.intp))

    def handoff_lengths_ns(self) -> np.ndarray:
        """Per edge P -> C, the longest path from P's start to C's end (P's and C's times included).
        One forward pass in topological order fills to_stage[v, p] (the longest path p -> v) for all
        p at once (contiguous numpy rows, written in place); a join takes the maximum of its
        producers' rows, each plus its delay, in one reduction."""
        size = len(self.names)
        to_stage = np.full((size, size), -np.inf)
        spare = np.empty(size)
        row = list(to_stage)   # views of its rows
        for v, (inputs, time_ns) in enumerate(zip(self.inputs, self.times_ns, strict=True)):
            out = row[v]
            if len(inputs) > _FEW_INPUTS:   # many producers: their rows gathered and reduced at once
                gathered = to_stage[[p for p, _ in inputs]]
                if any(delay for _, delay in inputs):
                    gathered += np.array([delay for _, delay in inputs])[:, None]
                gathered.max(axis=0, out=out)
            elif inputs:
                (p, delay), *others = inputs
                if delay:
                    np.add(row[p], delay, out=out)
                elif others:
                    out[:] = row[p]
                else:   # x + 0.0 is x: the path plus the stage's time, in one step
                    np.add(row[p], time_ns, out=out)
                    out[v] = time_ns
                    continue
                for p, delay in others:
                    if delay:
                        np.maximum(out, np.add(row[p], delay, out=spare), out=out)
                    else:
                        np.maximum(out, row[p], out=out)
            else:
                out[v] = time_ns
                continue
            out += time_ns
            out[v] = time_ns
        if not self.edges:
            return np.empty(0)
        producers, consumers = zip(*self.edges, strict=True)
        return to_stage[list(consumers), list(producers)]

    def edge_name(self, edge: int) -> str:
        p, c = self.edges[edge]
        return f"handoff {self.names[p]}->{self.names[c]}"

    def batch_ns(self, batch: int, period_ns: float) -> tuple[float, float]:
        """(fill, makespan): when the last stage finishes the first inference entering an empty
        pipeline at t = 0 (the longest path through the DAG) and when it finishes the batch,
        without contention on shared resources: the pipeline as a marked graph, followed inference
        by inference (max-plus recursion). Inference b starts at a stage once its inputs have
        arrived, the stage has finished b - 1, and every consumer has freed a handoff slot by
        finishing b - 2. Such a recursion becomes periodic:
        once every stage advances by the same amounts over k inferences twice in a row
        (k <= MAX_CYCLICITY), the rest of the batch is extrapolated exactly; past EXACT_INFERENCES
        it adds `period_ns` (the largest stage or handoff bound) per inference.

        The bounds from earlier inferences come first, for all stages at once (a numpy reduction
        over each stage's segment of the last two rows); the pass over the stages then only follows
        the edges within an inference. The first inference is the fill: its floor of 0.0 is no
        bound, for no duration is negative."""
        size = len(self.names)
        rows = min(batch, EXACT_INFERENCES)
        history = np.empty((rows, size))
        finished: list[list[float]] = []   # history's rows as lists
        plan = list(zip(range(size), self.inputs, self.times_ns, strict=True))
        # Per cycle length, a stage that advanced differently at the last full test (a sink to
        # start with): the test of all stages runs only when one of these advanced alike.
        probes = [size - 1] * MAX_CYCLICITY
        floor = done = [0.0] * size
        fill_ns = 0.0
        for inference in range(rows):
            if inference >= HANDOFF_SLOTS:
                last_two = history[inference - HANDOFF_SLOTS:inference].reshape(-1)
                floor = np.maximum.reduceat(last_two.take(self.earlier), self.earlier_starts).tolist()
            elif inference:
                floor = done
            done = [0.0] * size
            for i, inputs, time_ns in plan:
                start = floor[i]
                for p, delay in inputs:
                    arrival = done[p] + delay
                    if arrival > start:
                        start = arrival
                done[i] = start + time_ns
            history[inference] = done
            finished.append(done)
            if not inference:
                fill_ns = max(done, default=0.0)
            cycles = min(MAX_CYCLICITY, inference - 1)
            if cycles > 0 and inference < batch - 1 and any(
                    _same_advance(finished, inference, cycle, probes[cycle - 1]) for cycle in range(1, cycles + 1)):
                now = history[inference] - history[inference - cycles:inference][::-1]   # row k - 1: over k
                then = history[inference - 1] - history[inference - 1 - cycles:inference - 1][::-1]
                alike = np.abs(now - then) <= _TOLERANCE + _TOLERANCE * np.abs(then)
                same = alike.all(axis=1)
                if same.any():
                    cycle = int(same.argmax()) + 1
                    rounds = ceil_div(batch - 1 - inference, cycle)   # whole cycles to reach or pass the last inference
                    return fill_ns, float(np.max(history[batch - 1 - rounds * cycle] + rounds * now[cycle - 1]))
                probes[:cycles] = alike.argmin(axis=1).tolist()
        return fill_ns, max(done, default=0.0) + (batch - rows) * period_ns


def _same_advance(finished: list[list[float]], latest: int, cycle: int, stage: int) -> bool:
    """Whether `stage` advanced alike over the last `cycle` inferences and the `cycle` before the last
    one (the elementwise test of batch_ns, on one stage: when it fails, so does the test of all)."""
    if stage < 0:
        return True
    now = finished[latest][stage] - finished[latest - cycle][stage]
    then = finished[latest - 1][stage] - finished[latest - 1 - cycle][stage]
    return abs(now - then) <= _TOLERANCE + _TOLERANCE * abs(then)

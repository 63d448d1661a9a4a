"""Digital ops per output element of each vector-op kind: the one table that both the direct
lowering of a subnet (arch/model/lowering.py, arch/model/operators.py) and the torch.fx importer
(arch/graph/fx_import.py) count with, so one model costs the same whichever way it reaches the graph.

Counts are what the digital unit executes per element, in the numerically stable forms torch
runs (one op = one elementwise arithmetic step, compare or reduction step):
- add, mul, relu, sigmoid: 1 (one arithmetic step or one lookup-table activation);
- softmax: 5 = max (the running-max compare), subtract the max, exp, sum (the running add),
  divide by the sum;
- layernorm: 7 = mean (sum), subtract the mean, square, variance (sum), normalise (multiply by
  the reciprocal standard deviation), scale (gamma), shift (beta).
An attention's 1/sqrt(head dim) score scaling is not counted: it is a constant factor that a
deployment folds into the query projection's weights.
"""

from __future__ import annotations

from recpim.arch.graph.workload import OpKind

DIGITAL_OPS_PER_ELEMENT: dict[OpKind, int] = {
    OpKind.ADD: 1,
    OpKind.MUL: 1,
    OpKind.RELU: 1,
    OpKind.SIGMOID: 1,
    OpKind.SOFTMAX: 5,     # max, subtract, exp, sum, divide
    OpKind.LAYERNORM: 7,   # mean, subtract, square, variance, normalise, scale, shift
}


def ops_per_element(kind: OpKind) -> int:
    """Digital ops per output element of `kind` (0 for kinds that move data or are not elementwise)."""
    return DIGITAL_OPS_PER_ELEMENT.get(kind, 0)


def bias_ops(outputs: int, vectors: int) -> int:
    """An MVM's bias adds: one add per output per input vector, by the digital unit after the crossbar."""
    return outputs * vectors


def fm_ops(rows: int, dim: int) -> int:
    """A factorisation machine 0.5 * ((sum_r s_r)^2 - sum_r s_r^2) over `rows` rows of `dim`:
    sum over rows (R*D), square of the sum (D), squares (R*D), their sum (R*D), subtract (D),
    halve (D) = 3RD + 3D."""
    return 3 * rows * dim + 3 * dim

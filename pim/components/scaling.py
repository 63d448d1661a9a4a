"""CMOS technology-node scaling of energy and area, relative to 32 nm (ISAAC's node).

Factors follow Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration 58 (2017): the area factors of their Table
(from 32 nm) and the energy of their fitted a*Vdd^2 + b*Vdd + c per-node polynomials evaluated at
Vdd = 0.8 V, normalised to 32 nm (the same data hwcomponents uses for its tech-node scaling).
Between nodes the factors are interpolated linearly in log(node)-log(factor); beyond 7 nm and
130 nm they are extrapolated with the slope of the end segment, so they stay monotone over the
3..180 nm that ChipConfig accepts.
"""

from __future__ import annotations

import math
from bisect import bisect_left

REFERENCE_NODE_NM = 32.0

# node (nm) -> factor relative to 32 nm, ascending by node
_AREA = ((7, 0.13), (10, 0.22), (14, 0.38), (16, 0.41), (20, 0.46), (32, 1.0), (45, 2.2), (65, 3.3),
         (90, 6.1), (130, 14.0))
_ENERGY = ((7, 0.1430), (10, 0.1786), (14, 0.2106), (16, 0.2632), (20, 0.3353), (32, 1.0), (45, 1.5167),
           (65, 1.8817), (90, 2.8776), (130, 4.6533))


def _log_interpolate(table: tuple[tuple[float, float], ...], node_nm: float) -> float:
    nodes = [n for n, _ in table]
    index = bisect_left(nodes, node_nm)
    if index < len(nodes) and nodes[index] == node_nm:
        return table[index][1]
    index = min(max(index, 1), len(nodes) - 1)
    (n0, f0), (n1, f1) = table[index - 1], table[index]
    slope = math.log(f1 / f0) / math.log(n1 / n0)
    return f0 * math.exp(slope * math.log(node_nm / n0))


def area_factor(node_nm: float) -> float:
    """Area at `node_nm` relative to the same design at 32 nm."""
    return _log_interpolate(_AREA, node_nm)


def energy_factor(node_nm: float) -> float:
    """Switching energy at `node_nm` relative to the same design at 32 nm."""
    return _log_interpolate(_ENERGY, node_nm)


ISAAC_SOURCE = "ISAAC (Shafiee et al., ISCA 2016) component table at 32 nm; node: Stillmaker & Baas 2017"

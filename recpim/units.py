"""Unit conversions. Quantities carry their unit in their name (energy_pj, latency_ns, area_mm2,
power_mw, bandwidth_gbps); these constants convert between them so no magic factors appear."""

PJ_PER_J = 1e12
NS_PER_S = 1e9
UM2_PER_MM2 = 1e6
MW_PER_W = 1e3
BITS_PER_BYTE = 8


def power_mw_from(energy_pj: float, period_ns: float) -> float:
    """Average power of `energy_pj` spent every `period_ns` (pJ/ns = mW)."""
    return energy_pj / period_ns


def energy_pj_from(power_mw: float, time_ns: float) -> float:
    """Energy of `power_mw` held for `time_ns` (mW x ns = pJ)."""
    return power_mw * time_ns


def ceil_div(numerator: int, denominator: int) -> int:
    """⌈numerator / denominator⌉ in exact integer arithmetic (counts of crossbars, accesses, cycles)."""
    return -(-numerator // denominator)

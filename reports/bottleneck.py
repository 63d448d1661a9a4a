"""The two bottleneck names of a CostReport, explained: the slowest layer (the pipeline's longest
stage) and the bottleneck resource (what paces the batch), and why they may differ. Light
(no matplotlib): `recpim simulate` prints it, the breakdown page shows it."""

from __future__ import annotations

import math

from recpim.pim.cost_report import CostReport

STAGE_PREFIX = "stage "


def agree(report: CostReport) -> bool:
    """Whether the bottleneck resource is the bottleneck layer's own (its stage or one of its units)."""
    layer, resource = report.bottleneck_layer, report.bottleneck_resource
    return not resource or resource in (layer, f"{STAGE_PREFIX}{layer}") or resource.startswith(f"{layer}.")


def bottleneck_explanation(report: CostReport) -> str:
    """One paragraph on the two bottleneck names: what each one means and, when they differ, why
    (the terminal and the breakdown page both print it)."""
    layer, resource = report.bottleneck_layer, report.bottleneck_resource
    stage_ns = report.stage_ns_by_layer.get(layer, 0.0)
    if agree(report):
        return f"The slowest layer, {layer} ({stage_ns:.4g} ns per inference), is also what paces the batch."
    utilisation = report.utilization
    busy = utilisation.get(resource)
    shown = f", busy {busy:.1%} of the batch" if busy is not None else ""
    text = (f"Why two names: the slowest layer, {layer} ({stage_ns:.4g} ns of busy time per inference, counting its "
            f"handoffs and waits), is the pipeline's longest stage; the bottleneck resource, {resource}{shown}, is "
            "the unit (or stage, or handoff) with the largest load over the whole batch, which paces the batch. "
            "Shared units (buffers, adders, vector units, links, DRAM) serve several layers, and a layer's time "
            "includes work outside its own units, so the two need not be the same.")
    if busy is not None:
        tied = sorted(k for k, v in utilisation.items() if k != resource and not k.startswith(STAGE_PREFIX)
                      and math.isclose(v, busy, rel_tol=1e-3))
        if tied:
            more = f" and {len(tied) - 4} more" if len(tied) > 4 else ""
            text += (f" {len(tied)} other resource(s) are as busy ({', '.join(tied[:4])}{more}); the first in the "
                     "pipeline is named.")
        own = [v for k, v in utilisation.items() if k.startswith(f"{layer}.")]
        if own:
            text += f" {layer}'s own units are busy {max(own):.1%} of the batch."
    return text

"""The breakdown report of one CostReport: where the energy, time and area go.

    files = write_breakdown_report(report, "out/run1", chip=chip)   # .md, .html, .json, PNGs

Sections: chip and model summary; energy by component (stacked share bar, table); the embedding
tables' energy apart from the rest; energy and latency by layer (top N, the rest grouped); area by
component; resource utilisation; the bottleneck (and the simulator's queueing waits).
"""

from __future__ import annotations

import math
from pathlib import Path

from recpim.pim.config import ChipConfig
from recpim.pim.cost_report import CostReport
from recpim.reports import plots
from recpim.reports.bottleneck import agree as _agree
from recpim.reports.bottleneck import bottleneck_explanation
from recpim.reports.document import Document, ReportFiles
from recpim.reports.writer import write_documents

LEAKAGE = "leakage"
_STAGE_PREFIX = "stage "


def top_with_rest(values: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The n largest entries, largest first, then one 'other (k)' entry holding the sum of the rest."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    head, rest = ranked[:n], ranked[n:]
    if rest:
        head.append((f"other ({len(rest)})", math.fsum(value for _, value in rest)))
    return head


def shares(values: dict[str, float]) -> list[tuple[str, float, float]]:
    """(name, value, percent of the total) for each entry, largest first; percents sum to 100."""
    total = math.fsum(values.values())
    ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    return [(name, value, 100.0 * value / total if total else 0.0) for name, value in ranked]


def energy_parts(report: CostReport) -> dict[str, float]:
    """Energy per inference split into embedding tables, the rest of the model, and leakage."""
    leakage = report.energy_pj_by_component.get(LEAKAGE, 0.0)
    embedding = report.embedding_energy_pj_per_inference
    return {"embedding tables": embedding, "rest of the model": report.energy_pj_per_inference - embedding - leakage,
            LEAKAGE: leakage}


def _summary_rows(report: CostReport, chip: ChipConfig | None) -> tuple[list[list], list[list]]:
    layers = [name for name in report.energy_pj_by_layer if name != LEAKAGE]
    model_rows = [
        ["model", report.model], ["engine", report.engine], ["batch", report.batch],
        ["layers (pipeline stages)", len(layers)], ["MACs per inference", report.macs_per_inference],
        ["energy per inference (pJ)", report.energy_pj_per_inference],
        ["dynamic energy per inference (pJ)", report.dynamic_energy_pj_per_inference],
        ["latency of one inference (ns)", report.latency_ns_per_inference],
        ["latency of one batch (ns)", report.latency_ns_per_batch],
        ["throughput (inferences/s)", report.throughput_inf_per_s],
        ["power (W)", report.power_w], ["TOPS", report.tops], ["TOPS/W", report.tops_per_w],
    ]
    chip_rows: list[list] = [["chip", report.chip], ["area (mm2)", report.area_mm2]]
    if chip is not None:
        xbar, level, tile = chip.crossbar, chip.chip, chip.tile
        crossbars = chip.pe.crossbars * tile.pes * level.tiles
        chip_rows += [
            ["technology (nm)", chip.technology_nm], ["clock (GHz)", chip.clock_ghz],
            ["crossbar", f"{xbar.rows} x {xbar.cols}, {xbar.bits_per_cell} bit(s)/cell, "
                         f"{xbar.rows_read_at_once} rows read at once"],
            ["DAC / ADC bits", f"{chip.dac.bits} / {chip.adc.bits}"],
            ["crossbars per PE, PEs per tile, tiles", f"{chip.pe.crossbars}, {tile.pes}, {level.tiles}"],
            ["crossbars on chip", crossbars], ["tile buffer", f"{tile.buffer.size_kb} kB {tile.buffer.kind}"],
            ["on-chip ReRAM for embeddings (MB)", level.embedding_reram_mb],
        ]
    return model_rows, chip_rows


def build_breakdown_document(report: CostReport, out_dir: Path, chip: ChipConfig | None = None,
                             top_n: int = 10) -> Document:
    """The report's document; draws its PNGs into out_dir."""
    doc = Document(f"Cost breakdown: {report.model} on {report.chip} ({report.engine})")
    model_rows, chip_rows = _summary_rows(report, chip)
    doc.heading("Summary")
    doc.table(["figure", "value"], model_rows, caption="Model")
    doc.table(["figure", "value"], chip_rows, caption="Chip")

    total = report.energy_pj_per_inference
    split = components_with_leakage(report)
    by_component = {k: v for k, v in split.items() if v > 0}
    doc.heading("Energy by component")
    doc.image(plots.stacked_share_bar(out_dir / "energy_by_component.png",
                                      {"by component": dict(shares_dict(by_component)),
                                       "by part": energy_parts(report)},
                                      title=f"Energy per inference: {total:.4g} pJ"),
              "energy by component, stacked", "Shares of the energy per inference"
              + ("; leakage split by the component that leaks." if report.leakage_pj_by_component else "."))
    doc.table(["component", "energy (pJ)", "share (%)"],
              [[name, value, pct] for name, value, pct in shares(split)] + [["total", total, 100.0]])
    _leakage(doc, report)

    doc.heading("Embedding tables")
    parts = energy_parts(report)
    doc.paragraph(f"The embedding lookups cost {parts['embedding tables']:.4g} pJ per inference, "
                  f"{_pct(parts['embedding tables'], total)} of the total; the rest of the model costs "
                  f"{parts['rest of the model']:.4g} pJ and leakage {parts[LEAKAGE]:.4g} pJ.")
    doc.table(["part", "energy (pJ)", "share (%)"], [[n, v, p] for n, v, p in shares(parts)])

    layer_energy = {k: v for k, v in report.energy_pj_by_layer.items() if k != LEAKAGE}
    doc.heading("Energy and latency by layer")
    top_energy = top_with_rest(layer_energy, top_n) if layer_energy else []
    if top_energy:
        doc.image(plots.bar_chart(out_dir / "energy_by_layer.png", [n for n, _ in top_energy],
                                  [v for _, v in top_energy], title=f"Energy per inference by layer (top {top_n})",
                                  xlabel="energy (pJ)"), "energy by layer")
    top_latency = top_with_rest(report.stage_ns_by_layer, top_n) if report.stage_ns_by_layer else []
    if top_latency:
        doc.image(plots.bar_chart(out_dir / "latency_by_layer.png", [n for n, _ in top_latency],
                                  [v for _, v in top_latency], highlight=report.bottleneck_layer,
                                  title=f"Busy time per inference by layer (top {top_n}; bottleneck in red)",
                                  xlabel="time (ns)"), "latency by layer")
    doc.table(["layer", "energy (pJ)", "share of energy (%)", "busy time (ns)", "bound by"],
              [[name, value, 100.0 * value / total if total else 0.0, report.stage_ns_by_layer.get(name),
                report.bound_by(name)] for name, value in top_energy])
    if report.stage_ns_by_layer_part:
        parts = sorted({part for split in report.stage_ns_by_layer_part.values() for part in split})
        slowest = sorted(report.stage_ns_by_layer, key=report.stage_ns_by_layer.get, reverse=True)[:top_n]
        doc.paragraph("Where each stage's time goes (ns per inference): the work on its critical path, compute "
                      "(crossbar steps, vector ops), buffer (tile buffer reads and writes, partial sums written "
                      "and read back), transfer (partial sums over the mesh), merge (the home tile's adders), dram"
                      + (", and waiting (the simulator's queueing for shared units and handoffs)"
                         if "waiting" in parts else "") + "; the parts sum to the stage's time.")
        doc.table(["layer", *parts, "stage (ns)"],
                  [[name, *(report.stage_ns_by_layer_part.get(name, {}).get(part, 0.0) for part in parts),
                    report.stage_ns_by_layer[name]] for name in slowest])

    area = report.area_mm2_by_component
    doc.heading("Area by component")
    if area:
        ranked = shares(area)
        doc.image(plots.bar_chart(out_dir / "area_by_component.png", [n for n, _, _ in ranked],
                                  [v for _, v, _ in ranked], title=f"Area: {report.area_mm2:.4g} mm2",
                                  xlabel="area (mm2)"), "area by component")
        doc.table(["component", "area (mm2)", "share (%)"], [[n, v, p] for n, v, p in ranked])

    _utilisation_and_bottleneck(doc, report, out_dir, top_n)
    if report.notes:
        doc.heading("Notes")
        doc.bullets(list(report.notes))
    return doc


def components_with_leakage(report: CostReport) -> dict[str, float]:
    """Energy by component with the one leakage entry split into 'leakage: <component>' entries (when
    the report has leakage per component; they sum to the leakage entry)."""
    if not report.leakage_pj_by_component:
        return dict(report.energy_pj_by_component)
    split = {k: v for k, v in report.energy_pj_by_component.items() if k != LEAKAGE}
    split.update({f"{LEAKAGE}: {name}": value for name, value in report.leakage_pj_by_component.items() if value > 0})
    return split


def _leakage(doc: Document, report: CostReport) -> None:
    """The leakage per component, as the terminal and the JSON give it."""
    parts = {k: v for k, v in report.leakage_pj_by_component.items() if v > 0}
    leakage = report.energy_pj_by_component.get(LEAKAGE, 0.0)
    if not parts or leakage <= 0:
        return
    total = report.energy_pj_per_inference
    largest = max(parts, key=parts.get)
    doc.heading("Leakage by component")
    doc.paragraph(f"Leakage costs {leakage:.4g} pJ per inference, {_pct(leakage, total)} of the energy; the largest "
                  f"part is {largest}'s ({_pct(parts[largest], leakage)} of the leakage). Leakage is power x time: a "
                  "faster pipeline or fewer idle units cut it.")
    doc.table(["component", "leakage (pJ)", "share of leakage (%)", "share of energy (%)"],
              [[f"{LEAKAGE}: {name}", value, pct, 100.0 * value / total if total else 0.0]
               for name, value, pct in shares(parts)])


def shares_dict(values: dict[str, float]) -> list[tuple[str, float]]:
    return [(name, value) for name, value, _ in shares(values)]


def _pct(part: float, total: float) -> str:
    return f"{100.0 * part / total:.1f} %" if total else "n/a"


def _utilisation_and_bottleneck(doc: Document, report: CostReport, out_dir: Path, top_n: int) -> None:
    utilisation = report.utilization
    resources = {k: v for k, v in utilisation.items() if not k.startswith(_STAGE_PREFIX)}
    stages = {k[len(_STAGE_PREFIX):]: v for k, v in utilisation.items() if k.startswith(_STAGE_PREFIX)}
    doc.heading("Resource utilisation")
    doc.paragraph("Busy fraction of each resource over one batch (1.0 = busy all the time).")
    if resources:
        ranked = top_with_rest(resources, top_n) if len(resources) > top_n + 1 else shares_dict(resources)
        shown = [(n, v) for n, v in ranked if not n.startswith("other (")]
        doc.image(plots.bar_chart(out_dir / "utilization.png", [n for n, _ in shown], [v for _, v in shown],
                                  highlight=report.bottleneck_resource, title="Resource utilisation",
                                  xlabel="busy fraction"), "resource utilisation")
        doc.table(["resource", "busy fraction"], [[n, v] for n, v in shown])
    if stages:
        doc.table(["layer", "busy fraction"], [[n, v] for n, v in sorted(stages.items(), key=lambda i: -i[1])[:top_n]],
                  caption=f"Busiest layers (top {top_n})")

    doc.heading("Bottleneck")
    limiter_util = utilisation.get(report.bottleneck_resource)
    extra = f" (busy {limiter_util:.0%} of the time)" if limiter_util is not None else ""
    slowest = report.bottleneck_layer
    doc.paragraph(f"The batch is paced by {report.bottleneck_resource}{extra}; the slowest layer is "
                  f"{slowest} at {report.stage_ns_by_layer.get(slowest, 0):.4g} ns per inference.")
    if not _agree(report):
        doc.paragraph(bottleneck_explanation(report))
    waits = report.wait_ns_by_resource
    if waits:
        doc.table(["resource", "queueing wait (ns per batch)"],
                  [[n, v] for n, v in sorted(waits.items(), key=lambda i: -i[1])[:top_n]],
                  caption="Where the simulator's requests waited")


def write_breakdown_report(report: CostReport, out_dir: Path | str, chip: ChipConfig | None = None, top_n: int = 10,
                           name: str = "breakdown") -> ReportFiles:
    """Write <name>.md, <name>.html (images embedded), <name>.json (the CostReport) and PNGs into out_dir.

    chip: the ChipConfig the report was costed on, for the chip summary (left out when None).
    A CostReport on disk is read by recpim.reports.from_json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = build_breakdown_document(report, out_dir, chip, top_n)
    return write_documents(doc, out_dir, name, {"kind": "cost_report", **report.to_json_dict()})

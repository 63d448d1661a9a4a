"""Report pages of the hardware results: a chip's roll-up (`recpim chip --json`, kind chip_model),
a mapping (`recpim map --json`, kind mapping: per-layer crossbars, tiles, lossless vs chip ADC
bits) and a workload graph (`recpim graph --json` / `--out`, kind workload_graph).

Each writer takes the JSON object as read, checks the keys it draws, and writes
<name>.md / .html / .json and its PNGs into out_dir (recpim.reports.writer).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from recpim.reports import plots
from recpim.reports.breakdown import top_with_rest
from recpim.reports.document import Document, ReportFiles
from recpim.reports.page_data import cell, require
from recpim.reports.writer import write_documents

TOP = 20   # rows of the long per-layer and per-node tables shown in the bar charts


def write_chip_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "chip") -> ReportFiles:
    """The chip roll-up: counts, area and power per component and level, energy per operation."""
    require(data, source, chip_name=str, components=dict, pe=dict, tile=dict, chip=dict, energy_pj=dict, counts=dict)
    out_dir.mkdir(parents=True, exist_ok=True)
    chip = data["chip"]
    doc = Document(f"Chip roll-up: {data['chip_name']}")
    doc.heading("Summary")
    doc.table(["figure", "value"], [
        ["technology (nm)", cell(data.get("technology_nm"))], ["clock (GHz)", cell(data.get("clock_ghz"))],
        ["crossbar cycle (ns)", cell(data.get("crossbar_cycle_ns"))],
        ["chip power at full activity (W)", cell(chip.get("power_w"))], ["chip area (mm2)", cell(chip.get("area_mm2"))],
        ["chip leakage (mW)", cell(chip.get("leakage_mw"))],
        ["off-chip DRAM power (mW, not included)", cell(data.get("offchip", {}).get("dram_power_mw"))],
        *[[f"count: {key.replace('_', ' ')}", cell(value)] for key, value in data["counts"].items()]])
    components = {key: require(value, source, area_mm2_per_chip=float, power_mw_per_chip=float)
                  for key, value in data["components"].items()}
    doc.heading("Components")
    area = {key: float(value["area_mm2_per_chip"]) for key, value in components.items()}
    power = {key: float(value["power_mw_per_chip"]) for key, value in components.items()}
    if any(area.values()):
        ranked = top_with_rest({k: v for k, v in area.items() if v > 0}, TOP)
        doc.image(plots.bar_chart(out_dir / "chip_area.png", [n for n, _ in ranked], [v for _, v in ranked],
                                  title="Area per component, whole chip", xlabel="area (mm2)"), "area per component")
    if any(power.values()):
        ranked = top_with_rest({k: v for k, v in power.items() if v > 0}, TOP)
        doc.image(plots.bar_chart(out_dir / "chip_power.png", [n for n, _ in ranked], [v for _, v in ranked],
                                  title="Power per component at full activity", xlabel="power (mW)"),
                  "power per component")
    doc.table(["component", "model", "level", "pJ/action", "per chip", "area (mm2)", "power (mW)", "leakage (mW)"],
              [[key, cell(value.get("model")), cell(value.get("level")), cell(value.get("energy_pj_per_action")),
                cell(value.get("count_per_chip")), cell(value["area_mm2_per_chip"]), cell(value["power_mw_per_chip"]),
                cell(value.get("leakage_mw"))] for key, value in components.items()])
    doc.heading("Levels")
    doc.table(["level", "power (mW)", "area (mm2)", "leakage (mW)"],
              [[level, cell(data[level].get("power_mw")), cell(data[level].get("area_mm2")),
                cell(data[level].get("leakage_mw"))] for level in ("pe", "tile", "chip")])
    doc.heading("Energy per operation")
    doc.table(["operation", "energy (pJ)"], [[op, cell(pj)] for op, pj in data["energy_pj"].items()])
    sources = [f"{key}: {value['source']}" for key, value in components.items() if value.get("source")]
    if sources:
        doc.heading("Sources of the component models")
        doc.bullets(sources)
    if data.get("defaulted_sections"):
        doc.paragraph("Sections not given in the chip file, filled with the schema's defaults: "
                      + ", ".join(map(str, data["defaulted_sections"])) + ".")
    return write_documents(doc, out_dir, name, data)


def _span(tiles: Any) -> str:
    if not isinstance(tiles, list) or not tiles:
        return "-"
    return str(tiles[0]) if len(tiles) == 1 else f"{tiles[0]}-{tiles[-1]}"


def write_mapping_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "mapping") -> ReportFiles:
    """A mapping: totals, per-layer crossbars / PEs / tiles with lossless vs chip ADC bits, digital ops,
    embedding tables and notes."""
    require(data, source, model=str, chip=str, layers=list)
    layers = [require(layer, f"{source} layers[{i}]", name=str) for i, layer in enumerate(data["layers"])]
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Mapping: {data['model']} on {data['chip']}")
    doc.heading("Summary")
    totals = [key for key, value in data.items() if isinstance(value, int | float) and not isinstance(value, bool)]
    doc.table(["figure", "value"], [["weight encoding", cell(data.get("weight_encoding"))],
                                    ["replication", cell(data.get("replication_policy"))],
                                    *[[key.replace("_", " "), data[key]] for key in totals]])
    lossy = [layer["name"] for layer in layers if layer.get("adc_lossy")]
    doc.paragraph(f"{len(layers)} MVM layer(s); {len(lossy)} ADC-lossy (their partial sums need more bits than the "
                  "chip's ADC gives, so results are rounded): " + (", ".join(lossy) if lossy else "none") + ". "
                  "Lossless ADC bits = bitlength(rows summed x (2^DAC bits - 1) x (2^cell bits - 1)), plus one sign "
                  "bit with analog subtraction (crossbar.analog_subtraction: the ADC digitises the signed difference "
                  "of a column pair).")
    crossbars = {layer["name"]: float(layer.get("crossbars", 0) or 0) for layer in layers}
    if any(crossbars.values()):
        ranked = top_with_rest({k: v for k, v in crossbars.items() if v > 0}, TOP)
        doc.image(plots.bar_chart(out_dir / "crossbars_by_layer.png", [n for n, _ in ranked], [v for _, v in ranked],
                                  title=f"Crossbars per layer (top {TOP})", xlabel="crossbars"),
                  "crossbars per layer")
    doc.heading("MVM layers")
    doc.table(["layer", "K x N", "w/a bits", "crossbars", "copies", "PEs", "tiles", "cell util", "rows summed",
               "lossless ADC bits", "chip ADC bits", "lossy"],
              [[layer["name"], "x".join(str(v) for v in layer.get("weight_shape", [])) or "-",
                f"{layer.get('weight_bits', '-')}/{layer.get('activation_bits', '-')}", cell(layer.get("crossbars")),
                cell(layer.get("replication")), cell(layer.get("pes")), _span(layer.get("tiles")),
                cell(layer.get("cell_utilization")), cell(layer.get("rows_summed")),
                cell(layer.get("lossless_adc_bits")), cell(layer.get("chip_adc_bits")),
                "yes" if layer.get("adc_lossy") else "no"] for layer in layers])
    digital = data.get("digital") or []
    if digital:
        doc.heading("Digital operations (tile vector units)")
        doc.table(["name", "op", "tile", "ops", "MACs"],
                  [[cell(d.get("name")), cell(d.get("kind")), cell(d.get("tile")), cell(d.get("ops")),
                    cell(d.get("macs"))] for d in digital if isinstance(d, dict)])
    embeddings = data.get("embeddings") or []
    if embeddings:
        doc.heading("Embedding tables")
        doc.table(["name", "location", "rows", "dim", "bits", "table bytes", "bits read per inference"],
                  [[cell(t.get("name")), cell(t.get("location")), cell(t.get("rows")), cell(t.get("dim")),
                    cell(t.get("bits")), cell(t.get("table_bytes")), cell(t.get("bits_read_per_inference"))]
                   for t in embeddings if isinstance(t, dict)])
    if data.get("notes"):
        doc.heading("Notes")
        doc.bullets([str(note) for note in data["notes"]])
    return write_documents(doc, out_dir, name, data)


def write_graph_page(data: dict[str, Any], out_dir: Path, source: str, name: str = "graph") -> ReportFiles:
    """A workload graph: its size, the ops by kind, MACs by node and every node."""
    require(data, source, name=str, nodes=list, edges=list)
    nodes = [require(node, f"{source} nodes[{i}]", name=str) for i, node in enumerate(data["nodes"])]
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = Document(f"Workload graph: {data['name']}")
    doc.table(["figure", "value"], [["nodes", len(nodes)], ["edges", len(data["edges"])],
                                    ["MACs per sample", cell(data.get("total_macs"))],
                                    ["other ops per sample", cell(data.get("total_ops"))]])
    kinds = Counter(str(node.get("kind", "?")) for node in nodes)
    doc.table(["op kind", "nodes"], [[kind, count] for kind, count in kinds.most_common()], caption="Nodes by kind")
    macs = {node["name"]: float(node.get("macs", 0) or 0) for node in nodes}
    if any(macs.values()):
        ranked = top_with_rest({k: v for k, v in macs.items() if v > 0}, TOP)
        doc.image(plots.bar_chart(out_dir / "macs_by_node.png", [n for n, _ in ranked], [v for _, v in ranked],
                                  title=f"MACs per sample by node (top {TOP})", xlabel="MACs"), "MACs by node")
    doc.heading("Nodes")
    doc.table(["node", "kind", "output", "MACs", "ops", "weight bits", "weights"],
              [[node["name"], cell(node.get("kind")), "x".join(map(str, node.get("output_shape") or [])) or "-",
                cell(node.get("macs")), cell(node.get("ops")), cell(node.get("weight_bits")),
                cell(node.get("weight_count"))] for node in nodes])
    return write_documents(doc, out_dir, name, data)

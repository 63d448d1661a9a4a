"""`recpim simulate MODEL --chip PRESET_OR_YAML [--batch N] [--engine des|analytic] [--trace FILE] [--json]`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from recpim.cli.output import activation_bits_option, console, notes, print_json, print_table, weight_bits_option
from recpim.errors import ConfigError
from recpim.paths import check_output_dir, check_output_file
from recpim.pim.cost_report import CostReport
from recpim.pim.presets import load_chip
from recpim.reports.bottleneck import bottleneck_explanation
from recpim.runinfo import write_resolved_inputs


def print_report(report: CostReport) -> None:
    print_table(
        f"{report.model} on {report.chip} ({report.engine}, batch {report.batch})", ["name", "value"],
        [["latency per inference (ns)", report.latency_ns_per_inference],
         ["latency per batch (ns)", report.latency_ns_per_batch],
         ["throughput (inferences/s)", report.throughput_inf_per_s],
         ["energy per inference (pJ)", report.energy_pj_per_inference],
         ["  of which embedding tables (pJ)", report.embedding_energy_pj_per_inference],
         ["power (W)", report.power_w], ["TOPS", report.tops], ["TOPS/W", report.tops_per_w],
         ["area (mm2), whole chip", report.area_mm2],
         ["area (mm2), tiles the model uses", report.area_mm2_of_tiles_used],
         ["MACs per inference", report.macs_per_inference],
         ["bottleneck layer", report.bottleneck_layer], ["bottleneck resource", report.bottleneck_resource]],
    )
    total = report.energy_pj_per_inference
    print_table("energy per inference by component", ["component", "pJ", "share %"],
                [[name, pj, 100 * pj / total if total else 0.0]
                 for name, pj in sorted(report.energy_pj_by_component.items(), key=lambda kv: -kv[1]) if pj])
    if report.leakage_pj_by_component:
        print_table("leakage per inference by component", ["component", "pJ", "share of leakage %"],
                    [[name, pj, 100 * pj / report.energy_pj_by_component["leakage"]]
                     for name, pj in sorted(report.leakage_pj_by_component.items(), key=lambda kv: -kv[1]) if pj])
    layers = sorted(report.stage_ns_by_layer.items(), key=lambda kv: -kv[1])[:12]
    print_table("slowest stages (ns per inference), what bounds them, and their energy (pJ)",
                ["name", "ns", "bound by", "pJ"],
                [[name, ns, _bound_by(report, name, ns), report.energy_pj_by_layer.get(name, 0.0)]
                 for name, ns in layers])
    if report.bottleneck_layer and report.bottleneck_resource:
        console.print(bottleneck_explanation(report), markup=False, highlight=False)
    for note in report.notes:
        console.print(f"note: {note}")


def _bound_by(report, layer: str, stage_ns: float) -> str:
    """'merge 62 %': the largest part of the stage's work and its share of the stage's time."""
    bound = report.bound_by(layer)
    if not bound or stage_ns <= 0:
        return ""
    return f"{bound} {100 * report.stage_ns_by_layer_part[layer][bound] / stage_ns:.0f} %"


# The simulator's events grow with the batch (one per group of waves and stage), so its time does
# too: a large batch is first timed at DES_CALIBRATION_BATCH and the full run's time extrapolated.
DES_CALIBRATION_BATCH = 256
DES_WARN_SECONDS = 30.0
DES_REFUSE_SECONDS = 6 * 3600.0
MAX_BATCH = 10**9


def _check_des_time(graph, chip_config, batch: int) -> float:
    """The simulator's estimated seconds for `batch` (from a timed run at DES_CALIBRATION_BATCH); a
    note beyond DES_WARN_SECONDS, a ConfigError naming --batch beyond DES_REFUSE_SECONDS."""
    from recpim.mapping.cost import simulate_model

    began = time.perf_counter()
    simulate_model(graph, chip_config, engine="des", batch=DES_CALIBRATION_BATCH)
    seconds = (time.perf_counter() - began) * batch / DES_CALIBRATION_BATCH
    shown = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 \
        else f"{seconds:.0f} s"
    advice = "--engine analytic costs any batch in well under a second (same stages, no queueing)"
    if seconds > DES_REFUSE_SECONDS:
        raise ConfigError("--batch", [(str(batch), f"the simulator would run for about {shown} (timed at batch "
                                                   f"{DES_CALIBRATION_BATCH}, it grows with the batch); give at most "
                                                   f"{int(batch * DES_REFUSE_SECONDS / seconds):,} or {advice}")])
    if seconds > DES_WARN_SECONDS:
        notes.print(f"note: --batch {batch:,} with the simulator takes about {shown} (estimated from batch "
                    f"{DES_CALIBRATION_BATCH}); {advice}")
    return seconds


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        model: str = typer.Argument(..., help="Zoo name (vgg8, dlrm, ...), subnet JSON path or module:callable."),
        chip: str = typer.Option(..., "--chip", help="Chip preset name or YAML file."),
        batch: int = typer.Option(64, "--batch", min=1, max=MAX_BATCH, help="Inferences flowing through the pipeline."),
        engine: str = typer.Option("des", "--engine", help="des (SimPy simulator) or analytic."),
        trace: Path | None = typer.Option(None, "--trace", help="Write the simulator timeline (Chrome trace JSON)."),
        out: Path | None = typer.Option(None, "--out", help="Folder for cost_report.json and inputs.json, or "
                                                            "FILE.json (the CostReport; inputs in FILE.inputs.json)."),
        report_dir: Path | None = typer.Option(None, "--report", help="Write a breakdown report here."),
        weight_bits: int = weight_bits_option(),
        activation_bits: int = activation_bits_option(),
        profile: Path | None = typer.Option(None, "--profile", help="Embedding access profile JSON (recpim data "
                                                                    "profile); default: uniform access."),
        as_json: bool = typer.Option(False, "--json", help="Print the CostReport as JSON."),
    ) -> None:
        """Latency, throughput, energy and area of MODEL on a chip."""
        # (here, and from their own modules rather than recpim.api: `recpim --help` loads none of the cost
        # stack, and a simulation none of the sweep's executor)
        from recpim.arch.model.spec import resolve_model_spec
        from recpim.mapping.cost import simulate_model

        if engine not in ("des", "analytic"):
            raise typer.BadParameter(f"got {engine!r}; allowed: des, analytic", param_hint="--engine")
        if trace is not None and engine != "des":
            raise ConfigError("--trace", [(str(trace), f"a timeline comes from the simulator only; use --engine des "
                                                       f"with --trace (the {engine} model has no events)")])
        # Every output is checked before the (possibly long) simulation runs.
        if trace is not None:
            check_output_file(trace, "--trace")
        if out is not None and out.suffix == ".json":   # a file name: the CostReport there, inputs beside it
            check_output_file(out, "--out")
        elif out is not None:
            check_output_dir(out, "--out")
        if report_dir is not None:
            check_output_dir(report_dir, "--report")
        chip_config = load_chip(chip)
        graph = resolve_model_spec(model, weight_bits=weight_bits, activation_bits=activation_bits)
        if profile is not None:
            from recpim.arch.data.profile import read_profile
            from recpim.mapping.embedding_profile import apply_profile

            graph = apply_profile(graph, read_profile(profile))
        if engine == "des" and batch > DES_CALIBRATION_BATCH:
            _check_des_time(graph, chip_config, batch)
        report = simulate_model(graph, chip_config, engine=engine, batch=batch, trace_path=trace)
        if out is not None:
            report_path, inputs_name = ((out, f"{out.stem}.inputs.json") if out.suffix == ".json"
                                        else (out / "cost_report.json", "inputs.json"))
            report_path.parent.mkdir(parents=True, exist_ok=True)
            result = {"kind": "cost_report", **report.to_json_dict()}   # `recpim report` reads the kind
            report_path.write_text(json.dumps(result, indent=2))
            write_resolved_inputs(report_path.parent, {"model": model, "chip": chip_config.model_dump(),
                                                       "engine": engine, "batch": batch, "weight_bits": weight_bits,
                                                       "activation_bits": activation_bits,
                                                       **({"profile": str(profile.resolve())} if profile is not None
                                                          else {})}, name=inputs_name)
        if report_dir is not None:
            from recpim.reports.breakdown import write_breakdown_report

            files = write_breakdown_report(report, report_dir, chip=chip_config)
            print(f"report: {files.html}", file=sys.stderr)
        if as_json:
            print_json({"kind": "cost_report", **report.to_json_dict()})   # as --out writes it
        else:
            print_report(report)
        if trace is not None and not as_json:
            console.print(f"trace written to {trace} (open it in https://ui.perfetto.dev)")

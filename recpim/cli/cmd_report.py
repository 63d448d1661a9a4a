"""`recpim report RESULT_JSON [--out DIR]`: render the report of any JSON file recpim writes -- a
CostReport, a sweep, a search, a chip roll-up, a mapping, a workload graph, a training, a subnet score,
a run's inputs, ... (the file's `kind` says which; older files are told by their keys). What is read
is checked first (impossible numbers, links leaving the result's folder). A thin layer over
recpim.reports.from_json.write_report_from_json.
"""

from __future__ import annotations

from pathlib import Path

import typer

from recpim.cli.output import console, print_json
from recpim.paths import check_output_dir
from recpim.pim.presets import load_chip


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        result_json: Path = typer.Argument(..., help="Any JSON file recpim writes (a CostReport, sweep, search, "
                                                     "chip, mapping, graph, training, score, inputs ...)."),
        out: Path | None = typer.Option(None, "--out", help="Folder for the report (default: <file>_report "
                                                              "beside the JSON file)."),
        chip: str | None = typer.Option(None, "--chip", help="Chip preset or YAML, for the breakdown's chip summary."),
        as_json: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
    ) -> None:
        """Write a Markdown + standalone HTML report (with PNG plots and the JSON) for a result file."""
        from recpim.reports.from_json import write_report_from_json  # matplotlib: only when writing

        chip_config = load_chip(chip) if chip is not None else None

        out_dir = out if out is not None else result_json.with_name(f"{result_json.stem}_report")
        if result_json.is_file():     # a missing input is reported as such by the reader, first
            check_output_dir(out_dir, "--out")
        kind, files = write_report_from_json(result_json, out_dir, chip=chip_config)
        if as_json:
            print_json({"kind": kind, **files.to_json_dict()})
        else:
            console.print(f"{kind} report: {files.html}")
            console.print(f"markdown: {files.markdown}")

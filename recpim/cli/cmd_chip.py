"""`recpim chip PRESET_OR_YAML [--json]`: the chip's area/power roll-up and per-operation energies.
`recpim chip schema` prints ChipConfig's JSON schema. A thin layer over
recpim.pim.presets.load_chip, recpim.pim.chip_model.build_chip_model and recpim.pim.config.chip_schema.
"""

from __future__ import annotations

import typer

from recpim.cli.output import console, print_json, print_table
from recpim.pim.chip_model import ChipModel, build_chip_model
from recpim.pim.config import chip_schema
from recpim.pim.presets import list_presets, load_chip

SCHEMA = "schema"


def register(app: typer.Typer) -> None:
    @app.command("chip")
    def chip(
        preset_or_yaml: str = typer.Argument(
            ..., help=f"A preset ({', '.join(list_presets())}), a chip YAML file, or 'schema' for the JSON schema."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    ) -> None:
        """Area and power per component, PE, tile and chip, and the energy of each operation."""
        if preset_or_yaml == SCHEMA:
            print_json(chip_schema())
            return
        model = build_chip_model(load_chip(preset_or_yaml))
        if as_json:
            print_json({"kind": "chip_model", **model.to_json_dict()})   # `recpim report` renders it
        else:
            print_rollup(model)


def print_rollup(model: ChipModel) -> None:
    name = model.chip_name
    print_table(f"{name}: one instance of each component", ["component", "model", "pJ/action", "area um2", "peak mW",
                                                             "leak mW"],
                [[c, e.model, e.figures.energy_pj_per_action, e.figures.area_um2, e.figures.peak_power_mw,
                  e.figures.leakage_mw] for c, e in model.rollup.items()])
    print_table(f"{name}: counts and chip totals (power at full activity)",
                ["component", "per PE", "per tile", "per chip", "power mW", "area mm2"],
                [[c, e.count_per_pe, e.count_per_tile, e.count_per_chip, e.power_mw_per_chip, e.area_mm2_per_chip]
                 for c, e in model.rollup.items()])
    levels = [["PE", model.pe], ["tile", model.tile], ["chip", model.chip]]
    print_table(f"{name}: roll-up (dram is off chip and not included)", ["name", "power mW", "area mm2", "leak mW"],
                [[level, t.power_mw, t.area_mm2, t.leakage_mw] for level, t in levels])
    print_table(f"{name}: energy per operation", ["op", "pJ"], [[op, pj] for op, pj in model.energy_pj.items()])
    if model.defaulted_sections:
        console.print(f"{name}: sections not given, filled with the schema's defaults: "
                      f"{', '.join(model.defaulted_sections)}")

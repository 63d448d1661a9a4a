"""`recpim map MODEL --chip PRESET_OR_YAML [--json]`: a thin layer over recpim.mapping.map_model."""

from __future__ import annotations

from pathlib import Path

import typer

from recpim.cli.output import activation_bits_option, console, print_json, print_table, weight_bits_option
from recpim.errors import RecpimError
from recpim.pim.presets import load_chip


def map_command(model: str, chip: str, replication: str | None = None, time_multiplexed: bool | None = None,
                weight_bits: int = 8, activation_bits: int = 8, profile=None):
    """Resolve MODEL and the chip, apply the policy overrides and an embedding access profile (a
    path written by `recpim data profile`), and map (returns MappingResult)."""
    from recpim.arch.data.profile import read_profile
    from recpim.mapping import map_model
    from recpim.mapping.embedding_profile import apply_profile

    try:
        from recpim.arch.model.spec import resolve_model_spec
    except ImportError as error:
        raise RecpimError(f"recpim map needs the model resolver and the chip presets: {error}") from None

    chip_config = load_chip(chip)
    overrides: dict[str, object] = {}
    if replication is not None:
        overrides["mapping.replication"] = replication
    if time_multiplexed is not None:
        overrides["mapping.time_multiplexed"] = time_multiplexed
    if overrides:
        chip_config = chip_config.with_overrides(overrides)
    graph = resolve_model_spec(model, weight_bits=weight_bits, activation_bits=activation_bits)
    return map_model(apply_profile(graph, read_profile(profile) if profile is not None else None), chip_config)


def print_mapping(result) -> None:
    """The per-layer table, digital ops, embedding tables and totals of a MappingResult."""
    print_table(
        f"{result.model} on {result.chip}: MVM layers ({result.weight_encoding} encoding)",
        ["name", "K x N", "w/a", "xbars", "copies", "PEs", "tiles", "cell util"],
        [[layer.name, f"{layer.crossbar.k_rows}x{layer.crossbar.n_cols}",
          f"{layer.crossbar.weight_bits}/{layer.crossbar.activation_bits}", layer.crossbar.crossbars,
          layer.replication, layer.placement.pes, _span(layer.placement.tiles), layer.crossbar.cell_utilization]
         for layer in result.layers],
    )
    print_table(
        "MVM activity per inference (ADC bits: chip/lossless)",
        ["name", "cycles", "groups", "ADC conv", "read steps", "ADC bits", "lossy"],
        [[layer.name, layer.crossbar.input_cycles, layer.crossbar.row_groups, layer.crossbar.adc_conversions,
          layer.read_steps_per_inference_replicated,
          f"{layer.crossbar.chip_adc_bits}/{layer.crossbar.lossless_adc_bits}",
          "yes" if layer.crossbar.adc_lossy else "no"] for layer in result.layers],
    )
    if result.digital:
        print_table("digital ops (tile vector units)", ["name", "op", "tile", "ops", "macs"],
                    [[d.name, d.kind, d.tile, d.ops, d.macs] for d in result.digital])
    if result.embeddings:
        print_table("embedding tables", ["name", "location", "rows x dim", "bits", "table bytes", "bits read"],
                    [[t.name, t.location, f"{t.rows}x{t.dim}", t.bits, t.table_bytes, t.bits_read_per_inference]
                     for t in result.embeddings])
    lookups = [t for t in result.embeddings if t.lookup is not None and not t.lookup.plain]
    if lookups:
        print_table("embedding lookups per inference", ["name", "mode", "bags x pooling", "access", "cache rows",
                                                        "hit rate", "cache bits", "memory bits", "channel bits"],
                    [[t.name, t.lookup.mode, f"{t.lookup.bags}x{t.lookup.pooling:g}", t.lookup.access,
                      t.lookup.cache_rows, f"{t.lookup.hit_rate:.3f}", t.lookup.cache_bits, t.lookup.memory_bits,
                      t.lookup.channel_bits] for t in lookups])
    totals = result.totals_json_dict()
    print_table("totals", ["name", "value"], [[key, _short(value)] for key, value in totals.items()])
    for note in result.notes:
        console.print(f"note: {note}")


def _span(tiles: tuple[int, ...]) -> str:
    if not tiles:
        return "-"
    return str(tiles[0]) if len(tiles) == 1 else f"{tiles[0]}-{tiles[-1]}"


def _short(value):
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return value


def register(app: typer.Typer) -> None:
    @app.command("map")
    def map_cli(
        model: str = typer.Argument(..., help="Zoo name (vgg8, dlrm, ...), subnet JSON path or module:callable."),
        chip: str = typer.Option(..., "--chip", help="Chip preset name or YAML file."),
        replication: str | None = typer.Option(
            None, "--replication", help="Override mapping.replication (none | balance)."),
        time_multiplexed: bool | None = typer.Option(
            None, "--time-multiplexed/--no-time-multiplexed", help="Override mapping.time_multiplexed."),
        weight_bits: int = weight_bits_option(),
        activation_bits: int = activation_bits_option(),
        profile: Path | None = typer.Option(None, "--profile", help="Embedding access profile JSON (recpim data "
                                                                    "profile); default: uniform access."),
        as_json: bool = typer.Option(False, "--json", help="Print the full MappingResult as JSON."),
    ) -> None:
        """Map MODEL onto a chip: crossbars, PEs and tiles per layer, digital ops, embedding tables, NoC traffic."""
        result = map_command(model, chip, replication, time_multiplexed, weight_bits, activation_bits, profile)
        if as_json:
            print_json({"kind": "mapping", **result.to_json_dict()})   # `recpim report` renders it
        else:
            print_mapping(result)

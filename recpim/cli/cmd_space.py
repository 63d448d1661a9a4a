"""`recpim space`: describe the NASRec search spaces and sample subnets from them."""

from __future__ import annotations

from pathlib import Path

import typer

from recpim.arch.model.space import get_space
from recpim.arch.model.subnet import sample_subnet
from recpim.cli.output import print_json, print_table
from recpim.paths import check_output_file
from recpim.validation import MAX_SEED

space_app = typer.Typer(help="NASRec search spaces: operators, widths, bit-widths, size; sample subnets.",
                        no_args_is_help=True)


@space_app.command("info")
def info(
    name: str = typer.Argument(..., help="small | full (or a registered space name)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Print a space's operators, widths, bit choices and its size (number of distinct subnets)."""
    space = get_space(name)
    summary = space.describe()
    if json_out:
        print_json({"kind": "search_space", **summary})
        return

    def show(values: object) -> str:
        return ", ".join(str(v) for v in values) if isinstance(values, list | tuple) else str(values)

    rows = [[key, show(summary[key])] for key in (
        "name", "description", "num_blocks", "dense_ops", "dense_widths", "sparse_ops", "sparse_widths",
        "max_inputs", "weight_bits", "activation_bits", "embedding_bits", "allow_dense_to_sparse",
        "allow_sparse_to_dense_fm", "merger_rows", "attention_heads")]
    rows.append(["size", str(summary["size"])])
    rows.append(["size_log10", f"{summary['size_log10']:.3f}"])
    print_table(f"search space {space.name}", ["name", "value"], rows)


@space_app.command("sample")
def sample(
    space: str = typer.Option("small", "--space", help="small | full (or a registered space name)"),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="random seed; the same seed gives the same subnet"),
    out: Path | None = typer.Option(None, "--out", help="also write the subnet JSON to this file"),
) -> None:
    """Sample one subnet (single-operator any-connection) and print it as JSON."""
    if out is not None:
        check_output_file(out, "--out")
    subnet = sample_subnet(get_space(space), seed)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(subnet.to_json() + "\n")
    print_json(subnet.to_dict())


def register(app: typer.Typer) -> None:
    app.add_typer(space_app, name="space")

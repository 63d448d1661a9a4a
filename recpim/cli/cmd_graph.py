"""`recpim graph MODEL`: show the workload graph of a zoo model, a subnet JSON or a `module:callable`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer

from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode
from recpim.arch.model.spec import ACCEPTED_FORMS, resolve_model_spec
from recpim.cli.output import console, print_json, print_table
from recpim.paths import check_output_file


def _weight_bytes(node: WorkloadNode) -> int:
    return -(-node.weight_count * (node.weight_bits or 0) // 8)


def _shapes(shapes: tuple[tuple[int, ...], ...]) -> str:
    """`27x16 64` style; repeated shapes (a concat of 26 embeddings) shown once with a count."""
    counts = Counter("x".join(map(str, shape)) or "1" for shape in shapes)
    return " ".join(text if count == 1 else f"{text} (x{count})" for text, count in counts.items()) or "-"


def graph_json(workload: WorkloadGraph) -> dict:
    """The graph's node-link JSON with its kind (`recpim report` renders it; WorkloadGraph.from_json_dict
    reads it back, the kind ignored)."""
    return {"kind": "workload_graph", **workload.to_json_dict()}


def write_graph_files(workload: WorkloadGraph, out: Path) -> tuple[Path, Path]:
    """Node-link JSON at `out` and GraphML beside it (same name, .graphml suffix)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(graph_json(workload), indent=2) + "\n")
    graphml = out.with_suffix(".graphml")
    workload.write_graphml(str(graphml))
    return out, graphml


def graph_command(
    model: str = typer.Argument(..., help=f"Model: {ACCEPTED_FORMS}."),
    schema: str = typer.Option("criteo", help="Dataset schema for subnet JSON models (criteo, avazu, kdd12)."),
    weight_bits: int = typer.Option(8, min=1, max=32, help="Weight bits for imported PyTorch/zoo models."),
    activation_bits: int = typer.Option(8, min=1, max=32, help="Activation bits for imported PyTorch/zoo models."),
    json_output: bool = typer.Option(False, "--json", help="Print the graph as JSON (node-link, with total_macs)."),
    out: Path | None = typer.Option(None, "--out", help="Write node-link JSON here and GraphML beside it."),
) -> None:
    """Lower a model to its workload graph and print every node's op, shapes, MACs and weights."""
    if out is not None:
        check_output_file(out, "--out")
        check_output_file(out.with_suffix(".graphml"), "--out (its .graphml beside it)")
    workload = resolve_model_spec(model, schema_name=schema, weight_bits=weight_bits, activation_bits=activation_bits)
    if out is not None:
        json_path, graphml_path = write_graph_files(workload, out)
    if json_output:
        print_json(graph_json(workload))
    else:
        nodes = workload.nodes()
        rows = [
            [n.name, str(n.kind), _shapes(n.input_shapes), _shapes((n.output_shape,)), n.macs, n.ops,
             n.weight_bits if n.weight_bits is not None else "-", _weight_bytes(n)]
            for n in nodes
        ]
        weight_bytes = sum(_weight_bytes(n) for n in nodes)
        rows.append(["TOTAL", "", "", "", workload.total_macs, workload.total_ops, "", weight_bytes])
        print_table(f"workload graph {workload.name}",
                    ["name", "op", "inputs", "output", "macs", "ops", "weight_bits", "weight_bytes"], rows)
        mvm_bytes = sum(_weight_bytes(n) for n in nodes if n.kind == OpKind.MVM)
        console.print(f"{len(nodes)} nodes; {workload.total_macs:,} MACs and {workload.total_ops:,} other ops per "
                      f"sample; weights {mvm_bytes:,} B in MVMs + {weight_bytes - mvm_bytes:,} B in embedding tables")
    if out is not None:
        typer.echo(f"wrote {json_path} and {graphml_path}", err=json_output)  # keep --json stdout pure JSON


def register(app: typer.Typer) -> None:
    app.command("graph")(graph_command)

"""Embedding lookups of the multi-hot DLRM (zoo `dlrm_multihot`: 8 tables of 1 M x 64 at 8 bits,
DLRM's benchmark configuration) on ISAAC's tiles with each lookup mode, against the pooling factor
and against access skew (a Zipf exponent): the figures and plot the README's embedding section quotes.

Modes (chip.embedding, chip.embedding_reram_mb):
  dram gather          host DRAM rows, pooled on chip (recpim before issue 25)
  dram + 1 MB cache    the same with a 1 MB SRAM cache of hot rows
  reserve              tables in a 1 GB ReRAM reserve read row by row, pooled on chip
  reserve + cache      the same with the 1 MB cache
  near memory          RecNMP-style: 8 DRAM ranks pool the rows, one vector per bag on the channel
  in crossbar          ReCross-style: each bag's rows driven together in the reserve's crossbars

Embedding energy = the tables' stages (pJ per inference); embedding latency = the slowest table's
stage time per inference (ns; the tables run in parallel). Analytic engine, batch 16.

    .venv/bin/python benchmarks/bench_embeddings.py [--plot docs/gallery/embedding_modes.png]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from recpim.arch.graph.embedding import AccessDistribution
from recpim.arch.graph.workload import OpKind, WorkloadGraph
from recpim.arch.model.zoo import zoo_graph
from recpim.mapping.cost import evaluate_cost
from recpim.pim.presets import load_chip

MODES = {
    "dram gather": {},
    "dram + 1 MB cache": {"chip.embedding.cache_kb": 1024},
    "reserve": {"chip.embedding_reram_mb": 1024},
    "reserve + cache": {"chip.embedding_reram_mb": 1024, "chip.embedding.cache_kb": 1024},
    "near memory": {"chip.embedding.mode": "near_memory"},
    "in crossbar": {"chip.embedding_reram_mb": 1024, "chip.embedding.mode": "in_crossbar"},
}
POOLINGS = (1, 10, 40, 100)
EXPONENTS = (0.0, 0.6, 0.9, 1.2)


def variant(graph: WorkloadGraph, pooling: int, exponent: float) -> WorkloadGraph:
    out = WorkloadGraph(graph.name, graph.metadata)
    for name in graph.graph.nodes:
        node = graph.node(name)
        if node.kind == OpKind.EMBEDDING:
            access = replace(node.embedding_access, pooling=float(pooling),
                             access=AccessDistribution(zipf_exponent=exponent, source=f"zipf {exponent}"))
            node = replace(node, embedding=access, lookups=access.lookups)
        out.add_node(node)
    for name in graph.graph.nodes:
        for producer in graph.graph.pred[name]:
            out.add_edge(producer, name)
    return out.check()


def embedding_figures(graph: WorkloadGraph, overrides: dict) -> tuple[float, float]:
    chip = load_chip("isaac").with_overrides(overrides) if overrides else load_chip("isaac")
    evaluation = evaluate_cost(graph, chip, engine="analytic", batch=16)
    tables = [s.name for s in evaluation.workload.stages if s.name.startswith("embeddings_")]
    return (evaluation.report.embedding_energy_pj_per_inference,
            max(evaluation.report.stage_ns_by_layer[name] for name in tables))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default=None, help="write the plot (PNG) here")
    args = parser.parse_args()
    base = zoo_graph("dlrm_multihot")
    by_pooling = {mode: [embedding_figures(variant(base, p, 0.9), o) for p in POOLINGS] for mode, o in MODES.items()}
    by_skew = {mode: [embedding_figures(variant(base, 100, s), o) for s in EXPONENTS] for mode, o in MODES.items()}
    print("embedding stage of dlrm_multihot on isaac, Zipf 0.9, by pooling factor: energy (nJ/inf) | latency (ns)")
    print("| mode | " + " | ".join(f"pool {p}" for p in POOLINGS) + " |")
    print("|---|" + "---|" * len(POOLINGS))
    for mode, rows in by_pooling.items():
        print(f"| {mode} | " + " | ".join(f"{e / 1e3:.1f} nJ, {t:.0f} ns" for e, t in rows) + " |")
    print("\nby Zipf exponent at pooling 100: energy (nJ/inf) | latency (ns)")
    print("| mode | " + " | ".join(f"s = {s}" for s in EXPONENTS) + " |")
    print("|---|" + "---|" * len(EXPONENTS))
    for mode, rows in by_skew.items():
        print(f"| {mode} | " + " | ".join(f"{e / 1e3:.1f} nJ, {t:.0f} ns" for e, t in rows) + " |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(2, 2, figsize=(11, 8))
        for mode in MODES:
            axes[0, 0].plot(POOLINGS, [e / 1e3 for e, _ in by_pooling[mode]], marker="o", label=mode)
            axes[1, 0].plot(POOLINGS, [t for _, t in by_pooling[mode]], marker="o", label=mode)
            axes[0, 1].plot(EXPONENTS, [e / 1e3 for e, _ in by_skew[mode]], marker="o", label=mode)
            axes[1, 1].plot(EXPONENTS, [t for _, t in by_skew[mode]], marker="o", label=mode)
        for ax in axes.flat:
            ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
        axes[0, 0].set(title="vs pooling factor (Zipf 0.9)", ylabel="embedding energy (nJ / inference)")
        axes[1, 0].set(xlabel="pooling factor (rows per bag)", ylabel="slowest table (ns / inference)")
        axes[0, 1].set(title="vs access skew (pooling 100)")
        axes[1, 1].set(xlabel="Zipf exponent")
        axes[0, 0].legend(fontsize=8)
        figure.suptitle("dlrm_multihot (8 x 1M x 64 tables) on isaac: embedding lookups by mode")
        figure.tight_layout()
        figure.savefig(args.plot, dpi=110)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()

"""recpim's own figures pinned as regression values: the chip presets' roll-ups, VGG-8 on the
NeuroSim preset, and DLRM / DeepFM on ISAAC, the figures the README quotes (issue 27, item 4).

Why: these are numbers users read and compare. A change that moves one must do it on purpose, so
tests/test_golden_figures.py holds them to 1e-9. How far they are from the published figures
(NeuroSim V1.4, ISAAC) is not tested here: benchmarks/check_readme.py prints that beside the README,
and docs/neurosim_comparison.md explains it.

Updating: run `.venv/bin/python tests/golden_figures.py`, which prints GOLDEN measured now; paste it
over GOLDEN below, update LAST_UPDATED, and say in the commit which change moved which figure and why.
The README quotes some of these (its NeuroSim table and zoo row): rerun benchmarks/check_readme.py.

Which figures move with what: the chip roll-ups (area, power) with component models and presets;
dynamic energy with the mapping's activity counts or a component's energy per action; latency,
throughput, TOPS, and (through leakage x time) total energy and TOPS/W with the timing of the cost
engines (pim/analytic.py, pim/des.py).
"""

from __future__ import annotations

from collections.abc import Callable

LAST_UPDATED = ("2026-12-05, issue 22 item 5: a tile's adders merge what several of its PEs computed of the same "
                "outputs, counted (tile_add) and timed before the partial sums leave the tile: VGG-8 on "
                "neurosim-rram-22nm TOPS 7.40 -> 7.15 analytic, 6.92 -> 6.72 DES, dynamic energy +0.013 %; DLRM and "
                "DeepFM on isaac moved likewise. Before it, items 2-3 (column-group reduction) moved the "
                "neurosim-rram-22nm figures by < 0.3 %. Then the reduction chain's hops were listed far end first "
                "per side with groups bound for one tile as one hop (mapping speed): the same bytes, but the "
                "simulator serves simultaneous requests in list order, so VGG-8 neurosim DES latency +0.9 %")
REL = 1e-9

# case -> figure -> value (as measured by CASES below).
GOLDEN: dict[str, dict[str, float]] = {
    'chip isaac': {
        'area_mm2': 85.42472,
        'power_mw': 65808.07999999999,
        'leakage_mw': 0.0,
    },
    'chip puma': {
        'area_mm2': 103.62931756732803,
        'power_mw': 35522.70730385417,
        'leakage_mw': 4415.460730385416,
    },
    'chip default': {
        'area_mm2': 50.179781351762315,
        'power_mw': 17603.415931329604,
        'leakage_mw': 1491.382380908721,
    },
    'chip neurosim-rram-22nm': {
        'area_mm2': 429.3892673750635,
        'power_mw': 10711.397655272891,
        'leakage_mw': 3.8160691079640463,
    },
    'vgg8 neurosim-rram-22nm analytic': {
        'dynamic_energy_pj_per_inference': 167154494.8015687,
        'energy_pj_per_inference': 167801754.9331955,
        'latency_ns_per_inference': 717720.5,
        'throughput_inf_per_s': 5801.395480359399,
        'tops': 7.146362790538306,
        'tops_per_w': 7.341014618651712,
        'area_mm2': 429.3892673750635,
    },
    'vgg8 neurosim-rram-22nm des': {
        'dynamic_energy_pj_per_inference': 167154494.8015687,
        'energy_pj_per_inference': 167843321.28791052,
        'latency_ns_per_inference': 801295.75,
        'throughput_inf_per_s': 5451.317678242064,
        'tops': 6.715124653556518,
        'tops_per_w': 7.339196618297181,
        'area_mm2': 429.3892673750635,
    },
    'dlrm isaac analytic': {
        'dynamic_energy_pj_per_inference': 377310.2207465278,
        'energy_pj_per_inference': 377310.2207465278,
        'latency_ns_per_inference': 12483.041666666666,
        'throughput_inf_per_s': 197328.02945737488,
        'tops': 0.19181547362645365,
        'tops_per_w': 2.5762991473613437,
        'area_mm2': 85.42472,
    },
    'dlrm isaac des': {
        'dynamic_energy_pj_per_inference': 377310.2207465278,
        'energy_pj_per_inference': 377310.2207465278,
        'latency_ns_per_inference': 12543.041666666666,
        'throughput_inf_per_s': 197291.53150505564,
        'tops': 0.1917799952809304,
        'tops_per_w': 2.576299147361344,
        'area_mm2': 85.42472,
    },
    'deepfm isaac analytic': {
        'dynamic_energy_pj_per_inference': 407201.2893663194,
        'energy_pj_per_inference': 407201.2893663194,
        'latency_ns_per_inference': 5361.291666666667,
        'throughput_inf_per_s': 359827.1705121634,
        'tops': 0.3540792912904021,
        'tops_per_w': 2.4165591458006594,
        'area_mm2': 85.42472,
    },
    'deepfm isaac des': {
        'dynamic_energy_pj_per_inference': 407201.2893663194,
        'energy_pj_per_inference': 407201.2893663194,
        'latency_ns_per_inference': 8890.208333333334,
        'throughput_inf_per_s': 354224.67114874657,
        'tops': 0.34856628625181646,
        'tops_per_w': 2.416559145800659,
        'area_mm2': 85.42472,
    },
}


def chip_figures(preset: str) -> dict[str, float]:
    from recpim.pim.chip_model import build_chip_model
    from recpim.pim.presets import load_chip

    model = build_chip_model(load_chip(preset))
    return {"area_mm2": model.chip.area_mm2, "power_mw": model.chip.power_mw, "leakage_mw": model.chip.leakage_mw}


def report_figures(report) -> dict[str, float]:
    return {"dynamic_energy_pj_per_inference": report.dynamic_energy_pj_per_inference,
            "energy_pj_per_inference": report.energy_pj_per_inference,
            "latency_ns_per_inference": report.latency_ns_per_inference,
            "throughput_inf_per_s": report.throughput_inf_per_s, "tops": report.tops,
            "tops_per_w": report.tops_per_w, "area_mm2": report.area_mm2}


def vgg8_on_neurosim(engine: str) -> dict[str, float]:
    """The README's NeuroSim table: `recpim simulate vgg8 --chip neurosim-rram-22nm --engine E` (batch 64)."""
    from recpim.arch.model.spec import resolve_model_spec
    from recpim.mapping.cost import evaluate_cost
    from recpim.pim.presets import load_chip

    return report_figures(evaluate_cost(resolve_model_spec("vgg8"), load_chip("neurosim-rram-22nm"),
                                        engine=engine, batch=64).report)


def zoo_graph(name: str):
    """DLRM or DeepFM on the synthetic schema at 8/8 bits, as search/zoo_baselines.py costs it (the
    README's zoo row, from bench_codesign.py)."""
    import torch

    from recpim.arch.data.synthetic import synthetic_schema
    from recpim.arch.graph.fx_import import graph_from_module
    from recpim.arch.model.zoo import DLRM, DeepFM

    schema = synthetic_schema()
    torch.manual_seed(0)
    model = {"dlrm": DLRM, "deepfm": DeepFM}[name](schema)
    sample = (torch.rand(2, schema.num_dense), torch.zeros(2, schema.num_sparse, dtype=torch.long))
    return graph_from_module(model, sample, name, 8, 8)


def zoo_on_isaac(name: str, engine: str) -> dict[str, float]:
    from recpim.mapping.cost import evaluate_cost
    from recpim.pim.presets import load_chip

    return report_figures(evaluate_cost(zoo_graph(name), load_chip("isaac"), engine=engine, batch=64).report)


CASES: dict[str, Callable[[], dict[str, float]]] = {
    **{f"chip {p}": (lambda p=p: chip_figures(p)) for p in ("isaac", "puma", "default", "neurosim-rram-22nm")},
    **{f"vgg8 neurosim-rram-22nm {e}": (lambda e=e: vgg8_on_neurosim(e)) for e in ("analytic", "des")},
    **{f"{m} isaac {e}": (lambda m=m, e=e: zoo_on_isaac(m, e))
       for m in ("dlrm", "deepfm") for e in ("analytic", "des")},
}


if __name__ == "__main__":
    print("GOLDEN: dict[str, dict[str, float]] = {")
    for case, measure in CASES.items():
        print(f"    {case!r}: {{")
        for figure, value in measure().items():
            print(f"        {figure!r}: {value!r},")
        print("    },")
    print("}")

"""The public Python API: one import that gathers the functions behind the CLI's commands (model
specs, mapping, simulation, sweeps, supernet training and scoring, the co-search and its outputs),
so notebooks and scripts use exactly what the CLI uses. The CLI's command modules import the same
functions from their stage modules directly, each loading only what its command needs.

It sits on top of the stages (arch, pim -> mapping -> search -> reports) and only re-exports them;
recpim.demo.run_demo (the whole flow) is built on them and sits above, beside the CLI. The stages
that load torch and optuna (training, scoring, the co-search) are imported on first use, so
`import recpim.api` stays quick.
"""

from __future__ import annotations

from recpim.arch.data.profile import DataProfile, profile_dataset, read_profile
from recpim.arch.graph.workload import WorkloadGraph
from recpim.arch.model.spec import resolve_model_spec
from recpim.mapping import MappingResult, map_model
from recpim.mapping.cost import Evaluation, map_spec, simulate_model, simulate_model_detailed
from recpim.mapping.embedding_profile import apply_profile
from recpim.pim.chip_model import ChipModel, build_chip_model
from recpim.pim.config import ChipConfig, chip_schema
from recpim.pim.cost_report import CostReport
from recpim.pim.engine import ENGINES
from recpim.pim.presets import list_presets, load_chip
from recpim.search.sweep import run_sweep

__all__ = [
    "ENGINES",
    "ChipConfig",
    "ChipModel",
    "CostReport",
    "DataProfile",
    "Evaluation",
    "MappingResult",
    "WorkloadGraph",
    "apply_profile",
    "build_chip_model",
    "chip_schema",
    "list_presets",
    "load_chip",
    "map_model",
    "map_spec",
    "profile_dataset",
    "read_profile",
    "resolve_model_spec",
    "resolve_search_settings",
    "run_search",
    "run_sweep",
    "score_subnet",
    "simulate_model",
    "simulate_model_detailed",
    "train_supernet",
    "write_search_outputs",
]


def train_supernet(*args, **kwargs):
    """recpim.arch.train.loop.train_supernet (imported on first use: it pulls in the training stack).

    device="cpu" | "auto" | "cuda[:N]", precision="fp32" | "bf16" | "fp16" and distributed (a
    recpim.arch.train.distributed.DistContext, from init_from_env under torchrun) choose where it runs."""
    from recpim.arch.train.loop import train_supernet as train

    return train(*args, **kwargs)


def score_subnet(*args, **kwargs):
    """recpim.arch.train.scoring.score_subnet: log loss and AUC of a subnet with inherited weights (loads torch)."""
    from recpim.arch.train.scoring import score_subnet as score

    return score(*args, **kwargs)


def resolve_search_settings(*args, **kwargs):
    """recpim.search.run.resolve_settings: a co-search's settings (loads torch and optuna on first use)."""
    from recpim.search.run import resolve_settings

    return resolve_settings(*args, **kwargs)


def run_search(*args, **kwargs):
    """recpim.search.run.run_search: the co-search (loads torch and optuna on first use)."""
    from recpim.search.run import run_search as search

    return search(*args, **kwargs)


def write_search_outputs(*args, **kwargs):
    """recpim.reports.search_outputs.write_search_outputs: a search's data files and reports
    (loads the search stack, torch and optuna, on first use)."""
    from recpim.reports.search_outputs import write_search_outputs as write

    return write(*args, **kwargs)


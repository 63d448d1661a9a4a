"""Hand-made recommender models (DLRM, DeepFM from the zoo) placed on the same chip and axes as
a co-search's front: their cost on the chip, and their log loss after training each alone on the
same data and scoring it on the chip's simulated crossbars at 8/8 bits."""

from __future__ import annotations

from dataclasses import dataclass

from recpim.mapping.arithmetic import crossbar_arithmetic

ZOO_LR = 0.03   # the supernet recipe's Adagrad lr 0.12 diverges on DLRM and DeepFM trained alone


@dataclass(frozen=True)
class ZooBaseline:
    """A zoo model's cost on the chip (analytic and DES) and, when it was trained, its log loss."""

    name: str
    energy_pj_per_inference: float
    latency_ns_per_inference: float
    throughput_inf_per_s: float
    des_energy_pj_per_inference: float
    des_throughput_inf_per_s: float
    logloss: float | None = None          # on the chip's simulated crossbars at 8/8 bits
    logloss_float: float | None = None    # the same model in float
    logloss_note: str = ""


def zoo_points(chip, dataset, steps: int, batch: int = 64, score_rows: int = 1024,
               data: str = "synthetic") -> list[ZooBaseline]:
    """DLRM and DeepFM on the synthetic schema: cost at 8 bits on `chip`; log loss after training alone."""
    import torch

    from recpim.arch.crossbar.matmul import CrossbarMode
    from recpim.arch.graph.fx_import import graph_from_module
    from recpim.arch.model.modules import QuantBits
    from recpim.arch.model.zoo import DLRM, DeepFM
    from recpim.arch.train.loop import TrainConfig, run_training
    from recpim.arch.train.scoring import cached_split, log_loss
    from recpim.mapping.cost import evaluate_cost

    val = cached_split(dataset, "val", score_rows)
    points = []
    for name, build in (("dlrm", DLRM), ("deepfm", DeepFM)):
        torch.manual_seed(0)
        model = build(dataset.schema)
        for module in model.modules():   # small uniform tables, as the supernet's (N(0,1) saturates DeepFM's FM)
            if isinstance(module, torch.nn.Embedding):
                torch.nn.init.uniform_(module.weight, -0.01, 0.01)
        sample = (torch.rand(2, dataset.schema.num_dense), torch.zeros(2, dataset.schema.num_sparse, dtype=torch.long))
        graph = graph_from_module(model, sample, name, 8, 8)
        analytic = evaluate_cost(graph, chip, batch=batch).report
        des = evaluate_cost(graph, chip, engine="des", batch=batch).report
        cost = {"name": name, "energy_pj_per_inference": analytic.energy_pj_per_inference,
                "latency_ns_per_inference": analytic.latency_ns_per_inference,
                "throughput_inf_per_s": analytic.throughput_inf_per_s,
                "des_energy_pj_per_inference": des.energy_pj_per_inference,
                "des_throughput_inf_per_s": des.throughput_inf_per_s}
        if not steps:
            points.append(ZooBaseline(**cost))
            continue
        def logits(inputs, m=model):
            return torch.logit(m(inputs.dense, inputs.sparse).squeeze(-1), eps=1e-7)

        run_training(model, lambda b, _step: logits(b), dataset,
                     TrainConfig(data=data, steps=steps, batch_size=256, lr=ZOO_LR))
        model.eval()
        mode = CrossbarMode(crossbar_arithmetic(chip))
        with torch.no_grad():
            logloss_float = log_loss(val.label.numpy(), logits(val).double().numpy())
            with mode, mode.at_bits(QuantBits(8, 8)):
                logloss = log_loss(val.label.numpy(), logits(val).double().numpy())
        note = (f"trained alone for {steps} steps (Adagrad, lr {ZOO_LR}); logloss: every linear layer at 8/8 "
                f"bits on {chip.name}'s simulated crossbars, other ops float")
        points.append(ZooBaseline(**cost, logloss=logloss, logloss_float=logloss_float, logloss_note=note))
    return points


def retrained_points(records, chip, dataset, steps: int, score_rows: int = 1024,
                     data: str = "synthetic") -> list[ZooBaseline]:
    """Searched candidates trained alone exactly as zoo_points trains DLRM and DeepFM (same steps,
    optimizer, lr, batch and data), quantisation-aware at their own bits, and scored on the chip's
    simulated crossbars: the accuracy a user gets from deploying them, on the zoo's footing (the
    search's own log loss comes from inherited supernet weights). Cost: the search's own figures."""
    from recpim.arch.train.loop import TrainConfig
    from recpim.arch.train.scoring import train_standalone

    points = []
    arithmetic = crossbar_arithmetic(chip)
    for record in records:
        subnet = record.candidate.subnet
        config = TrainConfig(data=data, space=subnet.space, steps=steps, batch_size=256, lr=ZOO_LR)
        score = train_standalone(subnet, dataset, steps, 0, config=config, crossbar=arithmetic, max_rows=score_rows)
        metrics = record.metrics
        points.append(ZooBaseline(
            name=f"searched c{record.index} (alone)", energy_pj_per_inference=metrics.energy_pj_per_inference,
            latency_ns_per_inference=metrics.latency_ns_per_inference,
            throughput_inf_per_s=metrics.throughput_inf_per_s,
            des_energy_pj_per_inference=metrics.energy_pj_per_inference,
            des_throughput_inf_per_s=metrics.throughput_inf_per_s, logloss=score.logloss,
            logloss_note=f"trained alone for {steps} steps (Adagrad, lr {ZOO_LR}) at its own bits; logloss on "
                         f"{chip.name}'s simulated crossbars"))
    return points

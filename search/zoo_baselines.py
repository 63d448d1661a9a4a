"""Hand-made recommender models (DLRM, DeepFM from the zoo) placed on the same chip and axes as
a co-search's front: their cost on the chip, and their log loss after training each alone on the
same data and scoring it on the chip's simulated crossbars at 8/8 bits."""

from __future__ import annotations

from typing import Any

from recpim.mapping.arithmetic import crossbar_arithmetic

ZOO_LR = 0.03   # the supernet recipe's Adagrad lr 0.12 diverges on DLRM and DeepFM trained alone


def zoo_points(chip, dataset, steps: int, batch: int = 64, score_rows: int = 1024,
               data: str = "synthetic") -> list[dict[str, Any]]:
    """DLRM and DeepFM on the synthetic schema: cost at 8 bits on `chip`; log loss after training alone."""
    import torch

    from recpim.arch.crossbar_sim import CrossbarMode
    from recpim.arch.fx_import import graph_from_module
    from recpim.arch.ops import QuantBits
    from recpim.arch.scoring import cached_split, log_loss
    from recpim.arch.training import TrainConfig, run_training
    from recpim.arch.zoo import DLRM, DeepFM
    from recpim.mapping.evaluate import evaluate_cost

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
        point = {"name": name, "energy_pj_per_inference": analytic.energy_pj_per_inference,
                 "latency_ns_per_inference": analytic.latency_ns_per_inference,
                 "throughput_inf_per_s": analytic.throughput_inf_per_s,
                 "des_energy_pj_per_inference": des.energy_pj_per_inference,
                 "des_throughput_inf_per_s": des.throughput_inf_per_s, "logloss": None, "logloss_float": None}
        if steps:
            def logits(inputs, m=model):
                return torch.logit(m(inputs.dense, inputs.sparse).squeeze(-1), eps=1e-7)

            run_training(model, lambda b, _step: logits(b), dataset,
                         TrainConfig(data=data, steps=steps, batch_size=256, lr=ZOO_LR))
            model.eval()
            mode = CrossbarMode(crossbar_arithmetic(chip))
            with torch.no_grad():
                point["logloss_float"] = log_loss(val.label.numpy(), logits(val).double().numpy())
                with mode, mode.at_bits(QuantBits(8, 8)):
                    point["logloss"] = log_loss(val.label.numpy(), logits(val).double().numpy())
            point["logloss_note"] = (f"trained alone for {steps} steps (Adagrad, lr {ZOO_LR}); logloss: every linear "
                                     f"layer at 8/8 bits on {chip.name}'s simulated crossbars, other ops float")
        points.append(point)
    return points

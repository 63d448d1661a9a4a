"""The levers that make a supernet rank (issue 11): NASRec's full-path warm-up, per-operator input
sharing, sparse embedding gradients, and logit fine-tuning that touches the final layer only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.synthetic import HiddenCtrModel, synthetic_schema
from recpim.arch.model.space import nasrec_full
from recpim.arch.model.subnet import SubnetConfig, sample_subnet
from recpim.arch.model.supernet import Supernet, extract_standalone
from recpim.arch.train.loop import TrainConfig, train_batches, train_step
from recpim.arch.train.optimizers import make_optimizer
from recpim.arch.train.sandwich import full_path_probability, uses_full_path
from recpim.arch.train.scoring import FinetuneRecipe, finetune_logit, score_standalone, score_subnet
from recpim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SPACE = nasrec_full(num_blocks=3, name="test_sharing_full", dense_widths=(8, 16), sparse_widths=(4, 6),
                    merger_rows=2, attention_heads=2)
ONE_BLOCK = nasrec_full(num_blocks=1, name="test_sharing_one_block", dense_widths=(8, 12),
                        sparse_widths=(4,), merger_rows=2, attention_heads=2)
SCHEMA = synthetic_schema(num_dense=4, num_sparse=5, vocab_size=30, embedding_dim=4)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _inputs(rows: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(rows, SCHEMA.num_dense, generator=g) * 3
    sparse = torch.stack([torch.randint(0, v, (rows,), generator=g) for v in SCHEMA.vocab_sizes], dim=1)
    return dense, sparse


@pytest.fixture(scope="module")
def per_operator() -> Supernet:
    torch.manual_seed(0)
    return Supernet(SPACE, SCHEMA, "per_operator")


@pytest.fixture(scope="module")
def dataset():
    return open_dataset("synthetic:3000", schema=SCHEMA, seed=1)


# ---- warm-up schedule
def test_full_path_probability_falls_linearly_from_one_to_zero():
    assert full_path_probability(0, 100) == 1.0
    assert full_path_probability(25, 100) == pytest.approx(0.75)
    assert full_path_probability(99, 100) == pytest.approx(0.01)
    assert full_path_probability(100, 100) == full_path_probability(5000, 100) == 0.0
    assert full_path_probability(0, 0) == 0.0  # no warm-up


def test_full_path_steps_follow_the_probability_and_depend_only_on_seed_and_step():
    warmup = 2000
    chosen = np.array([uses_full_path(7, step, warmup) for step in range(warmup)])
    assert chosen[:200].mean() > 0.85 and chosen[-200:].mean() < 0.15
    assert abs(chosen.mean() - 0.5) < 0.05  # the mean of a linear fall from 1 to 0
    assert not any(uses_full_path(7, step, warmup) for step in range(warmup, warmup + 300))
    assert [uses_full_path(7, s, warmup) for s in range(50)] == [uses_full_path(7, s, warmup) for s in range(50)]
    assert chosen.tolist() != [uses_full_path(8, s, warmup) for s in range(warmup)]


# ---- the full forward
@pytest.mark.parametrize("sharing", ["per_source", "per_operator"])
def test_the_full_forward_trains_every_operator_of_every_block(sharing):
    torch.manual_seed(1)
    net = Supernet(SPACE, SCHEMA, sharing)
    net.forward_full(*_inputs()).sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    # ... and every column of the logit weight: the full forward reads every slot of every source
    assert (net.logit.linear.weight.grad.abs() > 0).float().mean() > 0.9  # (ReLU zeros aside)


def _one_block_by_hand(sharing: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(forward_full, the same written out by hand) of a one-block supernet on the raw features:
    every operator at maximum width (12 dense, 4 rows), both mergers on."""
    torch.manual_seed(seed)
    net = Supernet(ONE_BLOCK, SCHEMA, sharing)
    dense, sparse = _inputs()
    block = net.blocks[0]
    with torch.no_grad():
        rows = net.embeddings(sparse)
        outs = [block.dense_ops["fc"](dense, 12), block.dense_ops["dot_product"](dense, rows, 12),
                block.dense_ops["gating"](dense, dense, 12), block.dense_ops["sum"](dense, dense, 12)]
        sparse_outs = [block.sparse_ops["efc"](rows, 4), block.sparse_ops["attention"](rows, 4)]
        if sharing == "per_source":  # NASRec: operator outputs summed
            s = sum(sparse_outs)
            d = sum(outs) + block.fm(s, 12)
        else:                        # each operator in its own columns
            s = torch.cat(sparse_outs, dim=1)
            fm = block.fm(s, 12)
            d = torch.cat([o + fm for o in outs], dim=1)
        expected = net.logit(d, torch.cat([s, block.dense_to_sparse(sum(outs))], dim=1))
        return net.forward_full(dense, sparse), expected


@pytest.mark.parametrize("sharing", ["per_source", "per_operator"])
def test_the_full_forward_of_one_block_is_every_operator_at_maximum_width(sharing):
    got, expected = _one_block_by_hand(sharing, seed=2)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


# ---- per-operator sharing keeps inheritance exact
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 100_000), quant=st.booleans())
def test_per_operator_supernet_equals_the_standalone_model_of_its_slices(per_operator, seed, quant):
    subnet = sample_subnet(SPACE, seed)
    dense, sparse = _inputs(seed=seed)
    with torch.no_grad():
        expected = extract_standalone(per_operator, subnet, quantize=quant)(dense, sparse)
        got = per_operator(dense, sparse, subnet, quant=quant)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_a_consumer_reads_different_columns_for_different_producing_operators(per_operator):
    base = sample_subnet(SPACE, 4)
    blocks = list(base.blocks)
    first = blocks[0]
    last = blocks[-1].model_copy(update={"dense_op": "fc", "dense_inputs": (1,), "dense_left": None,
                                         "dense_right": None})
    as_fc = base.model_copy(update={"blocks": (first.model_copy(update={"dense_op": "fc", "dense_inputs": (0,),
                                                                         "dense_left": None, "dense_right": None}),
                                               blocks[1], last)})
    as_sum = base.model_copy(update={"blocks": (first.model_copy(update={"dense_op": "sum", "dense_inputs": (),
                                                                          "dense_left": 0, "dense_right": 0}),
                                                blocks[1], last)})
    reads = [per_operator.layout.dense([1], per_operator.source_shapes(s))[0] for s in (as_fc, as_sum)]
    assert reads[0][0] != reads[1][0]  # FC's output and Sum's output meet different consumer weights
    per_source = Supernet(SPACE, SCHEMA, "per_source")
    assert len({per_source.layout.dense([1], per_source.source_shapes(s))[0] for s in (as_fc, as_sum)}) == 1


def test_unknown_input_sharing_is_refused():
    with pytest.raises(ConfigError, match="input_sharing"):
        Supernet(SPACE, SCHEMA, "per_block")  # type: ignore[arg-type]


# ---- sparse embedding gradients
def test_sparse_gradient_training_equals_dense_training(dataset):
    """Sparse Adagrad on the tables computes what dense Adagrad computes (rows not read get a zero
    gradient, whose Adagrad update is exactly zero)."""
    subnet = sample_subnet(SPACE, 5)
    models = []
    for sparse in (False, True):
        torch.manual_seed(0)
        net = Supernet(SPACE, SCHEMA, "per_operator")
        config = TrainConfig(space=SPACE.name, optimizer="adagrad", lr=0.05, grad_clip_norm=None,
                             sparse_embeddings=sparse)
        optimizer, scheduler = make_optimizer(net, config, 20)
        batches = train_batches(dataset, 64, seed=0)
        for _ in range(8):
            train_step(net, lambda b, n=net: n(b.dense, b.sparse, subnet), next(batches), optimizer, scheduler, None)
        models.append(net)
    table = models[1].embeddings.tables[0].weight
    assert models[1].embeddings.sparse_gradients and table.grad is not None and table.grad.is_sparse
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), name


# ---- fine-tuning
def test_finetuned_score_is_the_inherited_model_with_only_its_logit_retrained(per_operator, dataset):
    subnet = sample_subnet(SPACE, 6)
    before = {k: v.clone() for k, v in per_operator.state_dict().items()}
    recipe = FinetuneRecipe()
    head = finetune_logit(per_operator, subnet, dataset, 40, quant=False, recipe=recipe)
    model = extract_standalone(per_operator, subnet)
    inherited = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.logit.linear.weight.copy_(head.weight)
        model.logit.linear.bias.copy_(head.bias)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, inherited[k])]
    assert changed and all(k.startswith("logit.") for k in changed)
    tuned = score_subnet(per_operator, subnet, dataset, quant=False, finetune_steps=40, finetune=recipe)
    expected, _ = score_standalone(model, dataset)
    assert tuned.logloss == pytest.approx(expected, abs=1e-6)
    assert tuned.finetune_seconds > 0
    assert all(torch.equal(before[k], v) for k, v in per_operator.state_dict().items())


def test_cached_feature_finetuning_learns_like_the_fresh_batch_recipe(per_operator, dataset):
    subnet = sample_subnet(SPACE, 7)
    plain = score_subnet(per_operator, subnet, dataset, quant=False).logloss
    cached = score_subnet(per_operator, subnet, dataset, quant=False, finetune_steps=60,
                          finetune=FinetuneRecipe(feature_rows=1024, batch_size=128)).logloss
    assert cached < plain
    with pytest.raises(ConfigError, match="feature_rows"):
        FinetuneRecipe(feature_rows=100, batch_size=128)


# ---- the benchmark's task and its JSON
def test_the_interactions_task_needs_more_than_a_linear_model():
    model = HiddenCtrModel.build(synthetic_schema(), seed=0, task="interactions")
    rng = np.random.default_rng(0)
    dense, sparse = model.features(rng, 20_000)
    parts = model.logit_parts(dense, sparse) * model.scales
    assert parts.shape[1] == 5
    assert np.allclose(parts.std(axis=0), [0.3, 1.1, 0.5, 1.2, 0.9], rtol=0.1)
    assert open_dataset("synthetic:50:interactions").name == "synthetic:50:interactions"
    with pytest.raises(ConfigError, match="TASK"):
        open_dataset("synthetic:50:cubic")


def test_bench_ranking_json_has_its_keys(tmp_path):
    out = tmp_path / "ranking.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_ranking.py"), "--json", "--data",
               "synthetic:4000:interactions:stream", "--subnets", "3", "--supernet-steps", "6",
               "--standalone-steps", "4", "--converged-steps", "6", "--finetune-steps", "3", "--batch-size", "64",
               "--workers", "1", "--baselines", "logistic_regression", "dlrm", "deepfm", "--score-rows", "512",
               "--lever", "sandwich:sandwich_students=2,distill_weight=0.5", "--few-shot-steps", "2",
               "--probe-every", "3",
               "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"tau_plain", "tau_finetuned", "spearman_finetuned", "noise_ceiling_tau", "truth_span", "predicted_span",
            "top3_overlap", "subnets", "seconds", "tau_converged", "tau_search_scoring", "best_sampled_vs_dlrm",
            "best_sampled_vs_deepfm", "levers"} <= set(result)
    # one row per supernet lever, each with its own figures against the same truths
    assert [row["lever"] for row in result["levers"]] == ["defaults", "sandwich", "few_shot"]
    assert result["levers"][1]["settings"] == {"sandwich_students": 2, "distill_weight": 0.5}
    assert result["levers"][0]["tau_finetuned"] == result["tau_finetuned"]
    assert all({"tau_plain", "tau_finetuned", "tau_converged", "gap_finetuned_median"} <= set(row)
               for row in result["levers"])
    assert [(r["step"], r["probe"]) for r in result["levers"][0]["probes"]] == [(3, 0), (3, 1), (3, 2), (6, 0),
                                                                                 (6, 1), (6, 2)]
    best = min(row["standalone_mean"] for row in result["subnets"])
    assert result["best_sampled_vs_dlrm"] == pytest.approx(best - result["baselines"]["dlrm"])
    assert len(result["subnets"]) == 3 and all(len(row["standalone"]) == 2 for row in result["subnets"])
    assert -1 <= result["tau_finetuned"] <= 1 and result["truth_span"] >= 0
    assert json.loads(out.read_text())["seconds"] == result["seconds"]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_ranking import BENCH_SPACE
    finally:
        sys.path.pop(0)
    assert SubnetConfig.from_dict(result["subnets"][0]["subnet"], space=BENCH_SPACE).space == BENCH_SPACE.name


def test_train_config_names_the_levers():
    config = TrainConfig()
    assert (config.input_sharing, config.full_path_fraction, config.adagrad_eps, config.sparse_embeddings,
            config.subnets_per_step) == ("per_operator", 0.1, 1e-2, True, 16)
    with pytest.raises(ConfigError, match="full_path_fraction"):
        TrainConfig(full_path_fraction=1.5)


def test_bench_supernet_learning_samplers_and_figures(tmp_path):
    """The diagnosis's sampling rules hold what they claim, and learned_fraction is computed from its anchors."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_ranking import BENCH_SPACE
        from bench_supernet_learning import _sampler
    finally:
        sys.path.pop(0)
    from recpim.arch.model.subnet import sample_subnet

    anchor = sample_subnet(BENCH_SPACE, 1000)

    def structure(subnet):
        return [b.model_dump(exclude={"dense_width", "sparse_width"}) for b in subnet.blocks]

    def widths(subnet):
        return [(b.dense_width, b.sparse_width) for b in subnet.blocks]

    samples = [_sampler("uniform", anchor)(BENCH_SPACE, 0, step) for step in range(12)]
    assert len({json.dumps(structure(s)) for s in samples}) > 1 and len({str(widths(s)) for s in samples}) > 1
    for step, sample in enumerate(samples):
        assert _sampler("fixed", anchor)(BENCH_SPACE, 0, step) == anchor
        by_width = _sampler("widths", anchor)(BENCH_SPACE, 0, step)
        assert structure(by_width) == structure(anchor) and widths(by_width) == widths(sample)
        by_structure = _sampler("structure", anchor)(BENCH_SPACE, 0, step)
        assert structure(by_structure) == structure(sample) and widths(by_structure) == widths(anchor)

    out = tmp_path / "learning.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_supernet_learning.py"), "--json", "--data",
               "synthetic:4000:interactions:stream", "--steps", "6", "--batch-size", "64", "--probe-rows", "256",
               "--variants", "fixed", "structure", "--workers", "1", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [row["variant"] for row in result["variants"]] == ["fixed", "structure"]
    base, alone = result["base_rate_logloss"], result["standalone_probe0"]
    for row in result["variants"]:
        assert len(row["final_val_logloss"]) == 3
        expected = (base - row["final_val_logloss"][0]) / (base - alone) if base > alone else None
        assert row["learned_fraction_probe0"] == (pytest.approx(expected) if expected is not None else None)
    rate = result["train_click_rate"]
    assert 0 < rate < 1 and base > 0

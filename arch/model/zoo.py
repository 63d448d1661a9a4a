"""Model zoo: reference workloads as plain PyTorch modules, imported through torch.fx like any user model.

- dlrm: DLRM with the DLRM paper's Criteo configuration (bottom MLP 512-256-64-16, top MLP 512-256-1,
  pairwise dot interaction) at embedding dim 16, 26 tables sized by recpim's Criteo schema.
- dlrm_multihot: DLRM with the DLRM repository's benchmark configuration (facebookresearch/dlrm,
  bench/dlrm_s_benchmark.sh: --arch-mlp-bot=512-512-64 --arch-mlp-top=1024-1024-1024-1
  --arch-sparse-feature-size=64 --arch-embedding-size=8 x 1000000 --num-indices-per-lookup=100
  --arch-interaction-op=dot): 512 dense features, 8 multi-hot features, each an nn.EmbeddingBag of
  1 M rows x 64 (sum pooling) reading 100 rows per sample, pairwise dots of the 9 vectors (36 pairs).
  Its 2 GB of float weights are built on torch's meta device (shapes only, no memory): enough to
  trace and cost it; build_dlrm_multihot(device="cpu") gives trainable weights.
- deepfm: DeepFM (first-order + FM second-order + DNN 400-400-400) on the Criteo schema.
- autoint: AutoInt-like: every field (dense ones scaled per value) embedded in 16 dims, 3 interacting
  layers of 2-head self-attention (32 dims per head) with residual projections, then a logit.
- mlp3: a 3-layer perceptron 784-512-512-10 (MNIST-shaped), the classic crossbar benchmark.
- vgg8: VGG-8 for CIFAR-10 as DNN+NeuroSim defines it (six 3x3 convs 128-128-256-256-512-512 with a
  2x2 max pool after every second, FC 8192-1024-10; bias-free like NeuroSim's quantised layers).

Each builder takes a seed (weights and sample inputs) and returns (module, sample_inputs) with a
sample batch of 2 (1 for vgg8 to keep tests fast); the graphs count per sample.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from recpim.arch.data.schema import DatasetSchema, criteo_schema
from recpim.arch.graph.fx_import import graph_from_module
from recpim.arch.graph.workload import WorkloadGraph
from recpim.errors import RecpimError

SAMPLE_BATCH = 2


def _mlp(widths: list[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or index < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _ctr_inputs(schema: DatasetSchema, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    dense = torch.rand(SAMPLE_BATCH, schema.num_dense, generator=generator)
    sparse = torch.stack(
        [torch.randint(0, size, (SAMPLE_BATCH,), generator=generator) for size in schema.vocab_sizes], dim=1
    )
    return dense, sparse


class DLRM(nn.Module):
    def __init__(self, schema: DatasetSchema, bottom=(512, 256, 64), top=(512, 256)):
        super().__init__()
        dim = schema.embedding_dim
        self.bottom_mlp = _mlp([schema.num_dense, *bottom, dim], final_activation=True)
        self.embeddings = nn.ModuleList(nn.Embedding(size, dim) for size in schema.vocab_sizes)
        features = schema.num_sparse + 1
        rows, cols = torch.tril_indices(features, features, offset=-1)  # each unordered pair once
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)
        self.top_mlp = _mlp([dim + rows.numel(), *top, 1], final_activation=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        bottom = self.bottom_mlp(dense)
        vectors = [bottom] + [table(sparse[:, i]) for i, table in enumerate(self.embeddings)]
        stacked = torch.stack(vectors, dim=1)                      # (B, 27, 16)
        dots = torch.bmm(stacked, stacked.transpose(1, 2))         # (B, 27, 27)
        pairs = dots[:, self.pair_rows, self.pair_cols]            # (B, 351)
        return torch.sigmoid(self.top_mlp(torch.cat([bottom, pairs], dim=1)))


class DLRMMultiHot(nn.Module):
    """DLRM over multi-hot features: each sparse input is a (batch, pooling) block of ids per table,
    summed by an nn.EmbeddingBag; then DLRM's bottom MLP, dot interaction and top MLP."""

    def __init__(self, dense_features: int = 512, tables: int = 8, rows: int = 1_000_000, dim: int = 64,
                 bottom=(512,), top=(1024, 1024, 1024)):
        super().__init__()
        self.bottom_mlp = _mlp([dense_features, *bottom, dim], final_activation=True)
        self.embeddings = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum") for _ in range(tables))
        rows_, cols_ = torch.tril_indices(tables + 1, tables + 1, offset=-1)
        self.register_buffer("pair_rows", rows_, persistent=False)
        self.register_buffer("pair_cols", cols_, persistent=False)
        self.top_mlp = _mlp([dim + rows_.numel(), *top, 1], final_activation=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:   # sparse: (B, tables, pooling)
        bottom = self.bottom_mlp(dense)
        vectors = [bottom] + [bag(sparse[:, i]) for i, bag in enumerate(self.embeddings)]
        stacked = torch.stack(vectors, dim=1)
        dots = torch.bmm(stacked, stacked.transpose(1, 2))
        pairs = dots[:, self.pair_rows, self.pair_cols]
        return torch.sigmoid(self.top_mlp(torch.cat([bottom, pairs], dim=1)))


# facebookresearch/dlrm, bench/dlrm_s_benchmark.sh (the repository's benchmark configuration)
DLRM_BENCHMARK = {"dense_features": 512, "tables": 8, "rows": 1_000_000, "dim": 64, "pooling": 100,
                  "bottom": (512,), "top": (1024, 1024, 1024)}


class DeepFM(nn.Module):
    def __init__(self, schema: DatasetSchema, hidden=(400, 400, 400)):
        super().__init__()
        dim = schema.embedding_dim
        self.first_order = nn.ModuleList(nn.Embedding(size, 1) for size in schema.vocab_sizes)
        self.dense_linear = nn.Linear(schema.num_dense, 1)
        self.embeddings = nn.ModuleList(nn.Embedding(size, dim) for size in schema.vocab_sizes)
        self.dnn = _mlp([schema.num_sparse * dim + schema.num_dense, *hidden, 1], final_activation=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        fields = range(len(self.embeddings))
        linear = self.dense_linear(dense) + torch.cat([self.first_order[i](sparse[:, i]) for i in fields], 1).sum(
            1, keepdim=True)
        embedded = torch.stack([self.embeddings[i](sparse[:, i]) for i in fields], dim=1)  # (B, F, 16)
        # FM: 0.5 * sum_d ((sum_i v_i)^2 - sum_i v_i^2)
        fm = 0.5 * (embedded.sum(1) ** 2 - (embedded * embedded).sum(1)).sum(1, keepdim=True)
        deep = self.dnn(torch.cat([embedded.flatten(1), dense], dim=1))
        return torch.sigmoid(linear + fm + deep)


class InteractingLayer(nn.Module):
    """AutoInt's multi-head self-attention over fields with a residual projection."""

    def __init__(self, dim_in: int, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.query = nn.Linear(dim_in, heads * head_dim, bias=False)
        self.key = nn.Linear(dim_in, heads * head_dim, bias=False)
        self.value = nn.Linear(dim_in, heads * head_dim, bias=False)
        self.residual = nn.Linear(dim_in, heads * head_dim, bias=False)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, F, H*d) -> (B, H, F, d)
        return x.view(x.size(0), x.size(1), self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1)  # (B, H, F, F)
        attended = torch.matmul(scores, v).transpose(1, 2).reshape(x.size(0), x.size(1), -1)
        return torch.relu(attended + self.residual(x))


class AutoInt(nn.Module):
    def __init__(self, schema: DatasetSchema, layers: int = 3, heads: int = 2, head_dim: int = 32):
        super().__init__()
        dim = schema.embedding_dim
        self.embeddings = nn.ModuleList(nn.Embedding(size, dim) for size in schema.vocab_sizes)
        self.dense_embedding = nn.Parameter(torch.randn(schema.num_dense, dim) * 0.01)  # value * vector
        widths = [dim] + [heads * head_dim] * layers
        self.interacting = nn.Sequential(*(InteractingLayer(w, heads, head_dim) for w in widths[:-1]))
        self.logit = nn.Linear((schema.num_dense + schema.num_sparse) * widths[-1], 1)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        dense_fields = dense.unsqueeze(-1) * self.dense_embedding                   # (B, 13, 16)
        sparse_fields = torch.stack([e(sparse[:, i]) for i, e in enumerate(self.embeddings)], 1)
        fields = self.interacting(torch.cat([dense_fields, sparse_fields], dim=1))  # (B, 39, 64)
        return torch.sigmoid(self.logit(fields.flatten(1)))


class VGG8(nn.Module):
    """NeuroSim's VGG-8 for CIFAR-10 (32x32x3)."""

    CONV_CHANNELS = (128, 128, 256, 256, 512, 512)

    def __init__(self, classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for index, width in enumerate(self.CONV_CHANNELS):
            layers += [nn.Conv2d(channels, width, 3, stride=1, padding=1, bias=False), nn.ReLU()]
            if index % 2 == 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8192, 1024, bias=False), nn.ReLU(),
                                        nn.Linear(1024, classes, bias=False))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image))


class LogisticRegression(nn.Module):
    """The CTR floor: a weight per (field, id) and per dense feature, and a bias; returns logits
    (the benchmarks' baseline for "does this task reward interactions at all")."""

    def __init__(self, schema: DatasetSchema):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(v, 1) for v in schema.vocab_sizes)
        for table in self.tables:
            nn.init.zeros_(table.weight)
        self.dense = nn.Linear(schema.num_dense, 1)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        logit = self.dense(dense).squeeze(-1)
        for field, table in enumerate(self.tables):
            logit = logit + table(sparse[:, field]).squeeze(-1)
        return logit


def _seeded(seed: int) -> torch.Generator:
    torch.manual_seed(seed)  # parameter initialisation draws from the global generator
    return torch.Generator().manual_seed(seed)


def build_dlrm(seed: int = 0) -> tuple[nn.Module, tuple]:
    generator, schema = _seeded(seed), criteo_schema()
    return DLRM(schema), _ctr_inputs(schema, generator)


def build_dlrm_multihot(seed: int = 0, pooling: int = DLRM_BENCHMARK["pooling"],
                        device: str = "meta") -> tuple[nn.Module, tuple]:
    """DLRM_BENCHMARK's model and a sample batch reading `pooling` ids per table; on the meta device
    by default (shapes only: its 8 x 1 M x 64 floats would take 2 GB)."""
    config = {key: value for key, value in DLRM_BENCHMARK.items() if key != "pooling"}
    generator = _seeded(seed)
    with torch.device(device):
        module = DLRMMultiHot(**config)
    dense = torch.rand(SAMPLE_BATCH, config["dense_features"], generator=generator).to(device)
    sparse = torch.randint(0, config["rows"], (SAMPLE_BATCH, config["tables"], pooling), generator=generator)
    return module, (dense, sparse.to(device))


def build_deepfm(seed: int = 0) -> tuple[nn.Module, tuple]:
    generator, schema = _seeded(seed), criteo_schema()
    return DeepFM(schema), _ctr_inputs(schema, generator)


def build_autoint(seed: int = 0) -> tuple[nn.Module, tuple]:
    generator, schema = _seeded(seed), criteo_schema()
    return AutoInt(schema), _ctr_inputs(schema, generator)


def build_mlp3(seed: int = 0) -> tuple[nn.Module, tuple]:
    generator = _seeded(seed)
    return _mlp([784, 512, 512, 10], final_activation=False), (torch.rand(SAMPLE_BATCH, 784, generator=generator),)


def build_vgg8(seed: int = 0) -> tuple[nn.Module, tuple]:
    generator = _seeded(seed)
    return VGG8(), (torch.rand(1, 3, 32, 32, generator=generator),)


ZOO: dict[str, Callable[[int], tuple[nn.Module, tuple]]] = {
    "dlrm": build_dlrm, "dlrm_multihot": build_dlrm_multihot,
    "deepfm": build_deepfm, "autoint": build_autoint, "mlp3": build_mlp3, "vgg8": build_vgg8,
}


def zoo_names() -> list[str]:
    return list(ZOO)


def build_zoo_model(name: str, seed: int = 0) -> tuple[nn.Module, tuple]:
    """(module, sample_inputs) of a zoo model; sample inputs carry the batch in dim 0."""
    builder = ZOO.get(name.lower())
    if builder is None:
        raise RecpimError(f"unknown zoo model {name!r}; the zoo holds: {', '.join(ZOO)}")
    return builder(seed)


def zoo_graph(name: str, weight_bits: int = 8, activation_bits: int = 8) -> WorkloadGraph:
    module, sample_inputs = build_zoo_model(name)
    graph = graph_from_module(module, sample_inputs, name.lower(), weight_bits, activation_bits)
    graph.metadata["zoo"] = name.lower()
    return graph

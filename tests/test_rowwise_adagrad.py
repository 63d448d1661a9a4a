"""Issue 26, item 2: the embedding tables' row-wise optimizer (FBGEMM's EXACT_ROWWISE_ADAGRAD,
arch/train/rowwise.py): its arithmetic by hand, its state of one value per row, and a supernet run
that keeps it in CKPT.resume and resumes bit for bit."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_supernet import small_full_space, small_train_config

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.synthetic import synthetic_schema
from recpim.arch.model.embeddings import EmbeddingTables
from recpim.arch.train.checkpoints import read_resume_tensors, resume_state_path, state_bytes
from recpim.arch.train.config import TrainConfig
from recpim.arch.train.loop import train_supernet
from recpim.arch.train.optimizers import make_optimizer
from recpim.arch.train.rowwise import RowwiseAdagrad
from recpim.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sparse_grad(table: torch.nn.Parameter, ids: list[int], upstream: torch.Tensor) -> None:
    """table.grad as F.embedding(sparse=True) gives it for `ids` (duplicates left uncoalesced)."""
    table.grad = None
    (F.embedding(torch.tensor(ids), table, sparse=True) * upstream).sum().backward()


def test_one_step_by_hand():
    # rows 1 and 3 read, row 1 twice: its gradient is the sum of both reads
    table = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [0.5, -0.5], [3.0, 3.0], [0.0, 1.0]], dtype=torch.float64))
    optimizer = RowwiseAdagrad([table], lr=0.1, eps=0.01)
    upstream = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], dtype=torch.float64)
    _sparse_grad(table, [1, 3, 1], upstream)
    optimizer.step()
    g1, g3 = [1.0 + 0.5, 2.0 + 0.5], [3.0, -1.0]     # row 1 is read by ids[0] and ids[2]
    s1, s3 = (g1[0] ** 2 + g1[1] ** 2) / 2, (g3[0] ** 2 + g3[1] ** 2) / 2   # mean squared gradient
    assert optimizer.state[table]["sum"].flatten().tolist() == [0.0, s1, 0.0, s3]
    expected = [[1.0, 2.0],
                [0.5 - 0.1 * g1[0] / (s1 ** 0.5 + 0.01), -0.5 - 0.1 * g1[1] / (s1 ** 0.5 + 0.01)],
                [3.0, 3.0],
                [0.0 - 0.1 * g3[0] / (s3 ** 0.5 + 0.01), 1.0 - 0.1 * g3[1] / (s3 ** 0.5 + 0.01)]]
    assert torch.allclose(table.detach(), torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-15)
    assert table[0].tolist() == [1.0, 2.0] and table[2].tolist() == [3.0, 3.0]   # unread rows: untouched
    assert int(optimizer.state[table]["step"]) == 1


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(2, 40), steps=st.integers(1, 4), seed=st.integers(0, 1000))
def test_with_one_column_it_is_torchs_adagrad_bit_for_bit(rows, steps, seed):
    # D = 1: the mean squared gradient of a row is its one squared gradient, so row-wise Adagrad is Adagrad
    generator = torch.Generator().manual_seed(seed)
    start = torch.randn(rows, 1, generator=generator)
    mine, torchs = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    ours, reference = RowwiseAdagrad([mine], lr=0.05, eps=1e-2), torch.optim.Adagrad([torchs], lr=0.05, eps=1e-2)
    for _ in range(steps):
        ids = torch.randint(0, rows, (7,), generator=generator).tolist()
        upstream = torch.randn(7, 1, generator=generator)
        _sparse_grad(mine, ids, upstream)
        _sparse_grad(torchs, ids, upstream)
        ours.step()
        reference.step()
    assert torch.equal(mine, torchs)
    assert torch.equal(ours.state[mine]["sum"], reference.state[torchs]["sum"])


def test_dense_and_sparse_gradients_give_the_same_update():
    start = torch.randn(30, 6, generator=torch.Generator().manual_seed(1))
    ids, upstream = [3, 7, 3, 29], torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
    results = []
    for sparse in (True, False):
        table = torch.nn.Parameter(start.clone())
        optimizer = RowwiseAdagrad([table], lr=0.1, eps=1e-2)
        table.grad = None
        (F.embedding(torch.tensor(ids), table, sparse=sparse) * upstream).sum().backward()
        optimizer.step()
        results.append((table.detach().clone(), optimizer.state[table]["sum"].clone()))
    assert torch.allclose(results[0][0], results[1][0], rtol=0, atol=1e-6)
    assert torch.equal(results[0][1] != 0, results[1][1] != 0)   # the same rows have state


def test_the_tables_state_is_one_value_per_row():
    space = small_full_space("rowwise_state", num_blocks=2)
    from recpim.arch.model.supernet import Supernet

    schema = synthetic_schema(num_dense=4, num_sparse=5, vocab_size=300, embedding_dim=8)
    supernet = Supernet(space, schema, "per_operator")
    config = small_train_config(space, 4, embedding_optimizer="rowwise")
    optimizer, _ = make_optimizer(supernet, config, 4)
    tables = [p for m in supernet.modules() if isinstance(m, EmbeddingTables) for p in m.parameters()]
    states = optimizer.parts[1].state
    assert len(tables) == 5 and all(states[p]["sum"].shape == (p.shape[0], 1) == (300, 1) for p in tables)
    assert set(states) == set(tables)        # the dense optimizer keeps the rest


def test_a_resumed_rowwise_run_is_bit_identical_and_its_state_is_small(tmp_path):
    space = small_full_space("rowwise_resume", num_blocks=2)
    schema = synthetic_schema(num_dense=4, num_sparse=5, vocab_size=4000, embedding_dim=8)
    data = open_dataset("synthetic:1500", schema=schema, seed=3)
    config = small_train_config(space, 12, data="synthetic:1500", embedding_optimizer="rowwise")
    whole = train_supernet(data, config, space=space, checkpoint=tmp_path / "whole.pt")
    train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", until_step=5)
    saved = read_resume_tensors(tmp_path / "part.pt")
    table_states = [s for part in saved["optimizer"]["parts"] for s in part["state"].values()
                    if s.get("sum") is not None and s["sum"].shape == (4000, 1)]
    assert len(table_states) == 5                       # five tables, [rows, 1] each
    elementwise = small_train_config(space, 12, data="synthetic:1500")
    train_supernet(data, elementwise, space=space, checkpoint=tmp_path / "elem.pt", until_step=5)
    table_bytes = 5 * 4000 * 8 * 4
    assert state_bytes(read_resume_tensors(tmp_path / "elem.pt")["optimizer"]) - \
        state_bytes(saved["optimizer"]) == table_bytes - 5 * 4000 * 4   # D = 8 values per row become 1
    assert resume_state_path(tmp_path / "part.pt").is_file()
    resumed = train_supernet(data, config, space=space, checkpoint=tmp_path / "part.pt", resume=True)
    assert resumed.step == whole.step == 12
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    table = next(k for k in a if "tables.0." in k)
    other = train_supernet(data, elementwise, space=space).model.state_dict()
    assert not torch.equal(a[table], other[table])       # the option did reach the tables


def test_resuming_with_the_other_embedding_optimizer_is_refused(tmp_path):
    space = small_full_space("rowwise_refuse", num_blocks=2)
    data = open_dataset("synthetic:1500", seed=3, schema=synthetic_schema(num_dense=4, num_sparse=5, vocab_size=30,
                                                                          embedding_dim=4))
    config = small_train_config(space, 6, embedding_optimizer="rowwise")
    train_supernet(data, config, space=space, checkpoint=tmp_path / "run.pt", until_step=2)
    with pytest.raises(ConfigError, match="embedding_optimizer"):
        train_supernet(data, config.model_copy(update={"embedding_optimizer": "elementwise"}), space=space,
                       checkpoint=tmp_path / "run.pt", resume=True)


def test_a_bad_embedding_optimizer_names_the_choices():
    with pytest.raises(ConfigError, match="embedding_optimizer.*elementwise.*rowwise"):
        TrainConfig(embedding_optimizer="row-wise")


def test_the_cli_trains_rowwise_and_refuses_a_bad_choice(capsys, tmp_path):
    from test_cli_bad_input import assert_refused, run_cli

    out = tmp_path / "rw.pt"
    code, output = run_cli(capsys, "supernet", "train", "--data", "synthetic:1500", "--space", "small", "--steps", "2",
                           "--batch-size", "32", "--embedding-optimizer", "rowwise",
                           "--out", out, "--no-progress", "--json")
    assert code == 0, output
    summary, _ = json.JSONDecoder().raw_decode(output[output.index("{"):])
    assert summary["config"]["embedding_optimizer"] == "rowwise"
    assert torch.load(out, weights_only=True)["config"]["embedding_optimizer"] == "rowwise"
    assert_refused(capsys, ["supernet", "train", "--data", "synthetic:800", "--space", "small", "--steps", "1",
                            "--embedding-optimizer", "adam", "--out", tmp_path / "x.pt", "--no-progress"],
                   "embedding_optimizer", "'elementwise'", "'rowwise'")


def test_dumps_of_elementwise_runs_stay_as_they_were_and_rowwise_round_trips():
    # checkpoints, --json outputs and bench_ranking's truth-cache keys of elementwise runs keep their old bytes
    assert "embedding_optimizer" not in TrainConfig().model_dump(mode="json")
    rowwise = TrainConfig(embedding_optimizer="rowwise")
    assert rowwise.model_dump(mode="json")["embedding_optimizer"] == "rowwise"
    assert TrainConfig(**rowwise.model_dump(mode="json")) == rowwise
    assert TrainConfig(**TrainConfig().model_dump(mode="json")).embedding_optimizer == "elementwise"

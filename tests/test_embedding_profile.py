"""`recpim data profile`: per-field access statistics counted from data, checked by hand on a small
file and against an independent count of the real Criteo sample; profiles applied to models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from ctr_samples import AVAZU, CRITEO, KDD, needs_data
from typer.testing import CliRunner

from recpim.arch.data.datasets import open_dataset
from recpim.arch.data.profile import (
    DataProfile,
    FieldProfile,
    fit_zipf_exponent,
    profile_dataset,
    read_profile,
)
from recpim.arch.graph.workload import OpKind
from recpim.arch.model.spec import resolve_model_spec
from recpim.arch.model.zoo import zoo_graph
from recpim.cli import app
from recpim.errors import ConfigError
from recpim.mapping import map_model
from recpim.mapping.embedding_profile import apply_profile
from recpim.pim.presets import load_chip

ROOT = Path(__file__).parents[1]


def criteo_line(label: int, c1: str, c2: str) -> str:
    ints = [str(i) for i in range(13)]
    cats = [c1, c2] + [f"{i:08x}" for i in range(24)]
    return "\t".join([str(label), *ints, *cats]) + "\n"


def test_hand_count_on_a_small_file(tmp_path):
    # C1: a a a b c a (a: 4, b: 1, c: 1); C2: six distinct values; C3..C26: one value each
    c1 = ["0000000a", "0000000a", "0000000a", "0000000b", "0000000c", "0000000a"]
    c2 = [f"{i:08x}" for i in range(100, 106)]
    path = tmp_path / "small.tsv"
    path.write_text("".join(criteo_line(i % 2, a, b) for i, (a, b) in enumerate(zip(c1, c2, strict=True))))
    profile = profile_dataset(f"criteo:{path}")
    assert profile.rows == 6 and profile.bad_rows == 0
    first, second, third = profile.fields[:3]
    assert (first.name, first.distinct_ids, first.lookups, first.pooling) == ("C1", 3, 6, 1.0)
    # the hottest ceil(f x 3) rows: 1 row (a) up to f = 1/3, so 4 of 6 lookups at 0.1 %, 1 % and 10 %
    assert first.share_of_hottest(0.001) == first.share_of_hottest(0.1) == pytest.approx(4 / 6)
    assert second.distinct_ids == 6 and second.share_of_hottest(0.1) == pytest.approx(1 / 6)
    assert second.zipf_exponent == 0.0                      # equal counts: no skew
    assert third.distinct_ids == 1 and third.share_of_hottest(0.001) == 1.0
    # the Zipf fit maximises the likelihood: check it against a fine grid for counts (4, 1, 1)
    grid = np.linspace(0, 5, 50_001)
    log_l = [-s * (math.log(2) + math.log(3)) - 6 * math.log(1 + 2 ** -s + 3 ** -s) for s in grid]
    assert first.zipf_exponent == pytest.approx(grid[int(np.argmax(log_l))], abs=2e-4)


def test_zipf_fit_recovers_the_exponent_of_zipf_counts():
    ranks = np.arange(1, 20_001)
    for exponent in (0.5, 1.0, 1.5):
        counts = np.round(1e7 * ranks ** -exponent).astype(np.int64)
        assert fit_zipf_exponent(counts) == pytest.approx(exponent, abs=0.01)


@needs_data
def test_real_criteo_profile_matches_an_independent_count():
    profile = profile_dataset(f"criteo:{CRITEO}")
    dataset = open_dataset(f"criteo:{CRITEO}")
    sparse = np.concatenate([dataset.materialize(split).sparse.numpy() for split in ("train", "val", "test")])
    assert profile.rows == len(sparse) == 10_000
    for field, column in zip(profile.fields, sparse.T, strict=True):
        _, counts = np.unique(column, return_counts=True)
        ranked = np.sort(counts)[::-1]
        assert field.distinct_ids == len(counts) and field.lookups == 10_000
        for fraction in (0.001, 0.01, 0.1):
            top = max(1, math.ceil(fraction * len(counts)))
            assert field.share_of_hottest(fraction) == pytest.approx(ranked[:top].sum() / 10_000)
    # figures a reader of the README can check: C1 has 164 distinct ids; its hottest 10 % take 94.9 %
    assert profile.field("C1").distinct_ids == 164
    assert profile.field("C1").share_of_hottest(0.1) == pytest.approx(0.9487)


@needs_data
@pytest.mark.parametrize("spec", [f"avazu:{AVAZU}", f"kdd12:{KDD}"])
def test_other_formats_profile(spec):
    profile = profile_dataset(spec)
    assert profile.rows > 0 and all(1 <= f.distinct_ids <= f.vocab_size for f in profile.fields)
    assert all(f.lookups == profile.rows for f in profile.fields)   # one-hot fields: one id per row


def test_profile_json_round_trip_and_kind(tmp_path):
    field = FieldProfile("C1", 100, 10, 3, 1.0, ((0.001, 0.5), (0.01, 0.5), (0.1, 0.7)), 1.2)
    profile = DataProfile("criteo:x", 10, 0, (field,))
    path = profile.write(tmp_path / "p.json")
    assert json.loads(path.read_text())["kind"] == "embedding_profile"
    assert read_profile(path) == profile
    path.write_text(json.dumps({"kind": "cost_report"}))
    with pytest.raises(ConfigError, match="embedding_profile"):
        read_profile(path)
    with pytest.raises(ConfigError, match="no such file"):
        read_profile(tmp_path / "missing.json")


@needs_data
def test_cli_profile_writes_json_with_progress_off(tmp_path):
    out = tmp_path / "criteo_profile.json"
    result = CliRunner().invoke(app, ["data", "profile", f"criteo:{CRITEO}", "--out", str(out), "--no-progress",
                                      "--max-rows", "500"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["kind"] == "embedding_profile" and data["rows"] == 500 and len(data["fields"]) == 26
    assert {"share_hottest_0.1pct", "share_hottest_1pct", "share_hottest_10pct", "zipf_exponent",
            "distinct_ids"} <= set(data["fields"][0])


def small_profile(names) -> DataProfile:
    shares = ((0.001, 0.04), (0.01, 0.4), (0.1, 0.9))
    return DataProfile("test", 10, 0, tuple(FieldProfile(name, 1000, 10, 100, 1.0, shares, 1.1) for name in names))


def test_profiles_match_tables_by_name_or_index():
    criteo = [f"C{i}" for i in range(1, 27)]
    subnet = apply_profile(resolve_model_spec(str(ROOT / "examples" / "subnet_small_seed0.json")),
                           small_profile(criteo))
    tables = [n for n in subnet.nodes() if n.kind == OpKind.EMBEDDING]
    assert [n.embedding.access.source for n in tables] == [f"test:{name}" for name in criteo]
    dlrm = apply_profile(zoo_graph("dlrm"), small_profile(criteo))
    assert dlrm.node("embeddings_6").embedding.access.source == "test:C7"
    assert dlrm.node("embeddings_6").embedding.pooling == 1.0
    with pytest.raises(ConfigError, match="no profiled field"):
        apply_profile(zoo_graph("dlrm"), small_profile(["C1", "C2"]))


def test_a_profile_drives_the_cache_hit_rate():
    graph = apply_profile(zoo_graph("dlrm"), small_profile([f"C{i}" for i in range(1, 27)]))
    chip = load_chip("isaac").with_overrides({"chip.embedding.cache_kb": 4})
    tables = map_model(graph, chip).embeddings
    for table in tables:
        kept = table.lookup.cache_rows
        fraction = min(1.0, kept / min(100, table.rows))   # rows never seen are never looked up
        expected = 0.04 * fraction / 0.001 if fraction <= 0.001 else 0.04 + 0.36 * (fraction - 0.001) / 0.009 \
            if fraction <= 0.01 else 0.4 + 0.5 * (fraction - 0.01) / 0.09 \
            if fraction <= 0.1 else 0.9 + 0.1 * (fraction - 0.1) / 0.9
        assert table.lookup.hit_rate == pytest.approx(expected)
    assert sum(t.lookup.cache_rows for t in tables) > 0
    uniform = map_model(zoo_graph("dlrm"), chip).embeddings
    assert sum(t.lookup.memory_bits for t in tables) < sum(t.lookup.memory_bits for t in uniform)


def test_recpim_report_renders_a_profile(tmp_path):
    from recpim.reports.from_json import write_report_from_json

    path = small_profile(["C1", "C2"]).write(tmp_path / "profile.json")
    kind, files = write_report_from_json(path, tmp_path / "report")
    assert kind == "embedding_profile" and files.html.is_file() and (tmp_path / "report" / "profile_skew.png").is_file()
    assert "| C2 | 1000 | 100 |" in files.markdown.read_text()

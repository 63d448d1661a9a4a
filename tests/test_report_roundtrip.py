"""Issue 26, item 13 and "must show": every JSON file every command writes (and every command's
`--json` output) carries a `kind` and goes through `recpim report` without error, and the page it
writes has only links that resolve to files inside the result's folder (in headless Chromium too,
where it is installed: every image decodes and no error event fires).

The commands run in-process (typer's CliRunner) on a tiny registered space and synthetic data, so
the whole set takes well under a minute."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from test_browser import CHROMIUM, browser_probe
from tiny_supernet import tiny_space
from typer.testing import CliRunner

from recpim.arch.model import space as space_module
from recpim.arch.model.subnet import sample_subnet
from recpim.cli import app
from recpim.reports.from_json import KNOWN_KINDS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()
SPACE = "report_roundtrip_tiny"


def _run(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"recpim {' '.join(args)}: {result.output}\n{result.exception!r}"
    return result.stdout


def _save_stdout(folder: Path, name: str, args: list[str]) -> Path:
    text = _run(args)
    start = text.index("{")                      # notes (bad rows ...) go to stderr; stdout is the JSON
    path = folder / "stdout" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text[start:])
    return path


def _criteo_rows(path: Path, rows: int = 200) -> Path:
    lines = []
    for i in range(rows):
        ints = [str((i * 7 + j) % 50) for j in range(13)]
        cats = [f"{(i * 31 + j * 17) % 97:08x}" for j in range(26)]
        lines.append("\t".join([str(i % 2), *ints, *cats]))
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[Path]:
    """Run every command that writes JSON; return every JSON file on disk and every --json output."""
    root = tmp_path_factory.mktemp("roundtrip")
    space = tiny_space(SPACE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(space_module._builtin_spaces(), SPACE, space)
        _save_stdout(root, "chip", ["chip", "isaac", "--json"])
        _save_stdout(root, "map", ["map", "dlrm", "--chip", "isaac", "--json"])
        _save_stdout(root, "graph", ["graph", "dlrm", "--json", "--out", str(root / "graph" / "dlrm.json")])
        _save_stdout(root, "simulate", ["simulate", "dlrm", "--chip", "isaac", "--engine", "analytic", "--json",
                                        "--out", str(root / "simulate")])
        _run(["simulate", "dlrm", "--chip", "isaac", "--engine", "analytic", "--out", str(root / "sim_file.json")])
        _save_stdout(root, "sweep", ["sweep", "dlrm", "--chip", "isaac", "--set", "adc.bits=6,8", "--backend",
                                     "serial", "--no-cache", "--out", str(root / "sweep"), "--json"])
        _save_stdout(root, "space_info", ["space", "info", "small", "--json"])
        _save_stdout(root, "space_sample", ["space", "sample", "--space", "small", "--out",
                                            str(root / "subnet.json")])
        _save_stdout(root, "profile", ["data", "profile", f"criteo:{_criteo_rows(root / 'criteo.tsv.gz')}",
                                       "--no-progress", "--json", "--out", str(root / "profile.json")])
        checkpoint = root / "train" / "tiny.pt"
        _save_stdout(root, "train", ["supernet", "train", "--data", "synthetic:1500", "--space", SPACE, "--steps",
                                     "6", "--batch-size", "64", "--out", str(checkpoint), "--no-progress", "--json"])
        subnet = root / "tiny_subnet.json"
        subnet.write_text(sample_subnet(space, 1).to_json())
        _save_stdout(root, "eval", ["supernet", "eval", str(checkpoint), "--subnet", str(subnet), "--max-rows",
                                    "256", "--finetune-steps", "0", "--json"])
        _save_stdout(root, "search", ["search", "--supernet", str(checkpoint), "--chip", "isaac", "--budget", "4",
                                      "--population", "2", "--sample", "2", "--children", "2", "--score-rows",
                                      "128", "--finetune-steps", "0", "--backend", "serial", "--out",
                                      str(root / "search"), "--json"])
    return sorted(p for p in root.rglob("*.json") if not any(d.name.endswith("_report") for d in p.parents))


def test_the_commands_wrote_each_kind_of_file(written):
    names = {p.relative_to(p.parents[1]).as_posix() if p.parent.name == "stdout" else p.name for p in written}
    for expected in ("stdout/chip.json", "stdout/map.json", "stdout/graph.json", "stdout/simulate.json",
                     "stdout/train.json", "stdout/eval.json", "stdout/search.json", "best_so_far.json",
                     "study.json", "inputs.json", "tiny.pt.inputs.json", "front.json", "top_k.json",
                     "cost_report.json", "sim_file.inputs.json", "sweep.json", "dlrm.json"):
        assert expected in names, f"{expected} was not written: {sorted(names)}"


def _kind_of(path: Path) -> str | None:
    data = json.loads(path.read_text())
    return data.get("kind") if isinstance(data, dict) else None


def test_every_file_says_what_it_is(written):
    """Every JSON file recpim writes carries a known `kind` (a subnet JSON, an input format that the
    model resolver reads strictly, is told by its keys and is the one exception)."""
    for path in written:
        if path.name in ("subnet.json", "tiny_subnet.json") or path.name == "space_sample.json":
            continue
        assert _kind_of(path) in KNOWN_KINDS, f"{path}: kind {_kind_of(path)!r}"


def _links(html: str) -> list[str]:
    return [unquote(href) for href in re.findall(r'href="([^"]*)"', html)]


def test_every_file_renders_and_its_links_stay_inside(written, tmp_path):
    for number, path in enumerate(written):
        out = path.parent / f"{path.stem}_report"
        result = runner.invoke(app, ["report", str(path), "--out", str(out), "--json"])
        assert result.exit_code == 0, f"recpim report {path}: {result.output}\n{result.exception!r}"
        files = json.loads(result.stdout)
        html = Path(files["html"])
        assert html.is_file() and Path(files["markdown"]).is_file()
        assert files["kind"] != "unknown"
        text = html.read_text()
        for href in _links(text):
            target = (html.parent / href).resolve()
            assert target.is_file(), f"{html}: link {href} leads nowhere"
            assert target.is_relative_to(path.parent.resolve()), f"{html}: link {href} leaves {path.parent}"
        if CHROMIUM is not None and number % 3 == 0:     # a third of the pages in a real browser (time)
            probe = browser_probe(html, tmp_path)
            assert probe["errors"] == "", f"{html}: {probe['errors']}"
            assert probe["loaded"] == probe["images"]
            for link in probe["links"].split():
                assert Path(unquote(urlparse(link).path)).is_file(), f"{html}: {link}"

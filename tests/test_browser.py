"""The HTML reports in a real browser: headless Chromium loads each page, and a probe script
(injected into a copy of the page, never into the report itself) records how many images there
are, how many decoded with a non-zero size, and every error event; the test reads that back from
the DOM Chromium dumps. Skipped where Chromium is not installed (.ci/run installs Debian's)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from recpim.reports.breakdown import write_breakdown_report
from recpim.reports.html import IndexSection, write_index
from recpim.reports.search_report import FrontPoint, write_search_report
from recpim.reports.sweep_report import write_sweep_report
from recpim.search.sweep_result import METRICS, SweepPoint, SweepResult

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

# Registered first in <head>, so it sees image errors (capture phase: they do not bubble) and script errors.
PROBE = """<script>
window.__recpimErrors = [];
window.addEventListener('error', function (event) {
  var target = event.target;
  var what = target && target.tagName ? target.tagName + ' ' + (target.alt || '') : String(event.message);
  window.__recpimErrors.push(what);
}, true);
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0 && img.naturalHeight > 0; });
  var probe = document.createElement('div');
  probe.id = 'recpim-probe';
  probe.setAttribute('data-images', String(images.length));
  probe.setAttribute('data-loaded', String(loaded.length));
  probe.setAttribute('data-errors', window.__recpimErrors.join(' | '));
  probe.setAttribute('data-links', Array.prototype.map.call(document.links, function (a) { return a.href; }).join(' '));
  document.body.appendChild(probe);
});
</script>"""


def browser_probe(html_path: Path, work_dir: Path) -> dict[str, str]:
    """Load a probed copy of the page in headless Chromium; return the probe's attributes. The copy
    sits beside the page, so its relative links resolve as the page's own do."""
    probed = html_path.with_name(f"probed_{html_path.name}")
    probed.write_text(html_path.read_text().replace("<head>", "<head>" + PROBE, 1))
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", f"--user-data-dir={work_dir / 'profile'}", "--virtual-time-budget=5000",
               "--dump-dom", probed.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    match = re.search(r'<div id="recpim-probe"([^>]*)>', done.stdout)
    assert match is not None, f"no probe in the dumped DOM (exit {done.returncode}): {done.stderr[-2000:]}"
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', match.group(1)))


def assert_loads_cleanly(html_path: Path, work_dir: Path, images: int) -> None:
    probe = browser_probe(html_path, work_dir)
    assert probe["errors"] == ""
    assert int(probe["images"]) == images
    assert probe["loaded"] == probe["images"]


@pytest.mark.slow   # four Chromium launches: about 5 s
def test_every_report_page_loads_all_its_images_without_errors(cost_report, tmp_path):
    out = tmp_path / "out"
    breakdown = write_breakdown_report(cost_report, out / "breakdown")
    points = [SweepPoint(i, {"adc.bits": bits}, "ok", figures={m: float(bits + i + 1) for m in METRICS})
              for i, bits in enumerate([4, 6, 8])]
    sweep = write_sweep_report(SweepResult("dlrm", "isaac", "analytic", 64, {"adc.bits": [4, 6, 8]}, points),
                               out / "sweep")
    search = write_search_report(
        [FrontPoint("s1", 0.45, 2e5, 9e3, breakdown_href="../breakdown/breakdown.html"),
         FrontPoint("s2", 0.44, 5e5, 2e4)],
        out / "search", best_so_far=[0.47, 0.45, 0.44])
    index = write_index(out, [IndexSection("Breakdown", breakdown.html, images=breakdown.images[:1]),
                              IndexSection("Sweep", sweep.html, images=sweep.images[:2]),
                              IndexSection("Search", search.html, images=search.images)])
    for files in (breakdown, sweep, search):
        assert files.images
        assert_loads_cleanly(files.html, tmp_path, images=len(files.images))
    assert_loads_cleanly(index, tmp_path, images=1 + 2 + len(search.images))


def test_the_probe_catches_a_broken_image(cost_report, tmp_path):
    """The check above can fail: a page with one undecodable image is reported as such."""
    files = write_breakdown_report(cost_report, tmp_path / "report")
    broken = tmp_path / "broken.html"
    broken.write_text(files.html.read_text().replace(
        "<body>", '<body><img src="data:image/png;base64,AAAA" alt="broken picture">', 1))
    probe = browser_probe(broken, tmp_path)
    assert int(probe["images"]) == len(files.images) + 1
    assert int(probe["loaded"]) == len(files.images)
    assert "broken picture" in probe["errors"]


def test_the_demo_index_links_resolve_with_a_relative_out(cost_report, tmp_path, monkeypatch):
    """`make demo` runs `recpim demo --out out/demo`: the index is written with paths relative to the
    working folder, and every link the browser resolves must reach a file (it reached out/demo/out/demo/...)."""
    from urllib.parse import unquote, urlparse

    monkeypatch.chdir(tmp_path)
    out = Path("out/demo")              # what recpim/demo.py gets from --out, relative
    breakdown = write_breakdown_report(cost_report, out / "breakdown")
    search = write_search_report([FrontPoint("s1", 0.45, 2e5, 9e3)], out / "search")
    index = write_index(out, [IndexSection("Breakdown", breakdown.html, images=breakdown.images[:1]),
                              IndexSection("Co-search", out / "search" / "search.html", images=search.images[:1])])
    probe = browser_probe(index.resolve(), tmp_path)
    links = probe["links"].split()
    assert len(links) == 4                   # a title and a thumbnail per section
    for link in links:
        target = Path(unquote(urlparse(link).path))
        assert target.is_file(), f"{link} leads nowhere"
    assert {Path(unquote(urlparse(link).path)).name for link in links} == {"breakdown.html", "search.html"}

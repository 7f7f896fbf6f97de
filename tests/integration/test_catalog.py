"""`ansible-playbook catalog.yml` on a generated archive of 700 schools x 5 years of manifests, and its
page read back by headless Chromium (no fleet needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from chromium import Chromium
from conftest import REPO, ansible_env

from bench.archives import generate_archive

CHROMIUM = shutil.which("chromium")
STICKY = """(() => {
  const table = document.querySelector("table.matrix"), box = table.getBoundingClientRect();
  window.scrollTo(0, window.scrollY + box.top + box.height / 2);
  return table.querySelector("thead th").getBoundingClientRect().top;
})()"""


@pytest.fixture(scope="module")
def catalogued(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue") / "archive"
    written = generate_archive(str(root), schools=700, years=5)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / "catalog.yml"),
                           "-e", f"clix_archive_root={root}"], cwd=REPO, env=ansible_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return root, written, proc


def test_the_catalogue_of_700_schools_over_5_years_is_written(catalogued):
    root, written, proc = catalogued
    reports = root / "reports"
    assert sorted(p.name for p in reports.iterdir()) == ["catalogue.csv", "catalogue.html", "catalogue.json"]
    cat = json.loads((reports / "catalogue.json").read_text())
    assert cat["school_years"] == written > 3000 and cat["years"] == ["2019", "2020", "2021", "2022", "2023"]
    assert sum(len(s["rows"]) for s in cat["sections"]) >= written
    # the inventory's schools (inventories/) are rows too: never collected in this generated archive
    mz = next(s for s in cat["sections"] if s["year"] == "2023" and s["state"] == "mz")
    assert any(r["in_inventory"] and set(c["status"] for c in r["cells"].values()) == {"never"} for r in mz["rows"])
    assert cat["shrank"] and "shrank: " in proc.stdout
    assert (reports / "catalogue.csv").read_text().count("\n") == sum(len(s["rows"]) for s in cat["sections"]) + 1


def test_the_page_shows_the_matrix_and_charts_in_chromium_and_asks_for_nothing_on_the_network(catalogued,
                                                                                                tmp_path):
    assert CHROMIUM, "chromium is not installed: make deps installs it"
    root, _, _ = catalogued
    page = root / "reports/catalogue.html"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*argv, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=300).stdout
    cat = json.loads((root / "reports/catalogue.json").read_text())
    collected = [r for s in cat["sections"] for r in s["rows"] if r.get("collected")]
    cells = sum(len(r["cells"]) for r in collected)
    assert len(re.findall(r'<td class="cell (ok|partial|failed|absent|never)">', dom)) == cells
    never = sum(1 for s in cat["sections"] for r in s["rows"] if not r.get("collected"))
    assert dom.count("<li>") >= never  # each school never collected named
    states, years = len(cat["growth"]), len(cat["years"])
    assert dom.count("<svg") == 2 and dom.count('<rect class="y') == 2 * (states * years + years)  # bars and keys
    assert 'http-equiv="Content-Security-Policy" content="default-src \'none\'' in dom
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", dom)
    with Chromium(tmp_path) as browser:
        loaded = browser.load(page, width=1400)
        # halfway down a state's table, its header is still at the top of the window
        header_top = browser.evaluate(STICKY)
        shot = browser.screenshot(tmp_path / "catalogue.png")
    assert loaded.errors == [] and loaded.overflow <= 0, (loaded.errors, loaded.overflow, loaded.widest)
    assert abs(header_top) < 1, header_top
    assert shot.stat().st_size > 10000

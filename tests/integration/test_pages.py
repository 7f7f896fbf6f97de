"""The pages ops and researchers look at, as a year of collection leaves them, read in headless Chromium
at 1400 px: the run report of a collection where two schools failed, the catalogue after one and after
three years, the fleet table of a heartbeat on that archive. Each fits the window (nothing to scroll
sideways), logs no error (a Content-Security-Policy refusal among them) and shows its reasons as text.

CLIX_DOCS_SCREENSHOTS=docs also writes the screenshots there (the ones in docs/ come from this test)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path

import pytest
from chromium import Chromium
from conftest import run_playbook

from fleet import hosts

YEAR = datetime.date.today().year
WIDTH = 1400
SCREENSHOTS = {"report": "report-two-failed-schools.png", "catalogue-1": "catalogue-one-year.png",
               "catalogue-3": "catalogue-three-years.png", "fleet": "fleet-table.png"}


def ok(proc) -> str:
    return f"rc={proc.returncode}\n{proc.stdout[-5000:]}\n{proc.stderr[-2000:]}"


@pytest.fixture(scope="module")
def pages(fleet, target_python, tmp_path_factory) -> dict:
    """Three years of mz and ct1 (two field visits that went well, then one where mz1 could not be
    reached, mz3's MongoDB was down and mz2's gStudio container stopped), the catalogue after the first
    and after the third, then a heartbeat of mz, ct1 and rj1 (whose lab PCs were never collected)."""
    work = tmp_path_factory.mktemp("pages")
    archive = work / "archive"
    out = {}

    def collect(year: int, *extra: str):
        return run_playbook(fleet, "collect.yml", "-l", "mz,ct1", "-e", f"clix_archive_root={archive}",
                            "-e", f"clix_year={year}", "-e", "clix_connect_timeout=5", *extra)

    def catalogue(name: str) -> None:
        proc = run_playbook(fleet, "catalog.yml", "-e", f"clix_archive_root={archive}")
        assert proc.returncode == 0, ok(proc)
        out[name] = shutil.copy(archive / "reports" / "catalogue.html", work / f"{name}.html")

    first = collect(YEAR - 2)
    assert first.returncode == 0, ok(first)
    catalogue("catalogue-1")
    second = collect(YEAR - 1)
    assert second.returncode == 0, ok(second)
    mz1, mz2, mz3 = fleet.school("mz1"), fleet.school("mz2"), fleet.school("mz3")
    hosts.set_link(mz1, up=False)
    hosts.stop_mongo(fleet.lab, mz3)
    hosts.podman_in_school(fleet.lab, mz2, "stop", "-t", "0", "gstudio", capture_output=True)
    try:
        third = collect(YEAR)
    finally:
        hosts.set_link(mz1, up=True)
        hosts.restart_mongo(fleet.lab, mz3)
        hosts.podman_in_school(fleet.lab, mz2, "start", "gstudio", capture_output=True)
    assert third.returncode != 0, ok(third)
    out["report"] = sorted((archive / "reports").glob("collect-*.html"))[-1]
    out["report.json"] = out["report"].with_suffix(".json")
    catalogue("catalogue-3")
    beat = run_playbook(fleet, "heartbeat.yml", "-l", "mz,ct1,rj1", "-e", f"clix_archive_root={archive}")
    assert beat.returncode == 0, ok(beat)
    out["fleet"] = sorted((archive / "reports").glob("heartbeat-*.html"))[-1]
    out["fleet.json"] = out["fleet"].with_suffix(".json")
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with Chromium(tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium


def seen(browser: Chromium, page: Path, name: str, tmp_path: Path) -> str:
    """The page's text once loaded at 1400 px, checked to fit and to log no error; its screenshot taken."""
    loaded = browser.load(page, width=WIDTH)
    assert loaded.errors == [], loaded.errors
    assert loaded.overflow <= 0, f"{page.name} reaches {loaded.overflow} px past a {WIDTH} px window ({loaded.widest})"
    shot = browser.screenshot(tmp_path / SCREENSHOTS[name], width=WIDTH, max_height=1200)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    docs = os.environ.get("CLIX_DOCS_SCREENSHOTS")
    if docs:
        shutil.copy(shot, Path(docs) / SCREENSHOTS[name])
    return " ".join(loaded.text.split())


def test_the_run_report_of_two_failed_schools_shows_why_when_and_how_much(pages, browser, tmp_path):
    text = seen(browser, pages["report"], "report", tmp_path)
    report = json.loads(pages["report.json"].read_text())
    problems = [r for r in report["rows"] if r["status"] in ("failed", "unreachable")]
    assert {r["school"] for r in problems} == {"2031001-mz1", "2031003-mz3"}
    for r in problems:
        assert " ".join(r["reason"].split()) in text  # on the page, not in a tooltip
    skipped = next(r for r in report["rows"] if r["school"] == "2031002-mz2" and r["status"] == "skipped")
    assert skipped["reason"] in text
    started = datetime.datetime.fromisoformat(report["run"]["started"])
    assert f"Run {started:%Y-%m-%d %H:%M}" in text and "UTC" in text
    assert f"Problems ({len(problems)})" in text and "received" in text and " MiB" in text


def test_the_catalogue_of_one_year_names_every_school_and_draws_what_it_holds(pages, browser, tmp_path):
    text = seen(browser, pages["catalogue-1"], "catalogue-1", tmp_path)
    assert f"years {YEAR - 2}." in text
    assert "Never collected (1): 01011002-ct2" in text and "Never collected (1): 3051001-rj1" in text
    assert f"mz {YEAR - 2}: 3 of the inventory's 3 school(s) collected" in text
    assert "Archive size per state" in text and "3/3" in text and "1/2" in text  # the charts' values


def test_the_catalogue_of_three_years_shows_the_failures_and_their_reasons(pages, browser, tmp_path):
    text = seen(browser, pages["catalogue-3"], "catalogue-3", tmp_path)
    assert f"years {YEAR - 2}, {YEAR - 1}, {YEAR}." in text
    assert f"mz {YEAR}: 2 of the inventory's 3 school(s) collected" in text  # mz1 was unreachable
    assert "Never collected (1): 2031001-mz1" in text
    assert "cannot reach MongoDB" in text  # mz3's db, under its state's table


def test_the_fleet_table_says_when_each_school_was_collected_and_what_it_lacked(pages, browser, tmp_path):
    text = seen(browser, pages["fleet"], "fleet", tmp_path)
    rows = {(r["server_id"], r.get("pc")): r for r in json.loads(pages["fleet.json"].read_text())["rows"]}
    assert rows["mz1", None]["last_collected"].startswith(str(YEAR))  # collected in YEAR - 1's folder
    assert "last collection failed: db" in "; ".join(rows["mz3", None]["problems"])
    assert rows["rj1", "pc01"]["problems"][-1] == "never collected"
    lacked = next(e for e in rows["mz2", None]["lacked"] if e["item"] == "derived (gStudio container)")
    assert lacked["status"] == "skipped" and lacked["reason"] in text
    for row in rows.values():  # pymongo's reasons may say None; the table itself never does
        for entry in row["lacked"]:
            text = text.replace(" ".join(entry["reason"].split()), "")
    assert "None" not in text

"""clix_catalog: coverage, counts and growth from the manifests alone."""

from __future__ import annotations

import csv
import io
import json
import os

from library_module import library_module, run_module
from page_parse import checked

catalog = library_module("clix_catalog")
TABLE = [dict(name="db", dest="gstudio/db"), dict(name="media", dest="gstudio/media"),
         dict(name="postgres-dump", dest="gstudio/postgres-dump"), dict(name="unplatform", dest="unplatform")]


def school(root, year, state, folder, items, files, heartbeat=None, name="GOVT. SCHOOL"):
    path = os.path.join(root, str(year), state, folder)
    os.makedirs(path)
    manifest = dict(format=1, school=dict(school_name=name), items=items, run=dict(ended="%s-06-01T10:00:00" % year),
                    files={rel: dict(size=size, sha256="0" * 64) for rel, size in files.items()},
                    totals=dict(files=len(files), bytes=sum(files.values())))
    if heartbeat:
        manifest["heartbeat"] = heartbeat
    with open(os.path.join(path, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f)


def ok(when, **extra):
    return dict(status="ok", collected_at=when, **extra)


def archive(tmp_path):
    root = str(tmp_path)
    school(root, 2025, "mz", "2031001-mz1",
           {"db": ok("2025-06-01T10:00:00", counts=dict(documents=1200)),
            "media": ok("2025-06-01T10:00:00"), "postgres-dump": ok("2025-06-01T10:00:00", counts=dict(users=31)),
            "unplatform": dict(status="absent", collected_at="2025-06-01T10:00:00", reason="not on the server")},
           {"gstudio/db/a.bson": 5000, "gstudio/media/x.png": 9000},
           heartbeat=dict(captured_at="2025-06-01T09:59:00", uptime_seconds=3600, worst_disk_percent=93))
    school(root, 2026, "mz", "2031001-mz1",
           {"db": ok("2026-06-01T10:00:00"), "postgres-dump": ok("2026-06-01T10:00:00"),
            "media": dict(status="failed", collected_at="2026-06-01T10:00:00", reason="rsync: connection reset"),
            "unplatform": dict(status="failed", collected_at="2026-06-01T10:00:00", reason="timeout")},
           {"gstudio/db/a.bson": 5000, "gstudio/media/x.png": 10})
    school(root, 2026, "mz", "2031009-mz9", {"db": ok("2026-06-02T10:00:00")}, {"gstudio/db/a.bson": 1})
    inventory = [dict(state="mz", folder="2031001-mz1", school_name="GOVT. MIZO"),
                 dict(state="mz", folder="2031002-mz2", school_name="NEVER SEEN")]
    return root, inventory


def test_coverage_matrix_rows_cells_and_dates(tmp_path):
    root, inventory = archive(tmp_path)
    cat = catalog.catalogue(root, inventory, TABLE)
    assert cat["years"] == ["2025", "2026"] and cat["columns"] == ["db", "media", "postgres-dump", "unplatform"]
    by = {(s["year"], s["state"]): {r["folder"]: r for r in s["rows"]} for s in cat["sections"]}
    assert set(by[("2025", "mz")]) == {"2031001-mz1", "2031002-mz2"}
    assert set(by[("2026", "mz")]) == {"2031001-mz1", "2031002-mz2", "2031009-mz9"}
    mz1 = by[("2026", "mz")]["2031001-mz1"]["cells"]
    assert mz1["db"]["status"] == "ok" and mz1["db"]["at"] == "2026-06-01T10:00:00"
    assert mz1["media"]["status"] == "partial" and mz1["media"]["reason"] == "rsync: connection reset"
    assert mz1["unplatform"]["status"] == "failed"  # failed, and nothing of it in the archive
    assert by[("2025", "mz")]["2031001-mz1"]["cells"]["unplatform"]["status"] == "absent"
    assert {c["status"] for c in by[("2026", "mz")]["2031002-mz2"]["cells"].values()} == {"never"}
    assert by[("2026", "mz")]["2031009-mz9"]["in_inventory"] is False
    assert by[("2026", "mz")]["2031009-mz9"]["cells"]["media"]["status"] == "never"
    # problems first
    assert next(s for s in cat["sections"] if s["year"] == "2026")["rows"][0]["folder"] == "2031002-mz2"


def test_sizes_counts_heartbeat_growth_and_shrinking(tmp_path):
    root, inventory = archive(tmp_path)
    cat = catalog.catalogue(root, inventory, TABLE)
    row = next(r for s in cat["sections"] if s["year"] == "2025" for r in s["rows"] if r["folder"] == "2031001-mz1")
    assert (row["bytes"], row["files"], row["documents"], row["users"]) == (14000, 2, 1200, 31)
    assert row["heartbeat"] == dict(captured_at="2025-06-01T09:59:00", uptime_seconds=3600, worst_disk_percent=93)
    assert cat["growth"]["mz"] == {"2025": dict(bytes=14000, schools=1), "2026": dict(bytes=5011, schools=2)}
    assert cat["shrank"] == [dict(state="mz", folder="2031001-mz1", year_from="2025", year_to="2026",
                                  bytes_from=14000, bytes_to=5010)]
    rows = list(csv.DictReader(io.StringIO(catalog.csv_text(cat))))
    assert len(rows) == 5
    first = next(r for r in rows if r["year"] == "2025" and r["school"] == "2031001-mz1")
    assert first["mongo_documents"] == "1200" and first["postgres_users"] == "31" and first["db"] == "ok 2025-06-01"
    assert any("shrank: mz/2031001-mz1 2025 -> 2026" in line for line in catalog.summary(cat))


def test_the_page_escapes_names_and_reasons_and_asks_for_nothing_on_the_network(tmp_path):
    root = str(tmp_path)
    school(root, 2026, "mz", "2031001-mz1",
           {"db": dict(status="failed", collected_at="2026-06-01", reason='<script>alert("x")</script> & \'q\'')},
           {}, name='<img src="http://evil.example/x.png">')
    page = catalog.html_page(catalog.catalogue(root, [], TABLE))
    parsed = checked(page)  # no tag, attribute, script or link but the template's
    assert "<script>alert(\"x\")</script> & 'q'" in parsed.text and '<img src="http://evil.example/x.png">' in parsed.text
    assert page.count("<svg") == 2


def test_the_module_names_the_inventorys_schools_from_its_hosts_and_refuses_a_bad_inventory(tmp_path, monkeypatch,
                                                                                             capsys):
    root, _ = archive(tmp_path)
    hosts = [dict(host="2031002-mz2", groups=["mz", "mz2"], school_code="2031002", school_name="NEVER SEEN"),
             dict(host="2031001-mz1-pc01", groups=["mz", "mz1"], school_code="2031001", school_name="GOVT. MIZO",
                  platform="unplatform", pc="pc01")]
    result = run_module(catalog, {"root": root, "schools": hosts, "items": TABLE}, monkeypatch, capsys)
    with open(os.path.join(root, "reports", "catalogue.json")) as f:
        cat = json.load(f)
    names = {r["folder"]: r["school_name"] for s in cat["sections"] if s["year"] == "2026" for r in s["rows"]}
    assert names["2031002-mz2"] == "NEVER SEEN" and result["changed"]
    bad = run_module(catalog, {"root": root, "schools": [dict(hosts[0], school_code=2031002)]}, monkeypatch, capsys)
    assert bad["failed"] and "school_code 2031002 is a number" in bad["msg"]


def test_a_year_of_heartbeats_only_is_no_collection_and_no_shrinking(tmp_path):
    """heartbeat.yml seals its heartbeats into the year's folder of a school not collected that year."""
    root, inventory = archive(tmp_path)
    school(root, 2027, "mz", "2031001-mz1", {"system-heartbeat": ok("2027-01-02T10:00:00")},
           {"gstudio/system-heartbeat/a.log": 5})
    table = [*TABLE, dict(name="system-heartbeat", dest="gstudio/system-heartbeat", tag="heartbeat")]
    cat = catalog.catalogue(root, inventory, table)
    row = next(r for s in cat["sections"] if s["year"] == "2027" for r in s["rows"] if r["folder"] == "2031001-mz1")
    assert row["collected"] is None and cat["growth"]["mz"]["2027"] == dict(bytes=5, schools=0)
    assert [s["year_to"] for s in cat["shrank"]] == ["2026"]  # 2026 < 2025 only, never 2027's heartbeats
    assert "2027 mz: 0 of the inventory's 2 school(s) collected" in catalog.summary(cat)[2]

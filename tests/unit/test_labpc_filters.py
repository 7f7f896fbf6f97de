"""The role's lab-PC filters: config.json's values checked against the inventory as data, the
pull items placed by clix_unplatform.pc_relpath only, one item per PC with its details, and the
host that seals a school folder once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))

import clix
from ansible.module_utils import clix_identity
from ansible.module_utils.clix_unplatform import UnplatformError


@pytest.mark.parametrize("config", [
    None, {}, {"schoolId": "1011001", "terminalId": "pc01"}, {"schoolId": "01011001", "terminalId": "PC01"},
    {"schoolId": "", "terminalId": None}, {"schoolId": "1011001"}, {"terminalId": " pc01 "}])
def test_a_config_that_matches_or_says_nothing_is_no_mismatch(config):
    assert clix_identity.labpc_identity_problem(config, "1011001", "pc01") == ""


@pytest.mark.parametrize(("config", "quoted"), [
    ({"schoolId": "2031001", "terminalId": "pc01"}, 'schoolId "2031001", terminalId "pc01"'),
    ({"schoolId": "1011001", "terminalId": "pc02"}, 'schoolId "1011001", terminalId "pc02"'),
    ({"schoolId": "../../x\n", "terminalId": None}, 'schoolId "../../x\\n", terminalId None')])
def test_a_config_naming_another_school_or_pc_is_quoted_and_quarantined(config, quoted):
    problem = clix_identity.labpc_identity_problem(config, "1011001", "pc01")
    assert problem.startswith("identity mismatch") and quoted in problem and "quarantine" in problem
    assert clix_identity.labpc_claims(config)["schoolId"] == clix_identity.literal(config["schoolId"])


def installs(label="opt-clix") -> list:
    return [{"label": label, "path": "/opt/clix", "layout": "v2", "version": "2.1", "version_source": "dpkg:clix",
             "sessions": 5, "user_data": 5, "notes": ["webapps/unplatform/configuration/config.json missing"],
             "pull": [{"name": "x", "src": "/s/opt-clix/unplatform.sqlite3", "dest": "unplatform.sqlite3",
                       "kind": "sessions", "expect": {"unplatform.sqlite3": "ab"}, "exclude": []},
                      {"name": "y", "src": "/opt/clix/webapps/CLIx/datastore/", "dest": "webapps/CLIx/datastore",
                       "kind": "json", "expect": {}, "exclude": ["/repository/AssetContent/"]}]}]


def test_pull_items_go_below_unplatform_pc_install():
    items = clix.clix_labpc_pull_items(installs(), "pc01")
    assert [(i["name"], i["dest"], i["kind"]) for i in items] == [
        ("unplatform/pc01/opt-clix/unplatform.sqlite3", "unplatform/pc01/opt-clix/unplatform.sqlite3", "sessions"),
        ("unplatform/pc01/opt-clix/webapps/CLIx/datastore", "unplatform/pc01/opt-clix/webapps/CLIx/datastore", "json")]
    assert items[1]["exclude"] == ["/repository/AssetContent/"]


@pytest.mark.parametrize(("label", "dest"), [("..", "x"), ("a/b", "x"), (".hidden", "x"), ("opt-clix", "../x"),
                                             ("opt-clix", "/etc"), ("opt-clix", "a//b")])
def test_a_label_or_path_from_the_pc_that_would_leave_its_folder_is_refused(label, dest):
    found = installs(label)
    found[0]["pull"][0]["dest"] = dest
    with pytest.raises(UnplatformError):
        clix.clix_labpc_pull_items(found, "pc01")


def test_one_item_per_pc_carries_the_worst_status_and_the_details():
    pulled = [{"name": "unplatform/pc01/opt-clix/unplatform.sqlite3", "status": "ok", "reason": None,
               "bytes_received": 10, "total_bytes": 10, "files_transferred": 1, "seconds": 0.5,
               "sessions": {"added": 5, "updated": 0, "kept": 0}},
              {"name": "unplatform/pc01/opt-clix/webapps/CLIx/datastore", "status": "ok",
               "reason": "1 JSON file(s) never parsed", "bytes_received": 90, "total_bytes": 900,
               "files_transferred": 9, "seconds": 2.0, "json_files": 9, "source_files": 12,
               "torn": ["assessment/AssessmentSection/a.json"]}]
    item = clix.clix_labpc_item(pulled, {"installs": installs(), "config": {"schoolId": "1"}}, "pc01")
    assert (item["name"], item["status"], item["bytes_received"], item["files_transferred"], item["seconds"]) == (
        "unplatform/pc01", "ok", 100, 10, 2.0)
    one = item["details"]["installs"][0]
    assert one["torn"] == ["webapps/CLIx/datastore/assessment/AssessmentSection/a.json"]
    assert (one["json_files"], one["merged"], one["version"]) == (9, {"added": 5, "updated": 0, "kept": 0}, "2.1")
    assert item["details"]["config"] == {"schoolId": "1"}
    assert "never parsed" in item["reason"] and "config.json missing" in item["reason"]
    pulled[0]["status"] = "failed"
    assert clix.clix_labpc_item(pulled, {"installs": installs()}, "pc01")["status"] == "failed"
    none = clix.clix_labpc_item([], {"installs": []}, "pc01")
    assert none["status"] == "absent" and "no unplatform install" in none["reason"]


def test_the_server_seals_its_folder_else_the_first_lab_pc():
    root, other = "/a/2026/ct/1011001-ct1", "/a/quarantine/2026/ct/1011001-ct1"
    hosts = [{"inventory_hostname": "1011001-ct1-pc02", "clix_platform": "unplatform", "clix_school_root": root},
             {"inventory_hostname": "1011001-ct1-pc01", "clix_platform": "unplatform", "clix_school_root": other},
             {"inventory_hostname": "school-ct1", "clix_school_root": root},  # a server named by hand
             {"inventory_hostname": "1011001-ct1-pc03", "clix_platform": "unplatform"}]
    assert clix.clix_folder_writers(hosts, root) == ["school-ct1", "1011001-ct1-pc02"]
    assert clix.clix_folder_writers(hosts, other) == ["1011001-ct1-pc01"]
    assert clix.clix_folder_writers(hosts[:2], root) == ["1011001-ct1-pc02"]


SERVER_ITEMS = [{"name": "unplatform", "tag": "unplatform", "src": "/home/core/unplatform/", "dest": "unplatform"},
                {"name": "media", "tag": "media", "src": "/home/core/data/media/", "dest": "gstudio/media"}]


def test_the_servers_unplatform_item_leaves_out_the_folders_of_its_schools_lab_pcs():
    school = [{"inventory_hostname": "1011001-ct1"},
              {"inventory_hostname": "1011001-ct1-pc02", "clix_platform": "unplatform", "clix_pc": "pc02"},
              {"inventory_hostname": "1011001-ct1-pc01", "clix_platform": "unplatform", "clix_pc": "pc01"},
              {"inventory_hostname": "1011001-ct1-odd", "clix_platform": "unplatform", "clix_pc": "PC 3"},
              {"inventory_hostname": "1011001-ct1-x", "clix_pc": "pc09"}]  # no lab PC: clix_pc without the platform
    pcs = clix.clix_lab_pcs(school)
    assert pcs == ["pc01", "pc02"]
    items = {i["name"]: i for i in clix.clix_pull_items(SERVER_ITEMS, {}, pcs)}
    assert items["unplatform"]["exclude"] == ["/pc01/", "/pc02/"]
    assert "exclude" not in items["media"]
    assert {i["name"]: i.get("exclude") for i in clix.clix_pull_items(SERVER_ITEMS, {})}["unplatform"] == []


def test_the_exclusion_leaves_out_only_the_folders_at_the_items_top_named_like_a_lab_pc(tmp_path):
    """The patterns as rsync reads them: a server folder pc01/ at the top of its unplatform folder is
    not pulled; pc01 deeper down, a file named pc01 and a folder pc010 are."""
    server = tmp_path / "server"
    for rel in ("pc01/opt-clix/unplatform.sqlite3", "pc02/x.json", "data/pc01/kept.db", "pc010/kept", "logs/a.log"):
        (server / rel).parent.mkdir(parents=True, exist_ok=True)
        (server / rel).write_text(rel)
    (server / "data" / "pc02").write_text("a file named like a PC")
    (server / "pc03").write_text("a file at the top named like a PC")
    item = clix.clix_pull_items(SERVER_ITEMS, {}, ["pc01", "pc02", "pc03"])[0]
    dest = tmp_path / "archive" / "unplatform"
    dest.mkdir(parents=True)
    subprocess.run(["rsync", "-a", *("--exclude=%s" % e for e in item["exclude"]), "%s/" % server, "%s/" % dest],
                   check=True)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "data/pc01/kept.db", "data/pc02", "logs/a.log", "pc010/kept", "pc03"]

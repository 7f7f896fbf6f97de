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
from ansible.module_utils import clix_identity, clix_unplatform


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


SHA = "ab" * 32
STAGING = "/opt/clix-collect/staging/unplatform"


def installs(label="opt-clix") -> list:
    return [{"label": label, "path": "/opt/clix", "layout": "v2", "version": "2.1", "version_source": "dpkg:clix",
             "sessions": 5, "user_data": 5, "notes": ["webapps/unplatform/configuration/config.json missing"],
             "pull": [{"name": "x", "src": "/s/opt-clix/unplatform.sqlite3", "dest": "unplatform.sqlite3",
                       "kind": "sessions", "expect": {"unplatform.sqlite3": SHA}, "exclude": []},
                      {"name": "y", "src": "/opt/clix/webapps/CLIx/datastore/", "dest": "webapps/CLIx/datastore",
                       "kind": "json", "expect": {}, "exclude": ["/repository/AssetContent/"]}]}]


def test_pull_items_go_below_unplatform_pc_install():
    items = clix.clix_labpc_pull_items(installs(), "pc01", STAGING)
    assert [(i["name"], i["dest"], i["kind"], i["src"]) for i in items] == [
        ("unplatform/pc01/opt-clix/unplatform.sqlite3", "unplatform/pc01/opt-clix/unplatform.sqlite3", "sessions",
         STAGING + "/opt-clix/unplatform.sqlite3"),
        ("unplatform/pc01/opt-clix/webapps/CLIx/datastore", "unplatform/pc01/opt-clix/webapps/CLIx/datastore", "json",
         "/opt/clix/webapps/CLIx/datastore/")]
    assert items[0]["expect"] == {"unplatform.sqlite3": SHA} and items[1]["exclude"] == ["/repository/AssetContent/"]
    assert clix.clix_labpc_pull_items(installs(), "pc01", STAGING, True)[1]["exclude"] == []


def test_the_kind_source_and_place_of_a_pull_are_the_control_nodes_whatever_the_pc_says():
    """Issue 26 item 10: a PC that called its datastore a snapshot (swapped in whole: its archived history
    gone), its database a plain file, or pointed a part's source elsewhere changes nothing of its items."""
    honest = clix.clix_labpc_pull_items(installs(), "pc01", STAGING)
    found = installs("some-other-label")
    found[0]["pull"][0].update(kind="file", src="/etc/shadow", name="db")
    found[0]["pull"][1].update(kind="snapshot", src="/", exclude=["*"], expect={"x": SHA}, name="../..")
    assert clix.clix_labpc_pull_items(found, "pc01", STAGING) == honest


@pytest.mark.parametrize("hostile", [
    {"path": "/opt/../etc"}, {"path": "opt/clix"}, {"path": "/opt/cl\x1b[2Jix"}, {"path": 7}, {"layout": "v3"},
    {"layout": None}, {"pull": [{"dest": "../x"}]}, {"pull": [{"dest": "/etc"}]}, {"pull": [{"dest": "a//b"}]},
    {"pull": [{"dest": "webapps"}]}, {"pull": [{"dest": "unplatform/db.sqlite3"}]},
    {"pull": [{"dest": "unplatform.sqlite3", "expect": {"unplatform.sqlite3": "ab"}}]}, {"pull": ["x"]}])
def test_an_install_or_part_the_table_does_not_hold_pulls_nothing_and_fails_with_the_reason(hostile):
    found = installs()
    found[0].update(hostile)
    items = clix.clix_labpc_pull_items(found, "pc01", STAGING)
    refused = [i for i in items if i.get("error")]
    assert len(refused) == 1 and refused[0]["name"] == "unplatform/pc01" and refused[0]["src"] == ""
    assert "was not pulled" in refused[0]["error"] and "\x1b" not in refused[0]["error"]
    assert all(i["dest"].startswith("unplatform/pc01/opt-clix/") for i in items if not i.get("error"))


def test_an_install_with_one_bad_part_pulls_none_of_its_parts():
    found = installs()
    found[0]["pull"].append({"dest": "../x"})
    items = clix.clix_labpc_pull_items(found, "pc01", STAGING)
    assert len(items) == 1 and "was not pulled" in items[0]["error"]
    found[0]["pull"][-1] = dict(found[0]["pull"][1])  # a part named twice
    items = clix.clix_labpc_pull_items(found, "pc01", STAGING)
    assert len(items) == 1 and "named twice" in items[0]["error"]


def test_a_pc_naming_many_installs_has_only_the_first_ones_pulled():
    found = [dict(installs()[0], path=f"/home/u{n}/CLIx") for n in range(1000)]
    items = clix.clix_labpc_pull_items(found, "pc01", STAGING)
    pulled = {i["dest"].split("/")[2] for i in items if not i.get("error")}
    assert len(pulled) == clix_unplatform.LABPC_INSTALLS, pulled
    assert [i["error"] for i in items if i.get("error")] == [
        f"the lab PC reported 1000 installs: only the first {clix_unplatform.LABPC_INSTALLS} were pulled"]


def test_two_installs_of_one_folder_name_pull_only_the_first():
    found = installs() + installs()
    items = clix.clix_labpc_pull_items(found, "pc01", STAGING)
    assert len([i for i in items if not i.get("error")]) == 2 and "a second install" in items[-1]["error"]
    assert clix.clix_labpc_pull_items({"not": "a list"}, "pc01", STAGING) == []


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
    assert items["unplatform"]["exclude"] == ["/pc01", "/pc02"]
    assert "exclude" not in items["media"]
    assert {i["name"]: i.get("exclude") for i in clix.clix_pull_items(SERVER_ITEMS, {})}["unplatform"] == []


def test_the_exclusion_leaves_out_only_the_folders_at_the_items_top_named_like_a_lab_pc(tmp_path):
    """The patterns as rsync reads them: a server folder pc01/ at the top of its unplatform folder is
    not pulled, nor a file or link named like a PC there (issue 26 item 9: a link pc03 -> data kept in
    the archive carried pc03's pulls into the server's folder); pc01 deeper down and a folder pc010 are."""
    server = tmp_path / "server"
    for rel in ("pc01/opt-clix/unplatform.sqlite3", "pc02/x.json", "data/pc01/kept.db", "pc010/kept", "logs/a.log"):
        (server / rel).parent.mkdir(parents=True, exist_ok=True)
        (server / rel).write_text(rel)
    (server / "data" / "pc02").write_text("a file named like a PC")
    (server / "pc03").symlink_to("data")  # a link at the top named like a PC
    (server / "pc04").write_text("a file at the top named like a PC")
    item = clix.clix_pull_items(SERVER_ITEMS, {}, ["pc01", "pc02", "pc03", "pc04"])[0]
    dest = tmp_path / "archive" / "unplatform"
    dest.mkdir(parents=True)
    subprocess.run(["rsync", "-a", *("--exclude=%s" % e for e in item["exclude"]), "%s/" % server, "%s/" % dest],
                   check=True)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "data/pc01/kept.db", "data/pc02", "logs/a.log", "pc010/kept"]
    assert not (dest / "pc03").is_symlink()

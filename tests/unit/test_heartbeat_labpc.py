"""clix_heartbeat's lab-PC mode (platform=unplatform): the installs it finds, their size, the app."""

from __future__ import annotations

import os
import socket
import threading

from ansible.module_utils import clix_unplatform
from library_module import library_module, run_module

from fleet import unplatform

heartbeat = library_module("clix_heartbeat")


def tree_size(root) -> tuple:
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def params(tmp_path, **more) -> dict:
    return dict(dict(unplatform_roots=[], unplatform_search=[str(tmp_path / "home")], unplatform_search_depth=3,
                     staging_dir=None), **more)


def test_installs_of_each_version_are_found_once_with_their_size_and_links_are_not_followed(tmp_path):
    v2 = unplatform.generate(tmp_path / "opt/clix", 1, 6).root
    v1 = unplatform.generate_v1(tmp_path / "home/student/CLIx_Unplatform", 1, 3).root
    (tmp_path / "home/student/CLIx_Unplatform-old").mkdir()  # holds no install
    (tmp_path / "home/guest").mkdir(parents=True)
    os.symlink(v2, tmp_path / "home/guest/CLIx_Unplatform")  # a link to an install: not followed
    os.symlink("/etc", v2 / "webapps" / "etc-link")  # a link inside one: not counted
    found, error = heartbeat.installs(params(tmp_path, unplatform_roots=[str(v2), str(v2)]), 30)
    assert error is None
    assert [(i["path"], i["version"]) for i in found] == [(str(v1), "v1"), (str(v2), "v2")]
    for install, root in zip(found, (v1, v2)):
        assert (install["bytes"], install["files"]) == tree_size(root) and install["complete"] is True
    assert heartbeat.installs(params(tmp_path / "nowhere"), 30) == ([], None)


def test_the_heartbeat_finds_exactly_the_installs_the_collection_takes(tmp_path):
    """One search (clix_unplatform.find_installs): the heartbeat sizes what clix_unplatform collects,
    never a copy in the tool's staging folder."""
    unplatform.generate(tmp_path / "srv/CLIx", 1, 2)
    unplatform.generate_v1(tmp_path / "home/student/CLIx_Unplatform", 1, 2)
    unplatform.generate_v1(tmp_path / "home/a/b/c/too-deep", 1, 2)
    staging = tmp_path / "home/clix-staging"
    unplatform.generate_v1(staging / "copy", 1, 2)
    given = params(tmp_path, unplatform_roots=[str(tmp_path / "srv/CLIx")], unplatform_search_depth=2,
                   staging_dir=str(staging))
    found, _ = heartbeat.installs(given, 30)
    collected = clix_unplatform.find_installs([heartbeat.INSTALL_ROOT, *given["unplatform_roots"]],
                                              given["unplatform_search"], 2, (str(staging),))
    assert {i["path"]: i["version"] for i in found} == collected == {
        str(tmp_path / "home/student/CLIx_Unplatform"): "v1", str(tmp_path / "srv/CLIx"): "v2"}


def test_a_lab_pc_heartbeat_has_its_app_installs_and_data_size_and_no_server_parts(tmp_path, monkeypatch, capsys):
    root = unplatform.generate(tmp_path / "srv/CLIx", 2, 4).root
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: nothing answers there
    try:
        result = run_module(heartbeat, {"platform": "unplatform", "unplatform_roots": [str(root)], "timeout": 30,
                           "qbank_address": "127.0.0.1:%d" % listening.getsockname()[1],
                           "ui_address": "127.0.0.1:%d" % closed.getsockname()[1]}, monkeypatch, capsys)
    finally:
        listening.close()
        closed.close()
    facts = result["ansible_facts"]["clix_heartbeat"]
    assert facts["platform"] == "unplatform"
    assert facts["services"] == {"qbank_lite": True, "unplatform": False}
    mine = [i for i in facts["installs"] if i["path"] == str(root)]
    assert len(mine) == 1 and mine[0]["version"] == "v2"
    assert facts["data_bytes"] == sum(i["bytes"] for i in facts["installs"]) >= tree_size(root)[0]
    assert not {"server_id", "school_code", "school_name", "data_dirs", "settings_error"} & set(facts)
    text = heartbeat.render_log(dict(facts, processes=[]))
    assert "unplatform lab PC" in text and "qbank-lite: up" in text and "unplatform: DOWN" in text
    assert "%s (v2)" % root in text and "MongoDB" not in text


def test_a_server_heartbeat_is_unchanged_by_the_lab_pc_mode(tmp_path, monkeypatch, capsys):
    facts = run_module(heartbeat, {"server_settings": str(tmp_path / "none.py"), "data_dir": str(tmp_path), "timeout": 5,
                      "mongo_address": "127.0.0.1:9", "postgres_address": "127.0.0.1:9"},
                     monkeypatch, capsys)["ansible_facts"]["clix_heartbeat"]
    assert facts["platform"] == "gstudio" and set(facts["services"]) == {"mongodb", "postgresql", "container"}
    assert "installs" not in facts and "server_id" in facts


def test_a_search_for_installs_that_does_not_end_in_time_is_reported_never_waited_for(tmp_path, monkeypatch):
    """A stale network mount below /home would hang the search: the heartbeat gives up at its timeout."""
    release = threading.Event()
    monkeypatch.setattr(heartbeat, "find_installs", lambda *args: release.wait(30) and {})
    try:
        assert heartbeat.installs(params(tmp_path), 0.2) == ([], "stale")
    finally:
        release.set()

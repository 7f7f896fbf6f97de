"""clix_heartbeat's lab-PC mode (platform=unplatform): the installs it finds, their size, the app."""

from __future__ import annotations

import json
import os
import socket

import pytest
from ansible.module_utils import basic
from library_module import library_module

from fleet import unplatform

heartbeat = library_module("clix_heartbeat")


def run_main(args: dict, monkeypatch, capsys) -> dict:
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    umask = os.umask(0o022)  # the module sets its own: give the next tests theirs back
    try:
        with pytest.raises(SystemExit):
            heartbeat.main()
    finally:
        os.umask(umask)
    return json.loads(capsys.readouterr().out)


def tree_size(root) -> tuple:
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def test_installs_of_each_version_are_found_once_with_their_size_and_links_are_not_followed(tmp_path):
    v2 = unplatform.generate(tmp_path / "opt/clix", 1, 6).root
    v1 = unplatform.generate_v1(tmp_path / "home/student/CLIx_Unplatform", 1, 3).root
    (tmp_path / "home/student/CLIx_Unplatform-old").mkdir()  # matches the pattern, holds no install
    (tmp_path / "home/guest").mkdir(parents=True)
    os.symlink(v2, tmp_path / "home/guest/CLIx_Unplatform")  # a link to an install: not followed
    os.symlink("/etc", v2 / "webapps" / "etc-link")  # a link inside one: not counted
    patterns = [str(tmp_path / "opt/clix"), str(tmp_path / "home/*/CLIx_Unplatform*"), str(tmp_path / "opt/clix")]
    found = heartbeat.installs(patterns, 30)
    assert [(i["path"], i["version"]) for i in found] == [(str(v2), "v2"), (str(v1), "v1")]
    for install, root in zip(found, (v2, v1)):
        assert (install["bytes"], install["files"]) == tree_size(root) and install["complete"] is True
    assert heartbeat.installs([str(tmp_path / "nowhere")], 30) == []


def test_a_lab_pc_heartbeat_has_its_app_installs_and_data_size_and_no_server_parts(tmp_path, monkeypatch, capsys):
    root = unplatform.generate(tmp_path / "srv/CLIx", 2, 4).root
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: nothing answers there
    try:
        result = run_main({"platform": "unplatform", "unplatform_roots": [str(root)], "timeout": 30,
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
    facts = run_main({"server_settings": str(tmp_path / "none.py"), "data_dir": str(tmp_path), "timeout": 5,
                      "mongo_address": "127.0.0.1:9", "postgres_address": "127.0.0.1:9"},
                     monkeypatch, capsys)["ansible_facts"]["clix_heartbeat"]
    assert facts["platform"] == "gstudio" and set(facts["services"]) == {"mongodb", "postgresql", "container"}
    assert "installs" not in facts and "server_id" in facts

"""What moved out of the role's YAML into Python to cut the tasks per school (issue 24): the derived
step's report item (action_plugins/clix_server.py), a host's items (clix_host_items), and the private
Python's wheels and fingerprint (action_plugins/clix_connect.py), the modules' payloads kept between runs
(action_plugins/clix_payloads.py), on real files."""

from __future__ import annotations

import hashlib
import sys
import tarfile
from pathlib import Path

import pytest
from ansible import constants as C
from conftest import REPO

sys.path.insert(0, str(REPO / "action_plugins"))
sys.path.insert(0, str(REPO / "filter_plugins"))
import clix
import clix_connect
import clix_payloads
import clix_server

DERIVE = {"runtime": "docker", "container": "gstudio", "commands": ["export_users_analytics", "mit_activity_data"],
          "users": ["u1"]}


def test_each_step_writes_where_its_selected_item_says_and_none_without_it():
    items = [{"name": "db", "tag": "db", "producer": "db", "src": "/s/db/", "dest": "gstudio/db"},
             {"name": "postgres-dump", "tag": "postgres", "producer": "postgres", "src": "/s/pg/",
              "dest": "gstudio/postgres-dump"},
             {"name": "media", "tag": "media", "src": "/d/media/", "dest": "gstudio/media"}]
    db = clix_server.step_args("clix_mongodump", {"uri": "u"}, clix_server.produced_at(items, "db"))
    assert db == {"uri": "u", "dest": "/s/db"}
    pg = clix_server.step_args("clix_pg_dumpall", {}, clix_server.produced_at(items, "postgres"))
    assert pg == {"dest": "/s/pg/pg_dump_all.sql"}
    # The git state's and the heartbeat's items are not selected: no step writes for them.
    assert clix_server.produced_at(items, "git") is None
    assert clix_server.step_args("clix_heartbeat", {"timeout": 5}, clix_server.produced_at(items, "heartbeat")) == {
        "timeout": 5}


def test_clix_server_takes_exactly_the_options_the_role_gives_it_and_refuses_any_other():
    import yaml
    from ansible.errors import AnsibleActionFail
    from ansible.playbook.task import Task

    task = next(t for t in yaml.safe_load((REPO / "roles/clix/tasks/server.yml").read_text()) if "clix_server" in t)
    assert set(task["clix_server"]) == clix_server.ActionModule._VALID_ARGS
    action = clix_server.ActionModule(Task.load({"clix_server": {"items": [], "heartbaet": {}}}), None, None, None,
                                      None, None)
    with pytest.raises(AnsibleActionFail, match="heartbaet"):
        action.run(task_vars={})


def test_the_derived_step_becomes_one_report_item_with_its_status_and_reason():
    ran = {"changed": True, "container_state": "running",
           "commands": [{"name": "export_users_analytics", "seconds": 1.5}, {"name": "mit_activity_data", "seconds": 2}]}
    item = clix_server.derived_item(ran, DERIVE, check_mode=False)
    assert item == {"name": "derived (gStudio container)", "status": "ok", "reason": "",
                    "source": "docker exec gstudio: export_users_analytics, mit_activity_data, u1",
                    "bytes_received": 0, "total_bytes": 0, "files_transferred": 2, "seconds": 3.5}
    absent = {"failed": False, "container_state": "absent", "msg": "the gStudio container 'gstudio' is absent", "commands": []}
    assert clix_server.derived_item(absent, DERIVE, False)["status"] == "skipped"
    assert clix_server.derived_item(absent, DERIVE, False)["reason"] == absent["msg"]
    failed = {"failed": True, "container_state": "running", "msg": "mit_activity_data: exit 1",
              "commands": [{"name": "mit_activity_data", "seconds": 4}]}
    assert [clix_server.derived_item(failed, DERIVE, False)[k] for k in ("status", "reason", "seconds")] == [
        "failed", "mit_activity_data: exit 1", 4]
    would = {"changed": True, "container_state": "running", "commands": [{"name": "export_users_analytics"}]}
    assert [clix_server.derived_item(would, DERIVE, True)[k] for k in ("status", "reason")] == [
        "skipped", "check mode: would run export_users_analytics"]


def test_a_hosts_items_are_its_pull_and_derived_step_or_a_lab_pcs_one_item():
    pulled = [{"name": "db", "status": "ok"}, {"name": "media", "status": "failed"}]
    derived = {"name": "derived (gStudio container)", "status": "skipped"}
    server = {"clix_pulled": [], "clix_pull_result": {"items": pulled}, "clix_derived_item": derived}
    assert clix.clix_host_items(server) == [*pulled, derived]
    # Failed before its pull (or the pull itself failed): no items, not the derived step alone.
    assert clix.clix_host_items({"clix_pulled": [], "clix_derived_item": derived}) == []
    assert clix.clix_host_items({"clix_pull_result": {"failed": True, "msg": "x"}, "clix_derived_item": derived}) == []
    pc = [{"name": "unplatform/pc01", "status": "failed", "reason": "unreachable"}]
    assert clix.clix_host_items({"clix_pulled": pc, "clix_pull_result": {"skipped": True}}) == pc


def test_the_wheels_of_a_python_version_and_the_fingerprint_of_what_they_install(tmp_path):
    names = ["pip-24.0-py3-none-any.whl", "psutil-5.9-cp36-abi3-manylinux.whl", "pymongo-4.6-cp311-cp311-linux.whl",
             "pymongo-4.6-cp39-cp39-linux.whl", "README.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    requirements = tmp_path / "requirements-target.txt"
    requirements.write_text("pymongo==4.6\npsutil==5.9\n\n")
    wheels = clix_connect.wheels_for(str(tmp_path), "3.11")
    assert [w.rsplit("/", 1)[1] for w in wheels] == names[:3]
    assert [w.rsplit("/", 1)[1] for w in clix_connect.wheels_for(str(tmp_path), "3.9")] == [names[0], names[1], names[3]]
    # The pins as the file reads, less trailing whitespace, after the wheels' names: a new pin or wheel
    # is a new fingerprint, and the environment is installed again.
    expected = hashlib.sha256((",".join(names[:3]) + "pymongo==4.6\npsutil==5.9").encode()).hexdigest()
    assert clix_connect.fingerprint(wheels, str(requirements)) == expected
    requirements.write_text("pymongo==4.7\npsutil==5.9\n")
    assert clix_connect.fingerprint(wheels, str(requirements)) != expected
    assert clix_connect.version_of("3.11") == (3, 11) and clix_connect.version_of("bash: python3: not found") == ()


def test_a_host_gets_its_environment_unless_it_has_this_fingerprint_from_a_bundle_made_once(tmp_path):
    """clix_connect installs where the host's environment is missing, stale or on an old Python, never
    where it is current; the bundle it ships holds the wheels and the pins, made once for every server."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("pip-24.3.1-py3-none-any.whl", "psutil-5.9.8-cp36-abi3-manylinux_2_17_x86_64.whl"):
        (wheels / name).write_bytes(name.encode())
    requirements = tmp_path / "requirements-target.txt"
    requirements.write_text("psutil==5.9.8\n")
    args = {"wheels_dir": str(wheels), "requirements": str(requirements), "dir": "/opt/clix-collect"}

    def facts(answer: str) -> dict:
        return clix_connect.ActionModule.facts(None, {"rc": 0, "stdout": answer}, args)

    want = facts("3.11\n")["clix_target_python_fingerprint"]
    assert [facts(a)["clix_target_python_current"] for a in ("3.11\n", "3.11\nstale\n", "3.7\n%s\n" % want,
                                                             "3.11\n%s\n" % want)] == [False, False, False, True]
    bundle = facts("3.11\n")["clix_target_python_bundle"]
    clix_connect.make_bundle(bundle, str(wheels))
    with tarfile.open(bundle["path"]) as tar:
        assert sorted(tar.getnames()) == sorted(bundle["files"])
        assert tar.extractfile("requirements-target.txt").read() == requirements.read_bytes()
    made = Path(bundle["path"]).stat().st_mtime_ns
    clix_connect.make_bundle(bundle, str(wheels))
    assert Path(bundle["path"]).stat().st_mtime_ns == made


def test_a_failed_hosts_problem_and_status_from_the_failed_task():
    assert clix.clix_failure_problem({}, "the host stopped answering") == "the host stopped answering"
    assert clix.clix_failure_problem({"unreachable": True, "msg": "ssh: no route"}, "x") == "unreachable: ssh: no route"
    assert clix.clix_failure_problem({"failed": True, "msg": "MongoDB down"}, "x") == "MongoDB down"
    assert clix.clix_failure_status({"msg": "timed out"}, {"action": "clix_connect"}, ["clix_connect"]) == "unreachable"
    assert clix.clix_failure_status({"unreachable": True}, {}, ["clix_connect"]) == "unreachable"
    # It answered, and its private Python could not be installed (too old, no wheels): failed, not unreachable.
    assert clix.clix_failure_status({"msg": "x", "install_failed": True}, {"action": "clix_connect"},
                                    ["clix_connect"]) == "failed"
    assert clix.clix_failure_status({"msg": "x"}, {"action": "clix_server"}, ["clix_connect"]) == "failed"


def test_a_sealed_hosts_row_is_built_from_its_facts_by_the_report():
    """main.yml records no row per host: clix_results builds it, once the host is sealed (clix_sealed),
    from where the inventory check put it and what its tasks left."""
    schools = {"2031001-mz1": {"folder": "2031001-mz1", "state": "mz", "server_id": "mz1"},
               "2031001-mz1-pc01": {"folder": "2031001-mz1", "state": "mz", "server_id": "mz1", "pc": "pc01"}}
    common = {"clix_inventory": {"schools": schools}, "school_code": "2031001", "school_name": "GMHS 1"}
    pulled = [{"name": "db", "status": "ok"}]
    server = dict(common, inventory_hostname="2031001-mz1", clix_sealed={"changed": True, "failed": False},
                  clix_heartbeat={"server_id": "mz1"}, clix_identity="", clix_pull_result={"items": pulled})
    pc = dict(common, inventory_hostname="2031001-mz1-pc01", clix_platform="unplatform", clix_problem="timed out",
              clix_problem_status="unreachable", clix_sealed={"skipped": True},
              clix_pulled=[{"name": "unplatform/pc01", "status": "failed", "reason": "timed out"}])
    mismatch = dict(server, clix_identity="the server says it is mz2")
    unsealed = dict(server, clix_sealed={"failed": True, "msg": "disk full"})
    rows = clix.clix_results([server, pc, mismatch, unsealed])
    assert rows[0] == {"host": "2031001-mz1", "row": "2031001-mz1", "folder": "2031001-mz1", "state": "mz",
                       "server_id": "mz1", "school_code": "2031001", "school_name": "GMHS 1",
                       "heartbeat": {"server_id": "mz1"}, "problem": "", "problem_status": "failed", "items": pulled}
    assert [rows[1][k] for k in ("row", "folder", "problem", "problem_status", "heartbeat")] == [
        "2031001-mz1-pc01", "2031001-mz1", "timed out", "unreachable", None]
    assert rows[1]["items"] == pc["clix_pulled"]
    assert [rows[2][k] for k in ("problem", "problem_status")] == ["the server says it is mz2", "identity mismatch"]
    # A host whose seal failed (or never ran) did not reach its end: its row says so, never a clean one.
    assert "stopped for this school" in rows[3]["problem"] and rows[3]["items"] == []


def test_a_modules_payload_is_built_once_per_change_of_its_sources_never_reused_after_one(tmp_path, monkeypatch):
    """clix_payloads keeps what Ansible built in one run's folder for the next runs: only while Ansible's
    version and every source below the module and module_utils folders are byte for byte the same."""
    library, utils, store = tmp_path / "library", tmp_path / "module_utils", tmp_path / "store"
    (utils / "sub").mkdir(parents=True)
    library.mkdir()
    (library / "clix_x.py").write_text("from ansible.module_utils.sub.helper import f\n")
    (utils / "sub" / "helper.py").write_text("def f(): return 1\n")
    monkeypatch.setattr(C, "DEFAULT_MODULE_PATH", [str(library)])
    monkeypatch.setattr(C, "DEFAULT_MODULE_UTILS_PATH", [str(utils)])
    name = "ansible.legacy.clix_x-ZIP_DEFLATED-none"

    def run(number: int, build: bytes | None = None, edit=None) -> bytes | None:
        """One run of module clix_x: what Ansible finds in its folder when it looks, the payload it
        builds when it finds none (edit: a source changed while it builds)."""
        monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path / ("run%d" % number)))
        with clix_payloads.reused("clix_x", store):
            payload = clix_payloads.run_dir() / name
            found = payload.read_bytes() if payload.exists() else None
            if found is None and build is not None:
                payload.parent.mkdir(parents=True, exist_ok=True)
                payload.write_bytes(build)
                if edit:
                    edit()
        return found

    assert run(1, b"payload 1") is None  # the first run builds it
    assert run(2) == b"payload 1"  # the next finds it where Ansible looks, before the module runs
    assert (store.stat().st_mode & 0o777, run(3, b"other")) == (0o700, b"payload 1")
    (utils / "sub" / "helper.py").write_text("def f(): return 2\n")  # a module_utils file changed
    assert run(4, b"payload 4") is None
    assert run(5) == b"payload 4"
    (library / "clix_x.py").write_text("from ansible.module_utils.sub.helper import f  # changed\n")  # the module
    assert run(6, b"payload 6", edit=lambda: (utils / "sub" / "new.py").write_text("x = 1\n")) is None
    assert run(7, b"payload 7") is None  # built while a source changed: not kept under either set of sources
    store.chmod(0o777)  # a store others can write is not used: a payload runs on every school
    assert run(8) is None
    store.chmod(0o700)
    assert run(9) == b"payload 7"


def role_items() -> tuple[list, dict]:
    """The role's item table and clix_server's derive options, each "{{ var }}" filled in as /var."""
    import re

    import yaml

    def fill(text):
        return re.sub(r"\{\{ (\w+) \}\}", r"/\1", text) if isinstance(text, str) else text

    items = yaml.safe_load((REPO / "roles/clix/defaults/main.yml").read_text())["clix_items"]
    task = next(t for t in yaml.safe_load((REPO / "roles/clix/tasks/server.yml").read_text()) if "clix_server" in t)
    return ([{k: fill(v) for k, v in item.items()} for item in items],
            {"clix_gstudio_derive": {k: fill(v) for k, v in task["clix_server"]["clix_gstudio_derive"].items()}})


def test_what_no_step_writes_is_pulled_beside_the_steps_and_the_rest_after_them():
    items, args = role_items()
    after = {item["name"] for item in items if clix_server.after_steps(item, args, derive=True)}
    # The dumps, the git state, the derived CSVs, gstudio-logs, which holds the derived data's log, and the
    # single files, which share the git log's rsync.
    assert after == {"db", "postgres-dump", "git-commit.log", "gstudio-exported-users-analytics-csvs",
                     "activity-timestamp-csvs", "qbank/student-activities", "gstudio-logs", "local_settings.py",
                     "server_settings.py"}
    assert args["clix_gstudio_derive"]["log_dir"].startswith(next(i["src"] for i in items if i["name"] == "gstudio-logs"))
    # Without the derived data on the server, only what a step writes waits; the heartbeat's has been written.
    assert {item["name"] for item in items if clix_server.after_steps(item, args, derive=False)} == {
        "db", "postgres-dump", "git-commit.log", "local_settings.py", "server_settings.py"}
    assert not clix_server.after_steps({"name": "x", "src": "", "dest": "x"}, args, derive=True)
    # The server's paths compared as paths: a doubled or trailing slash in either is no other folder.
    logs = {"name": "gstudio-logs", "tag": "logs", "src": "/data/gstudio-logs"}
    assert clix_server.after_steps(logs, {"clix_gstudio_derive": {"log_dir": "/data//gstudio-logs/clix-derive/"}}, True)
    assert not clix_server.after_steps(logs, {"clix_gstudio_derive": {"log_dir": "/data/gstudio-logs-old/x"}}, True)


def test_the_two_pulls_read_as_one_in_the_order_the_items_were_selected():
    early = {"changed": True, "items": [{"name": "media"}, {"name": "settings"}], "bytes_received": 5,
             "total_bytes": 7, "warnings": ["w"]}
    late = {"changed": False, "items": [{"name": "db"}], "bytes_received": 1, "total_bytes": 2}
    joined = clix_server.joined([early, late], [False, True, False])
    assert [i["name"] for i in joined["items"]] == ["media", "db", "settings"]
    assert (joined["changed"], joined["bytes_received"], joined["total_bytes"], joined["warnings"]) == (True, 6, 9, ["w"])
    assert clix_server.joined([early], [False, False])["items"] == early["items"]
    # A failed pull returns no items: the task fails with its message, as a failed pull did.
    failed = {"failed": True, "msg": "clix_pull: boom"}
    assert clix_server.joined([early, failed], [False, True, False]) is failed
    assert clix_server.joined([failed], [False, True]) is failed

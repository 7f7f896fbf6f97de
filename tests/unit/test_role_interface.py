"""The role's interface (roles/clix/meta/argument_specs.yml): every input ops may set is declared and
rendered by ansible-doc, and a wrong value stops a run before any school is contacted."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
ROLE = REPO / "roles" / "clix"
# Set from clix_archive_root and clix_year by clix_layout (defaults/main.yml says: set those, not these).
DERIVED = {"clix_quarantine_root", "clix_reports_dir"}
FACTS = {"clix_heartbeat"}  # clix_heartbeat's ansible_facts
DEFAULTED = re.compile(r"\b(clix_[a-z_]+) \| default\(")


def env() -> dict:
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")


@pytest.fixture(scope="module")
def documented() -> dict:
    done = subprocess.run([str(BIN / "ansible-doc"), "-t", "role", "-r", str(REPO / "roles"), "--json", "clix"],
                          cwd=REPO, env=env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    return json.loads(done.stdout)["clix"]["entry_points"]


def set_by_tasks() -> set:
    """Facts and registered results of the role's tasks: read with default() too, but not inputs."""
    names = set()
    for path in (ROLE / "tasks").glob("*.yml"):
        names |= set(re.findall(r"^\s+register: (clix_[a-z_]+)$", path.read_text(), re.M))
        stack = list(yaml.safe_load(path.read_text()) or [])
        while stack:
            task = stack.pop()
            for key in ("block", "rescue", "always"):
                stack += task.get(key) or []
            names |= set((task.get("ansible.builtin.set_fact") or {}).keys())
    return names


def inputs() -> set:
    defaults = set(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())) - DERIVED
    read = {name for path in [*(ROLE / "tasks").glob("*.yml"), *REPO.glob("*.yml")]
            for name in DEFAULTED.findall(path.read_text())}
    return defaults | (read - set_by_tasks() - FACTS)


def test_every_input_is_declared_and_rendered_with_its_type(documented):
    declared = {name: spec for point in documented.values() for name, spec in point["options"].items()}
    assert sorted(inputs() - set(declared)) == []
    for name, spec in declared.items():
        assert spec.get("type") and spec.get("description"), name
    # the 8 read with default() only, each where it is read
    assert {"clix_ingest_from", "clix_ingest_school", "clix_ingest_pc", "clix_ingest_max_bytes",
            "clix_ingest_max_ratio"} <= set(documented["ingest"]["options"])
    assert {"clix_merge_from", "clix_merge_name"} <= set(documented["merge"]["options"])
    assert "clix_verify_path" in documented["verify"]["options"]


def test_the_documented_defaults_are_the_roles(documented):
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for point in documented.values():
        for name, spec in point["options"].items():
            if "default" in spec and "{{" not in str(defaults.get(name)):
                assert spec["default"] == defaults[name], name


def playbook(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """The playbook against an inventory whose one school no run could reach in time (TEST-NET-1)."""
    (tmp_path / "inventory" / "mz").mkdir(parents=True, exist_ok=True)
    (tmp_path / "inventory" / "mz" / "hosts.yml").write_text(
        "mz:\n  children:\n    mz1:\n      hosts:\n        2031001-mz1: {school_code: '2031001', ansible_host: 192.0.2.1}\n")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(tmp_path / "inventory"), str(REPO / name),
                           "-e", f"clix_archive_root={tmp_path / 'archive'}", *args],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name,args,wrong", [
    ("collect.yml", ["-e", "clix_pull_retries=many"], "clix_pull_retries"),
    ("collect.yml", ["-e", '{"clix_item_tags": ["db", "video"]}'], "clix_item_tags"),
    ("derive.yml", ["-e", "derive_from=archve"], "clix_derive_from"),
    ("ingest.yml", ["-e", "clix_ingest_from=/media/usb", "-e", "clix_ingest_school=2031001-mz1",
                    "-e", "clix_ingest_max_bytes=16G"], "clix_ingest_max_bytes"),
    ("ingest.yml", [], "clix_ingest_from"),
    ("merge.yml", ["-e", "clix_merge_from=/media/usb/clix-archive", "-e", "clix_progress_seconds=often"],
     "clix_progress_seconds"),
    ("verify.yml", ["-e", "clix_year=last"], "clix_year"),
])
def test_a_wrong_value_stops_the_run_before_any_school_is_contacted(tmp_path, name, args, wrong):
    proc = playbook(tmp_path, name, *args)
    assert proc.returncode != 0
    error = re.search(r"^\[ERROR\]: Task failed: Action failed: Validation of arguments failed:\n(.*)$", proc.stdout, re.M)
    assert error and wrong in error.group(1), proc.stdout[-3000:]
    assert "UNREACHABLE" not in proc.stdout and "Wait for the host" not in proc.stdout
    assert not (tmp_path / "archive").exists()


def test_a_wrong_value_in_one_hosts_own_variables_stops_the_run_naming_it(tmp_path):
    """The settings are checked once for the play (clix_settings_check), yet a value that only one school's
    inventory sets is checked too, and named with its host."""
    (tmp_path / "inventory" / "mz").mkdir(parents=True)
    (tmp_path / "inventory" / "mz" / "hosts.yml").write_text(
        "mz:\n  children:\n    mz1:\n      hosts:\n        2031001-mz1: {school_code: '2031001', ansible_host: 192.0.2.1}\n"
        "    mz2:\n      hosts:\n        2031002-mz2: {school_code: '2031002', ansible_host: 192.0.2.2,"
        " clix_pull_retries: many}\n")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(tmp_path / "inventory"), str(REPO / "collect.yml"),
                           "-e", f"clix_archive_root={tmp_path / 'archive'}"],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    error = re.search(r"^\[ERROR\]: Task failed: Action failed: Validation of arguments failed:\n(.*)$", proc.stdout, re.M)
    assert proc.returncode != 0 and error, proc.stdout[-3000:]
    assert "clix_pull_retries" in error.group(1) and "2031002-mz2's own variables" in error.group(1)
    assert "Wait for the host" not in proc.stdout and not (tmp_path / "archive").exists()


def test_list_tags_names_every_tag_the_readme_lists_and_only_items_tags():
    listed = re.search(r"\(tags: `([a-z -]+)`\)", (REPO / "README.md").read_text()).group(1).split()
    items = {item["tag"] for item in yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["clix_items"]}
    done = subprocess.run([str(BIN / "ansible-playbook"), str(REPO / "collect.yml"), "--list-tags"],
                          cwd=REPO, env=env(), capture_output=True, text=True, check=True)
    tags = set(re.search(r"TASK TAGS: \[(.*)\]", done.stdout).group(1).split(", "))
    assert sorted(listed) == sorted(items) and tags == items | {"always"}


def test_no_filter_shares_its_name_with_a_variable_of_the_role():
    """One name, one thing: `clix_derived_root | clix_derived_root(...)` read as a variable piped into itself."""
    sys.path.insert(0, str(REPO / "filter_plugins"))
    import clix
    import clix_security

    variables = set(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    variables |= set(yaml.safe_load((ROLE / "vars" / "main.yml").read_text())) | set_by_tasks() | FACTS
    for path in (ROLE / "tasks").glob("*.yml"):
        variables |= set(re.findall(r"^\s+(clix_[a-z_]+):", path.read_text(), re.M))  # vars, facts (module names too)
    filters = {*clix.FilterModule().filters(), *clix_security.FilterModule().filters()}
    assert sorted(filters & variables) == []


def test_every_filter_is_documented_with_each_of_its_arguments():
    sys.path.insert(0, str(REPO / "filter_plugins"))
    import clix
    import clix_security

    filters = {**clix.FilterModule().filters(), **clix_security.FilterModule().filters()}
    done = subprocess.run([str(BIN / "ansible-doc"), "-t", "filter", "--json", *sorted(filters)],
                          cwd=REPO, env=env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    docs = json.loads(done.stdout)
    for name, function in sorted(filters.items()):
        doc = docs[name]["doc"]
        arguments = list(inspect.signature(function).parameters)[1:]
        assert doc["short_description"] and doc["description"], name
        assert set(doc["options"]) == {"_input", *arguments}, name
        assert [a.strip() for a in doc.get("positional", "").split(",") if a.strip()] == arguments, name
        assert docs[name]["return"]["_value"]["description"], name

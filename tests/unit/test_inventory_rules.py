"""The inventory rules (module_utils/clix_inventory.py) and the CSV command built on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from ansible.module_utils.clix_inventory import check_schools, identity_of
from conftest import MINIMAL_RESULT

REPO = Path(__file__).resolve().parents[2]


def school(host, groups, code="2031001", name="X"):
    return {"host": host, "groups": groups, "school_code": code, "school_name": name}


def test_a_valid_school_passes_and_gets_its_folder():
    s = school("2031001-mz1", ["mz", "mz1"])
    assert check_schools([s]) == []
    assert identity_of(s) == {"state": "mz", "server_id": "mz1", "folder": "2031001-mz1"}


def test_leading_zero_code_is_kept_in_the_folder():
    s = school("01011002-ct2", ["ct", "ct2"], code="01011002")
    assert check_schools([s]) == []
    assert identity_of(s)["folder"] == "01011002-ct2"


def test_unknown_state_code_is_refused_with_the_host_named():
    errors = check_schools([school("x-ka1", ["ka", "ka1"])])
    assert errors and "x-ka1" in errors[0] and "unknown state code" in errors[0]


def test_server_id_of_another_state_is_refused():
    errors = check_schools([school("2031005-ct5", ["mz", "ct5"])])
    assert any("ct5 belongs to state ct but is listed under mz" in e for e in errors)


def test_duplicate_server_id_is_refused():
    errors = check_schools([school("a", ["mz", "mz1"]), school("b", ["mz", "mz1"], code="2031002")])
    assert any("server id mz1 is used by 2 hosts (a, b)" in e for e in errors)


def test_missing_and_numeric_school_codes_are_refused():
    missing = check_schools([school("h", ["mz", "mz1"], code=None)])
    numeric = check_schools([school("h", ["mz", "mz1"], code=2031001)])
    assert any("school_code is missing" in e for e in missing)
    assert any("quote it" in e for e in numeric)


def test_code_of_another_state_is_refused_but_na_is_allowed():
    assert any("code of ct" in e for e in check_schools([school("h", ["mz", "mz1"], code="1011001")]))
    assert check_schools([school("NA-tg99", ["tg", "tg99"], code="NA")]) == []


def test_host_outside_any_server_id_group_is_refused():
    errors = check_schools([school("stray", ["mz"])])
    assert any("exactly one server-id group" in e for e in errors)


def run_cli(csv_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    src = tmp_path / "schools.csv"
    src.write_text(csv_text)
    return subprocess.run([sys.executable, str(REPO / "bin" / "clix-inventory"), str(src), "--out", str(tmp_path / "inv")],
                          capture_output=True, text=True)


HEADER = "Sr. No.;School Name;Full CLIx School Code;Server id\n"


class InventoryLoader(yaml.SafeLoader):
    """Reads !unsafe as ("unsafe", text): the test sees that the tag is there."""


InventoryLoader.add_constructor("!unsafe", lambda loader, node: ("unsafe", loader.construct_scalar(node)))


def test_csv_generates_state_inventories_and_keeps_addresses(tmp_path):
    proc = run_cli(HEADER + ";GOVT. MIZO HIGH SCHOOL;2031001;mz1\n;ZPHS VEENCHED;NA;tg99\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    mz = yaml.load((tmp_path / "inv" / "mz" / "hosts.yml").read_text(), Loader=InventoryLoader)
    assert mz == {"mz": {"children": {"mz1": {"hosts": {"2031001-mz1": {
        "school_code": "2031001", "school_name": ("unsafe", "GOVT. MIZO HIGH SCHOOL")}}}}}}
    addresses = tmp_path / "inv" / "mz" / "addresses.yml"
    addresses.write_text("mz:\n  hosts:\n    2031001-mz1:\n      ansible_host: 192.0.2.10\n")
    assert run_cli(HEADER + ";GOVT. MIZO HIGH SCHOOL;2031001;mz1\n", tmp_path).returncode == 0
    assert "192.0.2.10" in addresses.read_text()
    assert (tmp_path / "inv" / "rj" / "hosts.yml").exists()


def test_csv_bad_rows_are_all_listed_and_nothing_is_written(tmp_path):
    proc = run_cli(HEADER + ";A;2031001;mz1\n;B;2031002;mz1\n;C;1011001;ka3\n;D;20310;mz4\n", tmp_path)
    assert proc.returncode == 1
    assert "line 2" in proc.stderr and "unknown state code 'ka'" in proc.stderr and "'20310'" in proc.stderr
    assert not (tmp_path / "inv").exists()


def test_csv_with_wrong_header_is_refused(tmp_path):
    proc = run_cli("School;Code\nA;1\n", tmp_path)
    assert proc.returncode == 1 and "expected 'Sr. No.;School Name" in proc.stderr


def test_a_school_name_holding_jinja_stays_data_and_never_runs(tmp_path):
    canary = tmp_path / "canary"
    names = {"mz1": "{{ lookup('pipe', 'touch %s') }}" % canary, "mz2": "{%% if true %%}{{ '%s' }}{%% endif %%}" % canary,
             "mz3": "O'Brien \"High\" {# x #}"}
    proc = run_cli(HEADER + "".join(f";{name};203100{sid[-1]};{sid}\n" for sid, name in names.items()), tmp_path)
    assert proc.returncode == 0, proc.stderr
    # Ansible itself reads the generated inventory and templates each host's school_name.
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    ansible = Path(sys.executable).parent / "ansible"
    run = subprocess.run([str(ansible), "mz", "-i", str(tmp_path / "inv"), "-m", "ansible.builtin.debug",
                          "-a", "var=school_name"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not canary.exists(), "a school name from the CSV ran a command on the control node"
    results = {host: json.loads(body) for host, _, body in MINIMAL_RESULT.findall(run.stdout)}
    assert {host[-3:]: r["school_name"] for host, r in results.items()} == names

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


def school(host, groups, code="2031001", name="X", platform=None, pc=None):
    return {"host": host, "groups": groups, "school_code": code, "school_name": name, "platform": platform, "pc": pc}


def lab_pc(host, groups=("mz", "mz1"), code="2031001", pc="pc01", platform="unplatform"):
    return school(host, list(groups), code=code, platform=platform, pc=pc)


def test_a_valid_school_passes_and_gets_its_folder():
    s = school("2031001-mz1", ["mz", "mz1"])
    assert check_schools([s]) == []
    assert identity_of(s) == {"state": "mz", "server_id": "mz1", "folder": "2031001-mz1", "platform": "gstudio"}


def test_lab_pcs_beside_their_server_and_without_one_pass_and_get_their_folder():
    hosts = [school("2031001-mz1", ["mz", "mz1"]), lab_pc("2031001-mz1-pc01"), lab_pc("2031001-mz1-pc02", pc="pc02"),
             lab_pc("01011002-ct2-lab_3", ("ct", "ct2"), code="01011002", pc="lab_3"),  # no server
             school("2031002-mz2", ["mz", "mz2"], code="2031002", platform="gstudio")]
    assert check_schools(hosts) == []
    assert identity_of(hosts[1]) == {"state": "mz", "server_id": "mz1", "folder": "2031001-mz1",
                                     "platform": "unplatform", "pc": "pc01"}
    assert identity_of(hosts[3])["folder"] == "01011002-ct2" and identity_of(hosts[3])["pc"] == "lab_3"
    assert identity_of(hosts[4])["platform"] == "gstudio"


def test_a_lab_pc_with_a_bad_or_missing_pc_name_is_refused_with_what_to_do():
    bad = check_schools([lab_pc("2031001-mz1-PC 1", pc="PC 1")])
    missing = check_schools([lab_pc("2031001-mz1-pc01", pc=None)])
    dots = check_schools([lab_pc("2031001-mz1-..", pc="..")])
    assert len(bad) == 1 and "2031001-mz1-PC 1: clix_pc" in bad[0] and "lower-case" in bad[0]
    assert len(missing) == 1 and "clix_pc is missing" in missing[0] and "pc01" in missing[0]
    assert len(dots) == 1 and "clix_pc" in dots[0]


def test_a_lab_pc_must_be_named_after_its_school_group_and_pc():
    cases = {"2031001-mz1-pc02": ("mz", "mz1"), "2031002-mz1-pc01": ("mz", "mz1"),
             "2031001-mz2-pc01": ("mz", "mz1"), "labpc01": ("mz", "mz1")}
    for host, groups in cases.items():
        errors = check_schools([lab_pc(host, groups)])
        assert errors == [f"{host}: a lab PC of mz1 with school_code 2031001 and clix_pc pc01 must be named "
                          "2031001-mz1-pc01"], host


def test_a_lab_pc_of_another_school_code_than_its_server_is_refused():
    errors = check_schools([school("2031001-mz1", ["mz", "mz1"]), lab_pc("2031009-mz1-pc01", code="2031009")])
    assert errors == ["school mz1: its hosts name 2 school codes (2031001: 2031001-mz1; 2031009: 2031009-mz1-pc01): "
                      "a school's server and lab PCs share one school_code"]
    without_server = check_schools([lab_pc("2031001-mz1-pc01"), lab_pc("2031009-mz1-pc02", code="2031009", pc="pc02")])
    assert len(without_server) == 1 and "2 school codes" in without_server[0]


def test_lab_pcs_do_not_count_as_a_second_server_but_two_servers_still_do():
    assert check_schools([school("2031001-mz1", ["mz", "mz1"]), lab_pc("2031001-mz1-pc01")]) == []
    errors = check_schools([school("2031001-mz1", ["mz", "mz1"]), school("x", ["mz", "mz1"]), lab_pc("2031001-mz1-pc01")])
    assert errors == ["server id mz1 is used by 2 hosts (2031001-mz1, x): each school server needs its own id"]


def test_the_check_gets_each_hosts_platform_and_pc_from_its_variables():
    from filter_plugins.clix import clix_school_entry

    entry = clix_school_entry({"inventory_hostname": "2031001-mz1-pc01", "group_names": ["mz", "mz1"],
                               "school_code": "2031001", "clix_platform": "unplatform", "clix_pc": "pc01"})
    assert entry["platform"] == "unplatform" and entry["pc"] == "pc01"
    assert check_schools([entry]) == []
    server = clix_school_entry({"inventory_hostname": "2031001-mz1", "group_names": ["mz", "mz1"],
                                "school_code": "2031001"})
    assert identity_of(server)["platform"] == "gstudio"


def test_an_unknown_platform_and_a_pc_on_a_server_are_refused():
    unknown = check_schools([school("2031001-mz1", ["mz", "mz1"], platform="moodle")])
    stray_pc = check_schools([school("2031001-mz1", ["mz", "mz1"], pc="pc01")])
    assert len(unknown) == 1 and "clix_platform 'moodle' is unknown" in unknown[0] and "unplatform" in unknown[0]
    assert stray_pc == ["2031001-mz1: clix_pc is only for lab PCs: add clix_platform: unplatform, or remove clix_pc"]


def test_a_lab_pc_keeps_the_state_and_code_rules_of_a_school():
    other_state = check_schools([lab_pc("1011001-mz1-pc01", code="1011001")])
    assert any("code of ct" in e for e in other_state)
    no_group = check_schools([lab_pc("2031001-mz1-pc01", groups=("mz",))])
    assert any("exactly one server-id group" in e for e in no_group)


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


LAB_PCS = """
        2031001-mz1-pc01:
          school_code: '2031001'
          school_name: !unsafe 'GOVT. MIZO HIGH SCHOOL {{ x }}'
          clix_platform: unplatform
          clix_pc: pc01
    mz7:
      hosts:
        2031007-mz7-lab2:
          school_code: '2031007'
          school_name: Lab only
          clix_platform: unplatform
          clix_pc: lab2
"""


def test_csv_regeneration_keeps_hand_added_lab_pcs_and_lab_only_schools(tmp_path):
    csv = HEADER + ";GOVT. MIZO HIGH SCHOOL;2031001;mz1\n;Other;2031009;mz9\n"
    assert run_cli(csv, tmp_path).returncode == 0
    hosts = tmp_path / "inv" / "mz" / "hosts.yml"
    text = hosts.read_text()
    server = "        2031001-mz1:\n          school_code: '2031001'\n          school_name: !unsafe 'GOVT. MIZO HIGH SCHOOL'\n"
    assert server in text
    hosts.write_text(text.replace(server, server + LAB_PCS.lstrip("\n")))
    proc = run_cli(csv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 lab PC(s) kept" in proc.stdout
    mz = yaml.load(hosts.read_text(), Loader=InventoryLoader)["mz"]["children"]
    assert list(mz) == ["mz1", "mz7", "mz9"]
    assert mz["mz1"]["hosts"]["2031001-mz1-pc01"] == {
        "school_code": "2031001", "school_name": ("unsafe", "GOVT. MIZO HIGH SCHOOL {{ x }}"),
        "clix_platform": "unplatform", "clix_pc": "pc01"}
    assert "2031001-mz1" in mz["mz1"]["hosts"]
    assert mz["mz7"] == {"hosts": {"2031007-mz7-lab2": {"school_code": "2031007", "school_name": "Lab only",
                                                        "clix_platform": "unplatform", "clix_pc": "lab2"}}}
    # A third run keeps them again; a CSV that now names mz7's server adds it beside its lab PC.
    proc = run_cli(csv + ";Lab school;2031007;mz7\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    mz = yaml.load(hosts.read_text(), Loader=InventoryLoader)["mz"]["children"]
    assert sorted(mz["mz7"]["hosts"]) == ["2031007-mz7", "2031007-mz7-lab2"]
    assert "2031001-mz1-pc01" in mz["mz1"]["hosts"]


def test_csv_regeneration_refuses_a_kept_lab_pc_that_breaks_the_rules(tmp_path):
    csv = HEADER + ";GOVT. MIZO HIGH SCHOOL;2031001;mz1\n"
    assert run_cli(csv, tmp_path).returncode == 0
    hosts = tmp_path / "inv" / "mz" / "hosts.yml"
    hosts.write_text(hosts.read_text() + LAB_PCS.split("    mz7:")[0].replace("mz1-pc01", "mz1-pc02"))
    before = hosts.read_text()
    proc = run_cli(csv, tmp_path)
    assert proc.returncode == 1
    assert "lab PC 2031001-mz1-pc02: a lab PC of mz1 with school_code 2031001 and clix_pc pc01 must be named " \
           "2031001-mz1-pc01" in proc.stderr and "nothing written" in proc.stderr
    assert hosts.read_text() == before
    wrong_code = before.replace("2031001-mz1-pc02:\n          school_code: '2031001'",
                                "2031005-mz1-pc01:\n          school_code: '2031005'")
    hosts.write_text(wrong_code)
    proc = run_cli(csv, tmp_path)
    assert proc.returncode == 1 and "school_code 2031005 is not mz1's in the CSV (2031001)" in proc.stderr


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

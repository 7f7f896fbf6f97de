"""The fleet's plan of lab PCs (fleet/__main__.py): which school has which PC, on which address."""

from __future__ import annotations

import pytest
from ansible.module_utils import clix_inventory as inventory

from fleet import __main__ as fleet_cli


def test_lab_pcs_follow_the_schools_addresses_and_one_school_has_no_server():
    schools = fleet_cli.plan("mz=3,ct=2", set(), first_address=30, tag="p")
    pcs = fleet_cli.plan_lab_pcs(schools)
    assert [(p.server_id, p.pc, p.installs) for p in pcs] == [
        ("ct1", "pc01", ("v2-app",)), ("ct1", "pc02", ("v2-noconfig",)), ("rj1", "pc01", ("v1",)), ("rj1", "pc02", ("v2",))]
    assert [p.address for p in pcs] == [f"10.231.0.{n}" for n in range(35, 39)]
    assert {s.address for s in schools}.isdisjoint(p.address for p in pcs)
    assert not any(s.server_id == "rj1" for s in schools)  # rj1: lab PCs and no server
    for pc in pcs:
        entry = dict(host=pc.hostname, pc=pc.pc, school_code=pc.school_code)
        assert inventory.lab_pc_errors(entry, pc.server_id) == [] and pc.hostname == f"{pc.school_code}-{pc.server_id}-{pc.pc}"
        assert pc.netns == f"clixp-{pc.server_id}-{pc.pc}" and len(pc.veth) <= 15 and pc.tag == "p"
    assert pcs[0].school_code == schools[3].school_code  # ct1's own code
    assert len({p.veth for p in pcs} | {s.veth for s in schools}) == len(pcs) + len(schools)


def test_the_no_server_school_comes_after_the_states_servers_and_the_first_school_takes_the_pcs_without_ct1():
    schools = fleet_cli.plan("rj=2", set(), first_address=100, tag="b")
    pcs = fleet_cli.plan_lab_pcs(schools)
    assert {p.server_id for p in pcs} == {"rj1", "rj3"}
    assert [p.school_code for p in pcs if p.server_id == "rj3"] == ["3051003", "3051003"]


def test_a_fleet_that_does_not_fit_the_subnet_is_refused():
    schools = fleet_cli.plan("mz=3", set(), first_address=250)
    with pytest.raises(SystemExit, match=r"do not fit in 10\.231\.0\.0/24"):
        fleet_cli.plan_lab_pcs(schools)
    assert len(fleet_cli.plan_lab_pcs(fleet_cli.plan("mz=3", set(), first_address=248))) == 4  # .255 is never used

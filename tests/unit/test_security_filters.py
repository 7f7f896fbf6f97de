"""The host key check of a play's start: every way a run can turn host key checking off is named."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "filter_plugins"))
from clix_security import clix_connection_vars, clix_host_key_problems


def host(**hv) -> dict:
    return clix_connection_vars({"inventory_hostname": "2031001-mz1", **hv})


def test_checking_on_everywhere_is_no_problem():
    hosts = [host(ansible_ssh_common_args="-o UserKnownHostsFile=/srv/known_hosts -o StrictHostKeyChecking=yes")]
    assert clix_host_key_problems(hosts, True, "-o ControlMaster=auto") == []


@pytest.mark.parametrize("value", [False, "False", "no", "0"])
def test_configuration_or_environment_off_is_named(value):
    problems = clix_host_key_problems([host()], value, "")
    assert len(problems) == 1 and "ANSIBLE_HOST_KEY_CHECKING" in problems[0]


@pytest.mark.parametrize("var", ["ansible_host_key_checking", "ansible_ssh_host_key_checking"])
def test_a_host_variable_that_turns_it_off_is_named(var):
    problems = clix_host_key_problems([host(**{var: False})], True, "")
    assert problems == [f"2031001-mz1: the variable {var} turns host key checking off: remove it"]


@pytest.mark.parametrize("args", ["-o StrictHostKeyChecking=no", "-oStrictHostKeyChecking=accept-new",
                                  "-o 'StrictHostKeyChecking off'", "-o UserKnownHostsFile=/dev/null"])
def test_lax_ssh_options_in_host_variables_or_configuration_are_named(args):
    assert "ansible_ssh_extra_args" in clix_host_key_problems([host(ansible_ssh_extra_args=args)], True, "")[0]
    assert "ssh_args of the Ansible configuration" in clix_host_key_problems([host()], True, args)[0]

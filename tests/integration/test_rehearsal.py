"""One state's year as ops live it (tests/rehearsal.py): every command chained on one archive, twice,
on the session's fleet, checking after each what ops would look at."""

from __future__ import annotations

from rehearsal import Rehearsal


def test_a_states_year_as_ops_live_it(fleet, target_python, tmp_path):
    Rehearsal(fleet.lab, tmp_path).year_of_visits()

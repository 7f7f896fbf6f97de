"""One state's year as ops live it (tests/rehearsal.py): every command chained on one archive, twice,
on the session's fleet, checking after each what ops would look at."""

from __future__ import annotations

import pytest
from rehearsal import Rehearsal


# Two seams the rehearsal found are being fixed by others: merge.yml refuses a field school whose
# collection kept a link (issue 26), and the fleet table dates a school's last collection by its last
# complete one, so a school with an expected skipped item looks collected long ago (the pages work).
# Strict: the test errors once it passes, and this mark must go.
@pytest.mark.xfail(strict=True, reason="merge.yml refuses links (issue 26); the fleet table's last-collected "
                   "date ignores a collection with a skipped item (pages)")
def test_a_states_year_as_ops_live_it(fleet, target_python, tmp_path):
    Rehearsal(fleet.lab, tmp_path).year_of_visits()

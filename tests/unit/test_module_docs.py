"""Every module's docs render whole in ansible-doc: no option or return value cut into pieces.

An unquoted ", " or ": " inside a YAML flow mapping (`{description: a, b, type: str}`) splits the
description, and the pieces turn up as extra keys without a description. ansible-test's
validate-modules (tests/sanity/run) checks much more; this is the fast check that runs with the unit tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
MODULES = sorted(p.stem for p in (REPO / "library").glob("clix_*.py"))
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# The fields an option or a return value may have (ansible-core's doc schema); a piece of a split
# description turns up as one more field, with no value.
FIELDS = {
    "suboptions": {"description", "type", "required", "default", "choices", "elements", "aliases", "suboptions",
                   "no_log", "version_added", "version_added_collection", "deprecated", "apply_defaults"},
    "contains": {"description", "returned", "type", "elements", "contains", "sample", "choices", "version_added",
                 "version_added_collection"},
}


@pytest.fixture(scope="module")
def docs() -> dict:
    ansible_doc = Path(sys.executable).parent / "ansible-doc"
    done = subprocess.run([str(ansible_doc), "-M", "library", "-t", "module", "--json", *MODULES], cwd=REPO,
                          capture_output=True, text=True, env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def is_text(value) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    return isinstance(value, str) and bool(value.strip())


def problems(entries, where: str, nested: str) -> list[str]:
    """Each entry of an options/suboptions or return/contains mapping: a proper name, a description, a type."""
    found = []
    for name, spec in (entries or {}).items():
        here = "%s.%s" % (where, name)
        if not NAME.match(name):
            found.append("%s: not an option or return name (a piece of a split description?)" % here)
        if not isinstance(spec, dict):
            found.append("%s: no description at all (a piece of a split description?)" % here)
            continue
        strange = sorted(set(spec) - FIELDS[nested])
        if strange:
            found.append("%s: fields %s (pieces of a split description?)" % (here, strange))
        if not is_text(spec.get("description")):
            found.append("%s: missing or empty description" % here)
        if nested == "contains" and "type" not in spec:
            found.append("%s: no type" % here)
        found += problems(spec.get(nested), here, nested)
    return found


def test_every_module_is_documented(docs):
    assert MODULES and sorted(docs) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_options_and_return_values_render_whole(docs, module):
    doc = docs[module]
    found = problems(doc["doc"].get("options"), "options", "suboptions")
    found += problems(doc.get("return"), "return", "contains")
    for name, attribute in (doc["doc"].get("attributes") or {}).items():
        if not is_text(attribute.get("description")):
            found.append("attributes.%s: missing description" % name)
    assert not found, "\n".join(found)

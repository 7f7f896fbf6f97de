"""callback_plugins/clix_template_cache.py: Ansible's templates compiled once and kept, never a different
result; a store that is not private, or a kept file that is not code, is not used. Each run is a fresh
Python (as each run of ansible-playbook is), rendering with Ansible's own Templar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PROBE = r"""
import json, os, sys
from pathlib import Path
if len(sys.argv) > 2:  # a Jinja extension, as ansible.cfg's jinja2_extensions names one
    sys.path.insert(0, sys.argv[3])
    os.environ["ANSIBLE_JINJA2_EXTENSIONS"] = sys.argv[2]
sys.path.insert(0, "callback_plugins")
import clix_template_cache
compiled = []
if sys.argv[1] != "-":
    cache = clix_template_cache.install(Path(sys.argv[1]))
    original = cache.compile
    cache.compile = lambda env, source, *args: compiled.append(source) or original(env, source, *args)
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible._internal._datatag._tags import Origin
# Templates as the role's files give them (Origin: where each was read); the last one from elsewhere.
role_file = Origin(path=str(Path("roles/clix/tasks/main.yml").resolve()))
def own(text):
    return role_file.tag(trust_as_template(text))
templar = Templar(loader=DataLoader(), variables={"x": "a\\b", "n": 3, "base": "/s", "src": "{{ base }}/db/"})
sources = ["{{ x }}", "{{ n * 2 }}", "{{ src }}", "{{ 'c:\\newfile' }}",
           "#jinja2:variable_start_string:'[[', variable_end_string:']]'\n[[ n ]] {{ n }}",
           "{{ [n, n + 1] | map('string') | join(',') }}"]
results = [templar.template(own(s)) for s in sources]
# The same source under other settings compiles to other code: never the kept one of the first.
results.append(templar.template(own(sources[3]), escape_backslashes=False))
results.append(templar.template(own("{{ n }} [[ n ]]")))
results.append(templar.template(own("{{ n }} [[ n ]]"),
                                overrides=dict(variable_start_string="[[", variable_end_string="]]")))
# A template from an inventory or the command line may hold a credential: compiled, never written down.
inventory = Origin(path=str(Path("inventories/mz/group_vars/all.yml").resolve()))
results.append(templar.template(inventory.tag(trust_as_template("{{ 'mongodb://u:secret@' ~ base }}"))))
results.append(templar.template(trust_as_template("{{ 'p4ss' ~ n }}")))
print(json.dumps({"results": results, "compiled": len(compiled)}))
"""
TEMPLATES = 11
KEPT = 8  # compiled each run: the two not from the role's files, and the one Ansible strips of its origin (#jinja2:)


def probe(store: Path | str, *extension: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(store), *extension], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def kept(store: Path) -> list[Path]:
    return [p for p in store.rglob("*") if p.is_file()]


def test_a_template_is_compiled_once_and_its_kept_code_renders_as_a_compiled_one(tmp_path):
    store = tmp_path / "jinja"
    plain = probe("-")
    first = probe(store)
    assert first == {"results": plain["results"], "compiled": TEMPLATES}
    assert len(kept(store)) == KEPT
    assert not any(b"secret" in p.read_bytes() or b"p4ss" in p.read_bytes() for p in kept(store))
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in kept(store))
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    assert probe(store) == {"results": plain["results"], "compiled": TEMPLATES - KEPT}


def test_a_store_others_can_write_into_is_not_used(tmp_path):
    store = tmp_path / "jinja"
    probe(store)
    (folder,) = store.iterdir()
    os.chmod(folder, 0o777)
    again = probe(store)
    assert again["compiled"] == TEMPLATES


def test_a_kept_file_that_is_not_code_is_compiled_again(tmp_path):
    store = tmp_path / "jinja"
    plain = probe("-")
    probe(store)
    for path in kept(store):
        path.write_bytes(path.read_bytes()[:7])
    assert probe(store) == {"results": plain["results"], "compiled": TEMPLATES}


def test_a_template_under_other_jinja_extensions_gets_its_own_code(tmp_path):
    store = tmp_path / "jinja"
    (tmp_path / "doubling.py").write_text(
        "from jinja2.ext import Extension\n"
        "class Doubling(Extension):\n"
        "    def preprocess(self, source, name, filename=None):\n"
        "        return source.replace('{{ n * 2 }}', '{{ n * 4 }}')\n")
    plain = probe(store)["results"]
    extended = probe(store, "doubling.Doubling", str(tmp_path))
    assert plain[1] == 6 and extended["results"][1] == 12
    assert extended["compiled"] == TEMPLATES

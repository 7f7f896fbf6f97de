"""No long Jinja in the role and the playbooks (issue 24): every expression is under 120 characters, so
that computation lives in a documented filter or module (filter_plugins/clix.py, library/), not in YAML.

An expression is one {{ ... }}, one {% ... %} (a whole {% for %} ... {% endfor %} loop counts as one), or a
bare condition (when, that, changed_when, failed_when, until), its whitespace collapsed as YAML folds it.
Run as a script to list the longest: python tests/unit/test_jinja_length.py [N]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Iterator

import yaml

REPO = Path(__file__).resolve().parent.parent.parent
LIMIT = 120
BARE = {"when", "that", "changed_when", "failed_when", "until"}
# TODO(lead): files other helpers are reworking at the same time (issue 24); remove each once it passes.
KNOWN_EXCEPTIONS: set = set()


def files() -> list[Path]:
    return sorted([*REPO.glob("*.yml"), *(REPO / "roles").rglob("*.yml")])


def strings(node, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, string) of every string in a YAML document, with the key that holds it."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, key)
    elif isinstance(node, str):
        yield key, node


_SPAN = re.compile(r"\{%-?\s*for\b.*?\{%-?\s*endfor\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}", re.S)


def _spans(text: str) -> Iterator[str]:
    """Each {{ }} and {% %} of a template; a {% for %} loop whole, from its {% for to its endfor %}."""
    for match in _SPAN.finditer(text):
        yield match.group(0)


def normal(expression: str) -> str:
    return " ".join(expression.split())


def measured() -> list[tuple[int, str, str]]:
    """(length, file, expression) of every expression in the role and the playbooks."""
    out = []
    for path in files():
        rel = str(path.relative_to(REPO))
        for document in yaml.safe_load_all(path.read_text()):
            for key, text in strings(document):
                found = list(_spans(text)) if ("{{" in text or "{%" in text) else [text] if key in BARE else []
                out += [(len(normal(e)), rel, normal(e)) for e in found]
    return sorted(out, reverse=True)


def test_every_jinja_expression_is_short():
    long = [(n, f, e) for n, f, e in measured() if n >= LIMIT and f not in KNOWN_EXCEPTIONS]
    assert long == [], "\n".join("%d %s: %s" % entry for entry in long)


def test_the_measure_sees_a_long_expression_a_loop_and_a_bare_condition():
    text = "{% set x = [] %}{% for h in groups['all'] %}{{ x.append(h) }}{% endfor %}{{ x }}"
    assert list(_spans(text))[1] == "{% for h in groups['all'] %}{{ x.append(h) }}{% endfor %}"
    assert [k for k, _ in strings({"when": ["a", "b"], "x": {"that": "c"}})] == ["when", "when", "that"]


if __name__ == "__main__":
    for n, f, e in measured()[: int(sys.argv[1]) if len(sys.argv) > 1 else 20]:
        print("%4d %s: %s" % (n, f, e[:160]))

# SPDX-License-Identifier: GPL-3.0-or-later
"""MANIFEST.json's shape, checked against its published JSON Schema (schemas/manifest-1.schema.json
in the repository): the one description of the format, read by verify and by merge (where a field
archive's manifest is untrusted data until it passes).

The schema is a file, read from the repository this file lies in: verify and merge run on the control
node, inside Ansible's worker (action_plugins/clix_inprocess.py). AnsiballZ ships only Python code,
so either module run as a separate module on another host finds no schema, and says so. The check
needs the jsonschema package (requirements.txt, the execution environment's requirements), and is
fast with fastjsonschema beside it.
"""

from __future__ import annotations

import functools
import json
import os

from ansible.module_utils.clix_identity import said
from ansible.module_utils.clix_manifest import FORMAT, recorded_time

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas",
                      "manifest-%d.schema.json" % FORMAT)
MAX_REPORTED = 10  # problems named per manifest (a hostile one may hold millions)


class SchemaUnavailable(RuntimeError):
    """The schema or the jsonschema package cannot be found: nothing can be checked."""


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    try:
        with open(SCHEMA, "rb") as f:
            return json.load(f)
    except OSError as exc:
        raise SchemaUnavailable("the manifest's schema %s cannot be read (%s): run merge and verify on the control "
                                "node, from a checkout of clix-collect" % (SCHEMA, exc.strerror)) from None


@functools.lru_cache(maxsize=1)
def validator():
    """jsonschema's validator: every problem, with its place, for the messages."""
    try:
        import jsonschema
    except ImportError:
        raise SchemaUnavailable("the jsonschema package is missing on the control node: install requirements.txt "
                                "(or run in the project's execution environment)") from None
    cls = jsonschema.validators.validator_for(schema())
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(time_or_other)
    return cls(schema(), format_checker=checker)


@functools.lru_cache(maxsize=1)
def fast_check():
    """fastjsonschema's check compiled from the same schema (None without the package): it only says
    whether a manifest follows it, about 20 times faster than jsonschema on a manifest of 100,000
    files (seconds per school otherwise); jsonschema then names the problems of one that does not."""
    try:
        import fastjsonschema
    except ImportError:
        return None
    return fastjsonschema.compile(schema(), formats={"date-time": is_time})


def time_or_other(value) -> bool:
    """A time string must exist (the pattern lets 2026-02-30 through); another type is the type's error."""
    return not isinstance(value, str) or bool(recorded_time(value))


def is_time(value) -> bool:
    try:
        return time_or_other(value)
    except ValueError:
        return False


def problems(manifest) -> list:
    """Why manifest (as json.loads read it) is not a MANIFEST.json of format 1, one line each, its
    values escaped for a terminal ([] when it is one)."""
    check = fast_check()
    if check is not None:
        try:
            check(manifest)
            return []
        except Exception:  # any refusal (or failure) of the fast check: jsonschema says why
            pass
    found = []
    for error in validator().iter_errors(manifest):
        where = ".".join(said(str(p)) for p in error.absolute_path) or "the manifest"
        found.append("%s: %s" % (where, said(message(error))))
        if len(found) > MAX_REPORTED:
            found[-1] = "(and more)"
            break
    return found


def message(error) -> str:
    """jsonschema's message; for a pattern, what the schema says the value should be, not its regex."""
    if error.validator != "pattern":
        return error.message
    return "%r is not %s" % (error.instance, error.schema.get("description") or "of the form required here")

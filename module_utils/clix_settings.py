# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a school's identity from gStudio's server_settings.py without executing it."""

from __future__ import annotations

import ast
import re

IDENTITY_KEYS = {
    "GSTUDIO_INSTITUTE_ID": "server_id",
    "GSTUDIO_INSTITUTE_ID_SECONDARY": "school_code",
    "GSTUDIO_INSTITUTE_NAME": "school_name",
}


class SettingsError(Exception):
    pass


def literal_assignments(source: str) -> dict:
    """Top-level `NAME = <literal>` assignments of a Python file; anything else is ignored."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SettingsError("not valid Python (line %s: %s)" % (exc.lineno, exc.msg)) from None
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def read_identity(path: str) -> dict:
    """{'server_id', 'school_code', 'school_name'} from server_settings.py; missing keys are None."""
    try:
        with open(path, "rb") as f:
            source = f.read().decode("utf-8", "replace")
    except OSError as exc:
        raise SettingsError("cannot read %s: %s" % (path, exc.strerror)) from None
    values = literal_assignments(source)
    identity = {}
    for key, name in IDENTITY_KEYS.items():
        value = values.get(key)
        identity[name] = None if value is None else str(value).strip()
    return identity


# Assignments whose value is a secret: SECRET_KEY = '...', 'PASSWORD': '...', *_TOKEN = '...'.
_SECRET_LINE = re.compile(
    r"""^(?P<lead>\s*(?:['"]?[A-Za-z_]*(?:SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY)[A-Za-z_]*['"]?)"""
    r"""\s*[:=]\s*)(?P<q>['"]).*?(?P=q)""",
    re.I | re.M,
)
REDACTED = "REDACTED-BY-CLIX-COLLECT"


def redact_settings(text: str) -> str:
    """The settings file with every secret value replaced; everything else byte-for-byte."""
    return _SECRET_LINE.sub(lambda m: "%s%s%s%s" % (m.group("lead"), m.group("q"), REDACTED, m.group("q")), text)

# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a school's identity from gStudio's server_settings.py without executing it."""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize

from ansible.module_utils.clix_files import read_regular

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


SETTINGS_LIMIT = 4 * 2**20  # a settings file is a few KiB; /dev/zero behind a link is not one


def read_settings_source(path: str) -> str:
    """The text of a settings file, only when it is a regular file of sane size (read_regular: a
    link, FIFO or device at its name is refused without blocking, never read)."""
    try:
        data = read_regular(path, limit=SETTINGS_LIMIT)
    except OSError as exc:
        raise SettingsError("cannot read %s: %s" % (path, exc.strerror)) from None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return data.decode("utf-8", "replace")


def read_identity(path: str) -> dict:
    """{'server_id', 'school_code', 'school_name'} from server_settings.py; missing keys are None."""
    return identity_of(read_settings_source(path))


def identity_of(source: str) -> dict:
    """{'server_id', 'school_code', 'school_name'} from server_settings.py's text; missing keys are None."""
    values = literal_assignments(source)
    identity = {}
    for key, name in IDENTITY_KEYS.items():
        value = values.get(key)
        identity[name] = None if value is None else str(value).strip()
    return identity


# A name whose value is a secret: SECRET_KEY, 'PASSWORD', db_passwd, GITHUB_TOKEN, API_KEY, ...
SENSITIVE = re.compile(r"SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)
# scheme://user:password@host: the password runs to the authority's last '@' (RFC 3986).
URL_PASSWORD = re.compile(r"(?P<head>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:\s'\"]*:)(?P<password>[^/?#\s'\"]*)"
                          r"(?=@[^/?#@\s'\"]*(?:[/?#\s'\"]|$))")
REDACTED = "REDACTED-BY-CLIX-COLLECT"
STRING_PREFIX = re.compile(r"^(?P<prefix>[A-Za-z]*)(?P<quote>\'\'\'|\"\"\"|\'|\")")


def redact_settings(data: bytes) -> bytes:
    """The settings file with every secret replaced, everything else byte for byte.

    Done on the parsed file, never by running it: every string assigned to a sensitive name (a
    variable, attribute, dict key or keyword argument; any quoting, prefix or implicit
    concatenation) is replaced, and so is the password of any URL with credentials in any string.
    A file that does not parse raises SettingsError: its secrets cannot be found, so it must not be
    archived as it is."""
    try:
        return _redacted(data)
    except (SyntaxError, UnicodeDecodeError, ValueError, LookupError, RecursionError, tokenize.TokenError) as exc:
        raise SettingsError("not valid Python (%s)" % exc) from None


def _redacted(data: bytes) -> bytes:
    encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    text = data.decode(encoding)
    tree = ast.parse(text)
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(text, newline="").readline) if t.type == tokenize.STRING]
    lines = _line_starts(text)
    starts = [_token_span(lines, t)[0] for t in tokens]
    edits = {}
    for node, secret in _strings(tree):
        span = (_offset(text, lines, node.lineno, node.col_offset), _offset(text, lines, node.end_lineno, node.end_col_offset))
        if isinstance(node, ast.JoinedStr):
            if secret or any(_has_url_password(v.value) for v in node.values if isinstance(v, ast.Constant)):
                edits[span] = "'%s'" % REDACTED
            continue
        inside = tokens[bisect.bisect_left(starts, span[0]):bisect.bisect_left(starts, span[1])]
        if secret:
            edits.update((_token_span(lines, t), _redacted_token(t.string)) for t in inside)
        elif _has_url_password(node.value):
            cleaned = {_token_span(lines, t): URL_PASSWORD.sub(r"\g<head>" + REDACTED, t.string) for t in inside}
            if _has_url_password(_value_of(list(cleaned.values()))):  # split across pieces, or escaped
                cleaned = {_token_span(lines, t): _redacted_token(t.string) for t in inside}
            edits.update(cleaned)
    pieces, done = [], 0
    for (start, end), new in sorted(edits.items()):
        pieces += [text[done:start], new]
        done = end
    pieces.append(text[done:])
    return "".join(pieces).encode(encoding)


def _strings(tree: ast.AST):
    """(string node, whether it is the value of a sensitive name) for every str/bytes constant and
    f-string; the parts of an f-string are left to it (their positions are unreliable before 3.12)."""
    secret, in_fstring = set(), set()
    for node in ast.walk(tree):
        for value in _sensitive_values(node):
            secret.update(id(n) for n in ast.walk(value))
        if isinstance(node, ast.JoinedStr):
            in_fstring.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if id(node) in in_fstring:
            continue
        if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))):
            yield node, id(node) in secret


def _sensitive_values(node: ast.AST) -> list:
    """The values that node assigns to sensitive names."""
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is not None and any(_names_secret(t) for t in targets):
            return [node.value]
    elif isinstance(node, ast.Dict):
        return [v for k, v in zip(node.keys, node.values) if k is not None and _is_secret_name(_constant(k))]
    elif isinstance(node, ast.keyword):
        return [node.value] if node.arg and _is_secret_name(node.arg) else []
    return []


def _names_secret(target: ast.AST) -> bool:
    if isinstance(target, ast.Name):
        return _is_secret_name(target.id)
    if isinstance(target, ast.Attribute):
        return _is_secret_name(target.attr)
    if isinstance(target, ast.Subscript):
        key = target.slice.value if isinstance(target.slice, getattr(ast, "Index", ())) else target.slice
        return _is_secret_name(_constant(key))
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_names_secret(t) for t in target.elts)
    return False


def _constant(node: ast.AST):
    return node.value if isinstance(node, ast.Constant) else None


def _is_secret_name(name) -> bool:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return isinstance(name, str) and bool(SENSITIVE.search(name))


def _has_url_password(value) -> bool:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return isinstance(value, str) and any(m.group("password") not in ("", REDACTED) for m in URL_PASSWORD.finditer(value))


def _value_of(pieces: list):
    """The value of string literals written one after the other (as Python joins them)."""
    values = [ast.literal_eval(piece) for piece in pieces]
    return b"".join(values) if values and isinstance(values[0], bytes) else "".join(values)


def _redacted_token(token: str) -> str:
    m = STRING_PREFIX.match(token)
    prefix = m.group("prefix").replace("f", "").replace("F", "")
    return "%s%s%s%s" % (prefix, m.group("quote"), REDACTED, m.group("quote"))


def _line_starts(text: str) -> list:
    """Character offset of each line's start; Python ends lines at \n, \r\n or a lone \r."""
    starts = [0]
    for m in re.finditer(r"\r\n|\r|\n", text):
        starts.append(m.end())
    return starts


def _offset(text: str, lines: list, lineno: int, col: int) -> int:
    """Character offset of ast's (line, UTF-8 byte column) in text."""
    start = lines[lineno - 1]
    line = text[start:lines[lineno]] if lineno < len(lines) else text[start:]
    return start + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))


def _token_span(lines: list, token: tokenize.TokenInfo) -> tuple:
    """Character span of a token (tokenize counts columns in characters)."""
    return lines[token.start[0] - 1] + token.start[1], lines[token.end[0] - 1] + token.end[1]

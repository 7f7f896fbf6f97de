# SPDX-License-Identifier: GPL-3.0-or-later
"""Who a school is, and which names may come from the field: owned here and nowhere else.

- States, server ids and school codes: the inventory's rules (clix_inventory), the archive's
  folder names (clix_layout), a server's or lab PC's claims about itself (the identity filters,
  ingest) and the dataset all use these patterns and comparisons.
- School codes compare without leading zeros (same_code): the field team writes 2031001 and
  02031001 for one school. Folders keep the code as the inventory writes it.
- The one name rule for anything from a school server, lab PC, USB stick or field archive that may
  name a file or reach a terminal: no C0 or C1 control, no DEL, no bidi or other invisible format
  character, no line or paragraph separator, no undecodable byte (a surrogate escape). Identity
  values are stricter still: ASCII only, matched whole (fullmatch: a trailing newline never passes,
  and [0-9] is never a Unicode digit such as ARABIC-INDIC or FULLWIDTH digits).
- shown(): a value from the field as it may be printed on an operator's terminal or in a report.

Standard library only, Python 3.8: it ships to school servers with the modules and into the
derive image.
"""

from __future__ import annotations

import json
import re
import unicodedata

STATES = {"mz": "Mizoram", "rj": "Rajasthan", "ct": "Chhattisgarh", "tg": "Telangana"}
# The first digit of a CLIx school code (after any leading zero) names the state.
STATE_DIGIT = {"1": "ct", "2": "mz", "3": "rj", "4": "tg"}
# gStudio's own server ids of special/test servers (GSTUDIO_INSTITUTE_ID 'sp100'): a valid claim and
# a valid folder name, but never a school of the inventory (no state).
SPECIAL = "sp"
NA = "NA"  # a school code real servers have when the field team had none

STATE = re.compile("|".join(STATES), re.ASCII)
# <state code or sp><number>; fullmatch only, as every pattern here.
SERVER_ID = re.compile(r"(?P<prefix>%s|%s)(?P<number>[0-9]+)" % ("|".join(STATES), SPECIAL), re.ASCII)
# Any lower-case letters and a number: a group name that is meant as a server id (to name the fault).
SERVER_ID_SHAPE = re.compile(r"(?P<prefix>[a-z]+)(?P<number>[0-9]+)", re.ASCII)
SCHOOL_CODE = re.compile(r"[0-9]{7,8}|%s" % NA, re.ASCII)
SCHOOL_FOLDER = re.compile(r"(?P<code>%s)-(?P<server_id>%s)" % (
    SCHOOL_CODE.pattern, re.sub(r"\?P<\w+>", "?:", SERVER_ID.pattern)), re.ASCII)
YEAR = re.compile(r"[0-9]{4}", re.ASCII)

# A value from the field quoted in a reason or the manifest is cut to this many characters.
CLAIM_CHARS = 120

# Characters no name from the field may hold: categories Cc (C0, DEL, C1), Cf (bidi embeddings and
# isolates, zero-width and other invisible format characters), Zl/Zp (line and paragraph separators)
# and Cs (lone surrogates: the bytes of a name that is not UTF-8, as os.fsdecode keeps them) - except
# the zero-width non-joiner and joiner, which Indic scripts need inside words.
UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")
JOINERS = "\u200c\u200d"


class IdentityError(ValueError):
    """A name or identity value that the rules refuse; the message says which rule and the fix."""


def unsafe_chars(name: str) -> list:
    """The characters of name the name rule refuses, in order of appearance, each once."""
    found = []
    for char in name:
        if unsafe(char) and char not in found:
            found.append(char)
    return found


def unsafe(char: str) -> bool:
    """Whether the name rule refuses this one character."""
    return unicodedata.category(char) in UNSAFE_CATEGORIES and char not in JOINERS


def check_name(name, what: str = "name") -> str:
    """A name from the field that may name a file: a non-empty string without a character the name
    rule refuses. Returns it unchanged, or raises IdentityError naming the characters, escaped."""
    if not isinstance(name, str) or name == "":
        raise IdentityError("%s %s is not a non-empty string" % (what, shown(name)))
    bad = unsafe_chars(name)
    if bad:
        raise IdentityError("%s %s holds %s (control, invisible or bidi characters, or bytes that are not UTF-8)"
                            % (what, shown(name), ", ".join(_escape_char(c) for c in bad)))
    return name


def _escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return "\\x%02x" % code
    return "\\u%04x" % code if code < 0x10000 else "\\U%08x" % code


def shown(value, limit: int = 200) -> str:
    """value as it may be printed: a string quoted, with backslash, quotes and every character that
    is not printable or that the name rule refuses written as an escape (so a name can neither move
    the terminal's cursor, colour it, reorder text nor hide characters), cut to about limit
    characters. Anything else as repr(), likewise cut."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    out = []
    for char in value[:limit]:
        if char in "\\'":
            out.append("\\" + char)
        elif unsafe(char) or not (char.isprintable() or char in JOINERS):
            out.append(_escape_char(char))
        else:
            out.append(char)
    return "'%s'%s" % ("".join(out), "..." if len(value) > limit else "")


def said(text: str, limit: int = 200) -> str:
    """text (a name from the field, or a message quoting one with repr()) as it may be printed: as it
    is when every character prints as itself, else escaped whole (shown); cut to about limit characters."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return shown(text) if unsafe_chars(text) or not text.isprintable() else text


def literal(value) -> str | None:
    """A value a school server or lab PC gave, as a JSON string literal for manifests and reports:
    quotes, control characters and non-ASCII escaped, cut to CLAIM_CHARS. None stays None."""
    if value is None:
        return None
    text = json.dumps(str(value), ensure_ascii=True)
    return text if len(text) <= CLAIM_CHARS else text[:CLAIM_CHARS - 4] + '..."'


def is_school_code(code) -> bool:
    return isinstance(code, str) and SCHOOL_CODE.fullmatch(code) is not None


def is_server_id(server_id) -> bool:
    return isinstance(server_id, str) and SERVER_ID.fullmatch(server_id) is not None


def is_state(state) -> bool:
    return isinstance(state, str) and STATE.fullmatch(state) is not None


def is_school_folder(folder) -> bool:
    return isinstance(folder, str) and SCHOOL_FOLDER.fullmatch(folder) is not None


def split_school_folder(folder: str):
    """(school code, server id) of a <code>-<id> folder name, or None."""
    match = SCHOOL_FOLDER.fullmatch(folder) if isinstance(folder, str) else None
    return (match.group("code"), match.group("server_id")) if match else None


def state_of_server_id(server_id: str) -> str | None:
    """The state code a server id starts with (None for sp<N> and anything that is not a server id)."""
    match = SERVER_ID.fullmatch(server_id) if isinstance(server_id, str) else None
    return match.group("prefix") if match and match.group("prefix") in STATES else None


def same_code(theirs, ours) -> bool:
    """Whether two school codes name one school: both valid codes (an int from a JSON file counts as
    its digits) and equal without leading zeros. The one comparison of school codes."""
    theirs, ours = _code_text(theirs), _code_text(ours)
    return (theirs is not None and ours is not None and is_school_code(theirs) and is_school_code(ours)
            and theirs.lstrip("0") == ours.lstrip("0"))


def _code_text(code) -> str | None:
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return str(code) if code >= 0 else None
    return code if isinstance(code, str) else None


def code_error(code) -> str | None:
    """Why an inventory's school code is unusable, or None. 'NA' is allowed: real servers have it."""
    if code is None or code == "":
        return "school_code is missing"
    if not isinstance(code, str):
        return ("school_code %r is a number, not a string: quote it in the inventory "
                "(school_code: \"%s\") so leading zeros are kept" % (code, code))
    if not is_school_code(code):
        return "school_code %s is not 7-8 digits (or NA)" % shown(code)
    return None


def code_state_error(code: str, state: str) -> str | None:
    """Why a valid school code cannot be a school of state, or None."""
    if code == NA:
        return None
    digit = code.lstrip("0")[:1]
    if STATE_DIGIT.get(digit) != state:
        return ("school_code %s starts with %s, which is the code of %s, but the school is listed under %s"
                % (code, digit, STATE_DIGIT.get(digit, "no state"), state))
    return None


def server_id_error(server_id, state: str | None = None) -> str | None:
    """Why a server id cannot be an inventory's school (of state, when given), or None."""
    shape = SERVER_ID_SHAPE.fullmatch(server_id) if isinstance(server_id, str) else None
    if not shape:
        return "server id %s is not a state code followed by a number (like mz1)" % shown(server_id)
    prefix = shape.group("prefix")
    if prefix == SPECIAL:
        return ("server id %s is one of gStudio's special/test servers (sp<N>), not a school of a state "
                "(known: %s)" % (server_id, ", ".join(STATES)))
    if prefix not in STATES:
        return "server id %s has unknown state code %r (known: %s)" % (server_id, prefix, ", ".join(STATES))
    if state is not None and prefix != state:
        return "server id %s belongs to state %s but is listed under %s" % (server_id, prefix, state)
    return None


def unset(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def server_claims(facts: dict | None) -> dict:
    """What a server's server_settings.py claims, as data for the manifest and the report: each value
    a JSON string literal (literal()), and whether it passes the rules of a server id and a school code."""
    facts = facts or {}
    server_id, code = facts.get("server_id"), facts.get("school_code")
    return {
        "server_id": literal(server_id),
        "school_code": literal(code),
        "school_name": literal(facts.get("school_name")),
        "server_id_valid": is_server_id(server_id),
        "school_code_valid": is_school_code(code),
    }


def server_identity_problem(facts: dict | None, server_id: str, school_code: str) -> str:
    """Why a server's own server_settings.py does not say it is the inventory's school ('' when it
    does). Its values are data: checked, compared and quoted, never used to name anything."""
    if not facts or facts.get("settings_error"):
        return "identity unknown: %s" % ((facts or {}).get("settings_error") or "no heartbeat")
    claims = server_claims(facts)
    invalid = [name for name, key in (("server id", "server_id"), ("school code", "school_code"))
               if not claims[key + "_valid"]]
    if not invalid and facts.get("server_id") == server_id and same_code(facts.get("school_code"), school_code):
        return ""
    what = ("identity invalid: the server's server_settings.py holds a %s that is not one (the inventory "
            "allows a server id like mz1 or sp3 and a school code of 7-8 digits or NA)" % " and a ".join(invalid)
            if invalid else "identity mismatch")
    return ("%s: the inventory says %s-%s but the server's server_settings.py says server id %s, school code %s, "
            "name %s; collected into quarantine" % (what, school_code, server_id, claims["server_id"],
                                                    claims["school_code"], claims["school_name"]))


# config.json keys of an unplatform install that identify the PC: schoolId is the school code,
# terminalId the PC's name (clix_pc).
CONFIG_SCHOOL = "schoolId"
CONFIG_TERMINAL = "terminalId"


def labpc_claims(config: dict | None) -> dict | None:
    """What a lab PC's config.json says of itself, as data (each value literal()); None without one."""
    if not isinstance(config, dict):
        return None
    return {key: literal(config.get(key)) for key in (CONFIG_SCHOOL, CONFIG_TERMINAL, "state", "district")}


def same_pc(theirs, ours: str) -> bool:
    """Whether a config.json's terminalId names the lab PC clix_pc names (case and blanks aside)."""
    return isinstance(theirs, (str, int)) and not isinstance(theirs, bool) and str(theirs).strip().lower() == ours


def labpc_identity_problem(config: dict | None, school_code: str, pc: str) -> str:
    """Why a lab PC's config.json does not say it is the inventory's PC ('' when it does, or when it
    says nothing: a missing config.json or unset values are notes, not a mismatch). Its values are
    data: compared and quoted, never used to name anything."""
    if not isinstance(config, dict):
        return ""
    school, terminal = config.get(CONFIG_SCHOOL), config.get(CONFIG_TERMINAL)
    wrong_school = not unset(school) and not same_code(school, school_code)
    wrong_pc = not unset(terminal) and not same_pc(terminal, pc)
    if not (wrong_school or wrong_pc):
        return ""
    return ("identity mismatch: the inventory says school %s, lab PC %s but the PC's config.json says %s %s, %s %s; "
            "collected into quarantine" % (school_code, pc, CONFIG_SCHOOL, literal(school),
                                           CONFIG_TERMINAL, literal(terminal)))

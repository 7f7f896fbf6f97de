"""The CLIx tools' JSON log records, read as each tool writes them.

gStudio appends what a tool posts to ``gstudio_tools_logs/<tool>/<user id>-<tool>.json`` as it is
(``ndf/views/tools.py``), so every tool has its own shape. The research team's scripts
(clix_dashboard_backend_AF ``dags/scripts/clix_platform_data_processing/tools_proc.py``, and its
test data ``dags/mock_pipeline_tests/test_data/``) name a tool by the file name's part after
``<user id>-`` up to its first ``-``, lower-cased (``17995-Food_sharing_tool.json``:
``food_sharing_tool``; ``0-Ice-cubes-in-lemonade.json``: ``ice``), and read its time where it is:

- ``ice`` (Ice-cubes-in-lemonade), ``astroamer_moon_track``, ``astroamer_planet_trek_activity``: the
  session's start and end in ``appData.tool_startTime`` / ``tool_endTime`` (the tool's
  ``timeStamp()``, ``Y-M-D H:M:S`` not zero-padded, the PC's clock: IST), the record's own time only in
  ``appData.createdAt``;
- ``rationpatterns``: ``appData.gameOverallStartTime`` / ``gameOverallEndTime``, written
  ``Y-M-D:H:M:S`` with JavaScript's ``getMonth()``, which counts months from 0 (the team's script
  reads it as it is and patched ``2019-0-`` dates by hand; here the month is corrected);
- ``policesquad``: ``created_at`` and the tool's own count of time, ``params.TimeSpentStage``
  (``H:M:S``; the team's script reads a bare number as hours), and ``params.CurrentMission``;
- the others (``food_sharing_tool``, ``ages_puzzle``, ``coins_puzzle``, ``factorisation``,
  ``astroamer_element_hunt_activity``, ...): ``created_at`` / ``createdAt`` only; some keep
  per-step ``timeStamp`` values (epoch milliseconds, or a JavaScript date text) in
  ``appData.data_log``.

A record names its user (``userId``/``user_id``, the logged-in user: a buddy's copy names someone
else than the file) and its buddies (``buddyIds``/``buddy_details``, user ids in text). A record has
no time only when no time is found anywhere in it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
START_END = {"ice": ("tool_startTime", "tool_endTime"),
             "astroamer_moon_track": ("tool_startTime", "tool_endTime"),
             "astroamer_planet_trek_activity": ("tool_startTime", "tool_endTime"),
             "rationpatterns": ("gameOverallStartTime", "gameOverallEndTime")}
FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
           "%d/%m/%Y %H:%M:%S")
JS_MONTH_TIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}):(\d{1,2}):(\d{1,2}):(\d{1,2})$")
JS_DATE = re.compile(r"^\w{3} (\w{3}) (\d{1,2}) (\d{4}) (\d{1,2}):(\d{2}):(\d{2}) GMT([+-]\d{4})")
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                      "Dec"), 1)}
TIME_KEY = re.compile(r"time|created|date|stamp", re.I)
SPENT_KEY = re.compile(r"spent", re.I)
MAX_NODES = 20_000  # a record's values looked at for a time, at most


def family(file_name: str) -> str:
    """``<uid>-<Tool>.json`` -> the team's tool name (``<uid>.json``: its folder's, given instead)."""
    stem = file_name[:-5] if file_name.endswith(".json") else file_name
    part = stem.split("-", 1)[1] if "-" in stem else stem
    return "".join(c.lower() for c in part.split("-")[0] if not c.isspace())


def parse_time(value: Any) -> dt.datetime | None:
    """A tool's time as naive IST: ``%Y-%m-%d %H:%M:%S`` (not zero-padded, the PC's IST clock), ISO
    (an offset converted), epoch seconds or milliseconds, a JavaScript ``Date`` text; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, IST).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    for fmt in FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    m = JS_DATE.match(text)
    if m and m.group(1) in MONTHS:
        offset = int(m.group(7))
        zone = dt.timezone(dt.timedelta(hours=offset // 100, minutes=(abs(offset) % 100) * (1 if offset >= 0 else -1)))
        try:
            when = dt.datetime(int(m.group(3)), MONTHS[m.group(1)], int(m.group(2)), int(m.group(4)),
                               int(m.group(5)), int(m.group(6)), tzinfo=zone)
        except ValueError:
            return None
        return when.astimezone(IST).replace(tzinfo=None)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(IST).replace(tzinfo=None) if parsed.tzinfo else parsed


def js_month_time(value: Any) -> dt.datetime | None:
    """``Y-M-D:H:M:S`` with a 0-based month (rationpatterns' ``getMonth()``)."""
    m = JS_MONTH_TIME.match(value.strip()) if isinstance(value, str) else None
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups())
    try:
        return dt.datetime(y, mo + 1, d, h, mi, s)
    except ValueError:
        return None


def spent_seconds(value: Any) -> float | None:
    """policesquad's TimeSpentStage: ``H:M:S[.f]``; a bare number is hours (the team's reading)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) * 3600
    if isinstance(value, str):
        parts = value.strip().split(":")
        try:
            if len(parts) == 3:
                return int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])
            if len(parts) == 1 and parts[0]:
                return float(parts[0]) * 3600
        except ValueError:
            return None
    return None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _first(rec: dict, *keys: str) -> Any:
    return next((rec[k] for k in keys if rec.get(k) not in (None, "")), None)


def _user_id(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def buddy_ids(rec: dict, own: int | None) -> list[int]:
    """User ids in ``buddyIds`` / ``buddy_details`` (text or a list), the record's own user left out."""
    raw = _first(rec, "buddyIds", "buddy_ids", "buddy_details")
    ids = [int(x) for x in re.findall(r"\d+", raw if isinstance(raw, str) else " ".join(map(str, raw))
                                      if isinstance(raw, list) else "")]
    return [i for i in dict.fromkeys(ids) if i != own and i != 0]


def any_time(rec: Any) -> bool:
    """Whether a time is anywhere in the record: a key that names a time with a value that reads as one."""
    stack, seen = [rec], 0
    while stack and seen < MAX_NODES:
        node = stack.pop()
        seen += 1
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, (dict, list)):
                stack.append(value)
            elif isinstance(key, str) and TIME_KEY.search(key) and not SPENT_KEY.search(key) and \
                    (parse_time(value) is not None or js_month_time(value) is not None):
                return True
    return False


def read(rec: dict, tool_family: str) -> dict:
    """The fields of one record, by its tool family (times as naive IST)."""
    app, params = _dict(rec.get("appData")), _dict(rec.get("params"))
    event = parse_time(_first(rec, "created_at", "createdAt")) or parse_time(_first(app, "createdAt", "created_at"))
    start = end = None
    if tool_family in START_END:
        first, last = START_END[tool_family]
        convert = js_month_time if tool_family == "rationpatterns" else parse_time
        start, end = convert(app.get(first)), convert(app.get(last))
    spent = spent_seconds(params.get("TimeSpentStage", app.get("TimeSpentStage")))
    mission = params.get("CurrentMission", app.get("CurrentMission"))
    user = _user_id(_first(rec, "userId", "user_id"))
    session = _first(rec, "sessionId", "session_id", "sessionid", "session")
    event_type = _first(rec, "event_type", "eventType") or _first(app, "eventType", "event_type") or \
        _first(params, "event_type", "eventType")
    language = _first(rec, "language") or _first(app, "language") or _first(params, "language")
    return {"event": event, "start": start, "end": end, "spent": spent,
            "mission": None if mission in (None, "") else str(mission), "user_id": user,
            "buddy_ids": buddy_ids(rec, user), "session": None if session is None else str(session),
            "event_type": None if event_type is None else str(event_type),
            "language": None if language is None else str(language), "any_time": any_time(rec)}


def mit_time(rec: dict) -> tuple[bool, dt.datetime | None]:
    """The MIT script's reading (clix_derive/mit.py ``_tool_time``): whether the record has
    ``created_at``/``createdAt`` at the top level, and that value as ``%Y-%m-%d %H:%M:%S``."""
    key = "created_at" if "created_at" in rec else "createdAt" if "createdAt" in rec else None
    if key is None:
        return False, None
    try:
        return True, dt.datetime.strptime(rec[key], "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return True, None


def mit_label(rec: dict) -> str | None:
    name = rec["appName"] if "appName" in rec else rec.get("app_name", "Unknown Tool??")
    return name if isinstance(name, str) else None

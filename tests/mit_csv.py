"""The MIT script's activity-data.csv read into the long form of clix_dataset's
analyses/mit_activity_data.sql: one row per user and date with its four cells (blank dates left out).
The far-future date the script gives tool records without a time (5000 years after its run) is
day None, its timestamps None (they name the script's run, which the dataset cannot know)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

FAR_FUTURE_YEAR = 3000


def long_form(path: Path) -> list[tuple]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, out = rows[0], []
    dates = [(i, h[len("Date ("):-1]) for i, h in enumerate(header) if h.startswith("Date (")]
    for row in rows[1:]:
        for i, day in dates:
            if row[i] == " ":
                continue
            when = dt.date.fromisoformat(day)
            far = when.year > FAR_FUTURE_YEAR
            out.append((row[0], int(row[1]) if row[1] else None, None if far else when, int(row[i + 1]),
                        "0:00:00" if far else row[i + 2], row[i + 3], None if far else row[i + 4]))
    return sorted(out, key=repr)


def sql_long_form(rows: list[tuple]) -> list[tuple]:
    """analyses/mit_activity_data.sql's rows (collection, server, code, username, user_id, day, ...)
    in the same shape."""
    return sorted(((u, uid, day, n, spent, viewed, None if day is None else stamps)
                   for _, _, _, u, uid, day, n, spent, viewed, stamps in rows), key=repr)

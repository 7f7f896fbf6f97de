"""The views of ``clix.duckdb``, defined once (the codebook documents them from here).

Every table ``<name>_history`` holds one row per record and collection; the view ``<name>`` keeps each
record's row from its latest collection (by the collection's time, then its name). The other views
are the research team's conventions, each a WHERE or a join away from the tables, never a deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .tables import TABLES, Column, Table

TIMEZONE_HINT = "SET TimeZone = 'Asia/Kolkata';"


@dataclass(frozen=True)
class View:
    name: str
    about: str
    sql: str
    restricted_only: bool = False  # it shows a column the release drops


def latest_sql(table: Table) -> str:
    if not table.latest:
        return f"SELECT * FROM {table.history}"
    return (f"SELECT * FROM {table.history} QUALIFY row_number() OVER (PARTITION BY record_key "
            "ORDER BY collected_at DESC NULLS LAST, collection DESC) = 1")


VIEWS: tuple[View, ...] = (
    View("student_visits", "activity_visits with the flags of the visiting user (shared_account, never_logged_in, "
         "username_matches_server), joined on user_key: one row per visit, never more.",
         "SELECT v.*, u.shared_account, u.never_logged_in, u.username_matches_server "
         "FROM activity_visits v LEFT JOIN users u ON u.user_key = v.user_key"),
)


def views_sql(tables: set[str], columns: Callable[[Table], tuple[Column, ...]] | None = None) -> list[str]:
    """CREATE VIEW statements: each table's latest view, then the conventions. ``columns`` is the
    release's column list (views that need a dropped column are left out)."""
    stmts = [f"CREATE OR REPLACE VIEW {t.name} AS {latest_sql(t)}" for t in TABLES if t.name in tables]
    for view in VIEWS:
        if columns is None or not view.restricted_only:
            stmts.append(f"CREATE OR REPLACE VIEW {view.name} AS {view.sql}")
    return stmts

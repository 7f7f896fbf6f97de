"""The views of ``clix.duckdb``, defined once (the codebook documents them from here).

Every table ``<name>_history`` holds one row per record and collection; the view ``<name>`` keeps each
record's row from its latest collection (by the collection's time, then its name). The other views
are the research team's conventions, each a WHERE or a join away from the tables, never a deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .reference import reference_sql
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
         "username_matches_server, role), joined on user_key: one row per visit, never more.",
         "SELECT v.*, u.shared_account, u.never_logged_in, u.username_matches_server, u.role "
         "FROM activity_visits v LEFT JOIN users u ON u.user_key = v.user_key"),
    View("mit_activity", "The blobs of the MIT script's activity-data.csv (single_school_get_MIT_activity_data.py), "
         "per collection: each page its text search takes (`mit_visit`) of each user it lists (`mit_listed`), a copy "
         "for each buddy of the session, and each record of the tool files it reads for those users (`mit_file`). "
         "`blob_at` is India's wall clock as the CSV shows it (NULL for a tool record without a time: the script "
         "dates it 5000 years after its run). Rows are blobs; the script's CSV has a row per user and five columns "
         "per date (analyses/mit_activity_data.sql rebuilds them). Where the script stops and writes no CSV (a "
         "non-ASCII username, a buddy without an auth_user row, a tool time it cannot parse) the view still has "
         "the blobs.",
         """WITH listed AS (
    SELECT collection, username, user_id FROM users_history WHERE mit_listed),
visits AS (
    SELECT v.collection, v.year, v.state, v.server_id, v.school_code, l.username, l.user_id, v.started_at,
           v.mit_label, v.buddies
    FROM activity_visits_history v JOIN listed l ON l.collection = v.collection AND l.username = v.username
    WHERE v.mit_visit),
buddies AS (
    SELECT v.collection, v.year, v.state, v.server_id, v.school_code, b.username, b.user_id, v.started_at,
           v.mit_label
    FROM visits v, unnest(v.buddies) AS t(buddy)
    JOIN users_history b ON b.collection = v.collection AND b.username = t.buddy),
people AS (
    SELECT DISTINCT collection, username, user_id FROM listed
    UNION SELECT DISTINCT collection, username, user_id FROM buddies),
tools AS (
    SELECT t.collection, t.year, t.state, t.server_id, t.school_code, p.username, p.user_id, t.mit_at, t.mit_label
    FROM tool_events_history t JOIN people p ON p.collection = t.collection AND p.user_id = t.user_id
    WHERE t.mit_file)
SELECT collection, year, state, server_id, school_code, username, user_id,
       started_at AT TIME ZONE 'Asia/Kolkata' AS blob_at, mit_label AS label, 'visit' AS kind FROM visits
UNION ALL
SELECT collection, year, state, server_id, school_code, username, user_id,
       started_at AT TIME ZONE 'Asia/Kolkata', mit_label, 'buddy' FROM buddies
UNION ALL
SELECT collection, year, state, server_id, school_code, username, user_id,
       mit_at AT TIME ZONE 'Asia/Kolkata', mit_label, 'tool' FROM tools""", restricted_only=True),
    View("progress_monthly", "The research team's progress snapshot: per school, unit and month (in IST), the rows "
         "of the latest progress CSV of that month (CLIxResearchDataProcessing progresscsv_collation.py and "
         "clix_dashboard_backend_AF modules_proc.py filter_out_latest keep the latest file per unit and month; "
         "here per year and month). Collected and recomputed (origin) files are kept apart.",
         "SELECT *, strftime(snapshot_at AT TIME ZONE 'Asia/Kolkata', '%Y-%m') AS month FROM progress "
         "QUALIFY snapshot_at = max(snapshot_at) OVER (PARTITION BY server_id, school_code, origin, unit_slug, "
         "strftime(snapshot_at AT TIME ZONE 'Asia/Kolkata', '%Y-%m'))"),
)
# The academic year of a date (IST): April to March, as the team's data extraction runs
# (PlatformDataUsageMetricsExtraction_Apr18toMar19): 2018-04-01 .. 2019-03-31 is '2018-19'.
MACROS = (("academic_year", "academic_year(day): the academic year (April to March) of an IST date, e.g. '2018-19'; "
           "give it a `day` column or `CAST(t AT TIME ZONE 'Asia/Kolkata' AS DATE)`.",
           "CREATE OR REPLACE MACRO academic_year(d) AS "
           "CAST(year(d) - CASE WHEN month(d) < 4 THEN 1 ELSE 0 END AS VARCHAR) || '-' || "
           "right(CAST(year(d) - CASE WHEN month(d) < 4 THEN 1 ELSE 0 END + 1 AS VARCHAR), 2)"),)


def views_sql(tables: set[str], columns: Callable[[Table], tuple[Column, ...]] | None = None) -> list[str]:
    """CREATE VIEW statements: each table's latest view, then the conventions. ``columns`` is the
    release's column list (views that need a dropped column are left out)."""
    stmts = [f"CREATE OR REPLACE VIEW {t.name} AS {latest_sql(t)}" for t in TABLES if t.name in tables]
    stmts += reference_sql() + [sql for _, _, sql in MACROS]
    for view in VIEWS:
        if columns is None or not view.restricted_only:
            stmts.append(f"CREATE OR REPLACE VIEW {view.name} AS {view.sql}")
    return stmts

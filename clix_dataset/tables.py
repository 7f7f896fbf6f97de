"""The dataset's tables, defined once: every column's type, meaning, unit and source.

The writer (``build.py``) takes each table's column list and DuckDB types from here, and the
codebook (``dataset/CODEBOOK.md``) is generated from the same definitions, so a column cannot
exist without its documentation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    meaning: str
    unit: str = ""
    source: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    about: str
    source: str
    identity: tuple[str, ...]  # the columns that say "the same record" across collections
    columns: tuple[Column, ...]

    @property
    def stored(self) -> tuple[Column, ...]:
        """The columns inside each Parquet file: year and state are the hive partition folders."""
        return tuple(c for c in self.columns if c.name not in PARTITIONS)


PARTITIONS = ("year", "state")
SETTINGS = "`gstudio/server_settings.py`"
AUTH_USER = "`gstudio/postgres-dump/pg_dump_all.sql`, `COPY auth_user`"
UNPLATFORM = ("`unplatform/<pc>/<install>/`: `unplatform.sqlite3`, `webapps/unplatform/user_data/*.json`, "
              "`webapps/CLIx/datastore/logging/LogEntry/*.json` (v1: `unplatform/db.sqlite3` research tables)")
IST = "timestamp with time zone; gStudio stores India wall-clock time (IST, UTC+05:30) as if it were UTC"

SCHOOL_KEYS = (
    Column("year", "INTEGER", "Year folder of the collection (hive partition `year=`).", "", "archive path `<YYYY>/`"),
    Column("state", "VARCHAR", "State code: mz, rj, ct or tg (hive partition `state=`).", "", "archive path `<state>/`"),
    Column("server_id", "VARCHAR", "School server id (GSTUDIO_INSTITUTE_ID), e.g. mz1.", "",
           "archive folder `<school code>-<server id>`"),
    Column("school_code", "VARCHAR", "CLIx school code as text, leading zeros kept, or NA.", "",
           "archive folder `<school code>-<server id>`"),
)
USER_KEYS = (*SCHOOL_KEYS,
    Column("user_id", "INTEGER", "Django user id (auth_user.id). Unique only per server: join on "
           "(server_id, user_id), never on user_id alone. NULL when the username has no auth_user row.",
           "", AUTH_USER),
)
PROVENANCE = (
    Column("collection", "VARCHAR", "The collection that first held this record: `<YYYY>/<state>/<folder>`; "
           "a re-collected record keeps its first collection.", "", "archive path"),
    Column("record_key", "VARCHAR", "sha256 of the record's identity (the table's identity columns); the "
           "same record in two collections of a school appears once.", "", "computed"),
)

TABLES: tuple[Table, ...] = (
    Table("schools", "One row per school (folder), and another whenever a later collection finds its names or "
          "settings changed: who the server says it is, and where it was filed.",
          SETTINGS + " and `MANIFEST.json` (`school`, from the inventory)",
          ("server_id", "school_code", "school_name", "inventory_name", "settings_server_id", "settings_school_code"),
          (*SCHOOL_KEYS,
              Column("district", "VARCHAR", "District: the two digits after the state digit of the 7-digit "
                     "school code (an 8-digit code's leading zero dropped); NULL for NA.", "", "school code"),
              Column("school_name", "VARCHAR", "School name as the server's settings give it.", "",
                     SETTINGS + " GSTUDIO_INSTITUTE_NAME"),
              Column("inventory_name", "VARCHAR", "School name in the inventory at collection time.", "",
                     "`MANIFEST.json` school.school_name"),
              Column("settings_server_id", "VARCHAR", "Server id the server's settings give.", "",
                     SETTINGS + " GSTUDIO_INSTITUTE_ID"),
              Column("settings_school_code", "VARCHAR", "School code the server's settings give.", "",
                     SETTINGS + " GSTUDIO_INSTITUTE_ID_SECONDARY"),
              Column("settings_match", "BOOLEAN", "The settings name the same server id and school code as "
                     "the folder.", "", "computed"),
           *PROVENANCE)),
    Table("collections", "One row per collection (school folder and year): when, what, and how it went.",
          "`MANIFEST.json`", ("manifest_sha256",),
          (*SCHOOL_KEYS,
              Column("path", "VARCHAR", "The school's folder, relative to the archive root.", "", "archive path"),
              Column("collected_at", "TIMESTAMPTZ", "End of the last complete collection run (else the last run).",
                     "timestamp with time zone (the control node's clock)", "`MANIFEST.json` last_complete, run.ended"),
              Column("manifest_sha256", "VARCHAR", "sha256 of the school's MANIFEST.json.", "hex", "`MANIFEST.json`"),
              Column("files", "BIGINT", "Files listed in the manifest.", "files", "`MANIFEST.json` totals.files"),
              Column("bytes", "BIGINT", "Bytes listed in the manifest.", "bytes", "`MANIFEST.json` totals.bytes"),
              Column("items", "STRUCT(name VARCHAR, status VARCHAR, collected_at VARCHAR, reason VARCHAR)[]",
                     "Every collected item with its status (ok, absent, failed, skipped), time and reason.", "",
                     "`MANIFEST.json` items"),
           *PROVENANCE)),
    Table("users", "One row per Django user of a server.", AUTH_USER, ("user_id", "username", "date_joined"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Login name (gStudio: `<colour>-<thing>-<server id>`).", "",
                     AUTH_USER + " username"),
              Column("date_joined", "TIMESTAMPTZ", "When the account was made.", "timestamp with time zone",
                     AUTH_USER + " date_joined"),
              Column("last_login", "TIMESTAMPTZ", "Last login, as of the collection that first held the row.",
                     "timestamp with time zone", AUTH_USER + " last_login"),
              Column("never_logged_in", "BOOLEAN", "last_login is empty or equals date_joined (the MIT script's "
                     "rule for users who never logged in).", "", "computed"),
              Column("shared_account", "BOOLEAN", "The username ends in a special server id such as `-sp100` "
                     "(gStudio's default server id): a class's shared demo account, not one student.", "",
                     "computed from username"),
              Column("username_matches_server", "BOOLEAN", "The username ends in `-<server_id>` of its server.",
                     "", "computed from username"),
           *PROVENANCE)),
    Table("units", "One row per announced unit (course) of a server.",
          "`gstudio/db/gstudio-mongodb/Nodes.bson`: Groups that are members of GSystemType `announced_unit`",
          ("unit_id", "name", "altnames", "module_names"),
          (*SCHOOL_KEYS,
              Column("unit_id", "VARCHAR", "The unit's Node ObjectId (hex).", "", "Nodes._id"),
              Column("name", "VARCHAR", "Unit name.", "", "Nodes.name"),
              Column("altnames", "VARCHAR", "Display name gStudio prefers when set.", "", "Nodes.altnames"),
              Column("slug", "VARCHAR", "Django slug of the name, as in progress CSV file names and `unit_name`.",
                     "", "computed (clix_derive.formats.slugify)"),
              Column("module_names", "VARCHAR[]", "Names of the Modules whose collection_set holds the unit, as a "
                     "list (not the Python repr the progress CSVs carry).", "",
                     "Nodes of GSystemType `Module`, collection_set"),
           *PROVENANCE)),
    Table("activity_visits", "One row per activity-player visit: the visits clix_derive (and gStudio's "
          "`activity_timestamp`) compute, for every username with Benchmarks.",
          "`gstudio/db/gstudio-mongodb/Benchmarks.bson`, `Nodes.bson`, `Buddies.bson`, through clix_derive",
          ("username", "session_key", "started_at", "url"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Who visited.", "", "Benchmarks.user"),
              Column("session_key", "VARCHAR", "Django session of the visit.", "", "Benchmarks.session_key"),
              Column("url", "VARCHAR", "The activity-player URL.", "", "Benchmarks.calling_url"),
              Column("unit_id", "VARCHAR", "Unit in the URL (ObjectId hex or, as gStudio allows, the unit name).",
                     "", "calling_url part 1"),
              Column("unit_name", "VARCHAR", "Unit display name (altnames, else name); NULL when unknown.", "",
                     "Nodes"),
              Column("lesson_id", "VARCHAR", "Lesson ObjectId from the URL.", "", "calling_url part 4"),
              Column("lesson_name", "VARCHAR", "Lesson name.", "", "Nodes.name"),
              Column("activity_id", "VARCHAR", "Activity ObjectId from the URL.", "", "calling_url part 5"),
              Column("activity_name", "VARCHAR", "Activity display name (altnames, else name).", "", "Nodes"),
              Column("language", "VARCHAR", "Interface language of the visit (en when unset).", "",
                     "Benchmarks.locale"),
              Column("started_at", "TIMESTAMPTZ", "When the visit began.", IST, "Benchmarks.last_update"),
              Column("ended_at", "TIMESTAMPTZ", "The next qualifying page of the session (gStudio's out-event); "
                     "NULL when there is none.", IST, "Benchmarks.last_update of the out-event"),
              Column("seconds", "DOUBLE", "ended_at - started_at; NULL without an out-event. Not capped: apply "
                     "outlier caps in queries.", "seconds", "computed"),
              Column("out_action", "VARCHAR", "View name of the out-event.", "", "Benchmarks.name"),
              Column("buddies", "VARCHAR[]", "Buddies logged in with the user in that session; NULL when the "
                     "session has no Buddy record.", "", "Buddies.buddy_in_out -> Author names"),
              Column("day", "DATE", "Calendar day of started_at in IST.", "date (IST)", "computed"),
           *PROVENANCE)),
    Table("progress", "Every row of every progress CSV in the archive (collected, and recomputed under "
          "`derived/`), deduplicated by content.",
          "`gstudio/gstudio-exported-users-analytics-csvs/*.csv` and `derived/.../gstudio-exported-users-analytics-csvs/`",
          ("source_name", "cells"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Student.", "", "CSV column username"),
              Column("unit_slug", "VARCHAR", "Unit slug from the file name.", "", "file name"),
              Column("snapshot_at", "TIMESTAMPTZ", "When gStudio wrote the file, from its name (minute).", IST,
                     "file name `-<%Y%m%d-%Hh%Mm>.csv`"),
              Column("origin", "VARCHAR", "collected (from the server) or derived (recomputed from the archive).",
                     "", "archive path"),
              Column("source_name", "VARCHAR", "File name.", "", "file name"),
              Column("source_file", "VARCHAR", "File path relative to the archive root (first seen).", "",
                     "archive path"),
              Column("module_names", "VARCHAR[]", "module_name cell parsed from its Python repr into a list.", "",
                     "CSV column module_name"),
              Column("total_activities", "INTEGER", "Activities of the unit.", "activities", "CSV total_activities"),
              Column("activities_visited", "INTEGER", "Activities the user visited.", "activities",
                     "CSV activities_visited"),
              Column("total_lessons", "INTEGER", "Lessons of the unit.", "lessons", "CSV total_lessons"),
              Column("lessons_visited", "INTEGER", "Lessons the user visited.", "lessons", "CSV lessons_visited"),
              Column("activity_counts", "STRUCT(activity VARCHAR, activity_id VARCHAR, visits INTEGER)[]",
                     "The dynamic `<name> [<id>]` columns: visits per activity.", "visits",
                     "CSV columns `<name> [<hex id>]`"),
              Column("cells", "MAP(VARCHAR, VARCHAR)", "Every cell of the row as text, by header.", "",
                     "the CSV row"),
           *PROVENANCE)),
    Table("tool_events", "One row per record of a tool's JSON log.",
          "`gstudio/gstudio_tools_logs/<tool>/<user id>-<tool>.json`", ("source_name", "record_index", "raw"),
          (*USER_KEYS,
              Column("tool", "VARCHAR", "Tool folder name (gStudio's appName).", "", "folder `<tool>/`"),
              Column("app_name", "VARCHAR", "appName/app_name of the record.", "", "record appName"),
              Column("session_id", "VARCHAR", "Tool session of the record, when it has one.", "",
                     "record session_id/sessionId/session"),
              Column("event_type", "VARCHAR", "Kind of event, when given.", "", "record event_type/eventType"),
              Column("event_at", "TIMESTAMPTZ", "When the record was written.", IST, "record created_at/createdAt"),
              Column("started_at", "TIMESTAMPTZ", "Start of the tool session, when given.", IST,
                     "record start_time/startTime"),
              Column("ended_at", "TIMESTAMPTZ", "End of the tool session, when given.", IST,
                     "record end_time/endTime"),
              Column("seconds", "DOUBLE", "ended_at - started_at, when both are there and in order.", "seconds",
                     "computed"),
              Column("missing_time", "BOOLEAN", "The record has no parseable event, start or end time.", "",
                     "computed"),
              Column("impossible_time", "BOOLEAN", "A time before 2015, after the collection, or an end before "
                     "its start.", "", "computed"),
              Column("anonymous", "BOOLEAN", "Written for user id 0 (nobody logged in).", "", "file name"),
              Column("source_name", "VARCHAR", "File path below gstudio_tools_logs/.", "", "file name"),
              Column("record_index", "INTEGER", "Position of the record in its file (0-based).", "", "file"),
              Column("raw", "JSON", "The record exactly as logged.", "", "the JSON record"),
           *PROVENANCE)),
    Table("assessment_responses", "One row per question attempt in qbank (every attempt, oldest first).",
          "`gstudio/db/assessment/{AssessmentTaken,AssessmentSection,Item}.bson` (dlkit JSON records)",
          ("section_id", "question_key", "attempt", "submitted_at"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Taker, from the taking agent id.", "", "AssessmentTaken.takingAgentId"),
              Column("assessment_taken_id", "VARCHAR", "AssessmentTaken ObjectId.", "", "AssessmentTaken._id"),
              Column("assessment_offered_id", "VARCHAR", "Offering taken.", "", "AssessmentTaken.assessmentOfferedId"),
              Column("section_id", "VARCHAR", "AssessmentSection ObjectId.", "", "AssessmentSection._id"),
              Column("question_key", "VARCHAR", "The question's id inside the section.", "",
                     "AssessmentSection.questions[]._id"),
              Column("item_id", "VARCHAR", "The qbank Item answered.", "", "AssessmentSection.questions[].itemId"),
              Column("item_name", "VARCHAR", "Item display name.", "", "Item.displayName.text"),
              Column("attempt", "INTEGER", "1 for the first attempt at the question, 2 for the next, ...", "",
                     "position in questions[].responses (stored newest first)"),
              Column("submitted_at", "TIMESTAMPTZ", "When the answer was submitted.",
                     "timestamp with time zone (dlkit stores UTC)", "responses[].submissionTime"),
              Column("choice_ids", "VARCHAR[]", "Choices picked, for choice questions.", "", "responses[].choiceIds"),
              Column("answer", "JSON", "The whole response as stored.", "", "responses[]"),
              Column("is_correct", "BOOLEAN", "qbank's verdict; NULL when qbank could not judge.", "",
                     "responses[].isCorrect"),
              Column("cleared", "BOOLEAN", "The attempt cleared or skipped the answer (missingResponse).", "",
                     "responses[].missingResponse"),
           *PROVENANCE)),
    Table("qbank_log_entries", "One row per qbank log entry.", "`gstudio/db/logging/LogEntry.bson`",
          ("log_entry_id",),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Agent of the entry.", "", "LogEntry.agentId"),
              Column("log_entry_id", "VARCHAR", "LogEntry ObjectId.", "", "LogEntry._id"),
              Column("logged_at", "TIMESTAMPTZ", "When the entry was written.",
                     "timestamp with time zone (dlkit stores UTC)", "LogEntry.timestamp"),
              Column("priority", "VARCHAR", "Priority type id.", "", "LogEntry.priority"),
              Column("genus_type", "VARCHAR", "Genus type id.", "", "LogEntry.genusTypeId"),
              Column("text", "VARCHAR", "The logged text (often JSON).", "", "LogEntry.text.text"),
              Column("raw", "JSON", "The whole entry.", "", "LogEntry"),
           *PROVENANCE)),
    Table("server_days", "Days a server was in use.",
          "`gstudio/db/gstudio-mongodb/Benchmarks.bson` and `gstudio/system-heartbeat/` file names",
          ("source", "day"),
          (*SCHOOL_KEYS,
              Column("day", "DATE", "Calendar day.", "date (IST)", "Benchmarks.last_update, heartbeat file name"),
              Column("source", "VARCHAR", "benchmarks or heartbeat.", "", "computed"),
              Column("events", "INTEGER", "Benchmarks (page requests) or heartbeat files that day.", "events",
                     "computed"),
              Column("users", "INTEGER", "Distinct Benchmark users that day (0 for heartbeats).", "users",
                     "Benchmarks.user"),
           *PROVENANCE)),
    Table("unplatform_sessions", "One row per session of an unplatform lab PC, as of the collection that first "
          "held it: the rows of clix_derive's `sessions.csv` (see clix_derive/unplatform.py for the rules).",
          UNPLATFORM, ("pc", "session_id"),
          (*SCHOOL_KEYS,
              Column("pc", "VARCHAR", "The lab PC (its folder below `unplatform/`, the inventory's clix_pc).", "",
                     "archive path `unplatform/<pc>/`"),
              Column("session_id", "VARCHAR", "web.py session id (or, for log entries no session names, the agent "
                     "they were logged under).", "", "sessions.session_id, user_data sessionId, LogEntry.agentId"),
              Column("user_type", "VARCHAR", "student, teacher, ... as chosen on the user form.", "",
                     "user_data userType (v1: research_user.user_type)"),
              Column("user_count", "VARCHAR", "Users at the PC as chosen on the form (1, 2, 3, 3+).", "",
                     "user_data userCount (v1: research_user.user_count)"),
              Column("username", "VARCHAR", "Student ids as typed (several, comma-separated, when userCount > 1).",
                     "", "user_data username"),
              Column("started_at", "TIMESTAMPTZ", "When the user form was sent, else the first log entry.",
                     "timestamp with time zone (unplatform stores UTC)", "user_data timestamp, LogEntry.timestamp"),
              Column("ended_at", "TIMESTAMPTZ", "The last finish event (a `clicked_finished` or a click on "
                     "`Select User`); NULL without one.", "timestamp with time zone", "LogEntry.timestamp"),
              Column("last_entry_at", "TIMESTAMPTZ", "The session's last log entry.", "timestamp with time zone",
                     "LogEntry.timestamp"),
              Column("log_entries", "INTEGER", "Log entries of the session.", "entries", "logging/LogEntry"),
           *PROVENANCE)),
    Table("unplatform_visits", "One row per visit of an unplatform lab PC and user it is credited to: the blobs "
          "behind clix_derive's `activity-data.csv` (a change of the content player's place, or a tool chosen).",
          UNPLATFORM, ("pc", "session_id", "username", "visited_at", "name"),
          (*SCHOOL_KEYS,
              Column("pc", "VARCHAR", "The lab PC.", "", "archive path `unplatform/<pc>/`"),
              Column("session_id", "VARCHAR", "Session of the visit.", "", "as in unplatform_sessions"),
              Column("username", "VARCHAR", "One student id typed for the session, else the session id.", "",
                     "user_data username, split at commas"),
              Column("visited_at", "TIMESTAMPTZ", "When the visit began.", "timestamp with time zone",
                     "LogEntry.timestamp"),
              Column("name", "VARCHAR", "`unit / lesson / activity` (python-slugified, as in activity-data.csv), or "
                     "the tool's name.", "", "LogEntry text: unit, subject, activity; `Select tool: <name>`"),
              Column("day", "DATE", "Calendar day of visited_at in IST.", "date (IST)", "computed"),
           *PROVENANCE)),
    Table("rejects", "Every record or file that could not be read, with the reason: nothing is dropped silently.",
          "any of the sources above", ("table_name", "source_file", "position", "reason"),
          (*SCHOOL_KEYS,
              Column("table_name", "VARCHAR", "The table the record was meant for.", "", "computed"),
              Column("source_file", "VARCHAR", "File, relative to the archive root.", "", "archive path"),
              Column("position", "VARCHAR", "Where in the file (record index, line).", "", "computed"),
              Column("reason", "VARCHAR", "Why it was rejected.", "", "computed"),
              Column("raw", "VARCHAR", "The start of the record as text (at most 2000 characters).", "", "source"),
           *PROVENANCE)),
)

BY_NAME = {t.name: t for t in TABLES}

"""The dataset's tables, defined once: every column's type, meaning, unit, source and privacy class.

The writer (``build.py``) takes each table's column list and DuckDB types from here, the release
(``release.py``) what to do with each column from its privacy class, and the codebook
(``CODEBOOK.md``) is generated from the same definitions, so a column cannot exist without its
documentation.

Each table is stored as its history, ``<name>_history``: one row per record and collection (a
school collected in 2025 and again in 2026 gives a user two rows). The view ``<name>`` keeps each
record's row from its latest collection (``record_key``, unique across the archive, names the
record).
"""

from __future__ import annotations

from dataclasses import dataclass

# Privacy classes, and what the release (the copy a researcher may receive) does with each.
DIRECT = "direct identifier"
PSEUDONYMISED = "pseudonymised"
QUASI = "quasi-identifier"
FREE_TEXT = "free text"
NONE = "none"
RELEASE_ACTION = {
    DIRECT: "dropped",
    PSEUDONYMISED: "replaced by its keyed pseudonym (HMAC-SHA256 with the steward's key)",
    QUASI: "kept: combined with other data it may single a child out; publish aggregates only",
    FREE_TEXT: "dropped",
    NONE: "kept",
}
PRIVACY_MEANING = {
    DIRECT: "names a child or holds a credential by itself (user ids, usernames, names, roll numbers, paths "
            "made of them)",
    PSEUDONYMISED: "a key that links a child's rows (a hash of the child's identity, a session); the restricted "
                   "tier keeps it as computed, the release replaces it",
    QUASI: "a child's attribute that, combined with others, may single the child out (dates of joining and "
           "login, class)",
    FREE_TEXT: "text typed by a child or raw data that may hold any of the above",
    NONE: "no personal information (schools, content, counts, times of use)",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    meaning: str
    unit: str = ""
    source: str = ""
    privacy: str = NONE


@dataclass(frozen=True)
class Table:
    name: str
    about: str
    source: str
    identity: tuple[str, ...]  # the columns that say "the same record" across collections
    columns: tuple[Column, ...]
    latest: bool = True  # the view keeps each record's latest row (else every row: one per collection)

    @property
    def history(self) -> str:
        """The stored table: one row per record and collection."""
        return f"{self.name}_history"

    @property
    def stored(self) -> tuple[Column, ...]:
        """The columns inside each Parquet file: year and state are the hive partition folders."""
        return tuple(c for c in self.columns if c.name not in PARTITIONS)

    def released(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if RELEASE_ACTION[c.privacy] != "dropped")


PARTITIONS = ("year", "state")
SETTINGS = "`gstudio/server_settings.py`"
AUTH_USER = "`gstudio/postgres-dump/pg_dump_all.sql`, `COPY auth_user`"
UNPLATFORM = ("`unplatform/<pc>/<install>/`: `unplatform.sqlite3`, `webapps/unplatform/user_data/*.json`, "
              "`webapps/CLIx/datastore/logging/LogEntry/*.json` (v1: `unplatform/db.sqlite3` research tables)")
IST = "timestamp with time zone; gStudio stores India wall-clock time (IST, UTC+05:30) as if it were UTC"
USER_KEY_SOURCE = "computed: sha256 of (school code, server id, username, date_joined)"

SCHOOL_KEYS = (
    Column("year", "INTEGER", "Year folder of the collection (hive partition `year=`).", "", "archive path `<YYYY>/`"),
    Column("state", "VARCHAR", "State code: mz, rj, ct or tg (hive partition `state=`).", "", "archive path `<state>/`"),
    Column("server_id", "VARCHAR", "School server id (GSTUDIO_INSTITUTE_ID), e.g. mz1.", "",
           "archive folder `<school code>-<server id>`"),
    Column("school_code", "VARCHAR", "CLIx school code as text, leading zeros kept, or NA.", "",
           "archive folder `<school code>-<server id>`"),
)
USER_KEY = Column(
    "user_key", "VARCHAR", "The child's (or teacher's) key: the same account of the same server in every "
    "collection, a different one when a reinstalled server gives the user id or username to someone else. "
    "Join users on it (never on user_id, which a reinstalled server reuses).", "", USER_KEY_SOURCE, PSEUDONYMISED)
USER_ID = Column("user_id", "INTEGER", "Django user id (auth_user.id) in that collection's dump; NULL when the "
                 "username has no auth_user row. Reused by a reinstalled server: join on user_key.", "", AUTH_USER,
                 DIRECT)
USER_KEYS = (*SCHOOL_KEYS, USER_KEY, USER_ID)
PROVENANCE = (
    Column("collection", "VARCHAR", "The collection this row was read from: `<YYYY>/<state>/<folder>`.", "",
           "archive path"),
    Column("collected_at", "TIMESTAMPTZ", "When that collection ended (its manifest's last complete run): the "
           "views keep the row of the latest.", "timestamp with time zone (the control node's clock)",
           "`MANIFEST.json` last_complete, run.ended"),
    Column("record_key", "VARCHAR", "sha256 of the table, the school and the record's identity columns: the same "
           "record in every collection, unique across the archive.", "", "computed", PSEUDONYMISED),
)

TABLES: tuple[Table, ...] = (
    Table("schools", "One row per school and collection: who the server says it is, and where it was filed.",
          SETTINGS + " and `MANIFEST.json` (`school`, from the inventory)", (),
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
          "`MANIFEST.json`", (),
          (*SCHOOL_KEYS,
              Column("path", "VARCHAR", "The school's folder, relative to the archive root.", "", "archive path"),
              Column("manifest_sha256", "VARCHAR", "sha256 of the school's MANIFEST.json.", "hex", "`MANIFEST.json`"),
              Column("files", "BIGINT", "Files listed in the manifest.", "files", "`MANIFEST.json` totals.files"),
              Column("bytes", "BIGINT", "Bytes listed in the manifest.", "bytes", "`MANIFEST.json` totals.bytes"),
              Column("item_status", "MAP(VARCHAR, VARCHAR)", "Every collected item's status (ok, absent, failed, "
                     "skipped).", "", "`MANIFEST.json` items[].status"),
              Column("items", "STRUCT(name VARCHAR, status VARCHAR, collected_at VARCHAR, reason VARCHAR)[]",
                     "Every collected item with its status, time and the collector's reason (which may quote file "
                     "names).", "", "`MANIFEST.json` items", FREE_TEXT),
           *PROVENANCE), latest=False),
    Table("users", "One row per Django user of a server and collection.", AUTH_USER, ("username", "date_joined"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Login name (gStudio: `<colour>-<thing>-<server id>`).", "",
                     AUTH_USER + " username", DIRECT),
              Column("date_joined", "TIMESTAMPTZ", "When the account was made.", "timestamp with time zone",
                     AUTH_USER + " date_joined", QUASI),
              Column("last_login", "TIMESTAMPTZ", "Last login as of the collection.", "timestamp with time zone",
                     AUTH_USER + " last_login", QUASI),
              Column("never_logged_in", "BOOLEAN", "last_login is empty or equals date_joined.", "", "computed"),
              Column("shared_account", "BOOLEAN", "The username ends in a special server id such as `-sp100` "
                     "(gStudio's default server id): a class's shared demo account, not one student.", "",
                     "computed from username"),
              Column("username_matches_server", "BOOLEAN", "The username ends in `-<server_id>` of its server.",
                     "", "computed from username"),
              Column("is_staff", "BOOLEAN", "Django staff flag (gStudio gives it to teachers and admins).",
                     "", AUTH_USER + " is_staff"),
              Column("is_superuser", "BOOLEAN", "Django superuser flag (the server's admins).", "",
                     AUTH_USER + " is_superuser"),
              Column("agency_type", "VARCHAR", "The role gStudio records on the user's Author node: Student, Teacher, "
                     "Teacher Educator, Faculty, Researcher or Other.", "",
                     "`Nodes.bson`: the Author whose created_by is the user id, agency_type", QUASI),
              Column("mit_listed", "BOOLEAN", "The MIT script lists the user: last_login differs from date_joined as "
                     "the dump writes them (so an empty last_login counts).", "", "computed (clix_derive/mit.py)"),
              Column("role", "VARCHAR", "admin (superuser), teacher (agency_type Teacher, Teacher Educator or "
                     "Faculty, or staff), student (agency_type Student), other (another agency_type), NULL (none "
                     "known).", "", "computed from is_superuser, agency_type, is_staff", QUASI),
           *PROVENANCE)),
    Table("units", "One row per announced unit (course) of a server.",
          "`gstudio/db/gstudio-mongodb/Nodes.bson`: Groups that are members of GSystemType `announced_unit`",
          ("unit_id",),
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
          "`activity_timestamp`) compute, for every username with Benchmarks. A visit still open at one collection "
          "(no out-event yet) is completed by the next: the view keeps the latest.",
          "`gstudio/db/gstudio-mongodb/Benchmarks.bson`, `Nodes.bson`, `Buddies.bson`, through clix_derive",
          ("username", "session_key", "started_at", "url"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Who visited.", "", "Benchmarks.user", DIRECT),
              Column("session_key", "VARCHAR", "Django session of the visit (the release: its pseudonym, never the "
                     "key itself).", "", "Benchmarks.session_key", PSEUDONYMISED),
              Column("url", "VARCHAR", "The activity-player URL (its group part may be a user's own group, named "
                     "after the user).", "", "Benchmarks.calling_url", DIRECT),
              Column("unit_id", "VARCHAR", "The unit's ObjectId (hex): the group the URL names (by id or, as gStudio "
                     "allows, by name) when it is a unit; NULL otherwise.", "", "calling_url part 1, Nodes"),
              Column("unit_name", "VARCHAR", "Unit display name (altnames, else name); NULL when the URL names no "
                     "unit.", "", "Nodes"),
              Column("lesson_id", "VARCHAR", "Lesson ObjectId from the URL.", "", "calling_url part 4"),
              Column("lesson_name", "VARCHAR", "Lesson name.", "", "Nodes.name"),
              Column("activity_id", "VARCHAR", "Activity ObjectId from the URL.", "", "calling_url part 5"),
              Column("activity_name", "VARCHAR", "Activity display name (altnames, else name).", "", "Nodes"),
              Column("language", "VARCHAR", "Interface language of the visit (en when unset).", "",
                     "Benchmarks.locale"),
              Column("started_at", "TIMESTAMPTZ", "When the visit began.", IST, "Benchmarks.last_update"),
              Column("ended_at", "TIMESTAMPTZ", "The next qualifying page of the session (gStudio's out-event); "
                     "NULL when there is none (yet).", IST, "Benchmarks.last_update of the out-event"),
              Column("seconds", "DOUBLE", "ended_at - started_at; NULL without an out-event. Not capped: apply "
                     "outlier caps in queries.", "seconds", "computed"),
              Column("out_action", "VARCHAR", "View name of the out-event.", "", "Benchmarks.name"),
              Column("buddies", "VARCHAR[]", "Usernames of the buddies logged in with the user in that session; "
                     "NULL when the session has no Buddy record.", "", "Buddies.buddy_in_out -> Author names", DIRECT),
              Column("buddy_keys", "VARCHAR[]", "The buddies' user_keys, in the order of buddies.", "",
                     USER_KEY_SOURCE, PSEUDONYMISED),
              Column("day", "DATE", "Calendar day of started_at in IST.", "date (IST)", "computed"),
              Column("mit_visit", "BOOLEAN", "The MIT script's MongoDB text search (`activity_player`) takes the "
                     "page, and its URL starts and ends with `/`: a blob of activity-data.csv.", "",
                     "computed (clix_derive/textsearch.py)"),
              Column("mit_label", "VARCHAR", "The name activity-data.csv shows: `unit / lesson / activity`, each "
                     "python-slugified (transliterated) as the MIT script does (its unit part may be a user's own "
                     "group, named after the user).", "", "computed (clix_derive/mit.py)", DIRECT),
           *PROVENANCE)),
    Table("progress", "Every row of every progress CSV in the archive (collected, and the latest recomputation "
          "under `derived/`).",
          "`gstudio/gstudio-exported-users-analytics-csvs/*.csv` and `derived/.../gstudio-exported-users-analytics-csvs/`",
          ("origin", "source_name", "username", "cell_user_id"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Student.", "", "CSV column username", DIRECT),
              Column("cell_user_id", "VARCHAR", "The user_id cell as written.", "", "CSV column user_id", DIRECT),
              Column("first_name", "VARCHAR", "First name as typed into gStudio.", "", "CSV column first_name",
                     DIRECT),
              Column("last_name", "VARCHAR", "Last name as typed into gStudio.", "", "CSV column last_name", DIRECT),
              Column("roll_no", "VARCHAR", "Roll number (gStudio's enrollment_code).", "", "CSV column roll_no",
                     DIRECT),
              Column("grade", "VARCHAR", "Class as typed (gStudio's educationallevel).", "", "CSV column grade",
                     QUASI),
              Column("enrollment_status", "VARCHAR", "Yes when the user is a member of the unit.", "",
                     "CSV column enrollment_status"),
              Column("buddy_keys", "VARCHAR[]", "user_keys of the buddy_userids cell.", "", USER_KEY_SOURCE,
                     PSEUDONYMISED),
              Column("unit_slug", "VARCHAR", "Unit slug from the file name.", "", "file name"),
              Column("snapshot_at", "TIMESTAMPTZ", "When gStudio (or clix_derive, for origin derived) wrote the "
                     "file, from its name (minute).", IST, "file name `-<%Y%m%d-%Hh%Mm>.csv`"),
              Column("origin", "VARCHAR", "collected (from the server) or derived (recomputed from the archive; "
                     "only its latest recomputation is read).", "", "archive path"),
              Column("source_name", "VARCHAR", "File name.", "", "file name"),
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
              Column("counts", "MAP(VARCHAR, DOUBLE)", "Every other numeric cell of the row by header (quiz, "
                     "assessment, notes, files, percentages).", "", "the CSV row"),
              Column("cells", "MAP(VARCHAR, VARCHAR)", "Every cell of the row as text, by header.", "",
                     "the CSV row", FREE_TEXT),
           *PROVENANCE)),
    Table("tool_events", "One row per record of a tool's JSON log, its times read where each CLIx tool writes "
          "them (see `tool_family`).",
          "`gstudio/gstudio_tools_logs/<tool>/<user id>-<tool>.json`", ("source_name", "record_index", "record_sha256"),
          (*USER_KEYS,
              Column("tool", "VARCHAR", "Tool folder name (gStudio's appName).", "", "folder `<tool>/`"),
              Column("tool_family", "VARCHAR", "The tool as the research team names it (the file name's part after "
                     "`<user id>-` up to its first `-`, lower case: `ice`, `policesquad`, `food_sharing_tool`, ...), "
                     "which says where its times are: ice, astroamer_moon_track and astroamer_planet_trek_activity "
                     "in appData.tool_startTime/tool_endTime; rationpatterns in appData.gameOverallStartTime/EndTime "
                     "(JavaScript's 0-based month, corrected); policesquad a TimeSpentStage; the others "
                     "created_at only.", "", "file name"),
              Column("app_name", "VARCHAR", "appName/app_name of the record.", "", "record appName"),
              Column("language", "VARCHAR", "Language of the tool's interface, when given.", "",
                     "record language, appData.language, params.language"),
              Column("session_id", "VARCHAR", "Tool session of the record, when it has one (some tools log the Django "
                     "session key).", "", "record sessionId/session_id/sessionid", PSEUDONYMISED),
              Column("event_type", "VARCHAR", "Kind of event, when given (top level, else appData's or params').",
                     "", "record event_type/eventType, appData.eventType"),
              Column("event_at", "TIMESTAMPTZ", "When the record was written.", IST,
                     "record created_at/createdAt, else appData.createdAt"),
              Column("started_at", "TIMESTAMPTZ", "Start of the tool session, where the tool logs one.", IST,
                     "appData.tool_startTime, appData.gameOverallStartTime"),
              Column("ended_at", "TIMESTAMPTZ", "End of the tool session, where the tool logs one.", IST,
                     "appData.tool_endTime, appData.gameOverallEndTime"),
              Column("seconds", "DOUBLE", "ended_at - started_at, when both are there and in order.", "seconds",
                     "computed"),
              Column("time_spent_seconds", "DOUBLE", "Time the tool itself counted (policesquad's TimeSpentStage, "
                     "`H:M:S`; a bare number is hours, as the team's scripts read it).", "seconds",
                     "params.TimeSpentStage"),
              Column("current_mission", "VARCHAR", "policesquad's mission.", "", "params.CurrentMission"),
              Column("logged_by_user_key", "VARCHAR", "user_key of the user id the record itself names (a buddy's "
                     "copy names the logged-in user).", "", "record userId/user_id", PSEUDONYMISED),
              Column("logged_by_user_id", "INTEGER", "The user id the record itself names.", "",
                     "record userId/user_id", DIRECT),
              Column("buddy_keys", "VARCHAR[]", "user_keys of the buddies the record names (besides its own user).",
                     "", "record buddyIds/buddy_details", PSEUDONYMISED),
              Column("missing_time", "BOOLEAN", "No time anywhere in the record (top level, appData, params, data "
                     "logs).", "", "computed"),
              Column("impossible_time", "BOOLEAN", "A time before 2015, after the collection, or an end before "
                     "its start.", "", "computed"),
              Column("anonymous", "BOOLEAN", "Written for user id 0 (nobody logged in).", "", "file name"),
              Column("source_name", "VARCHAR", "File path below gstudio_tools_logs/ (holds the user id).", "",
                     "file name", DIRECT),
              Column("record_index", "INTEGER", "Position of the record in its file (0-based).", "", "file"),
              Column("record_sha256", "VARCHAR", "sha256 of the record's JSON: a file rewritten after a reinstall "
                     "keeps its old records apart from the new.", "", "computed", PSEUDONYMISED),
              Column("mit_file", "BOOLEAN", "The MIT script reads this file for the user: per tool folder "
                     "`<id>.json`, else the first `<id>-*.json` by name.", "", "computed"),
              Column("mit_at", "TIMESTAMPTZ", "The time the MIT script gives the record: created_at/createdAt at "
                     "the top level as `%Y-%m-%d %H:%M:%S`; NULL where it dates the record 5000 years after its run.",
                     IST, "record created_at/createdAt"),
              Column("mit_label", "VARCHAR", "The name the MIT script shows for the record: appName, else app_name, "
                     "else `Unknown Tool??`.", "", "record appName/app_name"),
              Column("raw", "JSON", "The record exactly as logged.", "", "the JSON record", FREE_TEXT),
           *PROVENANCE)),
    Table("assessment_items", "One row per qbank question (Item): its text, choices and answer key.",
          "`gstudio/db/assessment/Item.bson`", ("item_id",),
          (*SCHOOL_KEYS,
              Column("item_id", "VARCHAR", "Item ObjectId (hex).", "", "Item._id"),
              Column("name", "VARCHAR", "Display name.", "", "Item.displayName.text"),
              Column("genus_type", "VARCHAR", "Kind of question (e.g. `qti-choice-interaction`, "
                     "`qti-extended-text-interaction`).", "", "Item.genusTypeId"),
              Column("question_text", "VARCHAR", "The question as shown (markup removed; English, else Telugu, "
                     "else Hindi, else the first text, as gStudio's assessment report takes it).", "",
                     "Item.question.texts[] or .text"),
              Column("choices", "STRUCT(id VARCHAR, text VARCHAR)[]", "The choices, in stored order.", "",
                     "Item.question.choices[]"),
              Column("answer_choice_ids", "VARCHAR[]", "The choices of the right answer.", "",
                     "Item.answers[] of genus right-answer, choiceIds"),
              Column("bank_ids", "VARCHAR[]", "qbank banks the item is in.", "", "Item.assignedBankIds"),
           *PROVENANCE)),
    Table("assessment_offerings", "One row per assessment offered, with the unit, lesson and activity whose page "
          "embeds it.",
          "`gstudio/db/assessment/AssessmentOffered.bson`; the activity pages' iframe in `Nodes.bson` content",
          ("offered_id",),
          (*SCHOOL_KEYS,
              Column("offered_id", "VARCHAR", "AssessmentOffered ObjectId (hex).", "", "AssessmentOffered._id"),
              Column("name", "VARCHAR", "The offering's display name.", "", "AssessmentOffered.displayName.text"),
              Column("assessment_id", "VARCHAR", "The Assessment offered (hex).", "", "AssessmentOffered.assessmentId"),
              Column("bank_ids", "VARCHAR[]", "qbank banks of the offering.", "", "AssessmentOffered.assignedBankIds"),
              Column("unit_id", "VARCHAR", "The unit whose lesson holds the activity embedding it; NULL when no page "
                     "embeds it.", "", "Nodes: Group collection_set -> lesson collection_set -> activity"),
              Column("unit_name", "VARCHAR", "Unit display name (altnames, else name).", "", "Nodes"),
              Column("lesson_id", "VARCHAR", "The lesson.", "", "Nodes"),
              Column("lesson_name", "VARCHAR", "Lesson name.", "", "Nodes.name"),
              Column("activity_id", "VARCHAR", "The activity page whose iframe names the offering "
                     "(`assessment_offered_id=...`, as gStudio's own assessment report finds it).", "",
                     "Nodes.content"),
              Column("activity_name", "VARCHAR", "Activity display name.", "", "Nodes"),
           *PROVENANCE)),
    Table("assessment_responses", "One row per question attempt in qbank (every attempt, oldest first), with "
          "the context of its assessment: join assessment_items on item_id, assessment_offerings on "
          "assessment_offered_id.",
          "`gstudio/db/assessment/{AssessmentTaken,AssessmentSection}.bson`, "
          "`gstudio/db/assessment_authoring/AssessmentPart.bson` (dlkit JSON records)",
          ("section_id", "question_key", "attempt", "submitted_at"),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Taker, from the taking agent id.", "", "AssessmentTaken.takingAgentId",
                     DIRECT),
              Column("assessment_taken_id", "VARCHAR", "AssessmentTaken ObjectId.", "", "AssessmentTaken._id"),
              Column("assessment_offered_id", "VARCHAR", "Offering taken (hex).", "",
                     "AssessmentTaken.assessmentOfferedId"),
              Column("taken_started_at", "TIMESTAMPTZ", "When the taker started the assessment.",
                     "timestamp with time zone (dlkit stores UTC)", "AssessmentTaken.actualStartTime"),
              Column("taken_completed_at", "TIMESTAMPTZ", "When the taker finished it; NULL if never.",
                     "timestamp with time zone (dlkit stores UTC)", "AssessmentTaken.completionTime"),
              Column("section_id", "VARCHAR", "AssessmentSection ObjectId.", "", "AssessmentSection._id"),
              Column("part_id", "VARCHAR", "The assessment part (section) of the question (hex).", "",
                     "AssessmentSection.assessmentPartId"),
              Column("part_name", "VARCHAR", "The part's display name.", "", "AssessmentPart.displayName.text"),
              Column("question_key", "VARCHAR", "The question's id inside the section.", "",
                     "AssessmentSection.questions[]._id"),
              Column("question_number", "INTEGER", "Position of the question in its section (1-based).", "",
                     "AssessmentSection.questions[]"),
              Column("item_id", "VARCHAR", "The qbank Item answered (hex).", "", "AssessmentSection.questions[].itemId"),
              Column("item_name", "VARCHAR", "Item display name.", "", "Item.displayName.text"),
              Column("attempt", "INTEGER", "1 for the first attempt at the question, 2 for the next, ...", "",
                     "position in questions[].responses (stored newest first)"),
              Column("submitted_at", "TIMESTAMPTZ", "When the answer was submitted.",
                     "timestamp with time zone (dlkit stores UTC)", "responses[].submissionTime"),
              Column("response_kind", "VARCHAR", "choice, text, file or none (cleared).", "", "responses[]"),
              Column("choice_ids", "VARCHAR[]", "Choices picked, for choice questions.", "", "responses[].choiceIds"),
              Column("answer_text", "VARCHAR", "The text typed, for text questions.", "", "responses[].text.text",
                     FREE_TEXT),
              Column("answer", "JSON", "The whole response as stored.", "", "responses[]", FREE_TEXT),
              Column("is_correct", "BOOLEAN", "qbank's verdict; NULL when qbank could not judge.", "",
                     "responses[].isCorrect"),
              Column("cleared", "BOOLEAN", "The attempt cleared or skipped the answer (missingResponse).", "",
                     "responses[].missingResponse"),
           *PROVENANCE)),
    Table("qbank_log_entries", "One row per qbank log entry.", "`gstudio/db/logging/LogEntry.bson`",
          ("log_entry_id",),
          (*USER_KEYS,
              Column("username", "VARCHAR", "Agent of the entry.", "", "LogEntry.agentId", DIRECT),
              Column("log_entry_id", "VARCHAR", "LogEntry ObjectId.", "", "LogEntry._id"),
              Column("logged_at", "TIMESTAMPTZ", "When the entry was written.",
                     "timestamp with time zone (dlkit stores UTC)", "LogEntry.timestamp"),
              Column("priority", "VARCHAR", "Priority type id.", "", "LogEntry.priority"),
              Column("genus_type", "VARCHAR", "Genus type id.", "", "LogEntry.genusTypeId"),
              Column("text", "VARCHAR", "The logged text (often JSON).", "", "LogEntry.text.text", FREE_TEXT),
              Column("raw", "JSON", "The whole entry.", "", "LogEntry", FREE_TEXT),
           *PROVENANCE)),
    Table("server_days", "Days a server was used or on, by its own evidence, each in IST (the stamp's own zone: "
          "Benchmarks and the gStudio container's clock are India's wall clock).",
          "`gstudio/db/gstudio-mongodb/Benchmarks.bson`, `gstudio/system-heartbeat/` and "
          "`gstudio/gstudio-exported-users-analytics-csvs/` file names",
          ("source", "day"),
          (*SCHOOL_KEYS,
              Column("day", "DATE", "Calendar day.", "date (IST)", "Benchmarks.last_update, heartbeat file name"),
              Column("source", "VARCHAR", "benchmarks (pages served: the lab was used), heartbeat (the server's own "
                     "hourly heartbeat: it was on) or export (gStudio's hourly analytics export: it was on). The "
                     "collector's heartbeat (a UTC-stamped file with a JSON twin) and the exports it had gStudio "
                     "write during a collection are its visit, never a day.", "", "computed"),
              Column("events", "INTEGER", "Benchmarks, heartbeat files or export files that day.", "events",
                     "computed"),
              Column("users", "INTEGER", "Distinct Benchmark users that day (0 for heartbeats).", "users",
                     "Benchmarks.user"),
           *PROVENANCE)),
    Table("unplatform_sessions", "One row per session of an unplatform lab PC and collection: the rows of "
          "clix_derive's `sessions.csv` (see clix_derive/unplatform.py for the rules).",
          UNPLATFORM, ("pc", "session_id"),
          (*SCHOOL_KEYS,
              Column("pc", "VARCHAR", "The lab PC (its folder below `unplatform/`, the inventory's clix_pc).", "",
                     "archive path `unplatform/<pc>/`"),
              Column("session_id", "VARCHAR", "web.py session id (or, for log entries no session names, the agent "
                     "they were logged under).", "", "sessions.session_id, user_data sessionId, LogEntry.agentId",
                     PSEUDONYMISED),
              Column("user_type", "VARCHAR", "student, teacher, ... as chosen on the user form.", "",
                     "user_data userType (v1: research_user.user_type)"),
              Column("user_count", "VARCHAR", "Users at the PC as chosen on the form (1, 2, 3, 3+).", "",
                     "user_data userCount (v1: research_user.user_count)"),
              Column("username", "VARCHAR", "Student ids as typed (several, comma-separated, when userCount > 1).",
                     "", "user_data username", DIRECT),
              Column("user_keys", "VARCHAR[]", "A key per student id typed (unplatform_visits.user_key), else the "
                     "session's.", "", "computed: sha256 of (school, typed id)", PSEUDONYMISED),
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
              Column("session_id", "VARCHAR", "Session of the visit.", "", "as in unplatform_sessions",
                     PSEUDONYMISED),
              Column("username", "VARCHAR", "One student id typed for the session, else the session id.", "",
                     "user_data username, split at commas", DIRECT),
              Column("user_key", "VARCHAR", "Key of that student id at this school (the same typed id on any of "
                     "the school's PCs, any year), else of the session.", "",
                     "computed: sha256 of (school, typed id)", PSEUDONYMISED),
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
              Column("source_file", "VARCHAR", "File, relative to the archive root (a name may hold a user id or "
                     "username).", "", "archive path", DIRECT),
              Column("position", "VARCHAR", "Where in the file (record index, line).", "", "computed"),
              Column("reason", "VARCHAR", "Why it was rejected (may quote the data).", "", "computed", FREE_TEXT),
              Column("raw", "VARCHAR", "The start of the record as text (at most 2000 characters).", "", "source",
                     FREE_TEXT),
           *PROVENANCE)),
)

BY_NAME = {t.name: t for t in TABLES}

# One row per collection the build saw (and per folder it left out), rewritten by every run.
BUILD_STATUS = Table(
    "build_status", "One row per collection of the archive and per folder the dataset leaves out: what the last "
    "run did with it. A failed school keeps the rows of its last good build.",
    "the run itself", (),
    (Column("school", "VARCHAR", "School folder `<school code>-<server id>`.", "", "archive path"),
     Column("collection", "VARCHAR", "`<YYYY>/<state>/<folder>` (quarantine/ or a history/ folder for what is "
            "left out).", "", "archive path"),
     Column("fingerprint", "VARCHAR", "sha256 of the collection's MANIFEST.json, its recomputed progress files and "
            "the dataset code's version: a change rebuilds the collection.", "", "computed"),
     Column("built_at", "TIMESTAMPTZ", "When the collection's rows were last written.", "timestamp with time zone",
            "the run"),
     Column("status", "VARCHAR", "built (its rows are those read at built_at), failed (the rows of its last good "
            "build kept, if any) or left out.", "", "the run"),
     Column("reason", "VARCHAR", "Why it failed or is left out.", "", "the run")))

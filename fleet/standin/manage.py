#!/usr/bin/env python
"""STAND-IN for gStudio's gnowsys-ndf/manage.py on the test fleet (not gStudio).

Answers the commands clix-collect runs in a school's gStudio container by running clix-derive
against the school's live databases: `export_users_analytics`, `activity_timestamp <username>`
and `shell` fed `execfile('.../get_all_users_activity_timestamp_csvs.py')`.
"""
import os
import sys

sys.path.insert(0, "/opt/clix-derive")
from clix_derive.__main__ import main

HERE = os.path.dirname(os.path.abspath(__file__))
LIVE = ["live", "--settings", os.path.join(HERE, "gnowsys_ndf", "server_settings.py"),
        "--mongo", os.environ.get("CLIX_MONGO_URI", "mongodb://127.0.0.1:27017/?directConnection=true"),
        "--out", "/data"]
if os.environ.get("CLIX_STANDIN_NOW"):  # tests pin the minute in file names
    LIVE += ["--now", os.environ["CLIX_STANDIN_NOW"]]


def run(argv: list) -> int:
    if os.environ.get("CLIX_STANDIN_SLEEP"):  # tests make a command overrun its timeout
        import time
        time.sleep(float(os.environ["CLIX_STANDIN_SLEEP"]))
    command = argv[1:2]
    if command == ["export_users_analytics"]:
        return main([*LIVE, "--only", "progress"])
    if command == ["activity_timestamp"] and len(argv) == 3:
        return main([*LIVE, "--only", "activity", "--users", argv[2]])
    if command == ["shell"]:
        script = sys.stdin.read()
        if "get_all_users_activity_timestamp_csvs" in script:
            return main([*LIVE, "--only", "activity"])
        print("stand-in shell: only get_all_users_activity_timestamp_csvs.py is known", file=sys.stderr)
        return 1
    if command == ["mit_activity_data"]:  # what the stand-in MIT script calls
        return main([*LIVE, "--only", "mit"])
    print("stand-in manage.py: unknown command %r" % argv[1:], file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(run(sys.argv))

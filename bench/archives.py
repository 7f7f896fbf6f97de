"""Synthetic archives for the catalogue's tests and benchmark: manifests only (no data), shaped like
the ones clix_manifest writes."""

from __future__ import annotations

import json
import os
import random

from ansible.module_utils import clix_identity
from ansible.module_utils.clix_layout import MANIFEST

STATES = tuple(clix_identity.STATES)
ITEMS = [("db", "gstudio/db"), ("media", "gstudio/media"), ("rcs-repo", "gstudio/rcs-repo"),
         ("postgres-dump", "gstudio/postgres-dump"), ("system-heartbeat", "gstudio/system-heartbeat"),
         ("gstudio-logs", "gstudio/gstudio-logs"), ("nginx-logs", "gstudio/nginx-logs"),
         ("local_settings.py", "gstudio/local_settings.py"), ("server_settings.py", "gstudio/server_settings.py"),
         ("git-commit.log", "gstudio/git-commit.log"), ("unplatform", "unplatform")]


def school_folders(schools: int) -> list:
    """(state, folder) of `schools` schools spread over the four states."""
    out = []
    for n in range(schools):
        state = STATES[n % len(STATES)]
        number = n // len(STATES) + 1
        out.append((state, "%07d-%s%d" % (2031000 + n, state, number)))
    return out


def manifest(state: str, folder: str, year: int, rng: random.Random, files_per_school: int, shrink: bool) -> dict:
    when = "%d-%02d-%02dT10:00:00" % (year, rng.randint(1, 12), rng.randint(1, 28))
    items, files = {}, {}
    for name, _ in ITEMS:
        status = rng.choices(["ok", "failed", "absent"], [90, 5, 5])[0] if name != "unplatform" else "absent"
        items[name] = dict(status=status, collected_at=when, reason=None if status == "ok" else "simulated " + status,
                           bytes_received=0, total_bytes=0, seconds=1.0, source="/home/core/data/" + name)
    items["db"]["counts"] = dict(documents=rng.randint(1000, 500000))
    items["postgres-dump"]["counts"] = dict(users=rng.randint(10, 400))
    # the same files every year, a few more each year; a school that shrinks lost a third of them
    school_rng = random.Random(folder)
    sizes = [school_rng.getrandbits(22) for _ in range(files_per_school + 5 * (year % 100))]
    if shrink:
        sizes = sizes[: len(sizes) * 2 // 3]
    salt = school_rng.getrandbits(64)
    for i, size in enumerate(sizes):
        rel = "%s/f%05d.bin" % (ITEMS[i % 7][1], i)
        files[rel] = dict(size=size, sha256="%048x%016x" % (salt, i), mtime_ns=1700000000000000000 + i, inode=1000 + i)
    return dict(format=1, school=dict(state=state, server_id=folder.split("-")[1], school_code=folder.split("-")[0],
                                      school_name="SCHOOL %s" % folder), run=dict(started=when, ended=when),
                top_folders=["gstudio", "unplatform"], items=items, last_complete=when, files=files,
                totals=dict(files=len(files), bytes=sum(f["size"] for f in files.values())),
                heartbeat=dict(captured_at=when, uptime_seconds=rng.randint(60, 10**7), load=[0.5, 0.4, 0.3],
                               worst_disk_percent=rng.randint(10, 99), clock_skew_seconds=rng.randint(-5, 400)))


def generate_archive(root: str, schools: int = 700, years: int = 5, files_per_school: int = 100,
                     first_year: int = 2019, seed: int = 14) -> int:
    """Write the manifests of `schools` schools x `years` years below root (a few schools missing in
    some years); returns the number of manifests written."""
    rng = random.Random(seed)
    written = 0
    for year in range(first_year, first_year + years):
        for state, folder in school_folders(schools):
            if rng.random() < 0.02:
                continue  # not collected that year
            path = os.path.join(root, str(year), state, folder)
            os.makedirs(path, mode=0o700, exist_ok=True)
            with open(os.path.join(path, MANIFEST), "w") as f:
                f.write(json.dumps(manifest(state, folder, year, rng, files_per_school, rng.random() < 0.01)))
            written += 1
    return written


def dataset_archive(root: str, schools: int = 300, year: int = 2025, seed: int = 22) -> list[str]:
    """Collected school folders for the research dataset's benchmark, without a fleet: each school's
    records from fleet/data.py (small schools: users, Benchmarks, Buddies, Counters, qbank, tool logs)
    written as a collection leaves them (BSON dumps, the pg_dumpall text, settings, a manifest).
    Returns the school folders, relative to root."""
    import bson

    from fleet.data import BASE_TIME, SchoolData, tool_records

    written = []
    for state, folder in school_folders(schools):
        code, server_id = folder.split("-")
        data = SchoolData(seed, server_id, code, "School %s" % folder, False)
        top = os.path.join(root, str(year), state, folder)
        g = os.path.join(top, "gstudio")
        benchmarks, buddies = [], []
        for events, buddy in data.sessions():
            benchmarks += events
            if buddy:
                buddies.append(buddy)
        dumps = {("gstudio-mongodb", "Nodes"): data.nodes, ("gstudio-mongodb", "Triples"): data.triples(),
                 ("gstudio-mongodb", "Counters"): data.counters(), ("gstudio-mongodb", "Benchmarks"): benchmarks,
                 ("gstudio-mongodb", "Buddies"): buddies}
        for db, collections in data.qbank_records().items():
            for collection, docs in collections.items():
                dumps[(db, collection)] = docs
        for (db, collection), docs in dumps.items():
            os.makedirs(os.path.join(g, "db", db), exist_ok=True)
            with open(os.path.join(g, "db", db, collection + ".bson"), "wb") as f:
                f.write(b"".join(bson.encode(d) for d in docs))
        os.makedirs(os.path.join(g, "postgres-dump"))
        with open(os.path.join(g, "postgres-dump", "pg_dump_all.sql"), "w") as f:
            f.write("COPY public.auth_user (id, password, last_login, is_superuser, username, first_name, last_name, "
                    "email, is_staff, is_active, date_joined) FROM stdin;\n")
            for row in data.django_users():
                f.write("\t".join(v.strftime("%Y-%m-%d %H:%M:%S+05:30") if hasattr(v, "strftime") else
                                  ("t" if v else "f") if isinstance(v, bool) else str(v) for v in row) + "\n")
            f.write("\\.\n")
        with open(os.path.join(g, "server_settings.py"), "w") as f:
            f.write("GSTUDIO_INSTITUTE_ID = '%s'\nGSTUDIO_INSTITUTE_ID_SECONDARY = '%s'\n"
                    "GSTUDIO_INSTITUTE_NAME = 'School %s'\n" % (server_id, code, folder))
        for n, uid in enumerate(data.user_ids[:5]):
            app = ("policesquad", "Ice-cubes-in-lemonade", "Food_sharing_tool", "coins_puzzle")[n % 4]
            os.makedirs(os.path.join(g, "gstudio_tools_logs", app), exist_ok=True)
            with open(os.path.join(g, "gstudio_tools_logs", app, "%d-%s.json" % (uid, app)), "w") as f:
                f.write(json.dumps(tool_records(app, uid, data.user_ids[-1])))
        os.makedirs(os.path.join(g, "system-heartbeat"))
        open(os.path.join(g, "system-heartbeat", "system-heartbeat-20180603-010101.log"), "w").close()
        when = "%d-11-01T10:00:00+00:00" % year
        with open(os.path.join(top, MANIFEST), "w") as f:
            f.write(json.dumps(dict(format=1, school=dict(state=state, server_id=server_id, school_code=code,
                                                          school_name="School %s" % folder),
                                    run=dict(started=when, ended=when), last_complete=when,
                                    items=dict(db=dict(status="ok", collected_at=when)),
                                    totals=dict(files=len(dumps), bytes=0), base=str(BASE_TIME))))
        written.append(os.path.relpath(top, root))
    return written

"""STAND-IN for the unplatform app on a fleet lab PC (test bed only). It is NOT unplatform.

It does to an install's files what the running app does, so that a collection meets them as it
would on a lab PC in use:
- appends a session to `unplatform.sqlite3` every tick, in WAL mode with automatic checkpoints off
  and one checkpoint every CHECKPOINT_TICKS (the newest sessions live only in `-wal`);
- writes the session's `user_data/<sessionId>.json` and a LogEntry for it;
- rewrites existing datastore JSON files IN PLACE, not atomically, as dlkit's json_ adapter does:
  truncate, write the first half, pause, write the rest (a reader in between sees a torn file);
- listens on 8080 (qbank-lite) and 8888 (unplatform's UI) and answers HTTP GET (the real ones
  speak HTTPS; a plain answer is enough for "is the app up").

    python3 unplatform_writer.py --root /opt/clix [--interval 0.5] [--tear 0.05] [--torn-files 0 --whole 1.5] [--idle]

--torn-files N (tests that must meet a torn file for certain): N more AssessmentSection files (the
first by name, left out of the ticks' rewrites) are rewritten on a fixed clock, each torn for --tear
seconds then whole for --whole seconds, their clocks a 1/N cycle apart: with tear >= whole/(N-1)
at least one of them is torn at every moment, and each is whole once a cycle. The settings may come
from the environment (CLIX_STANDIN_TEAR, CLIX_STANDIN_WHOLE, CLIX_STANDIN_TORN_FILES, CLIX_STANDIN_IDLE),
as the fleet starts the stand-in without arguments. --idle: the app open with nobody using it - it
answers and holds its sessions database open (as unplatform's main.py does), and writes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import clix_imports

clix_imports.use()  # the shared code: ansible.module_utils.clix_* (clix_imports.py), without Ansible here
from ansible.module_utils import clix_unplatform as U  # noqa: E402

from fleet import unplatform as gen  # noqa: E402

CHECKPOINT_TICKS = 100
FIRST_TICK = int(time.time() * 1000)  # a tick takes well over a millisecond: a restart's first tick is above the last
PORTS = {8080: "qbank-lite (stand-in)", 8888: "unplatform (stand-in)"}
# For tests that must meet a torn file: 3 files, each torn 1 s of every 2.5 s, 0.83 s apart - one is
# torn at every moment, each whole 1.5 s a cycle (longer than the pull's pause between two tries).
TORN_IN_TURNS = {"CLIX_STANDIN_TORN_FILES": "3", "CLIX_STANDIN_TEAR": "1.0", "CLIX_STANDIN_WHOLE": "1.5"}


def serve(port: int, name: str) -> None:
    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"{name}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def rewrite_in_place(path: Path, doc: dict, tear: float) -> None:
    """dlkit's way: open the same file, truncate, write; here in two steps with a pause between."""
    data = json.dumps(doc, ensure_ascii=False).encode()
    half = len(data) // 2
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data[:half])
        f.flush()
        time.sleep(tear)
        f.write(data[half:])


def add_response(doc: dict, when: dt.datetime, n: int) -> dict:
    """A newer version of an AssessmentSection: a response first in its first question, with the tick
    (counted from the stand-in's start in milliseconds, so a later version holds a higher tick even
    across restarts of the stand-in)."""
    doc.setdefault("questions", [{}])[0].setdefault("responses", []).insert(
        0, {"choiceIds": [], "submissionTime": gen.datetime_dict(when), "isCorrect": False, "writerTick": FIRST_TICK + n})
    return doc


def writer_tick(doc) -> int:
    """The tick add_response put first in an AssessmentSection's responses: a later version of a
    file holds a higher tick (-1: never rewritten by the stand-in)."""
    try:
        return doc["questions"][0]["responses"][0].get("writerTick", -1)
    except (KeyError, IndexError, TypeError, AttributeError):
        return -1


def sections(root: Path) -> list[Path]:
    return sorted((root / U.V2_DATASTORE / "assessment/AssessmentSection").glob("*.json"))


def keep_tearing(path: Path, phase: float, tear: float, whole: float, stop: threading.Event) -> None:
    """Rewrite path on a fixed clock (a cycle of tear + whole seconds, starting phase seconds from now),
    so that its torn spans keep their places beside the other torn files'; a rewrite that has begun
    is finished before stop is honoured (the file is never left torn)."""
    cycle, n = tear + whole, 0
    start = time.monotonic() + phase
    doc = json.loads(path.read_text(encoding="utf-8"))
    while not stop.wait(max(0.0, start + n * cycle - time.monotonic())):
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
        rewrite_in_place(path, add_response(doc, now, n), tear)
        n += 1


def tick(n: int, root: Path, db: sqlite3.Connection, rng: random.Random, tear: float, skip: int = 0) -> None:
    datastore = root / U.V2_DATASTORE
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)  # naive UTC, as dlkit and SQLite keep it
    logs = sorted((datastore / "logging/Log").glob("*.json"))
    sid = rng.randbytes(20).hex()
    user = rng.choice(gen.USERS)
    db.execute("INSERT INTO sessions VALUES (?, ?, ?)", gen.session_row(sid, now, user))
    db.commit()
    gen.write_json(root / U.V2_USER_DATA / f"{sid}.json",
                   {"userType": "student", "userCount": 1, "username": user, "sessionId": sid,
                    "timestamp": now.isoformat()})
    entry = gen.log_entry(rng, sid, now, gen.event(rng),
                          logs[0].stem if logs else "default")
    gen.write_json(datastore / "logging/LogEntry" / f"{entry['_id']}.json", entry)
    mine = sections(root)[skip:]
    if mine:
        path = mine[n % len(mine)]
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return  # torn by an earlier tick that was killed: the next rewrite of another file goes on
        rewrite_in_place(path, add_response(doc, now, n), tear)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path("/opt/clix"))
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--tear", type=float, default=float(os.environ.get("CLIX_STANDIN_TEAR", 0.05)),
                   help="seconds a rewritten file stays torn")
    p.add_argument("--torn-files", type=int, default=int(os.environ.get("CLIX_STANDIN_TORN_FILES", 0)),
                   help="files rewritten on a fixed clock, torn in turns (0: none)")
    p.add_argument("--whole", type=float, default=float(os.environ.get("CLIX_STANDIN_WHOLE", 1.5)),
                   help="seconds each of the --torn-files stays whole between two rewrites")
    p.add_argument("--idle", action="store_true", default=os.environ.get("CLIX_STANDIN_IDLE") == "1",
                   help="answer and hold the database open, write nothing")
    args = p.parse_args(argv)
    for port, name in PORTS.items():
        serve(port, name)
    db = sqlite3.connect(args.root / U.V2_SESSIONS_DB)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.idle:
        while not stop.wait(0.5):
            pass
        db.close()
        return 0
    cycle = args.tear + args.whole
    tearing = [threading.Thread(target=keep_tearing, args=(path, i * cycle / args.torn_files, args.tear, args.whole, stop))
               for i, path in enumerate(sections(args.root)[:args.torn_files])]
    for thread in tearing:
        thread.start()
    rng, n = random.Random(), 0
    while not stop.is_set():
        tick(n, args.root, db, rng, args.tear, args.torn_files)
        n += 1
        if n % CHECKPOINT_TICKS == 0:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        stop.wait(args.interval)
    for thread in tearing:
        thread.join()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

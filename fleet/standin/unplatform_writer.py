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

    python3 unplatform_writer.py --root /opt/clix [--interval 0.5] [--tear 0.05]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import signal
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fleet import unplatform as gen
from module_utils import clix_unplatform as U

CHECKPOINT_TICKS = 100
PORTS = {8080: "qbank-lite (stand-in)", 8888: "unplatform (stand-in)"}


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


def tick(n: int, root: Path, db: sqlite3.Connection, rng: random.Random, tear: float) -> None:
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
    sections = sorted((datastore / "assessment/AssessmentSection").glob("*.json"))
    if sections:
        path = sections[n % len(sections)]
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return  # torn by an earlier tick that was killed: the next rewrite of another file goes on
        doc.setdefault("questions", [{}])[0].setdefault("responses", []).insert(
            0, {"choiceIds": [], "submissionTime": gen.datetime_dict(now), "isCorrect": False, "writerTick": n})
        rewrite_in_place(path, doc, tear)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path("/opt/clix"))
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--tear", type=float, default=0.05, help="seconds a rewritten file stays torn")
    args = p.parse_args(argv)
    for port, name in PORTS.items():
        serve(port, name)
    db = sqlite3.connect(args.root / U.V2_SESSIONS_DB)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rng, n = random.Random(), 0
    while not stop.is_set():
        tick(n, args.root, db, rng, args.tear)
        n += 1
        if n % CHECKPOINT_TICKS == 0:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        stop.wait(args.interval)
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

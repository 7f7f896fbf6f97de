"""USB fixtures: a small unplatform v2 install, and its extraction made the way the field team's
DataExtractionScript.bat (CLIxIndia-Dev/unplatform_v2, scripts/data_extraction/) makes it:

- the folder `<%~p0 without backslashes>-QBank-<stamp>`, the stamp cut from %DATE% and %TIME% as
  `YYYY-MM-DD-HH-MM-SS` with the hour space-padded before 10:00 (`2018-03-02- 9-05-33`);
- files copied with `copy <folder> <folder>` (only the files directly in a folder, their times kept)
  from webapps/CLIx/datastore/{assessment,logging,repository}, their AssessmentSection,
  AssessmentTaken, Log, LogEntry, Asset and studentResponseFiles (into repository/AssetContent),
  webapps/unplatform/{configuration,user_data} and unplatform.sqlite3 (into unplatform/sessions/);
- zipped by zipjs.bat (Windows Explorer's compressed folders, Shell.Application CopyHere): the folder
  is the zip's one top entry, every folder has its entry, names are ASCII with '/', MS-DOS attributes
  and the files' local modification times, deflated;
- md5.exe (Fourmilab MD5 2.2) `-o<name>checksum.txt <name>.zip`: upper-case hex, two spaces, the zip's
  name as given, CRLF.
The install's times are its files' mtimes; the zip stores them as they are (read as UTC by ingest).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import warnings
import zipfile
from pathlib import Path

WINDOWS_INSTALL = "\\Users\\student\\AppData\\Local\\CLIx\\CLIx\\"
DATASTORE = "webapps/CLIx/datastore"
# (folder in the install, folder in the extraction), in the script's order.
COPIES = (
    (DATASTORE + "/assessment", "assessment"),
    (DATASTORE + "/assessment/AssessmentSection", "assessment/AssessmentSection"),
    (DATASTORE + "/assessment/AssessmentTaken", "assessment/AssessmentTaken"),
    (DATASTORE + "/logging", "logging"),
    (DATASTORE + "/logging/Log", "logging/Log"),
    (DATASTORE + "/logging/LogEntry", "logging/LogEntry"),
    (DATASTORE + "/repository", "repository"),
    (DATASTORE + "/repository/Asset", "repository/Asset"),
    (DATASTORE + "/studentResponseFiles", "repository/AssetContent"),
    ("webapps/unplatform/configuration", "unplatform/configuration"),
    ("webapps/unplatform/user_data", "unplatform/user_data"),
)
FOLDERS = ("assessment", "assessment/AssessmentSection", "assessment/AssessmentTaken", "logging", "logging/Log",
           "logging/LogEntry", "repository", "repository/Asset", "repository/AssetContent", "unplatform",
           "unplatform/configuration", "unplatform/sessions", "unplatform/user_data")


def write(path: Path, data: bytes, when: dt.datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = when.replace(tzinfo=dt.timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))


def make_install(root: Path, when: dt.datetime, sessions: dict, logs: dict, config: dict | None,
                 users: dict | None = None) -> Path:
    """A v2 install at root: sessions {id: atime}, logs {LogEntry id: text}, user_data per session
    (unicode usernames), a response with an audio upload, shipped content the script does not copy."""
    db = root / "unplatform.sqlite3"
    root.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE IF NOT EXISTS sessions (session_id char(128) UNIQUE NOT NULL, atime timestamp NOT NULL "
                "DEFAULT current_timestamp, data text)")
    for sid, atime in sessions.items():
        con.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", (sid, atime, "data-%s" % sid))
    con.commit()
    con.close()
    stamp = when.replace(tzinfo=dt.timezone.utc).timestamp()
    os.utime(db, (stamp, stamp))
    ds = root / DATASTORE
    for oid, text in logs.items():
        doc = {"_id": oid, "text": {"text": text}, "timestamp": {"year": when.year}, "agentId": "osid.agent.Agent%3As1%40MIT-ODL"}
        write(ds / "logging/LogEntry" / (oid + ".json"), json.dumps(doc).encode(), when)
    write(ds / "logging/Log/log1.json", json.dumps({"_id": "log1", "displayName": {"text": "CLIx"}}).encode(), when)
    write(ds / "assessment/AssessmentTaken/taken1.json", json.dumps({"_id": "taken1", "score": 1}).encode(), when)
    write(ds / "assessment/AssessmentSection/sec1.json",
          json.dumps({"_id": "sec1", "questions": [{"responses": [{"fileIds": {"a": "audio1"}}]}]}).encode(), when)
    write(ds / "assessment/Item/item1.json", json.dumps({"_id": "item1"}).encode(), when)
    write(ds / "repository/Asset/asset1.json", json.dumps({"_id": "asset1", "genusTypeId": "student-submission"}).encode(), when)
    write(ds / "studentResponseFiles/audio1.mp3", b"ID3\x03" + bytes(range(256)) * 8, when)
    write(ds / "repository/AssetContent/shipped-video.mp4", b"\x00" * 4096, when)
    for sid, name in (users or {}).items():
        write(root / "webapps/unplatform/user_data" / (sid + ".json"),
              json.dumps({"userType": "student", "userCount": 2, "username": name, "sessionId": sid}).encode(), when)
    if config is not None:
        write(root / "webapps/unplatform/configuration/config.json", json.dumps(config).encode(), when)
    return root


def script_name(when: dt.datetime, install: str = WINDOWS_INSTALL, copy: int = 0) -> str:
    """%Dirname%: %~p0 without backslashes, -QBank-, the stamp as %DATE%/%TIME% give it (hour space-padded)."""
    stamp = "%04d-%02d-%02d-%2d-%02d-%02d" % (when.year, when.month, when.day, when.hour, when.minute, when.second)
    return "%s-QBank-%s%s" % (install.replace("\\", ""), stamp, " (%d)" % copy if copy else "")


def dos_info(name: str, when: tuple, folder: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when)
    info.create_system = 0  # MS-DOS, as Windows writes it
    info.external_attr = 0x10 if folder else 0x20
    info.compress_type = zipfile.ZIP_STORED if folder else zipfile.ZIP_DEFLATED
    return info


def extract_like_script(install: Path, out: Path, when: dt.datetime, install_path: str = WINDOWS_INSTALL,
                        copy: int = 0) -> Path:
    """The script's zip of install, with its checksum file, in out; returns the zip."""
    name = script_name(when, install_path, copy)
    files = []
    for src, dest in COPIES:
        folder = install / src
        for f in sorted(folder.iterdir()) if folder.is_dir() else []:
            if f.is_file():
                files.append((dest + "/" + f.name, f))
    if (install / "unplatform.sqlite3").is_file():
        files.append(("unplatform/sessions/unplatform.sqlite3", install / "unplatform.sqlite3"))
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / (name + ".zip")
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr(dos_info(name + "/", when.timetuple()[:6], True), b"")
        for folder in FOLDERS:
            z.writestr(dos_info("%s/%s/" % (name, folder), when.timetuple()[:6], True), b"")
        for rel, f in files:
            mtime = dt.datetime.fromtimestamp(f.stat().st_mtime, dt.timezone.utc)
            z.writestr(dos_info("%s/%s" % (name, rel), mtime.timetuple()[:6], False), f.read_bytes())
    write_checksum(zip_path)
    return zip_path


def write_checksum(zip_path: Path, md5: str | None = None) -> Path:
    digest = md5 or hashlib.md5(zip_path.read_bytes()).hexdigest().upper()
    path = zip_path.with_name(zip_path.name[:-len(".zip")] + "checksum.txt")
    path.write_bytes(("%s  %s\r\n" % (digest, zip_path.name)).encode("ascii"))
    return path


def mismatched(zip_path: Path) -> Path:
    """The zip with one byte of a file's data flipped after its checksum was written (a bad USB copy)."""
    data = bytearray(zip_path.read_bytes())
    data[len(data) // 3] ^= 0x01
    zip_path.write_bytes(bytes(data))
    return zip_path


def truncated(zip_path: Path) -> Path:
    """The zip cut short (an unplugged stick), with a checksum file that matches what is there."""
    zip_path.write_bytes(zip_path.read_bytes()[: zip_path.stat().st_size * 2 // 3])
    write_checksum(zip_path)
    return zip_path


def patch_entry(zip_path: Path, name_end: str, edit) -> None:
    """edit(data, central, local) the bytes of the zip at the central directory record (central) and local
    header (local) offsets of the entry whose name ends with name_end."""
    data = bytearray(zip_path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    pos = int.from_bytes(data[eocd + 16:eocd + 20], "little")
    while data[pos:pos + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = (int.from_bytes(data[pos + o:pos + o + 2], "little") for o in (28, 30, 32))
        if data[pos + 46:pos + 46 + name_len].decode("utf-8", "replace").endswith(name_end):
            edit(data, pos, int.from_bytes(data[pos + 42:pos + 46], "little"))
        pos += 46 + name_len + extra_len + comment_len
    zip_path.write_bytes(bytes(data))


def set_flag(zip_path: Path, name_end: str, bit: int) -> None:
    """Set a general purpose flag bit of the entry whose name ends with name_end, in its local header and
    its central directory record."""
    def edit(data: bytearray, central: int, local: int) -> None:
        for at in (central + 8, local + 6):
            data[at] |= bit
    patch_entry(zip_path, name_end, edit)


def set_field(zip_path: Path, name_end: str, central_at: int, local_at: int, value: int) -> None:
    """Set a two-byte field of an entry (its compression method: 10 and 8; its MS-DOS date: 14 and 12)."""
    def edit(data: bytearray, central: int, local: int) -> None:
        for at in (central + central_at, local + local_at):
            data[at:at + 2] = value.to_bytes(2, "little")
    patch_entry(zip_path, name_end, edit)


def unix_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2026, 3, 2, 10, 5, 33))
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def hostile_zips(out: Path, when: dt.datetime, config: dict) -> dict:
    """{case: zip path}: one zip per hostile case, each otherwise a valid extraction of config's PC, each
    with a correct checksum file (so only the hostile entry can refuse it)."""
    cases = {}
    good = json.dumps(config).encode()

    def make(case: str, add, copy: int) -> None:
        name = script_name(when, copy=copy)
        zip_path = out / case / (name + ".zip")
        zip_path.parent.mkdir(parents=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("%s/unplatform/configuration/config.json" % name, good)
            add(z, name)
        cases[case] = zip_path

    make("dotdot", lambda z, n: z.writestr("%s/logging/LogEntry/../../../../../escaped.json" % n, b"{}"), 2)
    make("absolute", lambda z, n: z.writestr("/tmp/clix-ingest-escaped.json", b"{}"), 3)
    make("backslash", lambda z, n: z.writestr("%s\\..\\..\\escaped.json" % n, b"{}"), 4)
    make("drive", lambda z, n: z.writestr("C:/escaped.json", b"{}"), 5)
    make("symlink", lambda z, n: z.writestr(unix_info("%s/logging/LogEntry/link.json" % n, stat.S_IFLNK | 0o777),
                                            b"/etc/passwd"), 6)
    make("device", lambda z, n: z.writestr(unix_info("%s/logging/LogEntry/dev.json" % n, stat.S_IFCHR | 0o666), b""), 7)

    def duplicate(z, n):
        z.writestr("%s/logging/LogEntry/a.json" % n, b"{}")
        with warnings.catch_warnings():  # the duplicate is the point: zipfile's warning is not news
            warnings.simplefilter("ignore", UserWarning)
            z.writestr("%s/logging/LogEntry/a.json" % n, b'{"second": 1}')
    make("duplicate", duplicate, 8)

    make("encrypted", lambda z, n: z.writestr("%s/logging/LogEntry/e.json" % n, b"{}"), 9)
    set_flag(cases["encrypted"], "logging/LogEntry/e.json", 0x1)  # zipfile writes no encrypted entry itself

    def bomb(z, n):
        z.writestr("%s/logging/LogEntry/bomb.json" % n, b"[" + b" " * (64 << 20) + b"]")
    make("bomb", bomb, 10)
    make("bad-utf8", lambda z, n: z.writestr("%s/logging/LogEntry/\u00e9\u00e9.json" % n, b"{}"), 11)
    path = cases["bad-utf8"]
    path.write_bytes(path.read_bytes().replace("\u00e9\u00e9".encode(), b"\xff\xfe\xff\xfe"))
    for zip_path in cases.values():
        write_checksum(zip_path)
    return cases


# -- a hostile stick ---------------------------------------------------------------------------------

# A terminal's clear-screen and red, a right-to-left override, a C1 control sequence introducer.
ESCAPES = {"ansi": "\x1b[2J\x1b[31m", "bidi": "\u202e", "c1": "\x9b31m"}
DEEP_FOLDERS = 1200


def sqlite_statements(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


def hostile_stick(stick: Path, work: Path, when: dt.datetime, ours: dict, victim: dict) -> dict[str, Path]:
    """{case: source} of a stick whose extractions are of our school (config ours: its pc01; pc02 the same
    with terminalId pc02) but for its attacks on another school's PC (config victim). Each case is a source
    of its own; 'good' and 'good-folder' are honest and must be ingested whatever else the stick holds.
    work: a folder beside the stick (installs made there; 'outside' is reached only through a link)."""
    pc02 = dict(ours, terminalId="pc02")
    later = when + dt.timedelta(days=30)
    cases: dict[str, Path] = {}

    def install(name: str, config: dict, sessions: dict | None = None, logs: dict | None = None,
                at: dt.datetime = when) -> Path:
        return make_install(work / name, at, sessions or {f"{name}-s1": "2025-03-02 09:00:00"},
                            logs or {f"{name}-le1": '{"action": "start"}'}, config)

    def zipped(case: str, root: Path, at: dt.datetime = when) -> Path:
        cases[case] = extract_like_script(root, stick / case, at)
        return cases[case]

    def rechecked(zip_path: Path) -> Path:
        write_checksum(zip_path)
        return zip_path

    # honest: a zip of pc01, and pc02's install folder copied while the app held its WAL
    zipped("good", install("good", ours, {"g1": "2025-03-02 09:00:00", "g2": "2025-03-02 09:10:00"}))
    folder = stick / "good-folder" / "CLIx"
    make_install(folder, when, {"f1": "2025-03-02 09:00:00"}, {"fle1": "{}"}, pc02)
    con = sqlite3.connect(folder / "unplatform.sqlite3")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("INSERT INTO sessions VALUES ('f2-in-wal', '2025-03-02 09:30:00', 'w')")
    con.commit()
    shutil.copyfile(folder / "unplatform.sqlite3-wal", work / "wal")  # the WAL as the app left it
    con.close()
    shutil.copyfile(work / "wal", folder / "unplatform.sqlite3-wal")
    for name in ("unplatform.sqlite3", "unplatform.sqlite3-wal"):
        os.utime(folder / name, (when.replace(tzinfo=dt.timezone.utc).timestamp(),) * 2)  # the PC's times, as copied
    cases["good-folder"] = folder

    # 1: another school's PC, later than its archived extraction, the same sessions and log entries
    victim_install = install("other-school", victim, {"v1": "2025-12-31 23:59:59", "planted": "2025-12-31 23:59:59"},
                             {"vle1": '{"action": "overwritten"}'}, later)
    zipped("other-school", victim_install, later)
    # 2, 11: sessions databases that are not unplatform's: a trigger, an endless sessions view
    trigger = install("trigger", pc02)
    sqlite_statements(trigger / "unplatform.sqlite3",
                      "CREATE TRIGGER wipe AFTER INSERT ON sessions BEGIN DELETE FROM sessions; END")
    zipped("trigger", trigger)
    view = install("view", pc02)
    (view / "unplatform.sqlite3").unlink()
    sqlite_statements(view / "unplatform.sqlite3", "CREATE VIEW sessions AS WITH RECURSIVE n(x) AS (SELECT 1 "
                      "UNION ALL SELECT x + 1 FROM n) SELECT x AS session_id, x AS atime, x AS data FROM n")
    zipped("view", view)
    # 4: odd inputs - a zip date with month 0, deeply nested JSON, an unknown compression method, an
    # encrypted entry, a corrupt LZMA stream, 1,200 nested folders
    month0 = install("month0", ours)
    write(month0 / DATASTORE / "logging/LogEntry/month0.json", b'{"month": 0}', when)
    set_field(rechecked(zipped("month0", month0)), "month0.json", 14, 12, ((2025 - 1980) << 9) | (0 << 5) | 2)
    rechecked(cases["month0"])
    nested = install("nested-json", ours)
    keys = [hashlib.sha256(b"%d" % i).hexdigest()[:16] for i in range(3000)]  # hardly compressible: no zip bomb
    write(nested / DATASTORE / "logging/LogEntry/nested.json",
          "".join('{"%s": ' % k for k in keys).encode() + b"null" + b"}" * len(keys), when)
    zipped("nested-json", nested)
    method = install("method", ours)
    set_field(zipped("method", method), "config.json", 10, 8, 99)
    rechecked(cases["method"])
    encrypted = install("encrypted", ours)
    set_flag(zipped("encrypted", encrypted), "config.json", 0x1)
    rechecked(cases["encrypted"])
    cases["lzma"] = corrupt_lzma(stick / "lzma", install("lzma", ours), when)
    folder = stick / "deep"
    for _ in range(DEEP_FOLDERS):  # os.makedirs recurses once per folder
        folder = folder / "d"
        folder.mkdir(parents=True)
    cases["deep"] = extract_like_script(install("deep", ours, {"deep-s1": "2025-03-02 09:00:00"}), folder, when)
    # 5, 6: a sparse WAL, a JSON file over the limit, a zip bomb of small entries, too many entries
    sparse = stick / "sparse-wal" / "CLIx"
    make_install(sparse, when, {"w1": "2025-03-02 09:00:00"}, {"wle1": "{}"}, pc02)
    with open(sparse / "unplatform.sqlite3-wal", "wb") as f:
        f.truncate(4 << 30)  # 4 GiB that take no room on the stick
    cases["sparse-wal"] = sparse
    big = install("big-json", ours)
    noise = "".join(hashlib.sha256(b"%d" % i).hexdigest() for i in range(2 << 14))  # 2 MiB that hardly compress
    write(big / DATASTORE / "logging/LogEntry/big.json", json.dumps({"text": noise}).encode(), when)
    zipped("big-json", big)
    cases["ratio"] = many_entries(stick / "ratio", when, ours, 400, b"[" + b" " * (900 << 10) + b"]")
    cases["many"] = many_entries(stick / "many", when, ours, 10001, b"")
    # 3: names from the stick that move the terminal's cursor or reorder text
    names = install("names", ours)
    for case, escape in ESCAPES.items():
        write(names / DATASTORE / "logging/LogEntry" / f"{escape}{case}.json", b"{}", when)
    shutil.unpack_archive(zipped("names", names), stick / "names")
    cases["names"].unlink()
    cases["names"].with_name(cases["names"].name[:-4] + "checksum.txt").unlink()
    cases["names"] = next((stick / "names").iterdir())
    cases["escaped-folder"] = make_install(stick / "escaped-folder" / (ESCAPES["ansi"] + "CLIx" + ESCAPES["bidi"]), when,
                                           {"e1": "2025-03-02 09:00:00"}, {"ele1": "{}"}, ours)
    # a link on the stick to a folder outside it, holding an extraction of the victim's PC
    outside = work / "outside"
    extract_like_script(make_install(work / "through-link", later, {"through-link": "2025-12-31 23:59:59"},
                                     {"lle1": "{}"}, victim), outside, later)
    (stick / "link").symlink_to(outside, target_is_directory=True)
    cases["link"] = stick / "link"
    return cases


def corrupt_lzma(out: Path, install: Path, when: dt.datetime) -> Path:
    """The script's zip of install with one LogEntry compressed with LZMA and its stream damaged."""
    zip_path = extract_like_script(install, out, when)
    name = zip_path.name[:-4] + "/logging/LogEntry/lzma.json"
    with zipfile.ZipFile(zip_path, "a") as z:
        z.writestr(dos_info(name, when.timetuple()[:6], False), b'{"a": "' + b"1" * 5000 + b'"}',
                   compress_type=zipfile.ZIP_LZMA)

    def damage(data: bytearray, _central: int, local: int) -> None:
        start = local + 30 + int.from_bytes(data[local + 26:local + 28], "little") + \
            int.from_bytes(data[local + 28:local + 30], "little")
        for i in range(start + 9, start + 40):
            data[i] ^= 0x5A
    patch_entry(zip_path, "lzma.json", damage)
    write_checksum(zip_path)
    return zip_path


def many_entries(out: Path, when: dt.datetime, config: dict, count: int, data: bytes) -> Path:
    """An extraction zip of config's PC holding count LogEntry files of data (deflated)."""
    name = script_name(when)
    out.mkdir(parents=True)
    zip_path = out / (name + ".zip")
    stamp = when.timetuple()[:6]
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr(dos_info(name + "/unplatform/configuration/config.json", stamp, False), json.dumps(config))
        for i in range(count):
            z.writestr(dos_info("%s/logging/LogEntry/%06d.json" % (name, i), stamp, False), data)
    write_checksum(zip_path)
    return zip_path


def remove_deep(folder: Path) -> None:
    """Remove hostile_stick's 'deep' folder: shutil.rmtree recurses once per folder (pytest's clean-up too)."""
    chain = [folder]
    while True:
        subs = [p for p in chain[-1].iterdir() if p.is_dir() and not p.is_symlink()]
        if not subs:
            break
        chain.append(subs[0])
    for path in reversed(chain):
        shutil.rmtree(path)

"""A hostile school server (test bed only): someone with a root shell at the school turned every
piece of data the control node reads into an attack on the control node or on another school.

    python -m fleet up --schools mz=2 --hostile mz1

What a hostile school holds (``arm``), and what each trap tries:

- ``server_settings.py``: GSTUDIO_INSTITUTE_ID climbs out of the quarantine folder into a
  neighbour's folder (``x/../../../<year>/<state>/<neighbour>``); _SECONDARY and _NAME hold Jinja
  (``{{ lookup('pipe', 'touch <canary>/jinja-...') }}``, built without a ``/`` so that it does not
  change the climb), quotes and HTML.
- the gStudio checkout (owned by uid 500, "core", as on real servers): ``.git/config`` sets
  ``diff.external``, ``core.fsmonitor``, ``core.pager`` (+ ``pager.*``), a filter driver and a textconv
  driver, ``.gitattributes`` applies them to every file, and a tracked file is dirty, so that
  ``git status``/``git diff`` run them. Each points at a script that appends a line to
  ``<canary>/git-<kind>``.
- ``data/media/hostile/``: absolute links (to a control-node-only secret, to /etc/hostname), links
  climbing out of the item (``../..``, ``../../nginx-logs/access.log``, ``../../../../../../../../etc/passwd``),
  a link to /dev/zero, a link that stays inside the item (legitimate), a character device (1:3, as
  /dev/null), a FIFO and a unix socket.
- ``local_settings.py`` is a link to the control-node-only secret.
- MongoDB: collections named with ``/`` and ``..`` (``ODD_COLLECTIONS``), one of which climbs out of
  the dump folder into the canary folder, and one that collides with the other's naive escape.
  SecantusDB, like MongoDB, refuses collection names with ``$`` or a leading ``.``; it accepts any
  database name (``a/b``, ``../x``), which MongoDB refuses and pymongo cannot address, so none is planted.
- PostgreSQL ``auth_user``: a user named ``HOSTILE_USERNAME`` (``../`` pieces, 30 characters at most
  as Django's column allows), with an Author node and a Counter so that gStudio's activity-timestamp
  rule gives it a CSV named after it.
- a staging folder (``/home/core/clix-collect-staging``, the default ``clix_staging_dir``), made by
  root and private as the modules make it, already holding a link at every temporary name
  ``module_utils/clix_files.temp_sibling`` gives ``git-commit.log`` (one per possible pid) that
  points at a victim file. (A staging folder owned by someone else, or a link, is simply refused by
  the modules, which would stop the school before the other traps are reached.)

Where traps report (``traps``): the school's namespace shares the control node's root file system
except /home/core, /opt and /var/run/postgresql, so a folder below the lab is seen by both sides:
``<lab>/hostile/<server id>/canary/`` (world-writable, sticky) must stay empty: a program that ran
or a file that escaped lands there. ``victim.txt`` beside it must keep its bytes. The secret lives
in the control node's own ``/opt/clix-hostile-<tag>-<server id>/``, which the school cannot see (its
/opt is private): the school's links to it resolve only on the control node.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fleet import data
from fleet.hosts import Lab, School

STAGING = "clix-collect-staging"  # below /home/core: roles/clix/defaults clix_staging_dir
SETTINGS = Path("code/gstudio/gnowsys-ndf/gnowsys_ndf")  # below /home/core
HOSTILE_USER_ID = 90
# In "<server id>-<username>-activity-visits-...csv" below <derived>/activity-timestamp-csvs/ the
# first ".." joins the server id ("mz1-.."): the file climbs to <archive>/derived/<year>/.
HOSTILE_USERNAME = "../../../../../hostile-escape"
assert len(HOSTILE_USERNAME) <= 30
GIT_TRAPS = ("diff-external", "fsmonitor", "pager", "filter-clean", "filter-smudge", "textconv")
MAX_TEMP_LINKS = 65536


@dataclass(frozen=True)
class Traps:
    """Where a hostile school's traps are, as the control node sees them."""

    root: Path  # <lab>/hostile/<server id>
    school_core: Path  # the school's /home/core, seen from the control node
    secret_dir: Path  # control node only: the school's /opt is its own

    @property
    def canary(self) -> Path:
        """Must stay empty: every trap that fires writes here."""
        return self.root / "canary"

    @property
    def victim(self) -> Path:
        """A file the staging links point at: must keep VICTIM_TEXT."""
        return self.root / "victim.txt"

    @property
    def secret(self) -> Path:
        return self.secret_dir / "secret.txt"

    @property
    def bin_in_school(self) -> str:
        return "/home/core/.hostile-bin"

    @property
    def media(self) -> Path:
        return self.school_core / "data" / "media" / "hostile"


VICTIM_TEXT = "a file outside the staging folder: a module that follows a link at its temporary name overwrites it\n"


def traps(lab: Lab, school: School) -> Traps:
    tag = f"-{school.tag}" if school.tag else ""
    return Traps(lab.root / "hostile" / school.server_id, lab.host_dir(school) / "root" / "home" / "core",
                 Path("/opt") / f"clix-hostile{tag}-{school.server_id}")


def secret_text(t: Traps) -> str:
    """The control-node-only text (no settings-like name: redaction must not be what hides it)."""
    return t.secret.read_text().split()[-1]


def neighbour_folder(lab: Lab, school: School) -> str:
    """The folder the identity climbs into: another school of the same state (a made-up one if none)."""
    others = [s for s in lab.schools() if s.state == school.state and not s.hostile]
    return others[0].hostname if others else f"{school.school_code[:-1]}9-{school.state}99"


def slashless_path(path: Path) -> str:
    """A Jinja expression for path that holds no '/': '%cvar%ctmp...'|format(47, 47, ...)."""
    text = str(path).replace("%", "%%")
    return "'%s'|format(%s)" % (text.replace("/", "%c"), ", ".join(["47"] * text.count("/")))


def jinja_canary(t: Traps, name: str) -> str:
    return "{{ lookup('pipe', 'touch ' ~ %s) }}" % slashless_path(t.canary / name)


def identity_values(lab: Lab, school: School, t: Traps, year: int | None = None) -> dict[str, str]:
    year = year or dt.date.today().year
    return {
        "GSTUDIO_INSTITUTE_ID": f"x/../../../{year}/{school.state}/{neighbour_folder(lab, school)}",
        "GSTUDIO_INSTITUTE_ID_SECONDARY": jinja_canary(t, "jinja-school-code"),
        "GSTUDIO_INSTITUTE_NAME": ("O'Brien's \"Hostile\" School <script>clix-hostile-html</script> "
                                   + jinja_canary(t, "jinja-school-name")),
    }


def write_server_settings(t: Traps, values: dict[str, str]) -> None:
    lines = "".join(f"{key} = {value!r}\n" for key, value in values.items())
    path = t.school_core / SETTINGS / "server_settings.py"
    path.write_text("# gStudio server settings (changed by someone with a root shell at the school)\n" + lines)
    os.chown(path, 500, 500)


def restore_identity(lab: Lab, school: School) -> None:
    """The school's true server_settings.py again (every other trap stays armed)."""
    t = traps(lab, school)
    write_server_settings(t, {"GSTUDIO_INSTITUTE_ID": school.server_id,
                              "GSTUDIO_INSTITUTE_ID_SECONDARY": school.school_code,
                              "GSTUDIO_INSTITUTE_NAME": school.school_name})


def odd_collections(t: Traps) -> dict[str, list[str]]:
    """{database: [collection names]} planted in MongoDB; each holds documents {'_id': i, 'name': name}."""
    return {
        "gstudio-mongodb": [
            "hostile/slash",
            "hostile%2Fslash",  # a naive '/' -> '%2F' escape would write both into one file
            "x" + "/.." * 12 + str(t.canary / "mongo-escape"),
        ],
        "repository": ["hostile..dots"],
    }


def prepare(t: Traps) -> None:
    shutil.rmtree(t.root, ignore_errors=True)
    t.canary.mkdir(parents=True)
    for folder in (t.root.parent, t.root):
        folder.chmod(0o755)
    t.canary.chmod(0o1777)  # a trap running as the checkout's owner (uid 500) must be able to report
    t.victim.write_text(VICTIM_TEXT)
    shutil.rmtree(t.secret_dir, ignore_errors=True)
    t.secret_dir.mkdir(mode=0o700, parents=True)
    t.secret.write_text(f"control-node-only text {secrets.token_hex(16)}\n")


def arm_git(t: Traps) -> None:
    """Traps in the gStudio checkout's own config, each a script that reports to the canary folder."""
    bin_dir = t.school_core / t.bin_in_school.removeprefix("/home/core/")
    bin_dir.mkdir(parents=True, exist_ok=True)
    tails = {"filter-clean": "cat", "filter-smudge": "cat", "textconv": 'cat "$1"', "pager": "cat",
             "diff-external": "exit 0", "fsmonitor": "exit 1"}
    for kind in GIT_TRAPS:
        script = bin_dir / kind
        script.write_text("#!/bin/sh\n# Planted by a hostile school: git runs this from the repository's config.\n"
                          f"echo \"uid=$(id -u) $0 $*\" >> '{t.canary}/git-{kind}'\n{tails[kind]}\n")
        script.chmod(0o755)
    bin_dir.chmod(0o755)
    repo = t.school_core / "code" / "gstudio"
    trap = f"{t.bin_in_school}/%s"
    config = {"core.fsmonitor": trap % "fsmonitor", "core.pager": trap % "pager", "pager.status": "true",
              "pager.diff": "true", "pager.log": "true", "pager.branch": "true",
              "diff.external": trap % "diff-external", "filter.clixtrap.clean": trap % "filter-clean",
              "filter.clixtrap.smudge": trap % "filter-smudge", "diff.clixtrap.textconv": trap % "textconv"}
    for key, value in config.items():
        subprocess.run(["git", "config", "-f", str(repo / ".git" / "config"), key, value], check=True)
    attributes = "* filter=clixtrap diff=clixtrap\n"
    (repo / ".gitattributes").write_text(attributes)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text(attributes)
    with (repo / "gnowsys-ndf" / "gnowsys_ndf" / "ndf" / "module1.py").open("a") as f:
        f.write("# changed at the school\n")
    subprocess.run(["chown", "-R", "500:500", str(repo)], check=True)


def arm_media(t: Traps) -> None:
    m = t.media
    m.mkdir(parents=True)
    inside = next(p for p in sorted((m.parent).rglob("*")) if p.is_file() and m not in p.parents)
    links = {
        "abs-secret": str(t.secret),
        "abs-hostname": "/etc/hostname",
        "dev-zero": "/dev/zero",
        "up-dir": "../..",
        "up-file": "../../nginx-logs/access.log",
        "up-root": "../../../../../../../../etc/passwd",
        "inside": os.path.relpath(inside, m),  # stays in the item: may be kept as a link
    }
    for name, target in links.items():
        (m / name).symlink_to(target)
    os.mknod(m / "char-device", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mkfifo(m / "fifo", 0o600)
    # A bound unix socket stays on disk; bound from inside the folder (sun_path is 108 bytes at most).
    subprocess.run([sys.executable, "-c", "import socket; socket.socket(socket.AF_UNIX).bind('socket')"],
                   cwd=m, check=True)
    settings = t.school_core / SETTINGS / "local_settings.py"
    settings.unlink()
    settings.symlink_to(t.secret)


def temp_link_pids() -> range | list[int]:
    """Every pid the kernel can hand out (or, on a machine with a huge pid_max, the next MAX_TEMP_LINKS)."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    if pid_max <= MAX_TEMP_LINKS:
        return range(1, pid_max + 1)
    last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    return [(last + i) % pid_max + 1 for i in range(MAX_TEMP_LINKS)]


def arm_staging(t: Traps) -> None:
    staging = t.school_core / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    for pid in temp_link_pids():
        (staging / f".git-commit.log.tmp-{pid}").symlink_to(t.victim)


def arm_databases(sd: data.SchoolData, t: Traps, address: str, mongo_port: int, pg_port: int, password: str) -> None:
    import psycopg2
    from pymongo import MongoClient

    client = MongoClient(address, mongo_port, directConnection=True, serverSelectionTimeoutMS=10000)
    try:
        for db, names in odd_collections(t).items():
            for name in names:
                # pymongo refuses these names client-side; the server takes them in a raw command.
                client[db].command({"insert": name, "documents": [{"_id": i, "name": name} for i in range(3)]})
        gdb = client["gstudio-mongodb"]
        author = dict(sd.authors[0], _id=data.oid(sd.rng), name=HOSTILE_USERNAME, created_by=HOSTILE_USER_ID)
        gdb.Nodes.insert_one(author)
        counter = dict(sd.counters()[0], _id=data.oid(sd.rng), user_id=HOSTILE_USER_ID, auth_id=author["_id"])
        gdb.Counters.insert_one(counter)
    finally:
        client.close()
    conn = psycopg2.connect(host=address, port=pg_port, user="postgres", password=password, dbname="gstudio_psql",
                            connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            joined = data.BASE_TIME - dt.timedelta(days=30)
            cur.execute("INSERT INTO auth_user VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        (HOSTILE_USER_ID, "pbkdf2_sha256$x", data.BASE_TIME, False, HOSTILE_USERNAME, "", "", "",
                         False, True, joined))
    finally:
        conn.close()


def arm(lab: Lab, school: School, sd: data.SchoolData, mongo_port: int, pg_port: int, password: str) -> None:
    """Turn a school that is up, with its data loaded, into a hostile one."""
    t = traps(lab, school)
    prepare(t)
    write_server_settings(t, identity_values(lab, school, t))
    arm_git(t)
    arm_media(t)
    arm_staging(t)
    arm_databases(sd, t, school.address, mongo_port, pg_port, password)


def disarm(lab: Lab, school: School) -> None:
    """Remove what a hostile school left outside its host folder."""
    t = traps(lab, school)
    shutil.rmtree(t.root, ignore_errors=True)
    shutil.rmtree(t.secret_dir, ignore_errors=True)


def drop_odd_collections(lab: Lab, school: School, mongo_port: int) -> None:
    """Remove the oddly named collections again (a test that is about another trap)."""
    from pymongo import MongoClient

    client = MongoClient(school.address, mongo_port, directConnection=True, serverSelectionTimeoutMS=10000)
    try:
        for db, names in odd_collections(traps(lab, school)).items():
            for name in names:
                client[db].command({"drop": name})
    finally:
        client.close()

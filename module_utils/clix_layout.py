# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive's layout, owned here and nowhere else: every path below an archive root is built
from parts by these functions, and each proves that what it built stays under the root.

    <root>/<YYYY>/<state>/<school code>-<server id>/      a school's collected tree (LEVEL 0-2)
    <root>/quarantine/<YYYY>/<state>/<code>-<id>/          a school whose server named another school
    <root>/derived/<YYYY>/<state>/<code>-<id>/             derived data recomputed from the archive
    <root>/reports/                                        run reports, fleet tables, catalogue
    <root>/dataset/, <root>/release/                       the research dataset and its release tier
    <school folder>/history/<YYYYMMDDTHHMMSSZ>/<path>      an older version kept by a merge
    <root>/replaced/<YYYYMMDDTHHMMSSZ>/<YYYY>/<state>/<code>-<id>/
                                                           what a school server held when a restore
                                                           replaced it (collected first, at that moment)

Parts come from the inventory (checked by clix_inventory) or are made by the control node; a value
read from a school server never names a folder until it has passed the same rules (a school server
is untrusted input). Standard library only, Python 3.8: it ships to school servers with the modules.
"""

from __future__ import annotations

import datetime
import os
import re
import stat

from ansible.module_utils import clix_identity

# Every pattern is matched whole (fullmatch) and ASCII only (clix_identity).
YEAR = clix_identity.YEAR
STATE = clix_identity.STATE
# <school code>-<server id>: 7-8 digits or NA, then a state code and a number (or sp<N>).
SCHOOL_FOLDER = clix_identity.SCHOOL_FOLDER
QUARANTINE = "quarantine"
DERIVED = "derived"
REPLACED = "replaced"
REPORTS = "reports"
MANIFEST = "MANIFEST.json"
PLATFORMS = ("gstudio", "unplatform")
HISTORY = "history"
STAMP = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
CATALOGUE = "catalogue"
DATASET = "dataset"
RELEASE = "release"
# Inside a school folder, what readers of a collected tree open (clix_derive, clix_dataset, the
# manifest's user count). The item folders are the `dest` of the role's clix_items rows db and
# postgres-dump (tests/unit/test_identity_and_layout_filters.py holds the two equal).
GSTUDIO_DB = "gstudio/db"  # mongodump's output: a folder per database
MONGO_DB = "gstudio-mongodb"  # gStudio's own database
POSTGRES_DUMP = "gstudio/postgres-dump"
PG_DUMP = "pg_dump_all.sql"  # pg_dumpall's output in it
MAX_HOPS = 40  # links followed while resolving one link, as the kernel's limit


class LayoutError(ValueError):
    """A path part that is not allowed to name a folder of the archive."""


def check_part(part) -> str:
    """One path component: a non-empty string with no separator, neither '.' nor '..', and nothing
    the name rule refuses (clix_identity: control, invisible or bidi characters, bytes that are not
    UTF-8). Returns it unchanged, or raises LayoutError."""
    if not isinstance(part, str) or part in ("", ".", ".."):
        raise LayoutError("%s cannot name a folder of the archive" % clix_identity.shown(part))
    if "/" in part or "\\" in part or clix_identity.unsafe_chars(part):
        raise LayoutError("%s holds a path separator, or a control, invisible or bidi character"
                          % clix_identity.shown(part))
    return part


def check_relpath(relpath: str) -> list:
    """The components of a relative path made of checked parts (no '.', '..', empty or absolute)."""
    if not isinstance(relpath, str) or relpath.startswith("/"):
        raise LayoutError("%s is not a relative path" % clix_identity.shown(relpath))
    return [check_part(p) for p in relpath.split("/")]


def _resolved_prefix(path: str) -> str:
    """realpath of the longest existing prefix of path, with the rest appended as it is."""
    head, rest = path, []
    while not os.path.lexists(head):
        head, tail = os.path.split(head)
        rest.insert(0, tail)
        if not tail:
            break
    return os.path.join(os.path.realpath(head), *rest)


def contained(root: str, path: str) -> str:
    """path, after proving that it (with every link in its existing part resolved) lies under root."""
    real_root = os.path.realpath(root)
    real = _resolved_prefix(os.path.abspath(path))
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        raise LayoutError("%s leaves %s" % (path, root))
    return path


def under(root: str, *parts: str, links: bool = True) -> str:
    """root/part/part/...: each part a checked component (or a relative path of them), the result
    proved to stay under root; with links=False, no symbolic link on the way below root either (a
    link that stays under root may still lead into another host's folder, as a school server's
    unplatform/pc01 into its lab PC's)."""
    if not os.path.isabs(root):
        raise LayoutError("the archive root %r is not an absolute path" % (root,))
    pieces = []
    for part in parts:
        pieces += check_relpath(str(part))
    path = contained(root, os.path.join(root, *pieces))
    for n in range(len(pieces)) if not links else ():
        here = os.path.join(root, *pieces[:n + 1])
        if os.path.islink(here):
            raise LayoutError("%s is a symbolic link in the archive (to %s), never followed: move it aside" % (
                clix_identity.shown(here), clix_identity.shown(os.readlink(here))))
        if not os.path.lexists(here):
            break
    return path


def resolve_inside(top: str, folder: list, target: str, budget: list, read_target=os.readlink) -> list | None:
    """Where a link in top/<folder> with this target leads, as components below top, resolved the
    way the kernel would (links in the tree followed, each read with read_target); None when it
    leaves top, is absolute, or takes more than budget[0] links. Only real folders are ever looked into."""
    if target.startswith("/"):
        return None
    place = list(folder)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not place:
                return None
            place.pop()
            continue
        path = os.path.join(top, *place, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:  # not there (yet): no link to follow
            is_link = False
        if not is_link:
            place.append(part)
            continue
        budget[0] -= 1
        if budget[0] < 0:
            return None
        place = resolve_inside(top, place, read_target(path), budget, read_target)
        if place is None:
            return None
    return place


def item_of(table: list, relpath: str) -> dict | None:
    """The item of the role's table (clix_items: name, dest, kind) that relpath of a school folder
    belongs to (the longest dest that holds it), its dest stripped of slashes; None when none does."""
    best = None
    for item in table:
        dest = str(item.get("dest", "")).strip("/")
        if dest and (relpath == dest or relpath.startswith(dest + "/")) and (best is None or len(dest) > len(best["dest"])):
            best = dict(item, dest=dest)
    return best


def link_stays_inside(school: str, table: list, relpath: str, target: str) -> bool:
    """Whether the link relpath (below the school folder) with this target resolves inside its own
    item, as collect keeps links (clix_pull): resolved through the item's own links, never leaving it.
    An older version kept under history/<stamp>/ is judged inside history/<stamp>/<item>."""
    parts = relpath.split("/")
    base = parts[:2] if len(parts) > 2 and parts[0] == HISTORY and STAMP.fullmatch(parts[1]) else []
    item = item_of(table, "/".join(parts[len(base):]))
    if item is None:
        return False
    top = base + item["dest"].split("/")
    if item["dest"] == "/".join(parts[len(base):]):  # the item is this one link (a file item): kept by no pull
        return False
    folder = parts[len(top):-1]
    return resolve_inside(os.path.join(school, *top), folder, target, [MAX_HOPS]) is not None


def check_year(year) -> str:
    year = str(year)
    if not YEAR.fullmatch(year):
        raise LayoutError("year %s is not four digits" % clix_identity.shown(year))
    return year


def check_state(state: str) -> str:
    if not isinstance(state, str) or not STATE.fullmatch(state):
        raise LayoutError("state %s is not one of %s" % (clix_identity.shown(state), ", ".join(clix_identity.STATES)))
    return state


def check_school_folder(folder: str) -> str:
    if not isinstance(folder, str) or not SCHOOL_FOLDER.fullmatch(folder):
        raise LayoutError("school folder %s is not <school code>-<server id> (like 2031001-mz1)"
                          % clix_identity.shown(folder))
    return folder


def school_folder(school_code: str, server_id: str) -> str:
    """The LEVEL 2 folder name: <school code>-<server id> (the code keeps its leading zeros)."""
    return check_school_folder("%s-%s" % (school_code, server_id))


def year_root(root: str, year) -> str:
    """<root>/<YYYY>: the schools collected in a year."""
    return under(root, check_year(year))


def school_root(root: str, year, state: str, folder: str) -> str:
    """<root>/<YYYY>/<state>/<code>-<id>: a school's collected tree."""
    return under(root, check_year(year), check_state(state), check_school_folder(folder))


def quarantine_root(root: str, year, state: str, folder: str) -> str:
    """<root>/quarantine/<YYYY>/<state>/<code>-<id>: named after the inventory's school, never after
    what the server claims (that is recorded in the manifest, as data)."""
    return under(root, QUARANTINE, check_year(year), check_state(state), check_school_folder(folder))


def derived_root(root: str, year, state: str, folder: str) -> str:
    """<root>/derived/<YYYY>/<state>/<code>-<id>: derived data recomputed from the archive."""
    return under(root, DERIVED, check_year(year), check_state(state), check_school_folder(folder))


def replaced_root(root: str, stamp: str, year, state: str, folder: str) -> str:
    """<root>/replaced/<stamp>/<YYYY>/<state>/<code>-<id>: where restore.yml -e clix_restore_overwrite=true
    collects a school server before it replaces what the server holds (stamp: the restore's moment,
    YYYYMMDDTHHMMSSZ). Never the school's own folder of the year: that may be the collection restored
    from, which stays as it was. Below <root>/replaced/<stamp> the layout is an archive root's, so
    verify.yml and restore.yml take it as one; merge.yml carries it (kind replaced in school_roots,
    which the years' walks of the catalogue and the dataset never ask for)."""
    if not STAMP.fullmatch(str(stamp)):
        raise LayoutError("restore stamp %s is not YYYYMMDDTHHMMSSZ" % clix_identity.shown(stamp))
    return school_root(under(root, REPLACED, stamp), year, state, folder)


def reports_dir(root: str) -> str:
    return under(root, REPORTS)


def report_base(reports: str, job: str, moment: datetime.datetime | None = None) -> str:
    """<reports>/<job>-YYYYMMDDTHHMMSSZ (moment, now by default, in UTC): a run's report, its files
    adding .json, .md and .html."""
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return os.path.join(reports, "%s-%s" % (check_part(job), stamp_of(moment)))


def stamp_of(moment: datetime.datetime) -> str:
    """A moment as YYYYMMDDTHHMMSSZ in UTC (no colons: archives travel on FAT-formatted USB disks)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def dataset_dir(root: str) -> str:
    """<root>/dataset: the research dataset (clix_dataset)."""
    return under(root, DATASET)


def release_dir(root: str) -> str:
    """<root>/release: the dataset's release tier."""
    return under(root, RELEASE)


def mongo_dump_dir(school: str, database: str = MONGO_DB) -> str:
    """<school folder>/gstudio/db/<database> (gStudio's own by default): one .bson (or .bson.gz) a collection."""
    return os.path.join(school, GSTUDIO_DB, check_part(database))


def pg_dump_path(school: str) -> str:
    """<school folder>/gstudio/postgres-dump/pg_dump_all.sql (a reader also tries it gzipped: .gz)."""
    return os.path.join(school, POSTGRES_DUMP, PG_DUMP)


def catalogue_base(root: str) -> str:
    """<root>/reports/catalogue: the catalogue's files add .json, .csv and .html."""
    return under(root, REPORTS, CATALOGUE)


KIND_ROOTS = {"collected": school_root, QUARANTINE: quarantine_root, DERIVED: derived_root}
KINDS = (*KIND_ROOTS, REPLACED)


def kind_root(root: str, school: dict) -> str:
    """The folder below root of a school as parse_school_path describes it (its kind - collected,
    quarantine, derived or replaced - year, state, folder and, when replaced, stamp)."""
    kind = school["kind"]
    if kind == REPLACED:
        return replaced_root(root, school["stamp"], school["year"], school["state"], school["folder"])
    if kind not in KIND_ROOTS:
        raise LayoutError("%r is not a kind of school folder (%s)" % (kind, ", ".join(KINDS)))
    return KIND_ROOTS[kind](root, school["year"], school["state"], school["folder"])


def history_stamp(when: str) -> str:
    """An ISO 8601 time (as manifests record collected_at) as a history folder name, YYYYMMDDTHHMMSSZ
    in UTC (no colons: field archives travel on FAT-formatted USB disks)."""
    return stamp_of(datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00")))


def history_path(school: str, stamp: str, relpath: str) -> str:
    """<school folder>/history/<stamp>/<relpath>: where an older version of relpath is kept."""
    if not STAMP.fullmatch(str(stamp)):
        raise LayoutError("history stamp %s is not YYYYMMDDTHHMMSSZ" % clix_identity.shown(stamp))
    return under(school, HISTORY, stamp, relpath)


def parse_school_path(root: str, path: str):
    """{kind, year, state, folder, school_code, server_id} of a school folder below root
    (kind: collected, quarantine, derived, or replaced with its stamp), or None when path is not one."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    parts = rel.split(os.sep)
    kind, stamp = "collected", {}
    if parts and parts[0] in (QUARANTINE, DERIVED):
        kind = parts[0]
        parts = parts[1:]
    elif len(parts) > 1 and parts[0] == REPLACED and STAMP.fullmatch(parts[1]):
        kind, stamp = REPLACED, {"stamp": parts[1]}
        parts = parts[2:]
    if len(parts) != 3 or not YEAR.fullmatch(parts[0]) or not STATE.fullmatch(parts[1]):
        return None
    match = SCHOOL_FOLDER.fullmatch(parts[2])
    if not match:
        return None
    return dict(kind=kind, year=parts[0], state=parts[1], folder=parts[2],
                school_code=match.group("code"), server_id=match.group("server_id"), **stamp)


def school_roots(root: str, kinds=("collected",)):
    """Every school folder below root of the given kinds, sorted, as (path, parsed) pairs. Folders
    that do not follow the layout are not schools and are left out; links are never followed."""
    replaced = os.path.join(root, REPLACED)
    bases = {"collected": [root], QUARANTINE: [os.path.join(root, QUARANTINE)],
             DERIVED: [os.path.join(root, DERIVED)],
             REPLACED: [os.path.join(replaced, stamp) for stamp in _subdirs(replaced, STAMP)]}
    found = []
    for kind in kinds:
        for base in bases[kind]:
            for year in _subdirs(base, YEAR):
                for state in _subdirs(os.path.join(base, year), STATE):
                    for folder in _subdirs(os.path.join(base, year, state), SCHOOL_FOLDER):
                        path = os.path.join(base, year, state, folder)
                        found.append((path, parse_school_path(root, path)))
    return sorted(found)


def _subdirs(folder: str, pattern) -> list:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(e.name for e in entries if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False))

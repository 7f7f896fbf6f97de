"""clix-derive: recompute gStudio's derived data for collected schools, or on a live server, and
the derived data of a school's unplatform lab PCs (clix_derive/unplatform.py) from the archive.

    python -m clix_derive archive ARCHIVE/2026/mz [--jobs 2]          every school of a state
    python -m clix_derive archive ARCHIVE/2026/mz/2031001-mz1 --out DIR
    python -m clix_derive live --out /data --settings .../server_settings.py   (inside gStudio's container)

Prints one JSON line per school on stdout (files written, time, peak memory); progress on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from ansible.module_utils import clix_layout
from ansible.module_utils.clix_unplatform import ARCHIVE_TOP

from .activity import write_activity_csvs
from .mit import write_mit_csv
from .progress import write_progress_csvs
from .school import School
from .source import ArchiveSource, LiveSource, SourceError
from .unplatform import derive_unplatform

OUTPUTS = ("progress", "activity", "mit", "unplatform")


def _is_school(path: str) -> bool:
    return any(os.path.isdir(os.path.join(path, p)) and not os.path.islink(os.path.join(path, p))
               for p in clix_layout.PLATFORMS)


def school_dirs(paths: list[str]) -> list[str]:
    """A path holding ``gstudio/`` or ``unplatform/`` is a school; any other path stands for the
    schools under it."""
    found = []
    for path in paths:
        path = os.path.abspath(path)
        if not os.path.isdir(path):
            raise SourceError(f"{path} is not a folder")
        if _is_school(path):
            found.append(path)
            continue
        for root, dirs, _ in os.walk(path):
            if _is_school(root):
                found.append(root)
                dirs.clear()
            dirs[:] = sorted(d for d in dirs if d not in (clix_layout.DERIVED, clix_layout.REPORTS, clix_layout.QUARANTINE,
                                                            clix_layout.REPLACED))
    if not found:
        raise SourceError(f"no collected school (a folder with gstudio/ or unplatform/) under {', '.join(paths)}")
    return found


def default_out(school_dir: str) -> str:
    """``<root>/<YYYY>/<state>/<school>`` -> ``<root>/derived/<YYYY>/<state>/<school>``: recomputed
    files never overwrite the collected originals."""
    school = os.path.abspath(school_dir)
    state_dir = os.path.dirname(school)
    year_dir = os.path.dirname(state_dir)
    try:
        return clix_layout.derived_root(os.path.dirname(year_dir), os.path.basename(year_dir),
                                        os.path.basename(state_dir), os.path.basename(school))
    except clix_layout.LayoutError as exc:
        raise SourceError(f"{school} is not a school folder of an archive ({exc}): name the output with --out") from None


def derive(source, out_dir: str, now: dt.datetime, outputs: tuple[str, ...], users: list[str] | None,
           workdir: str | None = None) -> dict:
    started = time.monotonic()
    school = School(source, workdir=workdir or None)
    try:
        files: list[str] = []
        if "progress" in outputs:
            files += write_progress_csvs(school, out_dir, now)
        if "activity" in outputs:
            files += write_activity_csvs(school, out_dir, now, users)
        if "mit" in outputs:
            files += filter(None, [write_mit_csv(school, out_dir, now)])
    finally:
        school.close()
    return {"school": f"{school.identity['school_code']}-{school.identity['server_id']}", "out": out_dir,
            "files": len(files), "bytes": sum(os.path.getsize(f) for f in files),
            "benchmarks": school.benchmark_count, "seconds": round(time.monotonic() - started, 3),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _derive_archive(school_dir: str, out: str | None, now: dt.datetime, outputs: tuple[str, ...],
                    users: list[str] | None) -> dict:
    """A school's lab PCs first (a broken gStudio tree never costs them their data), then its server.
    A school with lab PCs and no gstudio/ is not asked for gStudio's records."""
    out_dir = out or default_out(school_dir)
    lab = None
    if "unplatform" in outputs and os.path.isdir(os.path.join(school_dir, ARCHIVE_TOP)):
        started = time.monotonic()
        lab = derive_unplatform(school_dir, out_dir)
        lab["seconds"] = round(time.monotonic() - started, 3)
    gstudio_outputs = tuple(o for o in outputs if o != "unplatform")
    if gstudio_outputs and (lab is None or os.path.lexists(os.path.join(school_dir, "gstudio"))):
        result = derive(ArchiveSource(school_dir), out_dir, now, gstudio_outputs, users)
    else:
        result = {"school": os.path.basename(school_dir), "out": out_dir, "files": 0, "bytes": 0,
                  "seconds": 0.0, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if lab is not None:
        result["files"] += len(lab["files"])
        result["bytes"] += sum(os.path.getsize(f) for f in lab["files"])
        result["seconds"] = round(result["seconds"] + lab["seconds"], 3)
        result["unplatform"] = {"pcs": lab["pcs"], "failed": lab["failed"]}
        if lab["failed"]:
            raise SourceError("lab PC(s) failed: " + "; ".join(lab["failed"]))
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--only", default=",".join(OUTPUTS), help=f"comma-separated subset of {','.join(OUTPUTS)}")
    common.add_argument("--users", help="activity timestamps for these usernames only (comma-separated)")
    common.add_argument("--now", help="the run time in file names, YYYY-MM-DDTHH:MM (default: now, as gStudio)")
    p = argparse.ArgumentParser(prog="clix-derive", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("archive", parents=[common],
                       help="from collected school trees (gstudio/db/*.bson, gstudio/postgres-dump/pg_dump_all.sql,"
                       " unplatform/<pc>/<install>/)")
    a.add_argument("paths", nargs="+", help="school folders, or state/year folders holding them")
    a.add_argument("--out", help="output folder (one school only; default <root>/derived/<YYYY>/<state>/<school>)")
    a.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="schools computed in parallel")
    live = sub.add_parser("live", parents=[common],
                          help="from the running server (MongoDB via pymongo, auth_user via psql and PG*)")
    live.add_argument("--mongo", default="mongodb://127.0.0.1:27017/?directConnection=true")
    live.add_argument("--settings", required=True, help="gStudio's server_settings.py")
    live.add_argument("--tools-dir", default="/data/gstudio_tools_logs")
    live.add_argument("--out", default="/data")
    args = p.parse_args(argv)
    args.outputs = tuple(o for o in args.only.split(",") if o)
    unknown = set(args.outputs) - set(OUTPUTS)
    if unknown:
        p.error(f"--only: unknown output(s) {', '.join(sorted(unknown))}; choose from {', '.join(OUTPUTS)}")
    args.users = args.users.split(",") if args.users else None
    try:
        args.now = dt.datetime.strptime(args.now, "%Y-%m-%dT%H:%M") if args.now else dt.datetime.now()
    except ValueError:
        p.error("--now: expected YYYY-MM-DDTHH:MM")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.mode == "live":
            print(json.dumps(derive(LiveSource(args.mongo, args.settings, args.tools_dir), args.out, args.now,
                                    args.outputs, args.users)), flush=True)
            return 0
        schools = school_dirs(args.paths)
        if args.out and len(schools) > 1:
            raise SourceError("--out names one folder: give one school, or leave --out out")
    except SourceError as exc:
        print(f"clix-derive: {exc}", file=sys.stderr)
        return 2
    failed = 0
    with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, len(schools)))) as pool:
        jobs = {pool.submit(_derive_archive, s, args.out, args.now, args.outputs, args.users): s for s in schools}
        for n, job in enumerate(as_completed(jobs), 1):
            school = os.path.basename(jobs[job])
            try:
                result = job.result()
            except Exception as exc:  # one broken school never stops the others
                failed += 1
                print(f"[{n}/{len(schools)}] {school}: FAILED: {exc}", file=sys.stderr, flush=True)
                print(json.dumps({"school": school, "failed": str(exc)}), flush=True)
                continue
            print(f"[{n}/{len(schools)}] {school}: {result['files']} files in {result['seconds']} s",
                  file=sys.stderr, flush=True)
            print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    os.umask(0o077)  # derived data is as private as the archive it comes from
    sys.exit(main())

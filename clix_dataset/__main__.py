"""clix-dataset: build or update the research dataset of an archive, or its release.

    python -m clix_dataset ARCHIVE [--out DIR]
    python -m clix_dataset release ARCHIVE --key-file FILE [--out DIR]
    python -m clix_dataset --codebook

The first writes the restricted tier, ARCHIVE/dataset/ (tables with every collection's rows, Parquet
per table and partition, clix.duckdb, CODEBOOK.md): it names children, for the data steward only.
Only the collections that changed since the last run are read again. The second brings it up to
date and writes ARCHIVE/release/: the copy a researcher may receive, pseudonymised with the key in
FILE (any file of at least 32 bytes kept outside the archive: `head -c 32 /dev/urandom > FILE`).
Both print a line per school and a table of row counts on stderr, and one JSON summary line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .build import DatasetError, build
from .codebook import codebook
from .release import release


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="clix-dataset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    making_release = bool(argv) and argv[0] == "release"
    if making_release:
        argv = argv[1:]
        p.prog = "clix-dataset release"
        p.add_argument("--key-file", help="the pseudonym key: a file of at least 32 bytes outside the archive")
    p.add_argument("archive", nargs="?", help="the archive root (holding <YYYY>/<state>/<school>/)")
    p.add_argument("--out", help="output folder (default ARCHIVE/dataset, or ARCHIVE/release)")
    p.add_argument("--codebook", action="store_true", help="print the codebook and exit")
    args = p.parse_args(argv)
    if args.codebook:
        print(codebook(release=making_release, key_id="<key id>" if making_release else None))
        return 0
    if not args.archive:
        p.error("give the archive root")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        result = (release(args.archive, args.key_file, args.out, log) if making_release
                  else build(args.archive, args.out, log))
    except DatasetError as exc:
        print(f"clix-dataset: {exc}", file=sys.stderr)
        return 2
    width = max(len(name) for name in result["counts"])
    log(f"\n{'table'.ljust(width)}  rows (latest)")
    for name, count in result["counts"].items():
        log(f"{name.ljust(width)}  {count}")
    log(f"\n{'release' if making_release else 'dataset'}: {result.get('release') or result['dataset']}")
    print(json.dumps(result, default=str), flush=True)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    os.umask(0o077)  # the dataset is as private as the archive it comes from
    sys.exit(main())

"""clix-dataset: build or update the research dataset of an archive.

    python -m clix_dataset ARCHIVE [--out DIR]

Writes ARCHIVE/dataset/ (Parquet per table, partitioned by year and state; clix.duckdb; CODEBOOK.md).
Only schools whose collection changed since the last run are rewritten. Prints a line per school and
a table of row counts on stderr, and one JSON summary line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .build import DatasetError, build
from .codebook import codebook


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="clix-dataset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("archive", nargs="?", help="the archive root (holding <YYYY>/<state>/<school>/)")
    p.add_argument("--out", help="dataset folder (default ARCHIVE/dataset)")
    p.add_argument("--codebook", action="store_true", help="print the codebook and exit")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.codebook:
        print(codebook())
        return 0
    if not args.archive:
        p.error("give the archive root")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        result = build(args.archive, args.out, log)
    except DatasetError as exc:
        print(f"clix-dataset: {exc}", file=sys.stderr)
        return 2
    width = max(len(name) for name in result["counts"])
    log(f"\n{'table'.ljust(width)}  rows")
    for name, count in result["counts"].items():
        log(f"{name.ljust(width)}  {count}")
    log(f"\ndataset: {result['dataset']}")
    print(json.dumps(result), flush=True)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    os.umask(0o077)  # the dataset is as private as the archive it comes from
    sys.exit(main())

# SPDX-License-Identifier: GPL-3.0-or-later
"""The links of a tree clix_pull received, settled by the archive's link rule (clix_layout.resolve_inside):
rsync --munge-links stores every link it receives as one that resolves nowhere; those that resolve
inside their own item are restored, every other one is removed, so no link pointing out of an item
exists in the archive at any time."""

from __future__ import annotations

import os

from ansible.module_utils import clix_layout as layout
from ansible.module_utils.clix_layout import MAX_HOPS
from ansible.module_utils.clix_rsync import PARTIAL_DIR, unmunged


def resolve_inside(top: str, folder: list, target: str, budget: list) -> list | None:
    """clix_layout.resolve_inside, reading the tree's links as rsync left them (munged or not)."""
    return layout.resolve_inside(top, folder, target, budget, read_target=lambda path: unmunged(os.readlink(path)))


def settle_links(top: str) -> list:
    """Restore the links rsync munged under top that resolve inside top, remove every other link
    (each judged on the tree as rsync left it). Returns the removed ones, {path, target}, sorted."""
    found, folders, partial = [], [top], os.path.join(top, PARTIAL_DIR)
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    found.append(entry.path)
                elif entry.is_dir(follow_symlinks=False) and entry.path != partial:
                    folders.append(entry.path)
    judged = []
    for path in found:
        raw = os.readlink(path)
        rel = os.path.relpath(path, top)
        inside = resolve_inside(top, rel.split(os.sep)[:-1], unmunged(raw), [MAX_HOPS]) is not None
        judged.append((path, rel, raw, inside))
    skipped = []
    for path, rel, raw, inside in judged:
        if not inside:
            os.unlink(path)
            skipped.append(dict(path=rel, target=unmunged(raw)))
        elif raw != unmunged(raw):
            replace_link(path, unmunged(raw))
    return sorted(skipped, key=lambda s: s["path"])


def replace_link(path: str, target: str) -> None:
    """Point the link at path to target, in one rename (never a moment without the link)."""
    for attempt in range(100):
        tmp = os.path.join(os.path.dirname(path), ".%s.clix-link-%d-%d" % (os.path.basename(path), os.getpid(), attempt))
        try:
            os.symlink(target, tmp)
        except FileExistsError:
            continue
        os.replace(tmp, path)
        return
    raise OSError("cannot make a temporary link beside %s" % path)

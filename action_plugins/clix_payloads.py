"""The modules' AnsiballZ payloads kept from one run to the next (used by clix_watched, so by clix_server).

Ansible builds each module's payload (the module and every module_utils file it imports, zipped) once
per run, in the run's own temporary folder, and throws it away at the end: about 0.45 s of the control
node's CPU per module, and collect.yml runs five modules on every school server. A payload depends only
on Ansible's version and the sources in the module and module_utils folders, so it is kept in
.cache/ansiballz/<key>/, the key a sha256 of exactly those, and copied where the run's Ansible looks
before it builds one: a changed source is a new key, never an old payload. The folder is the control
node's own (0700, this user's; anything else there is not used). A cache that cannot be read or written
is no cache: the module is built as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ansible import constants as C
from ansible.release import __version__ as ANSIBLE_VERSION

# Shared code under its one import name (clix_imports.py, at the checkout's root).
sys.path.append(str(Path(__file__).resolve().parents[1]))
import clix_imports

clix_imports.use()
from ansible.module_utils.clix_files import atomic_output, private_to_me  # noqa: E402

STORE = Path(__file__).resolve().parents[1] / ".cache" / "ansiballz"
# Payloads of sources as they were a week ago and not used since are removed when new ones are kept.
UNUSED_SECONDS = 7 * 86400


def source_key(folders: list[str]) -> str:
    """sha256 of Ansible's version and every Python file below the folders, by its place and contents."""
    digest = hashlib.sha256(ANSIBLE_VERSION.encode())
    for index, folder in enumerate(folders):
        for parent, subfolders, files in os.walk(folder):
            subfolders[:] = sorted(s for s in subfolders if s != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(parent, name)
                digest.update(b"\0%d\0%s\0" % (index, os.path.relpath(path, folder).encode()))
                with open(path, "rb") as source:
                    digest.update(hashlib.sha256(source.read()).digest())
    return digest.hexdigest()


def kept_dir(store: Path) -> Path:
    """The store's folder for the sources as they are now (the module and module_utils paths Ansible uses)."""
    return store / source_key([*C.DEFAULT_MODULE_PATH, *C.DEFAULT_MODULE_UTILS_PATH])


def run_dir() -> Path:
    """Where this run's Ansible keeps the payloads it built (module_common's ansiballz cache)."""
    return Path(C.DEFAULT_LOCAL_TMP) / "ansiballz_cache"


def payloads(folder: Path, module: str) -> dict[str, Path]:
    """The module's payloads in folder by name (one per compression and extension set), none being written."""
    short = module.rsplit(".", 1)[-1]
    return {p.name: p for p in folder.glob("ansible.legacy.%s-*" % short) if not p.name.endswith(("-part", ".lock"))}


def copy(source: Path, dest: Path) -> None:
    """source to dest, atomically (clix_files.atomic_output): a reader never sees half of one."""
    with atomic_output(str(dest)) as out:
        out.write(source.read_bytes())


def seed(kept: Path, module: str) -> None:
    """Put the kept payloads of module where this run's Ansible looks first."""
    if not (kept.is_dir() and private_to_me(kept.parent) and private_to_me(kept)):
        return
    run_dir().mkdir(parents=True, exist_ok=True)
    os.utime(kept)  # in use: not removed as unused (keep)
    for name, payload in payloads(kept, module).items():
        if private_to_me(payload) and not (run_dir() / name).exists():
            copy(payload, run_dir() / name)


def keep(kept: Path, built: list[Path]) -> None:
    """Keep payloads this run built for the next runs."""
    kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept.mkdir(mode=0o700, exist_ok=True)
    if private_to_me(kept.parent) and private_to_me(kept):
        for payload in built:
            copy(payload, kept / payload.name)
        for old in kept.parent.iterdir():
            if old != kept and old.is_dir() and not old.is_symlink() and time.time() - old.stat().st_mtime > UNUSED_SECONDS:
                shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def reused(module: str, store: Path = STORE) -> Iterator[None]:
    """Around a module's run: its kept payloads where the run's Ansible looks first, and one it had to
    build kept for the next runs - only when the sources were the same before and after the build."""
    try:
        if run_dir().is_dir() and payloads(run_dir(), module):  # this run has it already (an earlier host)
            kept = None
        else:
            kept = kept_dir(store)
            seed(kept, module)
            before = set(payloads(run_dir(), module)) if run_dir().is_dir() else set()
    except OSError:
        kept = None
    yield
    if kept is None:
        return
    try:
        built = [p for name, p in payloads(run_dir(), module).items() if name not in before]
        if built and kept_dir(store) == kept:
            keep(kept, built)
    except OSError:
        return

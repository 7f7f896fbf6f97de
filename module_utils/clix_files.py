# SPDX-License-Identifier: GPL-3.0-or-later
"""Safe file writing shared by the clix modules: temp name, fsync, rename; hashing while writing.

Runs on school servers, so it sticks to the standard library of Python 3.8.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import secrets
import shutil
import stat
import tempfile
import time
from contextlib import contextmanager, suppress

CHUNK = 1024 * 1024


class DiskFullError(Exception):
    """The destination filesystem ran out of space while writing."""


class UnsafeFolderError(Exception):
    """A folder the module would write into is a link or belongs to someone else."""


class HashingFile:
    """A binary file object that counts and sha256-hashes what is written through it."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self._raw.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self):
        self._raw.flush()


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_sibling(path):
    """A hidden temporary name next to path: never mistaken for the finished file, and not
    guessable, so nobody can plant something there in advance."""
    head, tail = os.path.split(path)
    return os.path.join(head, ".%s.tmp-%s" % (tail, secrets.token_hex(8)))


def create_new_file(path, mode=0o600):
    """Open (tmp, fd) for writing a file that did not exist under a fresh temp_sibling name:
    O_EXCL never opens what is already there, a link, a FIFO or a file, and never follows it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = temp_sibling(path)
        try:
            return tmp, os.open(tmp, flags, mode)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name beside %s" % path)


@contextmanager
def atomic_output(path, compress=False, mode=0o600):
    """Yield a HashingFile; on success the data appears at path complete and fsynced, on any
    error nothing appears and the temporary file is removed. With compress, the hash and size
    are those of the gzip file as stored."""
    tmp, fd = create_new_file(path, mode)
    try:
        with os.fdopen(fd, "wb") as raw:
            hashed = HashingFile(raw)
            if compress:
                with gzip.GzipFile(filename="", mode="wb", fileobj=hashed, mtime=0) as gz:
                    yield _GzipView(gz, hashed)
            else:
                yield hashed
            raw.flush()
            os.fsync(raw.fileno())
        os.rename(tmp, path)
        fsync_dir(os.path.dirname(path) or ".")
    except OSError as exc:
        remove_quietly(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError("no space left on the device holding %s" % path) from exc
        raise
    except BaseException:
        remove_quietly(tmp)
        raise


@contextmanager
def atomic_path(path, mode=0o600):
    """Yield a fresh temporary name beside path, for a writer that creates the file itself (a
    database engine); on success that file is fsynced, given mode and renamed to path, and the
    folder fsynced, as atomic_output does; on any error nothing appears at path and the temporary
    file is removed."""
    tmp = temp_sibling(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fsync(fd)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        fsync_dir(os.path.dirname(path) or ".")
    finally:
        remove_quietly(tmp)


class _GzipView:
    """Write through gzip while exposing the stored file's hash and size."""

    def __init__(self, gz, hashed):
        self._gz = gz
        self._hashed = hashed

    def write(self, data):
        return self._gz.write(data)

    @property
    def sha256(self):
        return self._hashed.sha256

    @property
    def size(self):
        return self._hashed.size


def write_text_files(base, contents):
    """Write {suffix: text} to base + suffix, each atomically; return the paths written."""
    paths = []
    for suffix, text in contents.items():
        with atomic_output(base + suffix) as out:
            out.write(text.encode("utf-8"))
        paths.append(base + suffix)
    return paths


def remove_quietly(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


class NotRegularFileError(OSError):
    """A path that is a link, a FIFO, a device or a socket where a regular file was expected."""


def kind_of(mode):
    """What a stat mode names, in words: 'file', 'folder', 'symbolic link', 'FIFO', ..."""
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def open_regular(path, dir_fd=None):
    """A read-only descriptor of the regular file at path (relative to dir_fd when given).

    Never follows a link at the last component and never opens a FIFO or a device (opening one can
    block or act on hardware): those raise NotRegularFileError. The file is checked before it is
    opened and the opened descriptor again, so a swap in between is caught too."""
    before = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISREG(before.st_mode):
        code = errno.ELOOP if stat.S_ISLNK(before.st_mode) else errno.EINVAL  # a link: ELOOP, as O_NOFOLLOW says
        raise NotRegularFileError(code, "is a %s, not a regular file" % kind_of(before.st_mode), path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFileError(errno.ELOOP, "is a symbolic link, not a regular file", path) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise NotRegularFileError(errno.EINVAL, "changed while being opened", path)
    return fd


def sha256_and_size(path, dir_fd=None):
    """(sha256, size) of a regular file; a link or special file raises NotRegularFileError (see open_regular)."""
    fd = open_regular(path, dir_fd)
    try:
        digest, size = hashlib.sha256(), 0
        buf = bytearray(CHUNK)  # reused: a fresh large bytes object per read costs a page fault per page
        view = memoryview(buf)
        while True:
            n = os.readv(fd, [buf])
            if not n:
                return digest.hexdigest(), size
            digest.update(view[:n])
            size += n
    finally:
        os.close(fd)


def sha256_file(path, dir_fd=None):
    """sha256 of a regular file (see sha256_and_size)."""
    return sha256_and_size(path, dir_fd)[0]


def read_regular(path, dir_fd=None, limit=None):
    """The bytes of a regular file (see open_regular); more than limit bytes raise ValueError."""
    with os.fdopen(open_regular(path, dir_fd), "rb") as f:
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise ValueError("%s is larger than %d bytes" % (path, limit))
    return data


def free_bytes(path):
    """Free bytes for an unprivileged writer on the filesystem holding path (or its parent)."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def make_private_dir(path):
    os.makedirs(path, mode=0o700, exist_ok=True)


def private_to_me(path):
    """path is this user's, not a link, and nobody else can write into it (a cache of code that is run)."""
    info = os.lstat(path)
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022 and not stat.S_ISLNK(info.st_mode)


# Open folders that private_dir handed out; their /proc/self/fd names live as long as the module.
_PINNED = []


def private_dir(path, top=None, setting="clix_staging_dir"):
    """Make path a folder only the running user can use, and return a name bound to that folder.

    top (default: path itself) is the outermost folder that must be private, e.g. the staging
    folder when path is a folder inside it. top and every folder from it down to path are created
    0700 when missing, must belong to the running user (their mode is tightened to 0700) and must
    not be links; the folders above top may belong to anyone (a school user's home) but must not
    be links either. The walk opens one folder at a time from "/" without following links, and the
    returned name (/proc/self/fd/N/) keeps pointing at the folder that was checked even if
    someone renames it or puts a link in its place afterwards. Raises UnsafeFolderError, whose
    message names setting, the variable an operator changes to put the folder elsewhere.
    """
    path = os.path.abspath(path)
    top = os.path.abspath(top) if top else path
    if os.path.commonpath([path, top]) != top:
        raise ValueError("%s is not inside %s" % (path, top))
    names = [n for n in path.split(os.sep) if n]
    first_private = len([n for n in top.split(os.sep) if n]) - 1
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, name in enumerate(names):
            here = os.sep + os.sep.join(names[:i + 1])
            child = _open_or_make_dir(fd, name, here, setting)
            os.close(fd)
            fd = child
            if i >= first_private:
                _require_private(fd, here, setting)
    except BaseException:
        os.close(fd)
        raise
    pinned = "/proc/self/fd/%d" % fd
    if not os.path.isdir(pinned):  # no /proc: the checked path is the best name left
        os.close(fd)
        return path
    _PINNED.append(fd)
    return pinned


def _open_or_make_dir(parent_fd, name, here, setting):
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        try:
            return os.open(name, flags, dir_fd=parent_fd)
        except FileNotFoundError:
            with suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            return os.open(name, flags, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if stat.S_ISLNK(os.lstat(name, dir_fd=parent_fd).st_mode):
            raise UnsafeFolderError(
                "%s is a symbolic link: nothing is written through links on a school server. If "
                "nobody at the school made it on purpose, someone may be trying to redirect the "
                "collection's files; otherwise set %s to the real folder (readlink -f %s)."
                % (here, setting, here)) from None
        raise UnsafeFolderError("%s is not a folder; move it away or set %s to another path."
                                % (here, setting)) from None


def _require_private(fd, here, setting):
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        raise UnsafeFolderError(
            "%s belongs to uid %d, not to uid %d that runs the collection: its owner could read or "
            "swap what is written there. Remove it (rm -rf %s) so that the collection creates it "
            "private, or set %s to a path that does not exist yet."
            % (here, st.st_uid, os.geteuid(), here, setting))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.fchmod(fd, 0o700)


def new_temp_dir(final_path):
    """A hidden temporary folder beside final_path, to be swapped in with replace_dir."""
    parent = os.path.dirname(os.path.abspath(final_path))
    make_private_dir(parent)
    return tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(final_path), dir=parent)


def replace_dir(new, final_path):
    """Swap a completed folder in: the old one stays whole until the new one is in place. Whatever
    is at final_path, a link included, is moved aside and removed, never followed."""
    old = None
    os.makedirs(os.path.dirname(os.path.abspath(final_path)), mode=0o700, exist_ok=True)
    if os.path.lexists(final_path):
        old = "%s.old-%d" % (temp_sibling(final_path), int(time.time()))
        os.rename(final_path, old)
    os.rename(new, final_path)
    fsync_dir(os.path.dirname(os.path.abspath(final_path)))
    if old:
        remove_quietly(old)


def install_file(path, final):
    """Move a complete file into place: its data on disk first, then the rename (over whatever is at
    final, a link included, never followed), then the folder."""
    fd = open_regular(path)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
    os.rename(path, final)
    fsync_dir(os.path.dirname(final))


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return str(n)


def require_free_space(dest, needed, reserve):
    """Raise DiskFullError before writing when dest's filesystem cannot take needed + reserve."""
    free = free_bytes(dest)
    if free < needed + reserve:
        raise DiskFullError(
            "%s has %s free; this needs about %s plus a reserve of %s. Free space on the school "
            "server or point the staging folder (clix_staging_dir) at a larger disk."
            % (dest, human_bytes(free), human_bytes(needed), human_bytes(reserve)))
    return free


def syncfs(fd):
    """Linux syncfs(2): flush the file system holding fd (one journal commit for many files);
    False where unavailable."""
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    return call(fd) == 0

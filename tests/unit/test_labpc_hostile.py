"""A hostile lab PC (issue 26) as clix_pull meets it on the control node, on real files with real
rsync: a JSON file over clix_unplatform_json_limit never read, one nested past Python's reader
checked without recursion, an archive place reached through a symbolic link never pulled into,
and the PC's names escaped in every reason. (Kinds and places from the control node's table:
test_labpc_filters.py; a sessions database that is not one, a trigger in the archive:
test_unplatform_collect.py; the whole PC end to end: tests/integration/test_hostile_labpc.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from ansible.module_utils import clix_rsync
from ansible.module_utils.clix_unplatform import JSON_FAST_BYTES, json_parses
from library_module import library_module

LOCAL_RSH = Path(__file__).parent / "data" / "local-rsh"
clix_pull = library_module("clix_pull")
LIMIT = 1 << 20


@pytest.fixture(autouse=True)
def local_rsync(monkeypatch):
    monkeypatch.setattr(clix_rsync, "ssh_command", lambda p: str(LOCAL_RSH))


def pull(root: Path, *items: dict) -> list:
    full = [dict(dict(kind="json", redact=False, error=None, expect={}, exclude=[]), **item) for item in items]
    p = dict(host="pc", port=22, user=None, private_key=None, ssh_args="", connection="ssh", root=str(root),
             items=full, bwlimit=0, compress=False, timeout=30, connect_timeout=5, rsync_path="rsync",
             progress_seconds=0, json_tries=2, json_wait=0, json_limit=LIMIT, retries=0, retry_seconds=0)
    return clix_pull.pull_all(p, False, None)


def pc_files(tmp: Path, files: dict) -> Path:
    src = tmp / "pc" / "datastore"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data if isinstance(data, bytes) else data.encode())
    return src


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_json_file_over_the_limit_is_never_read_and_fails_the_item_naming_the_limit(tmp_path):
    """Issue 26 item 5: a PC's 114 MiB JSON file took 3 GiB to parse. Over the limit it is not read (the
    pull's peak Python memory stays below its size), not archived (the archived version stays), and
    the refusal names clix_unplatform_json_limit and how to raise it."""
    src, root = pc_files(tmp_path, {"Log/a.json": '{"a": 1}', "Log/b.json": '{"b": 1}'}), tmp_path / "school"
    item = dict(name="ds", src=f"{src}/", dest="ds")
    assert pull(root, item)[0]["status"] == "ok"
    big = b"[" + b"{}," * (3 * LIMIT // 3) + b"{}]"  # json.loads: about 20 times its size
    (src / "Log/a.json").write_bytes(big)
    (src / "Log/c.json").write_text('{"c": 1}')
    tracemalloc.start()
    try:
        result = pull(root, item)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["status"] == "failed" and result["too_large"] == ["Log/a.json"], result
    assert "larger than clix_unplatform_json_limit (%d bytes)" % LIMIT in result["reason"]
    assert "-e clix_unplatform_json_limit=<bytes>" in result["reason"]
    assert tree(root / "ds") == {"Log/a.json": b'{"a": 1}', "Log/b.json": b'{"b": 1}', "Log/c.json": b'{"c": 1}'}
    assert peak < len(big) // 2, peak
    assert not (root / ".incoming").exists()


def test_a_json_file_nested_past_pythons_reader_is_archived_when_whole_and_torn_when_not(tmp_path):
    """Low item of issue 26: json.loads raises RecursionError on such a file, which failed the PC's pull
    on every run. It is checked in one pass without recursion instead."""
    deep = "[" * 20000 + "]" * 20000
    src = pc_files(tmp_path, {"Log/deep.json": deep, "Log/torn.json": deep[:-1], "Log/a.json": "{}"})
    root = tmp_path / "school"
    result = pull(root, dict(name="ds", src=f"{src}/", dest="ds"))[0]
    assert result["status"] == "ok" and result["torn"] == ["Log/torn.json"], result
    assert sorted(tree(root / "ds")) == ["Log/a.json", "Log/deep.json"]


@pytest.mark.parametrize("text", [
    "{}", "[]", ' {"a": [1, -2.5e3, true, false, null, "x\\"\\u00e9"], "b": {}} ', "[NaN, -Infinity]", "0", '""',
    "", " ", "[1,]", '{"a"}', '{"a":}', "[1 2]", '{"a": 1,}', "{,}", "[", "]", "{}x", "01", "-", "1.", '"\x01"',
    '"\\x"', "[[]", '"abc', "tru", '{"a": 1 "b": 2}', "[1]]"])
def test_the_one_pass_check_agrees_with_pythons_reader(text):
    try:
        json.loads(text)
        whole = True
    except ValueError:
        whole = False
    padded = text.encode() + b" " * (JSON_FAST_BYTES + 1)  # past the fast path: the one-pass check decides
    assert json_parses(text.encode()) == whole and json_parses(padded) == whole


PEAK = """
import clix_imports
clix_imports.use()
from ansible.module_utils.clix_unplatform import json_parses
def kib(field):
    return int(next(line for line in open("/proc/self/status") if line.startswith(field)).split()[1])
data = b"[" + b'{"k": 1},' * 150000 + b"{}]"
open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) starts again from here
before = kib("VmRSS:")
print(json_parses(data), len(data) // 1024, kib("VmHWM:") - before)
"""


def test_a_json_file_past_the_fast_path_is_checked_in_memory_bounded_by_its_size():
    """The one-pass check builds nothing: about the file's size once more (Python's reader takes about
    25 times, 30 MiB, for this file of small objects), so clix_unplatform_json_limit bounds the memory."""
    out = subprocess.run([sys.executable, "-c", PEAK], cwd=Path(__file__).parents[2],
                         capture_output=True, text=True, check=True).stdout.split()
    whole, size_kib, peak_kib = out[0], int(out[1]), int(out[2])
    assert whole == "True" and size_kib * 1024 > JSON_FAST_BYTES and peak_kib < 3 * size_kib, out


@pytest.mark.parametrize("link", ["unplatform/pc01", ".incoming/unplatform/pc01"])
@pytest.mark.parametrize("kind", ["json", "sessions", "file"])
def test_an_archive_place_reached_through_a_link_is_never_pulled_into(tmp_path, link, kind):
    """Issue 26 item 9: a school server's unplatform/pc01 link (kept, as it stayed inside its own item)
    carried its lab PC's pulls into the server's folder. Every pull's place is checked (under(), no link
    on the way): the item fails naming the link, and nothing lands behind it."""
    src = pc_files(tmp_path, {"Log/a.json": "{}", "unplatform.sqlite3": b"", "debug.log": "x"})
    root = tmp_path / "school"
    (root / "unplatform" / "data").mkdir(parents=True)
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(root / "unplatform" / "data")
    srcs = {"json": f"{src}/", "sessions": f"{src}/unplatform.sqlite3", "file": f"{src}/debug.log"}
    result = pull(root, dict(name="x", src=srcs[kind], dest="unplatform/pc01/opt-clix/x", kind=kind))[0]
    assert result["status"] == "failed" and "is a symbolic link in the archive" in result["reason"], result
    assert "move it aside" in result["reason"]
    assert list((root / "unplatform" / "data").iterdir()) == []


def test_names_from_the_pc_reach_the_reasons_escaped(tmp_path):
    """Issue 26 item 3: a file name or link target from the PC carrying escape sequences reached the
    operator's terminal raw through the item's reason."""
    src = pc_files(tmp_path, {"Log/\x1b]0;owned\x07\x1b[2J.json": '{"torn', "Log/a.json": "{}"})
    (src / "Log" / "out").symlink_to("/etc/\x1b[31mred")
    result = pull(tmp_path / "school", dict(name="ds", src=f"{src}/", dest="ds"))[0]
    assert "never parsed" in result["reason"] and "pointing outside" in result["reason"], result
    assert "\\x1b]0;owned\\x07\\x1b[2J.json" in result["reason"] and "/etc/\\x1b[31mred" in result["reason"]
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in result["reason"])

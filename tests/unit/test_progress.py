"""Progress of long steps (module_utils/clix_progress.py): a line every progress_seconds with what the
step has done so far, printed by the in-process module or left in a file for clix_watched to read."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from ansible.module_utils import clix_manifest as manifest
from ansible.module_utils import clix_progress
from ansible.module_utils.clix_files import human_bytes
from conftest import REPO
from library_module import library_module

sys.path.insert(0, str(REPO / "action_plugins"))
import clix_inprocess
import clix_watched

clix_verify = library_module("clix_verify")
clix_manifest_module = library_module("clix_manifest")


class Lines:
    """A show() that lets a test wait for the line it expects (no timing assumptions)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def __call__(self, line: str) -> None:
        with self.changed:
            self.lines.append(line)
            self.changed.notify_all()

    def wait_for(self, text: str) -> str:
        with self.changed:
            assert self.changed.wait_for(lambda: any(text in line for line in self.lines), timeout=30), self.lines
        return next(line for line in self.lines if text in line)


def test_each_line_says_what_was_done_so_far_and_the_lines_stop_with_the_step():
    shown, done = Lines(), {"n": 0}
    with clix_progress.progress_lines(shown, 0.01, lambda: "%d documents" % done["n"]):
        for n in (1, 2, 3):
            done["n"] = n
            assert shown.wait_for("%d documents" % n).endswith(" s so far")
    count = len(shown.lines)
    assert not any(t.name == "clix-progress" for t in threading.enumerate())
    assert len(shown.lines) == count


@pytest.mark.parametrize("show,seconds", [(None, 1), (print, 0)])
def test_no_line_without_someone_to_see_it_or_with_progress_off(show, seconds):
    with clix_progress.progress_lines(show, seconds, lambda: pytest.fail("described for nobody")):
        pass
    assert not any(t.name == "clix-progress" for t in threading.enumerate())


def test_on_a_host_the_line_is_left_whole_in_the_named_file_and_removed_at_the_end(tmp_path, monkeypatch):
    path = tmp_path / "home" / ".ansible" / "clix-progress-1234"
    monkeypatch.setenv(clix_progress.PROGRESS_FILE, str(path))
    show = clix_progress.shower(object())  # a module of its own process: no progress() of its own
    seen = []
    with clix_progress.progress_lines(show, 0.01, lambda: "step %d" % len(seen)):
        while len(seen) < 3:
            if path.exists():
                text = path.read_text()
                if text not in seen:
                    assert text.endswith(" s so far\n") and text.count("\n") == 1
                    seen.append(text)
        assert oct(path.parent.stat().st_mode & 0o777) == "0o700" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert [t.split(",")[0] for t in seen] == ["step 0", "step 1", "step 2"]
    assert not path.exists() and os.listdir(path.parent) == []


def test_inside_ansibles_worker_the_module_prints_itself(monkeypatch):
    monkeypatch.setenv(clix_progress.PROGRESS_FILE, "/nonexistent/never-written")
    module = clix_inprocess.InProcessModule({}, False, "mz1", {})
    assert clix_progress.shower(module) == module.progress


def test_a_hosts_line_reaches_the_terminal_with_nothing_a_terminal_would_act_on():
    assert clix_watched.printable("12 documents\x1b]0;owned\x07 \u2028x") == "12 documents\\x1b]0;owned\\x07 ?x"


def big_school(tmp_path: Path, files: int) -> Path:
    root = tmp_path / "2026" / "mz" / "2031001-mz1"
    (root / "gstudio" / "media").mkdir(parents=True)
    for i in range(files):
        (root / "gstudio" / "media" / ("%02d.bin" % i)).write_bytes(b"x" * 1000)
    return root


def run_in_process(module, args: dict, shown: Lines, monkeypatch) -> dict:
    """The module's main() as clix_inprocess runs it, a line every 0.01 s (progress_seconds is whole)."""
    monkeypatch.setattr(clix_inprocess.display, "display", shown)
    monkeypatch.setattr(module, "module_progress", lambda module, describe: clix_progress.progress_lines(
        clix_progress.shower(module), 0.01, describe))
    monkeypatch.setattr(module, "AnsibleModule", lambda **spec: clix_inprocess.InProcessModule(args, False, "mz1", **spec))
    umask = os.umask(0o022)
    try:
        with pytest.raises(clix_inprocess.ModuleExit) as done:
            module.main()
    finally:
        os.umask(umask)
    return done.value.result


def hashing_waits_for_its_line(shown: Lines, monkeypatch, what: str) -> None:
    """Each file is hashed only once a line has said how many were hashed before it."""
    real, hashed = manifest.sha256_file, []

    def slow(*args, **kwargs):
        shown.wait_for("%s: %d files listed, %d read and hashed (%s)" % (
            what, len(hashed), len(hashed), human_bytes(1000 * len(hashed))))
        hashed.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(manifest, "sha256_file", slow)


def test_the_manifests_hashing_says_how_many_files_it_has_read(tmp_path, monkeypatch):
    root, shown = big_school(tmp_path, 4), Lines()
    hashing_waits_for_its_line(shown, monkeypatch, "sealing 2031001-mz1")
    result = run_in_process(clix_manifest_module, dict(root=str(root), school={}, items=[]),
                            shown, monkeypatch)
    assert result["files"] == 4 and not result.get("failed"), result
    assert all(line.startswith("mz1: sealing 2031001-mz1: ") for line in shown.lines)


def test_verify_says_which_school_it_checks_and_how_far_it_got(tmp_path, monkeypatch):
    root = big_school(tmp_path, 3)
    tree = manifest.scan(str(root), ["gstudio"])
    manifest.write(str(root), dict(format=manifest.FORMAT, files=tree.files, top_folders=["gstudio"]))
    shown = Lines()
    hashing_waits_for_its_line(shown, monkeypatch, "verifying school 1 of 1")
    result = run_in_process(clix_verify, dict(path=str(tmp_path / "2026")), shown, monkeypatch)
    assert result["problems"] == 0 and not result.get("failed"), result


def test_a_merge_says_how_many_school_folders_it_has_done(tmp_path, monkeypatch):
    clix_merge = library_module("clix_merge")
    for folder in ("2031001-mz1", "2031002-mz2", "2031003-mz3"):
        (tmp_path / "field" / "2026" / "mz" / folder).mkdir(parents=True)
    shown, merged = Lines(), []

    def merge_school(*args, **kwargs):
        shown.wait_for("merging: %d school folders done, 0 refused, %s copied" % (
            len(merged), human_bytes(1000 * len(merged))))
        merged.append(1)
        return dict(added=1, identical=0, replaced=0, kept_older=0, bytes_copied=1000, problems=[], skipped=[])
    monkeypatch.setattr(clix_merge, "merge_school", merge_school)
    result = run_in_process(clix_merge, dict(source=str(tmp_path / "field"), dest=str(tmp_path / "central")),
                            shown, monkeypatch)
    assert len(result["schools"]) == 3 and not result.get("failed"), result


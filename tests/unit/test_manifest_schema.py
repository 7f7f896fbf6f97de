"""schemas/manifest-1.schema.json: what collect writes follows it; what merge and verify cannot trust
does not; the fast engine (fastjsonschema) and jsonschema agree."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
from ansible.module_utils import clix_schema
from ansible.module_utils.clix_manifest import FORMAT, file_entries

T = "2026-03-01T10:00:00+00:00"


def manifest(tmp_path: Path) -> dict:
    media = tmp_path / "gstudio/media"
    media.mkdir(parents=True)
    (media / "a.png").write_bytes(b"png")
    (media / "latest.link").symlink_to("a.png")
    return dict(format=FORMAT, school=dict(state="mz", server_id="mz1"), top_folders=["gstudio", "unplatform"],
                run=dict(started=T, ended=T, tools=dict(ansible="2.19")), last_complete=None,
                items=dict(media=dict(status="ok", reason=None, collected_at=T, seconds=1.5, skipped_links=[])),
                files=file_entries(str(tmp_path), ["gstudio"]), special_files={}, totals=dict(files=2, bytes=8),
                heartbeat=dict(captured_at=T, load=[0.1]), origins={"gstudio/media/a.png": [dict(archive="A", run=T)]})


BAD = {
    "a top folder of another school": lambda m: m.update(top_folders=["../2031002-mz2"]),
    "an absolute top folder": lambda m: m.update(top_folders=["/etc"]),
    "a top folder ending in a newline": lambda m: m.update(top_folders=["gstudio\n"]),
    "a path out of the folder": lambda m: m["files"].update({"../x": m["files"]["gstudio/media/a.png"]}),
    "a bidi path": lambda m: m["files"].update({"gstudio/\u202egnp.exe": m["files"]["gstudio/media/a.png"]}),
    "a year-1 time": lambda m: m["items"]["media"].update(collected_at="0001-01-01T00:00:00+05:30"),
    "a day that does not exist": lambda m: m.update(last_complete="2026-02-30T10:00:00+00:00"),
    "a size as text": lambda m: m["files"]["gstudio/media/a.png"].update(size="3"),
    "a link without its target": lambda m: m["files"]["gstudio/media/latest.link"].pop("target"),
    "a sha256 with a newline": lambda m: m["files"]["gstudio/media/a.png"].update(
        sha256=m["files"]["gstudio/media/a.png"]["sha256"][:64] + "\n"),
    "items as a list": lambda m: m.update(items=["media"]),
    "an unknown key": lambda m: m.update(owner="root"),
    "another format": lambda m: m.update(format=2),
}


def test_what_collect_writes_follows_the_schema(tmp_path):
    good = manifest(tmp_path)
    assert good["files"]["gstudio/media/latest.link"]["type"] == "link"
    assert clix_schema.problems(good) == []


@pytest.mark.parametrize("bad", sorted(BAD))
def test_what_merge_and_verify_cannot_trust_does_not(tmp_path, bad):
    m = copy.deepcopy(manifest(tmp_path))
    BAD[bad](m)
    found = clix_schema.problems(m)
    assert found and all(c.isprintable() for c in "".join(found)), found
    assert clix_schema.validator().is_valid(json.loads(json.dumps(m))) is False


@pytest.mark.skipif(importlib.util.find_spec("fastjsonschema") is None,
                    reason="fastjsonschema is not installed (requirements.txt): jsonschema checks alone")
def test_the_fast_engine_agrees_with_jsonschema(tmp_path):
    good = manifest(tmp_path)
    clix_schema.fast_check()(good)
    import fastjsonschema

    for change in BAD.values():
        m = copy.deepcopy(good)
        change(m)
        with pytest.raises(fastjsonschema.JsonSchemaException):
            clix_schema.fast_check()(m)

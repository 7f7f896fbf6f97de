"""Settings redaction on the parsed file (module_utils/clix_settings.py): every secret replaced,
everything else byte for byte, nothing executed."""

from __future__ import annotations

import pytest
from ansible.module_utils.clix_settings import REDACTED, SettingsError, redact_settings

R = REDACTED


def redacted(text: str) -> str:
    return redact_settings(text.encode("utf-8")).decode("utf-8")


@pytest.mark.parametrize(("source", "expected"), [
    ("SECRET_KEY = 'abc123'\n", f"SECRET_KEY = '{R}'\n"),
    ("SECRET_KEY = u'abc123'\n", f"SECRET_KEY = u'{R}'\n"),
    ("DB_PASSWORD = r'p\\w'\n", f"DB_PASSWORD = r'{R}'\n"),
    ("API_KEY = b'k3y'\n", f"API_KEY = b'{R}'\n"),
    ('PASSWORD = """multi\nline"""\n', f'PASSWORD = """{R}"""\n'),
    ("GITHUB_TOKEN = ('t0k'  # part one\n    'en')\n", f"GITHUB_TOKEN = ('{R}'  # part one\n    '{R}')\n"),
    ("DATABASES = {'default': {'PASSWORD': \"pw:1\", 'USER': 'glab'}}\n",
     f"DATABASES = {{'default': {{'PASSWORD': \"{R}\", 'USER': 'glab'}}}}\n"),
    ("conn = connect(password='kw', host='h')\n", f"conn = connect(password='{R}', host='h')\n"),
    ("settings.PRIVATE_KEY = 'pk'\n", f"settings.PRIVATE_KEY = '{R}'\n"),
    ("os.environ['AWS_SECRET_ACCESS_KEY'] = 'aws'\n", f"os.environ['AWS_SECRET_ACCESS_KEY'] = '{R}'\n"),
    ("SECRET_KEY: str = 'ann'\n", f"SECRET_KEY: str = '{R}'\n"),
    ("SECRET_KEY = os.environ.get('X', 'fallback')\n", f"SECRET_KEY = os.environ.get('{R}', '{R}')\n"),
    ("TOKEN = f'{prefix}-t0k'\n", f"TOKEN = '{R}'\n"),
    ("BROKER_URL = 'amqp://guest:s3cr@t@localhost:5672//'\n", f"BROKER_URL = 'amqp://guest:{R}@localhost:5672//'\n"),
    ("x = call(\"mongodb://user:pw@host/db?x=1\")\n", f"x = call(\"mongodb://user:{R}@host/db?x=1\")\n"),
    ("SPLIT = 'postgres://u:hid' 'den@host/'\n", f"SPLIT = '{R}' '{R}'\n"),
    ("ESC = 'http://u:p\\x40ss@host/'\n", f"ESC = 'http://u:{R}@host/'\n"),
    ("ESC = 'http://u:pw\\x40host/'\n", f"ESC = '{R}'\n"),  # the '@' only in the value: all of it
    ("F = f'{x}http://a:fpw@h/'\n", f"F = '{R}'\n"),
])
def test_each_way_of_writing_a_secret_is_redacted(source, expected):
    assert redacted(source) == expected


def test_everything_else_stays_byte_for_byte():
    source = ("# -*- coding: utf-8 -*-\r\nNAME = 'café ☕'; SECRET_KEY = 'abc'  # é\r\nDEBUG = False\r\n"
              "KEEP = 'http://user@host/'  # no password\r\nAUTH = {'USER': 'glab', 'PORT': 5432}\r\n")
    out = redacted(source)
    assert out == source.replace("'abc'", f"'{R}'")  # columns after multi-byte characters are right


def test_a_file_in_another_encoding_keeps_it():
    source = "# -*- coding: latin-1 -*-\nNAME = 'Mizoram é'\nPASSWORD = 'sécret'\n".encode("latin-1")
    assert redact_settings(source) == source.replace("'sécret'".encode("latin-1"), f"'{R}'".encode())


def test_nothing_is_executed(tmp_path):
    canary = tmp_path / "ran"
    redacted(f"import os\nos.system('touch {canary}')\nSECRET_KEY = 'x'\n")
    assert not canary.exists()


@pytest.mark.parametrize("source", [b"SECRET_KEY = 'abc\n", b"PASSWORD = 'x'\n\x00", b"# coding: nonsense\nX = 1\n",
                                    b"PASSWORD = '\xff'\n"])
def test_a_file_that_does_not_parse_is_refused(source):
    with pytest.raises(SettingsError, match="not valid Python"):
        redact_settings(source)

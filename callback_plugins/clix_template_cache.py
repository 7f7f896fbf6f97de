"""Ansible's compiled Jinja templates kept between workers and runs (ansible.cfg enables it).

Ansible 2.19 compiles every template string again in every worker, that is for every task and host,
and collect.yml's task on a school server alone compiles about a hundred (its options and the item
table they read): a third of that worker's CPU, measured with 20 schools. Jinja keeps compiled code
for templates read from files (its bytecode cache) but not for the strings Ansible gives it.

This plugin, loaded by the main process before any worker starts, makes the Jinja environment keep the
Python code a template compiles to: in memory, for the process and the workers it forks, and in
.cache/jinja/<versions>/ for later workers and runs. The code of a template depends only on its source
and on what the key holds besides: the lexer's settings, the Jinja extensions (ansible.cfg's
jinja2_extensions), whether backslashes are escaped, whether embedded templates are allowed, and the
versions of Python, Jinja and Ansible. So a kept code is the code the template would compile to, and
it only changes how fast it is had.

A store that is not this user's alone (0700) is not used, since what it holds is run; nor is a file that
cannot be read back as code. Only templates read from the checkout's roles and playbooks are written there
(their Origin, as Ansible tags them): one from an inventory or the command line may hold a credential.
Where Ansible's templating is not what this was written for (another version), the plugin does nothing,
and templates compile as before.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import sys
import types
from pathlib import Path
from typing import Any, Callable

import jinja2
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ANSIBLE_VERSION

sys.path.append(str(Path(__file__).resolve().parents[1]))
import clix_imports

clix_imports.use()
from ansible.module_utils.clix_files import atomic_output, private_to_me  # noqa: E402

DOCUMENTATION = """
name: clix_template_cache
type: aggregate
short_description: Keep Ansible's compiled Jinja templates between workers and runs
description:
  - Loaded by the main process (C(callbacks_enabled) in C(ansible.cfg)), it makes Jinja keep the Python code
    each template string compiles to, in memory and in C(.cache/jinja/) beside the checkout, so that a worker
    compiles a template only the first time any run meets it.
  - Only the templates of the checkout's roles and playbooks are kept on disk; one from an inventory or the
    command line, which may hold a credential as text, is kept in memory only.
  - It prints nothing and changes no result. It does nothing on an Ansible whose templating it does not know.
requirements:
  - enabled in C(callbacks_enabled)
"""

CHECKOUT = Path(__file__).resolve().parents[1]
STORE = CHECKOUT / ".cache" / "jinja"


def own_source(source: str, origin_of: Callable[[str], Any]) -> bool:
    """A template written in this checkout's roles or playbooks, where no credential is written: only those are
    kept on disk (a template given on the command line or in an inventory may hold one, as text)."""
    path = getattr(origin_of(source), "path", None)
    return bool(path) and in_checkout(path)


@functools.lru_cache(maxsize=256)
def in_checkout(path: str) -> bool:
    """A playbook at the checkout's root or a file of its roles."""
    where = Path(path).resolve()
    return where.parent == CHECKOUT or CHECKOUT / "roles" in where.parents


def store_dir(store: Path) -> Path:
    """The store's folder for this Python, Jinja and Ansible (a code object is only good for them)."""
    versions = "\0".join((sys.version, jinja2.__version__, ANSIBLE_VERSION))
    return store / hashlib.sha256(versions.encode()).hexdigest()[:32]


def usable(folder: Path) -> bool:
    """The store's folder, made private when missing; False when it is not this user's alone."""
    try:
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        return private_to_me(folder.parent) and private_to_me(folder)
    except OSError:
        return False


def read_code(path: Path) -> types.CodeType | None:
    try:
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as kept:
            code = marshal.loads(kept.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def write_code(path: Path, code: types.CodeType) -> None:
    try:
        with atomic_output(str(path)) as out:
            out.write(marshal.dumps(code))
    except OSError:
        return


class CodeCache:
    """Jinja's compile(source) with its result kept: in memory, then in folder (None: memory only) for the
    templates of this checkout (own_source, by origin_of: where Ansible read the template)."""

    def __init__(self, compile_: Callable[..., Any], folder: Path | None, origin_of: Callable[[str], Any]) -> None:
        self.compile = compile_
        self.folder = folder
        self.origin_of = origin_of
        self.memory: dict[str, types.CodeType] = {}

    def get(self, env: Any, source: str, key: str, *args: Any) -> types.CodeType:
        """source's code, from memory, the folder or compiled."""
        code = self.memory.get(key)
        if code is not None:
            return code
        kept = self.folder is not None and own_source(source, self.origin_of)
        path = self.folder / hashlib.sha256(key.encode()).hexdigest() if kept else None
        code = read_code(path) if path else None
        if code is None:
            code = self.compile(env, source, *args)
            if path:
                write_code(path, code)
        self.memory[key] = code
        return code


def install(store: Path = STORE) -> CodeCache | None:
    """Wrap AnsibleEnvironment.compile with a CodeCache; None (nothing changed) on an Ansible without it."""
    try:
        from ansible._internal._datatag._tags import Origin
        from ansible._internal._templating import _jinja_bits as bits

        environment = bits.AnsibleEnvironment
        fields = bits._TEMPLATE_OVERRIDE_FIELD_NAMES
        compile_context = bits._TemplateCompileContext
        config = bits._TemplateConfig
        original = environment.compile
    except (ImportError, AttributeError):
        return None
    if getattr(original, "clix_template_cache", None):
        return original.clix_template_cache
    folder = store_dir(store)
    cache = CodeCache(original, folder if usable(folder) else None, Origin.get_tag)

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or defer_init or not isinstance(source, str) or getattr(self, "_debuggable_template_source", True):
            return original(self, source, name, filename, raw, defer_init)
        escaping = compile_context.current(optional=True)
        key = repr((str(source), name, filename, tuple(getattr(self, f) for f in fields), self.optimized,
                    self.autoescape, sorted(self.extensions), type(self).__qualname__, self.code_generator_class.__qualname__,
                    escaping.escape_backslashes if escaping else None, config.allow_embedded_templates))
        return cache.get(self, source, key, name, filename, raw, defer_init)

    compile.clix_template_cache = cache
    environment.compile = compile
    return cache


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "clix_template_cache"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install()

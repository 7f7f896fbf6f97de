# SPDX-License-Identifier: GPL-3.0-or-later
"""A MongoDB URI's password, which the modules that reach MongoDB (clix_mongodump, clix_restore) refuse:
credentials are separate options, kept out of messages, reasons and manifests."""

from __future__ import annotations

from urllib.parse import unquote


def uri_secrets(uri: str) -> list:
    """The password a URI carries (mongodb://user:password@host), as written and decoded; [] when
    it has none. Everything between :// and the last @ counts as user information, so a password
    holding / ? or @ is still found."""
    _scheme, sep, rest = uri.partition("://")
    userinfo, at, _hosts = rest.rpartition("@")
    if not (sep and at) or ":" not in userinfo:
        return []
    password = userinfo.partition(":")[2]
    return [s for s in {userinfo, password, unquote(password)} if s]


def refuse_uri_password(module) -> None:
    """A password inside the URI would reach messages, reasons and manifests: refuse it, and mask
    it in everything the module returns (the invocation included)."""
    secrets = uri_secrets(module.params["uri"])
    if secrets:
        module.no_log_values.update(secrets)
        module.fail_json(msg="uri holds a password (mongodb://user:password@...): it was not used. Give the URI "
                         "without credentials, and the user and password as login_user and login_password "
                         "(the role's clix_mongo_user and clix_mongo_password, kept in an Ansible vault).")

"""Signing in at the command line. Who is acting: `--as USER` on the command or on `safeguard`
itself, else SAFEGUARD_USER; the password from SAFEGUARD_PASSWORD, else a hidden prompt (in a
terminal only). The role is checked against safeguard.access before anything is read or changed,
and the signed-in account, never a free-text name, is what the audit log records."""

from __future__ import annotations

import os
import sys

import click

AS_HELP = ("Sign in as this staff account (else `safeguard --as`, else SAFEGUARD_USER); the "
           "password from SAFEGUARD_PASSWORD or a prompt.")


def entrance(app):
    """The entrance of `app.home`'s store (safeguard.door: signs in, reads nothing); never
    creates a store (that is `safeguard init`)."""
    from consent_db import StoreError
    from safeguard.door import Entrance

    try:
        return Entrance.open(app.home, app.config)
    except StoreError as e:
        raise click.ClickException(str(e)) from e


def command_path() -> str:
    """The running command's path without the program name ("pupils add")."""
    ctx = click.get_current_context(silent=True)
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def credentials(app, as_user: str | None, action: str) -> tuple[str, str]:
    """(user, password) of the person signing in: --as, `safeguard --as` or SAFEGUARD_USER; the
    password from SAFEGUARD_PASSWORD or a hidden prompt (in a terminal only)."""
    from safeguard.access import roles_for

    user = as_user or getattr(app, "user", None) or os.environ.get("SAFEGUARD_USER")
    if not user:
        raise click.ClickException(
            f"sign in first: --as USER or SAFEGUARD_USER (this needs the "
            f"{roles_for(action)} role), with SAFEGUARD_PASSWORD or a password prompt")
    password = os.environ.get("SAFEGUARD_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise click.ClickException(
                f"no password for {user}: set SAFEGUARD_PASSWORD (scripts, services) or run "
                "in a terminal to be asked")
        from safeguard.terminal import shown

        password = click.prompt(f"Password for {shown(user)}", hide_input=True, err=True)
    return user, password


def signed_in(app, action: str | None = None, as_user: str | None = None,
              case_path: str | None = None):
    """(door, staff account) for the running command (safeguard.door.Door: every read and change
    goes through it, checked for the role and the academy scope); exit 1 otherwise.

    The command's case in safeguard.cases decides what the account must be allowed to do; an
    `action` the command asks for as well (a register given to `pupils add`) must be allowed
    too. A command without a case cannot sign in. One sign-in per process: a second call checks
    the role only. `case_path`: a case of its own for what an option of a public command shows
    ("status --matching"), in place of the command's."""
    from safeguard.access import ALLOWED, NEED_ACCEPTED_SETTINGS
    from safeguard.cases import command_case
    from safeguard.door import Refused

    path = case_path or command_path()
    case = command_case(path)
    if case is None or case.action is None or case.action not in ALLOWED:
        raise click.ClickException(f"`{path}` has no access case (safeguard/cases.py): refused")
    actions = list(dict.fromkeys(a for a in (case.action, action) if a))
    gate = entrance(app)
    user = as_user or getattr(app, "user", None) or os.environ.get("SAFEGUARD_USER")
    who = getattr(app, "signed", None)
    if who is None or user is None or who.user != user:
        user, password = credentials(app, as_user, actions[-1])
        from consent_db.staff import valid_user_name

        if not valid_user_name(user):  # checked before it is shown or written anywhere
            raise click.ClickException("sign-in failed: that is not a staff user name (letters, "
                                       "digits, '.', '_', '@' or '-', at most 64)")
        # failures slow down this OS user's further tries, never lock the account
        who = gate.verify_staff(user, password, source=f"uid:{os.getuid()}")
        if who is None:
            raise click.ClickException(
                f"sign-in as {user} failed (wrong password or no such account)")
        if hasattr(app, "signed"):
            app.signed = who
    signed = gate.door(who)
    try:
        for a in actions:
            signed.need(a)
        if case.scope == "trust":
            signed.trust_wide(f"`{path}`")
    except Refused as e:
        raise click.ClickException(str(e)) from None
    if any(a in NEED_ACCEPTED_SETTINGS for a in actions):
        use_accepted_settings(app, gate)
        signed = gate.door(who, app.config)  # the accepted settings, from now on
    return signed, who


def use_accepted_settings(app, store) -> None:
    """Make `app.config` the accepted settings (safeguard.accepted_settings), or exit 1 with
    the one-line reason. A configuration the command read earlier must be the same: it then
    came from the same file (never the defaults put in the place of a file that vanished)."""
    from safeguard.accepted_settings import SettingsNotAccepted, accepted_config

    try:
        checked = accepted_config(app.home, store)
    except SettingsNotAccepted as e:
        raise click.ClickException(str(e)) from None
    earlier = getattr(app, "__dict__", {}).get("config")
    if earlier is not None and earlier != checked:
        from safeguard.accepted_settings import SETTINGS_CHANGED

        raise click.ClickException(SETTINGS_CHANGED)
    if hasattr(app, "__dict__"):
        app.__dict__["config"] = checked  # AppContext.config (a cached property) from now on

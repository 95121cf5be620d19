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


# Actions about particular pupils, held photos or the audit: an academy-scoped account gets the
# store as safeguard.scope limits it.
SCOPED_ACTIONS = frozenset({"pupils.read", "pupils.write", "pupils.erase", "registers", "held",
                            "audit", "find"})


def open_store(app):
    """The consent store of `app.home`; never creates one (that is `safeguard init`)."""
    from consent_db import ConsentStore, StoreError

    try:
        return ConsentStore.open(app.home, channels=app.config.channels)
    except StoreError as e:
        raise click.ClickException(str(e)) from e


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


def signed_in(app, action: str, as_user: str | None = None, store=None):
    """(store, staff account) for a caller allowed to do `action`; exit 1 otherwise. One
    sign-in per process: a second call checks the role only."""
    from safeguard.access import NEED_ACCEPTED_SETTINGS, Refused, check

    store = store if store is not None else open_store(app)
    user = as_user or getattr(app, "user", None) or os.environ.get("SAFEGUARD_USER")
    who = getattr(app, "signed", None)
    if who is None or user is None or who.user != user:
        user, password = credentials(app, as_user, action)
        from consent_db.staff import valid_user_name

        if not valid_user_name(user):  # checked before it is shown or written anywhere
            raise click.ClickException("sign-in failed: that is not a staff user name (letters, "
                                       "digits, '.', '_', '@' or '-', at most 64)")
        # failures slow down this OS user's further tries, never lock the account
        who = store.verify_staff(user, password, source=f"uid:{os.getuid()}")
        if who is None:
            raise click.ClickException(
                f"sign-in as {user} failed (wrong password or no such account)")
        if hasattr(app, "signed"):
            app.signed = who
    try:
        check(who.role, action)
    except Refused as e:
        raise click.ClickException(f"{who.user}: {e}") from None
    if action in NEED_ACCEPTED_SETTINGS:
        use_accepted_settings(app, store)
    if action in SCOPED_ACTIONS:  # an account scoped to an academy sees only its pupils
        from safeguard.scope import scoped

        store = scoped(store, who)
    return store, who


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

"""`safeguard staff`: staff accounts and roles (admin only)."""

from __future__ import annotations

import os

import click

from consent_db.staff import ROLES
from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _emit_json, _run, _signed
from safeguard.terminal import echo, shown

# -- staff ---------------------------------------------------------------------------------


@click.group()
def staff() -> None:
    """Staff accounts and roles (admin only): admin, dsl, slt (sign-off), data, comms."""


@staff.command("add")
@click.argument("user")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="admin: staff accounts; dsl: pupils, registers, held photos, audit; data: "
                   "pupils, consents, enrolment; comms: blur, scan, watch.")
@click.option("--academy", help="Scope the account to one academy of a trust.")
@click.option("--name", "display_name", metavar="TEXT",
              help="The person's name as the review page's audit log shows it (\"Jo Lead\").")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def staff_add(ctx, user, role, academy, display_name, as_user):
    """Add an account (admin only); its password from SAFEGUARD_NEW_PASSWORD or asked twice."""
    store, who = _signed(ctx, as_user, "staff")
    password = os.environ.get("SAFEGUARD_NEW_PASSWORD")
    if password is None:
        password = click.prompt(
            f"Password for {shown(user)}", hide_input=True, confirmation_prompt=True, err=True
        )
    _run(lambda: store.add_staff(user, role, password, actor=who.user, academy=academy,
                                 display_name=display_name))
    echo(f"Added {role} account {user}.")


@staff.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def staff_list(ctx, as_json, as_user):
    """List accounts (never passwords or hashes)."""
    store, _ = _signed(ctx, as_user, "staff")
    rows = store.list_staff()
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        echo("No staff accounts.")
    for r in rows:
        scope = f"  academy {r['academy']}" if r.get("academy") else ""
        name = f"  ({r['display_name']})" if r.get("display_name") else ""
        echo(f"{r['user']:<20} {r['role']}{scope}{name}")


@staff.command("remove")
@click.argument("user")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def staff_remove(ctx, user, as_user):
    """Remove an account."""
    store, who = _signed(ctx, as_user, "staff")
    _run(lambda: store.remove_staff(user, actor=who.user))
    echo(f"Removed {user}.")


@staff.command("change")
@click.argument("user")
@click.option("--role", type=click.Choice(ROLES),
              help="The account's new role.")
@click.option("--academy", help="Scope the account to this academy.")
@click.option("--trust-wide", is_flag=True, help="No academy: the whole trust.")
@click.option("--name", "display_name", metavar="TEXT",
              help="The person's name as the audit log shows it (\"\" removes it).")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def staff_change(ctx, user, role, academy, trust_wide, display_name, as_user):
    """Give an account another role or academy (audited): its review-page sessions end at once;
    or another display name (audited; sessions go on)."""
    if academy and trust_wide:
        raise click.UsageError("--academy and --trust-wide are each other's opposite: give one")
    if not (role or academy or trust_wide or display_name is not None):
        raise click.UsageError("nothing to change: give --role, --academy, --trust-wide or "
                               "--name")
    store, who = _signed(ctx, as_user, "staff")
    s = _run(lambda: store.change_staff(user, actor=who.user, role=role, academy=academy,
                                        trust_wide=trust_wide, display_name=display_name))
    scope = f", academy {s.academy}" if s.academy else ", trust-wide"
    echo(f"{s.user} is now {s.role}{scope}.")


@staff.command("unlock")
@click.argument("user")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def staff_unlock(ctx, user, as_user):
    """Let USER sign in again at once from wherever failed sign-ins made them wait (audited).

    Wrong passwords never lock an account: they slow down the computer or OS user they came
    from. When a colleague shares that computer with whoever guessed, this clears the wait."""
    store, who = _signed(ctx, as_user, "staff")
    n = _run(lambda: store.unlock_staff(user, actor=who.user))
    echo(f"Unlocked {user}" + (f" ({n} waiting source(s) cleared)." if n else "."))

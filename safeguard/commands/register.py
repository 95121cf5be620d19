"""`safeguard pupils register`: protected registers (DSL only)."""

from __future__ import annotations

import click

from safeguard import after_change
from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _date, _run, _search_published, _signed
from safeguard.terminal import echo


@click.group()
def register() -> None:
    """Protected registers (CP plan, looked-after, adopted, court order, other)."""


_REG = click.Choice(["cp", "lac", "adopted", "court-order", "other"])


@register.command("add")
@click.argument("pupil_id")
@click.argument("register_name", metavar="REGISTER", type=_REG)
@click.option("--note", help="DSL-only note.")
@click.option("--since", metavar="YYYY-MM-DD")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def register_add(ctx, pupil_id, register_name, note, since, as_user):
    """Put a pupil on a protected register."""
    store, who = _signed(ctx, as_user, "registers")
    _run(
        lambda: store.add_register(
            pupil_id, register_name, note=note, since=_date(since, "--since"), actor=who.user
        )
    )
    echo(f"Recorded {register_name} for {pupil_id}.")
    _search_published(ctx, pupil_id, after_change.REGISTER_ADDED)


@register.command("remove")
@click.argument("pupil_id")
@click.argument("register_name", metavar="REGISTER", type=_REG)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def register_remove(ctx, pupil_id, register_name, as_user):
    """Take a pupil off a protected register."""
    store, who = _signed(ctx, as_user, "registers")
    _run(lambda: store.remove_register(pupil_id, register_name, actor=who.user))
    echo(f"Removed {register_name} for {pupil_id}.")

"""`safeguard pupils consent`: photo consent per channel (grant, refuse, withdraw)."""

from __future__ import annotations

import click

from safeguard import after_change
from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _date, _run, _search_published, _signed
from safeguard.terminal import echo


@click.group()
def consent() -> None:
    """Photo consent per channel."""


@consent.command("grant")
@click.argument("pupil_id")
@click.argument("channel")
@click.option("--by", "given_by", required=True, help="Who gave consent (parent/carer).")
@click.option("--date", "on", metavar="YYYY-MM-DD", help="When (default today).")
@click.option("--evidence", help="Reference to the signed form or message.")
@click.option("--expires", metavar="YYYY-MM-DD", help="Last day the consent is valid.")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def consent_grant(ctx, pupil_id, channel, given_by, on, evidence, expires, as_user):
    """Record photo consent for a channel."""
    store, who = _signed(ctx, as_user, "pupils.write")
    _run(
        lambda: store.grant_consent(
            pupil_id,
            channel,
            given_by=given_by,
            date=_date(on, "--date"),
            evidence=evidence,
            expires=_date(expires, "--expires"),
            actor=who.user,
        )
    )
    echo(f"Consent for {channel} recorded for {pupil_id}.")


@consent.command("refuse")
@click.argument("pupil_id")
@click.argument("channel")
@click.option("--by", "given_by", required=True, help="Who refused (parent/carer).")
@click.option("--date", "on", metavar="YYYY-MM-DD")
@click.option("--evidence")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def consent_refuse(ctx, pupil_id, channel, given_by, on, evidence, as_user):
    """Record that consent for a channel was refused."""
    store, who = _signed(ctx, as_user, "pupils.write")
    p = store.get_pupil(pupil_id)
    before = ((p or {}).get("consents", {}).get(channel) or {}).get("state")
    _run(
        lambda: store.refuse_consent(
            pupil_id,
            channel,
            given_by=given_by,
            date=_date(on, "--date"),
            evidence=evidence,
            actor=who.user,
        )
    )
    echo(f"Refusal for {channel} recorded for {pupil_id}.")
    if after_change.needs_search(before, "refused"):
        _search_published(ctx, pupil_id, after_change.refused(channel))


@consent.command("withdraw")
@click.argument("pupil_id")
@click.argument("channel")
@click.option("--by", required=True, help="Who withdrew consent.")
@click.option("--date", "on", metavar="YYYY-MM-DD")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def consent_withdraw(ctx, pupil_id, channel, by, on, as_user):
    """Withdraw photo consent for a channel (effective immediately, in every process)."""
    store, who = _signed(ctx, as_user, "pupils.write")
    _run(
        lambda: store.withdraw_consent(
            pupil_id, channel, by=by, date=_date(on, "--date"), actor=who.user
        )
    )
    echo(f"Consent for {channel} withdrawn for {pupil_id}.")
    _search_published(ctx, pupil_id, after_change.withdrawn(channel))

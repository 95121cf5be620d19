"""`safeguard pupils biometric`: the biometric consent ledger."""

from __future__ import annotations

import click

from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _date, _no_search_after_biometric, _run, _signed
from safeguard.terminal import echo


@click.group()
def biometric() -> None:
    """The biometric consent ledger (Protection of Freedoms Act 2012 ss.26-27)."""


@biometric.command("notify")
@click.argument("pupil_id")
@click.option("--parent", required=True, help="The parent notified.")
@click.option("--date", "on", metavar="YYYY-MM-DD")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def bio_notify(ctx, pupil_id, parent, on, as_user):
    """Record that a parent was notified of biometric processing."""
    store, who = _signed(ctx, as_user, "pupils.write")
    _run(
        lambda: store.biometric_notify(
            pupil_id, parent, date=_date(on, "--date"), actor=who.user
        )
    )
    echo(f"Notification of {parent} recorded for {pupil_id}.")


@biometric.command("consent")
@click.argument("pupil_id")
@click.option("--parent", required=True, help="The parent who consented in writing.")
@click.option("--date", "on", metavar="YYYY-MM-DD")
@click.option("--evidence", help="Reference to the written consent.")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def bio_consent(ctx, pupil_id, parent, on, evidence, as_user):
    """Record a parent's written consent."""
    store, who = _signed(ctx, as_user, "pupils.write")
    _run(
        lambda: store.biometric_consent(
            pupil_id, parent, date=_date(on, "--date"), evidence=evidence, actor=who.user
        )
    )
    st = store.biometric_status(pupil_id)
    echo(
        f"Consent recorded for {pupil_id}; biometric processing "
        f"{'allowed' if st.allowed else 'NOT allowed: ' + st.reason}."
    )


@biometric.command("object")
@click.argument("pupil_id")
@click.option("--parent", help="The parent who objects.")
@click.option("--child", is_flag=True, help="The child objects (any age, any form).")
@click.option("--form", type=click.Choice(["written", "verbal", "behaviour"]))
@click.option("--date", "on", metavar="YYYY-MM-DD")
@click.option("--note")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def bio_object(ctx, pupil_id, parent, child, form, on, note, as_user):
    """Record an objection; the pupil's encodings are destroyed at once."""
    if bool(parent) == child:
        raise click.UsageError("give either --parent NAME or --child")
    store, who = _signed(ctx, as_user, "pupils.write")
    n = _run(
        lambda: store.biometric_object(
            pupil_id,
            "child" if child else parent,
            child=child,
            form=form,
            date=_date(on, "--date"),
            note=note,
            actor=who.user,
        )
    )
    echo(f"Objection recorded for {pupil_id}; {n} encoding(s) destroyed.")
    _no_search_after_biometric(ctx, pupil_id)


@biometric.command("withdraw")
@click.argument("pupil_id")
@click.option("--by", required=True, help="Who withdrew consent.")
@click.option("--date", "on", metavar="YYYY-MM-DD")
@click.option("--note")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def bio_withdraw(ctx, pupil_id, by, on, note, as_user):
    """Record withdrawal of biometric consent; the encodings are destroyed at once."""
    store, who = _signed(ctx, as_user, "pupils.write")
    n = _run(
        lambda: store.biometric_withdraw(
            pupil_id, by, date=_date(on, "--date"), note=note, actor=who.user
        )
    )
    echo(f"Withdrawal recorded for {pupil_id}; {n} encoding(s) destroyed.")
    _no_search_after_biometric(ctx, pupil_id)

"""What the store's commands share: sign-in, store errors as click errors, dates, JSON, and the
steps after a change (the published-photo search)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click

from safeguard.terminal import echo, echo_json

# -- helpers -------------------------------------------------------------------------------


def _signed(ctx: click.Context, as_user: str | None, action: str):
    """(store, signed-in staff account) allowed to do `action` (safeguard.access)."""
    from safeguard.commands.signin import signed_in

    return signed_in(ctx.find_root().obj, action, as_user)


def _run(fn: Callable[[], Any]) -> Any:
    from consent_db import StoreError

    try:
        return fn()
    except StoreError as e:
        raise click.ClickException(str(e)) from e


def _date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=what) from e


def _emit_json(obj: Any) -> None:
    echo_json(obj)


def _summary(store, p: dict, today: dt.date, dsl: bool, stale_days: int) -> dict:
    """What a listing shows of one pupil (consent_db.records.pupil_summary); registers only when
    the viewer's role may see them."""
    from consent_db.records import pupil_summary

    return pupil_summary(p, store.channels, today, stale_days=stale_days, show_registers=dsl)


def _search_published(ctx: click.Context, pupil_id: str, reason: str) -> None:
    """After a change that means published photos of the pupil must come down (the store change
    is committed): safeguard.after_change searches them and lists the hits for takedown."""
    from safeguard.after_change import search_published

    _say(search_published(ctx.find_root().obj.home, pupil_id, reason))


def _say(note) -> None:
    if note.message:
        echo(note.message, err=note.warning)


def _no_search_after_biometric(ctx: click.Context, pupil_id: str) -> None:
    """Biometric withdrawal or objection destroys the encodings at once (the law leaves no time to
    search first), so the published-photo index cannot be searched for the pupil any more."""
    from safeguard.index import PhotoIndex

    if PhotoIndex(ctx.find_root().obj.home).exists():
        echo(
            f"{pupil_id}'s face encodings are destroyed, so published photos cannot be searched"
            " for them automatically; if photos must come down, ask the DSL to check by hand."
        )

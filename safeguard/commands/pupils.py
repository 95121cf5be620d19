"""`safeguard pupils`, `safeguard audit`, `safeguard staff`: thin click commands over consent_db.

Who acts (the audit log's actor): `--as USER`, else env SAFEGUARD_USER, else the OS login name.
Registers and DSL-only reasons are shown only to a DSL: `--as USER` with the password from env
SAFEGUARD_PASSWORD or a prompt, checked against the staff accounts (`safeguard staff add`).
Recording a register needs no password (the data manager records it; nobody sees it back).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from safeguard import after_change
from safeguard.commands.signin import AS_HELP

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
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _summary(store, p: dict, today: dt.date, dsl: bool, stale_days: int) -> dict:
    """What a listing shows of one pupil. Registers only for a DSL."""
    from consent_db import ledger
    from consent_db.store import consent_state, expiring_consents, stale_encodings

    consents = {}
    for ch in store.channels:
        ok, why = consent_state(p["consents"].get(ch), ch, today)
        rec = p["consents"].get(ch) or {}
        consents[ch] = (
            "yes" if ok else ("expired" if "expired" in why else rec.get("state") or "none")
        )
    out = {
        "id": p["id"],
        "name": p["name"],
        "academy": p.get("academy"),
        "year": p.get("year"),
        "leaving_date": p.get("leaving_date"),
        "groups": list(p.get("groups") or []),
        "consents": consents,
        "biometric": ledger.status(p["biometric"]).allowed,
        "encodings": len(p.get("encodings", [])),
        "stale_encodings": len(stale_encodings(p, today, stale_days)),
        "expiring": expiring_consents(p, today, 30),
    }
    if dsl:
        out["registers"] = [r["register"] for r in p.get("registers", [])]
    return out


def _search_published(ctx: click.Context, pupil_id: str, reason: str) -> None:
    """After a change that means published photos of the pupil must come down (the store change
    is committed): safeguard.after_change searches them and lists the hits for takedown."""
    from safeguard.after_change import search_published

    _say(search_published(ctx.find_root().obj.home, pupil_id, reason))


def _say(note) -> None:
    if note.message:
        click.echo(note.message, err=note.warning)


def _no_search_after_biometric(ctx: click.Context, pupil_id: str) -> None:
    """Biometric withdrawal or objection destroys the encodings at once (the law leaves no time to
    search first), so the published-photo index cannot be searched for the pupil any more."""
    from safeguard.index import PhotoIndex

    if PhotoIndex(ctx.find_root().obj.home).exists():
        click.echo(
            f"{pupil_id}'s face encodings are destroyed, so published photos cannot be searched"
            " for them automatically; if photos must come down, ask the DSL to check by hand."
        )


# -- pupils --------------------------------------------------------------------------------


@click.group()
def pupils() -> None:
    """Pupils, photo consent, protected registers, biometric consent and encodings."""


@pupils.command("add")
@click.argument("pupil_id")
@click.option("--name", required=True, help="Full name.")
@click.option(
    "--consent",
    "consents",
    multiple=True,
    metavar="CHANNEL=yes|no",
    help="Photo consent for a channel, recorded as given today (repeatable).",
)
@click.option(
    "--register",
    "registers",
    multiple=True,
    type=click.Choice(["cp", "lac", "adopted", "court-order", "other"]),
    help="Protected register (repeatable). Seen later only by DSLs.",
)
@click.option(
    "--biometric-consent",
    is_flag=True,
    help="Record written parental consent to biometric processing (today).",
)
@click.option("--academy")
@click.option("--year", help="Year or class.")
@click.option("--leaving-date", metavar="YYYY-MM-DD")
@click.option("--group", "groups", multiple=True, metavar="NAME",
              help="Class, club or team (repeatable), e.g. --group 4O --group choir.")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def add(
    ctx,
    pupil_id,
    name,
    consents,
    registers,
    biometric_consent,
    academy,
    year,
    leaving_date,
    groups,
    as_user,
):
    """Add a pupil."""
    parsed: dict[str, bool] = {}
    for c in consents:
        ch, sep, val = c.partition("=")
        val = val.strip().lower()
        if not sep or val not in ("yes", "no", "y", "n", "true", "false"):
            raise click.BadParameter(
                f"{c!r}: use CHANNEL=yes or CHANNEL=no", param_hint="--consent"
            )
        parsed[ch.strip()] = val in ("yes", "y", "true")
    store, who = _signed(ctx, as_user, "registers" if registers else "pupils.write")
    _run(
        lambda: store.add_pupil(
            pupil_id,
            name,
            consents=parsed,
            registers=list(registers),
            biometric_consent=biometric_consent,
            academy=academy,
            year=year,
            leaving_date=_date(leaving_date, "--leaving-date"),
            groups=groups,
            actor=who.user,
        )
    )
    click.echo(f"Added {pupil_id} ({name}).")


@pupils.command("update")
@click.argument("pupil_id")
@click.option("--name")
@click.option("--academy")
@click.option("--year")
@click.option("--leaving-date", metavar="YYYY-MM-DD")
@click.option("--group", "groups", multiple=True, metavar="NAME",
              help="Replace the pupil's groups: class, club or team (repeatable).")
@click.option("--no-groups", is_flag=True, help="Remove the pupil from every group.")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def update(ctx, pupil_id, name, academy, year, leaving_date, groups, no_groups, as_user):
    """Change a pupil's name, academy, year, leaving date or groups."""
    if groups and no_groups:
        raise click.UsageError("--group and --no-groups together")
    store, who = _signed(ctx, as_user, "pupils.write")
    _run(
        lambda: store.update_pupil(
            pupil_id,
            name=name,
            academy=academy,
            year=year,
            leaving_date=_date(leaving_date, "--leaving-date"),
            groups=[] if no_groups else (list(groups) or None),
            actor=who.user,
        )
    )
    click.echo(f"Updated {pupil_id}.")


@pupils.command("show")
@click.argument("pupil_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def show(ctx, pupil_id, as_json, as_user):
    """Everything about one pupil (registers only for a DSL)."""
    from consent_db import ledger

    store, who = _signed(ctx, as_user, "pupils.read")
    dsl = who.role == "dsl"
    p = store.get_pupil(pupil_id)
    if p is None:
        raise click.ClickException(f"no pupil {pupil_id}")
    today = dt.date.today()
    stale_days = ctx.find_root().obj.config.stale_encoding_days
    summary = _summary(store, p, today, dsl, stale_days)
    detail = {
        **summary,
        "consent_records": p["consents"],
        "biometric_status": ledger.status(p["biometric"]).reason,
        "biometric_ledger": p["biometric"],
        "encoding_dates": [e["photo_date"] for e in p["encodings"]],
    }
    if dsl:
        detail["registers"] = p["registers"]
    if as_json:
        _emit_json(detail)
        return
    click.echo(f"{p['id']}  {p['name']}")
    for k in ("academy", "year", "leaving_date"):
        if p.get(k):
            click.echo(f"  {k.replace('_', ' ')}: {p[k]}")
    click.echo("  photo consent:")
    for ch, state in summary["consents"].items():
        rec = p["consents"].get(ch) or {}
        extra = ", ".join(
            f"{k} {rec[k]}"
            for k in ("by", "date", "expires", "evidence", "withdrawn_on")
            if rec.get(k)
        )
        click.echo(f"    {ch:<11} {state}{'  (' + extra + ')' if extra else ''}")
    click.echo(
        f"  biometric: {'allowed' if summary['biometric'] else 'not allowed'}"
        f" ({detail['biometric_status']})"
    )
    click.echo(
        f"  encodings: {summary['encodings']}"
        f" ({summary['stale_encodings']} older than {stale_days} days)"
    )
    if dsl:
        regs = (
            ", ".join(
                f"{r['register']} since {r['since']}" + (f" ({r['note']})" if r.get("note") else "")
                for r in p["registers"]
            )
            or "none"
        )
        click.echo(f"  registers (DSL only): {regs}")


@pupils.command("list")
@click.option(
    "--restricted-for",
    metavar="CHANNEL",
    help="Only pupils who may not appear on CHANNEL (no valid consent, or a register).",
)
@click.option(
    "--register",
    type=click.Choice(["any", "cp", "lac", "adopted", "court-order", "other"]),
    help="Only pupils on this register (DSL only).",
)
@click.option(
    "--stale",
    is_flag=True,
    help="Only pupils with encodings older than the configured stale_encoding_days (default 365).",
)
@click.option(
    "--expiring",
    type=int,
    metavar="DAYS",
    help="Only pupils with a photo consent expiring within DAYS days.",
)
@click.option("--group", metavar="NAME", help="Only this group's pupils: a class roster.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def list_(ctx, restricted_for, register, stale, expiring, group, as_json, as_user):
    """List pupils, optionally filtered."""
    store, who = _signed(ctx, as_user, "registers" if register else "pupils.read")
    dsl = who.role == "dsl"
    stale_days = ctx.find_root().obj.config.stale_encoding_days
    today = dt.date.today()
    rows = _run(
        lambda: store.list_pupils(
            restricted_for=restricted_for,
            register=register,
            stale=stale,
            stale_days=stale_days,
            expiring_within=expiring,
            today=today,
        )
    )
    if group:
        rows = [p for p in rows
                if group.casefold() in {g.casefold() for g in p.get("groups") or ()}]
    if restricted_for and not dsl:
        # Need to know: a pupil with consent who is still restricted is on a register. Without a
        # DSL sign-in, list only those restricted by their consent, and say that others exist.
        from consent_db.store import consent_state

        rows = [p for p in rows
                if not consent_state((p.get("consents") or {}).get(restricted_for), restricted_for,
                                     today)[0]]
        click.echo("(pupils restricted for other reasons are listed to a DSL only: add --as USER)",
                   err=True)
    out = [_summary(store, p, today, dsl, stale_days) for p in rows]
    if as_json:
        _emit_json(out)
        return
    if not out:
        click.echo("No pupils.")
        return
    for s in out:
        consent = " ".join(f"{ch}:{v}" for ch, v in s["consents"].items())
        line = f"{s['id']:<10} {s['name']:<28} {consent}  enc:{s['encodings']}"
        if s["groups"]:
            line += f"  groups:{';'.join(s['groups'])}"
        if s["stale_encodings"]:
            line += f" (stale {s['stale_encodings']})"
        if dsl and s["registers"]:
            line += f"  REG:{','.join(s['registers'])}"
        click.echo(line)


@pupils.group("consent")
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
    click.echo(f"Consent for {channel} recorded for {pupil_id}.")


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
    click.echo(f"Refusal for {channel} recorded for {pupil_id}.")
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
    click.echo(f"Consent for {channel} withdrawn for {pupil_id}.")
    _search_published(ctx, pupil_id, after_change.withdrawn(channel))


@pupils.group("register")
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
    click.echo(f"Recorded {register_name} for {pupil_id}.")
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
    click.echo(f"Removed {register_name} for {pupil_id}.")


@pupils.group("biometric")
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
    click.echo(f"Notification of {parent} recorded for {pupil_id}.")


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
    click.echo(
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
    click.echo(f"Objection recorded for {pupil_id}; {n} encoding(s) destroyed.")
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
    click.echo(f"Withdrawal recorded for {pupil_id}; {n} encoding(s) destroyed.")
    _no_search_after_biometric(ctx, pupil_id)


@pupils.command("enrol")
@click.argument("pupil_id", required=False)
@click.argument(
    "photos", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Enrol a whole photo export: DIR/<pupil_id>.<ext> or DIR/<pupil_id>/*.<ext>.",
)
@click.option(
    "--taken",
    metavar="YYYY-MM-DD",
    help="When the photos were taken (default: EXIF DateTimeOriginal, else file time).",
)
@click.option(
    "--allow-lookalike",
    is_flag=True,
    help="Enrol even if a photo looks like another enrolled pupil (twins, siblings).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per pupil, then a summary.")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def enrol(ctx, pupil_id, photos, folder, taken, allow_lookalike, as_json, as_user):
    """Store face encodings of a pupil from reference photos (one face each, sharp, large, and
    not the same face as another enrolled pupil), or of every pupil in --folder.

    With --folder: one line (or JSON object) per pupil, enrolled or refused with the reason, then
    a summary; exit 3 when some were refused. Each pupil is all or nothing."""
    from safeguard.calibration import lookalike_tolerance, spread_of
    from safeguard.enrolment import enrol_pupil, folder_photos, with_pupil

    if folder is not None and (pupil_id or photos):
        raise click.UsageError("give PUPIL_ID PHOTOS... or --folder DIR, not both")
    if folder is None and not (pupil_id and photos):
        raise click.UsageError("give PUPIL_ID PHOTOS... or --folder DIR")
    batch = folder_photos(folder) if folder is not None else {pupil_id: list(photos)}
    if folder is not None and not batch:
        raise click.ClickException(f"{folder}: no photos named <pupil_id>.<ext> or in "
                                   "<pupil_id>/ folders")
    store, who = _signed(ctx, as_user, "pupils.write")
    cfg = ctx.find_root().obj.config
    matrix = _run(lambda: store.match_matrix(cfg.default_channel))
    spread = spread_of(matrix)  # measured once: a batch changes it little
    when = _date(taken, "--taken")
    actor = who.user
    results = []
    for pid, paths in batch.items():
        others = len(set(matrix.pupil_ids) - {pid})
        res = enrol_pupil(store, pid, paths, matrix=matrix,
                          lookalike_tolerance=lookalike_tolerance(others, spread, cfg),
                          allow_lookalike=allow_lookalike, taken=when, actor=actor)
        if res.ok:
            matrix = with_pupil(matrix, pid, res.encodings)
        results.append(res)
        if as_json and folder is not None:
            click.echo(json.dumps(res.as_dict(), ensure_ascii=False))
        elif folder is not None:
            for w in res.warnings:
                click.echo(f"warning {pid}: {w}", err=True)
            click.echo(f"{pid}: enrolled {res.enrolled} photo(s)" if res.ok
                       else f"{pid}: refused: {'; '.join(res.refused)}")
    refused = [r for r in results if not r.ok]
    if folder is None:
        res = results[0]
        if as_json:
            click.echo(json.dumps(res.as_dict(), ensure_ascii=False))
        for w in res.warnings:
            click.echo(f"warning {w}", err=True)
        if not res.ok:
            for line in res.refused:
                click.echo(f"refused {line}", err=True)
            raise click.ClickException(f"nothing enrolled for {pupil_id}")
        if not as_json:
            click.echo(f"Enrolled {res.enrolled} photo(s) for {pupil_id}.")
        return
    summary = {"summary": True, "pupils": len(results), "enrolled": len(results) - len(refused),
               "refused": len(refused), "encodings": sum(r.enrolled for r in results)}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"{summary['pupils']} pupils: {summary['enrolled']} enrolled, "
                   f"{summary['refused']} refused ({summary['encodings']} photos stored).")
    if refused:
        ctx.exit(3)


@pupils.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="THEIR_COLUMN=OUR_COLUMN",
    help="Rename a column of the export (repeatable), e.g. --map UPN=pupil_id.",
)
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def import_(ctx, csv_file, dry_run, mapping, as_json, as_user):
    """Import pupils and consents from CSV (format: docs/store.md). All rows or none."""
    from consent_db.csvimport import CsvImportError, import_csv

    renames = {}
    for m in mapping:
        a, sep, b = m.partition("=")
        if not sep:
            raise click.BadParameter(f"{m!r}: use THEIR_COLUMN=OUR_COLUMN", param_hint="--map")
        renames[a.strip()] = b.strip()
    store, who = _signed(ctx, as_user, "pupils.write")
    try:
        report = import_csv(store, csv_file, dry_run=dry_run, renames=renames, actor=who.user,
                            registers_allowed=who.role == "dsl")
    except CsvImportError as e:
        for line in e.problems:
            click.echo(line, err=True)
        raise click.ClickException(f"{csv_file}: {len(e.problems)} bad row(s); nothing imported")
    reasons = {"withdrawn": after_change.withdrawn, "refused": after_change.refused,
               "register": lambda _: after_change.REGISTER_ADDED}
    notes = after_change.search_all(
        ctx.find_root().obj.home,
        [(s["pupil"], reasons[s["why"]](s["channel"])) for s in report["searches"]])
    if as_json:
        report["takedown_searches"] = [
            {"pupil": n.pupil_id, "reason": n.reason, "message": n.message,
             "takedown_item": n.takedown_item} for n in notes if n.message]
        _emit_json(report)
        return
    for ch in report["changes"]:
        click.echo(f"line {ch['line']}: {ch['pupil']}: {'; '.join(ch['what'])}")
    verb = "would change" if dry_run else "changed"
    click.echo(f"{len(report['changes'])} pupil(s) {verb}; {report['unchanged']} unchanged.")
    for n in notes:
        _say(n)


@pupils.command("erase")
@click.argument("pupil_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--reason", default="erasure request")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def erase(ctx, pupil_id, yes, reason, as_user):
    """Right to erasure: remove the pupil's data and encodings (the audit log keeps a tombstone)."""
    store, who = _signed(ctx, as_user, "pupils.erase")
    if store.get_pupil(pupil_id) is None:
        raise click.ClickException(f"no pupil {pupil_id}")
    if not yes:
        click.confirm(f"Erase everything held about {pupil_id}?", abort=True, err=True)
    n = _run(lambda: store.erase(pupil_id, reason=reason, actor=who.user))
    click.echo(f"Erased {pupil_id} ({n} encoding(s) destroyed).")


@pupils.command("export")
@click.argument("pupil_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report here (0600) instead of standard output.",
)
@click.option(
    "--as",
    "as_user",
    required=True,
    help="A DSL account (the report includes"
    " registers; the DSL decides what is disclosed). Password as for views.",
)
@click.pass_context
def export(ctx, pupil_id, output, as_user):
    """Subject access report: everything held about the pupil and the audit entries about them."""
    store, _ = _signed(ctx, as_user, "registers")
    report = _run(lambda: store.export(pupil_id))
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    if output:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        click.echo(f"Subject access report for {pupil_id} written to {output}.")
    else:
        click.echo(text)


@pupils.command("purge")
@click.option("--dry-run", is_flag=True)
@click.option(
    "--retention-days",
    type=int,
    default=None,
    help="Erase leavers this many days after leaving (config leaver_retention_days, default"
    " 365). Encodings go on the leaving date.",
)
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def purge(ctx, dry_run, retention_days, as_json, as_user):
    """Remove data past retention: leavers' encodings, then leavers' records."""
    cfg = ctx.find_root().obj.config
    days = (
        retention_days
        if retention_days is not None
        else int(cfg.extra.get("leaver_retention_days", cfg.leaver_retention_days))
    )
    store, who = _signed(ctx, as_user, "pupils.erase")
    plan = _run(lambda: store.purge(retention_days=days, dry_run=dry_run, actor=who.user))
    if as_json:
        _emit_json(plan)
        return
    verb = "would be" if dry_run else "were"
    click.echo(
        f"{len(plan['encodings_destroyed'])} leaver(s)' encodings {verb} destroyed"
        + (f": {', '.join(plan['encodings_destroyed'])}" if plan["encodings_destroyed"] else "")
    )
    click.echo(
        f"{len(plan['erased'])} leaver(s) {verb} erased"
        + (f": {', '.join(plan['erased'])}" if plan["erased"] else "")
    )


# -- audit ---------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The hash-chained audit log of every change to the consent store."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def audit_verify(ctx, as_json, as_user):
    """Check the chain: an edited, deleted or cut-off entry is reported (exit 1)."""
    store, _ = _signed(ctx, as_user, "audit.verify")
    r = store.audit.verify()
    if as_json:
        _emit_json({"ok": r.ok, "entries": r.entries, "problems": r.problems, "notes": r.notes})
    else:
        for n in r.notes:
            click.echo(f"note: {n}")
        for p in r.problems:
            click.echo(f"TAMPERED: {p}")
        click.echo(f"{r.entries} entries; chain {'intact' if r.ok else 'BROKEN'}.")
    if not r.ok:
        ctx.exit(1)


@audit.command("list")
@click.option("--pupil", help="Only entries about this pupil (or staff user).")
@click.option("--since", metavar="YYYY-MM-DD")
@click.option("--until", metavar="YYYY-MM-DD")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def audit_list(ctx, pupil, since, until, as_json, as_user):
    """Show audit entries."""
    store, _ = _signed(ctx, as_user, "audit")
    rows = store.audit.entries(
        pupil=pupil, since=_date(since, "--since"), until=_date(until, "--until")
    )
    if as_json:
        _emit_json(rows)
        return
    for e in rows:
        details = " ".join(f"{k}={v}" for k, v in e["details"].items())
        click.echo(
            f"{e['seq']:>6} {e['ts'][:19]} {e['actor']:<12} {e['action']:<22}"
            f" {e['subject'] or '-':<10} {details}"
        )


# -- staff ---------------------------------------------------------------------------------


@click.group()
def staff() -> None:
    """Staff accounts and roles (admin only): admin, dsl, data, comms."""


@staff.command("add")
@click.argument("user")
@click.option("--role", type=click.Choice(["admin", "dsl", "data", "comms"]), required=True,
              help="admin: staff accounts; dsl: pupils, registers, held photos, audit; data: "
                   "pupils, consents, enrolment; comms: blur, scan, watch.")
@click.option("--academy", help="Scope the account to one academy of a trust.")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def staff_add(ctx, user, role, academy, as_user):
    """Add an account (admin only); its password from SAFEGUARD_NEW_PASSWORD or asked twice."""
    store, who = _signed(ctx, as_user, "staff")
    password = os.environ.get("SAFEGUARD_NEW_PASSWORD")
    if password is None:
        password = click.prompt(
            f"Password for {user}", hide_input=True, confirmation_prompt=True, err=True
        )
    _run(lambda: store.add_staff(user, role, password, actor=who.user, academy=academy))
    click.echo(f"Added {role} account {user}.")


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
        click.echo("No staff accounts.")
    for r in rows:
        locked = f"  locked until {r['locked_until']}" if r.get("locked_until") else ""
        scope = f"  academy {r['academy']}" if r.get("academy") else ""
        click.echo(f"{r['user']:<20} {r['role']}{scope}{locked}")


@staff.command("remove")
@click.argument("user")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def staff_remove(ctx, user, as_user):
    """Remove an account."""
    store, who = _signed(ctx, as_user, "staff")
    _run(lambda: store.remove_staff(user, actor=who.user))
    click.echo(f"Removed {user}.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pupils())

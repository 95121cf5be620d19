"""`safeguard pupils`: thin click commands over consent_db (consent, register and biometric are
subgroups in their own modules).

Every command signs in (`--as USER` or SAFEGUARD_USER, with SAFEGUARD_PASSWORD or a prompt) with
a role allowed to do it (safeguard/access.py); the audit log's actor is the signed-in account.
Registers and DSL-only reasons are shown only to a DSL, and only a DSL records a register.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import click

from safeguard import after_change
from safeguard.access import may
from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _date, _emit_json, _run, _say, _signed, _summary
from safeguard.exitcodes import ExitStatus, NeedsChange, exit_codes_help
from safeguard.terminal import echo, shown

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
    was = store.tombstone(pupil_id)  # only a DSL is told (safeguard.door)
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
    echo(f"Added {pupil_id} ({name}).")
    if was:
        echo(f"{pupil_id} was on a protected register when it was erased ({was['erased']}): "
             "record the register again if it still applies (`safeguard pupils register add`).")


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
    echo(f"Updated {pupil_id}.")


@pupils.command("show")
@click.argument("pupil_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def show(ctx, pupil_id, as_json, as_user):
    """Everything about one pupil (registers only for a DSL)."""
    from consent_db import ledger

    store, who = _signed(ctx, as_user, "pupils.read")
    dsl = may(who.role, "registers")
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
    echo(f"{p['id']}  {p['name']}")
    for k in ("academy", "year", "leaving_date"):
        if p.get(k):
            echo(f"  {k.replace('_', ' ')}: {p[k]}")
    echo("  photo consent:")
    for ch, state in summary["consents"].items():
        rec = p["consents"].get(ch) or {}
        extra = ", ".join(
            f"{k} {rec[k]}"
            for k in ("by", "date", "expires", "evidence", "withdrawn_on")
            if rec.get(k)
        )
        echo(f"    {ch:<11} {state}{'  (' + extra + ')' if extra else ''}")
    echo(
        f"  biometric: {'allowed' if summary['biometric'] else 'not allowed'}"
        f" ({detail['biometric_status']})"
    )
    echo(
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
        echo(f"  registers (DSL only): {regs}")


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
    dsl = may(who.role, "registers")
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
        echo("(pupils restricted for other reasons are listed to a DSL only: add --as USER)",
             err=True)
    out = [_summary(store, p, today, dsl, stale_days) for p in rows]
    if as_json:
        _emit_json(out)
        return
    if not out:
        echo("No pupils.")
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
        echo(line)


@pupils.command("enrol", epilog=exit_codes_help(ExitStatus.OK, ExitStatus.ERROR, ExitStatus.USAGE,
                                                 ExitStatus.NEEDS_CHANGE))
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
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="With --folder: photos examined at once (default: one per CPU).")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def enrol(ctx, pupil_id, photos, folder, taken, allow_lookalike, as_json, jobs, as_user):
    """Store face encodings of a pupil from reference photos (one face each, sharp, large, and
    not the same face as another enrolled pupil), or of every pupil in --folder.

    With --folder: one line (or JSON object) per pupil, enrolled or refused with the reason, then
    a summary. Each pupil is all or nothing; a pupil refused (with --folder: any pupil) ends
    with exit code 6, their photos to be changed. A new year's export adds to each pupil's
    references (confirmed faces and earlier photos stay); a photo a pupil is already enrolled
    from is skipped."""
    from safeguard.enrolment import enrol_batch, folder_photos

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
    when = _date(taken, "--taken")
    results = []
    jobs = (jobs or os.cpu_count() or 1) if folder is not None else 1
    for res in enrol_batch(store, batch, matrix=matrix, config=cfg,
                           allow_lookalike=allow_lookalike, taken=when, actor=who.user,
                           jobs=jobs, skip_held=folder is not None):
        pid = res.pupil
        results.append(res)
        if as_json and folder is not None:
            echo(json.dumps(res.as_dict(), ensure_ascii=False))
        elif folder is not None:
            for w in res.warnings:
                echo(f"warning {pid}: {w}", err=True)
            echo(f"{pid}: enrolled {res.enrolled} photo(s){_stale(res)}" if res.ok
                 else f"{pid}: refused: {'; '.join(res.refused)}")
    refused = [r for r in results if not r.ok]
    if folder is None:
        res = results[0]
        if as_json:
            echo(json.dumps(res.as_dict(), ensure_ascii=False))
        for w in res.warnings:
            echo(f"warning {w}", err=True)
        if not res.ok:
            for line in res.refused:
                echo(f"refused {line}", err=True)
            raise NeedsChange(f"nothing enrolled for {pupil_id}: change the photos refused above")
        if not as_json:
            echo(f"Enrolled {res.enrolled} photo(s) for {pupil_id}{_stale(res)}.")
        return
    summary = {"summary": True, "pupils": len(results), "enrolled": len(results) - len(refused),
               "refused": len(refused), "encodings": sum(r.enrolled for r in results),
               "stale": sum(r.stale for r in results)}
    if as_json:
        echo(json.dumps(summary))
    else:
        stale = f", {summary['stale']} already stale" if summary["stale"] else ""
        echo(f"{summary['pupils']} pupils: {summary['enrolled']} enrolled, "
             f"{summary['refused']} refused ({summary['encodings']} photos stored{stale}).")
    return ExitStatus.NEEDS_CHANGE if refused else ExitStatus.OK


def _stale(res) -> str:
    """", 2 already stale" after an enrolment whose photos are already past the age limit."""
    return f", {res.stale} already stale" if res.stale else ""


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
    """Import pupils and consents from CSV (format: docs/store.md). All rows or none.

    An MIS export's first-name and surname columns, legal and preferred, are combined into the
    stored name (Arbor's "Legal First Name", "Legal Last Name", "Preferred First Name"; SIMS's
    "Forename", "Surname", "Preferred Forename", ...); each changed pupil is listed with the name
    as it will be stored, so check it with --dry-run first."""
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
            echo(line, err=True)
        raise click.ClickException(f"{csv_file}: {len(e.problems)} bad row(s); nothing imported")
    if not may(who.role, "pupils.read"):  # names only to the roles that may see them
        for ch in report["changes"]:
            ch.pop("name", None)
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
        named = f" (name as stored: {ch['name']})" if ch.get("name") else ""
        echo(f"line {ch['line']}: {ch['pupil']}: {'; '.join(ch['what'])}{named}")
    verb = "would change" if dry_run else "changed"
    echo(f"{len(report['changes'])} pupil(s) {verb}; {report['unchanged']} unchanged.")
    for note in report["notes"]:  # columns ignored (a middle name, a date of birth), ...
        echo(f"note: {note}")
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
        click.confirm(f"Erase everything held about {shown(pupil_id)}?", abort=True, err=True)
    n = _run(lambda: store.erase(pupil_id, reason=reason, actor=who.user))
    echo(f"Erased {pupil_id} ({n} encoding(s) destroyed).")


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
        from consent_db.storage import atomic_write_bytes

        # a new owner-only file renamed over the old one: never written into an existing file,
        # whose mode (say 0644) would leave the report readable by others
        _run_os(lambda: atomic_write_bytes(output.absolute(), (text + "\n").encode("utf-8")),
                output)
        echo(f"Subject access report for {pupil_id} written to {output}.")
    else:
        echo(text)


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
    days = retention_days if retention_days is not None else cfg.leaver_retention_days
    store, who = _signed(ctx, as_user, "pupils.erase")
    # a leaver's record may be a register: only a DSL's purge erases records (safeguard.door)
    plan = _run(lambda: store.purge(retention_days=days, dry_run=dry_run, actor=who.user))
    if as_json:
        _emit_json(plan)
        return
    verb = "would be" if dry_run else "were"
    if "records_for_dsl" in plan:
        left = plan["records_for_dsl"]
        echo(f"{len(left)} leaver(s) past retention: a DSL erases their records "
             "(`safeguard pupils purge` as a DSL)" + (f": {', '.join(left)}" if left else ""))
    echo(
        f"{len(plan['encodings_destroyed'])} leaver(s)' encodings {verb} destroyed"
        + (f": {', '.join(plan['encodings_destroyed'])}" if plan["encodings_destroyed"] else "")
    )
    echo(
        f"{len(plan['erased'])} leaver(s) {verb} erased"
        + (f": {', '.join(plan['erased'])}" if plan["erased"] else "")
    )


def _run_os(fn, path: Path) -> None:
    try:
        fn()
    except OSError as e:
        raise click.ClickException(f"cannot write {path}: {e.strerror or e}") from e

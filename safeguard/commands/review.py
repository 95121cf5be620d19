"""`safeguard review ...` (the DSL's held queue, from the web or the CLI) and `safeguard report`
(a DSL contact sheet of a batch).

Every command here shows DSL-only data, so each signs in with a staff account of role dsl:
`--as USER` (or SAFEGUARD_USER), the password from SAFEGUARD_PASSWORD or a hidden prompt. A wrong
password counts towards the account's lockout (5 failures lock it for 15 minutes).
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import click

from safeguard.terminal import echo

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _sign_in(app, user):
    """(door, staff account) of a signed-in DSL (safeguard.door: held photos, takedowns and
    contact sheets are the DSL's, of their academy when their account has one)."""
    from safeguard.commands.signin import signed_in

    return signed_in(app, "held", user)


def _as_option(f):
    return click.option(
        "--as",
        "as_user",
        metavar="USER",
        default=None,
        help="Your staff account (role dsl). Env: SAFEGUARD_USER; the password "
        "comes from SAFEGUARD_PASSWORD or a prompt.",
    )(f)


def _json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Output JSON.")(f)


def _check_id(held_id: str) -> str:
    from safeguard.held import ID_RE

    if not ID_RE.fullmatch(held_id or ""):
        raise click.ClickException(
            f"{held_id!r} is not a held image id (like 20250101-0123456789ab)"
        )
    return held_id


@click.group()
def review():
    """The DSL's review of held photos: see what was held and why, release or reject, and leave
    a trail in the audit log. Needs a staff account of role dsl (`safeguard staff add`)."""


# ---------------------------------------------------------------------------------------------
# serve


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@review.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback exposes DSL-only data to the "
    "network: you are warned.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option(
    "--out",
    "ready",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder the page may release into besides the settings' release_folders, offered "
    "as \"Ready to post\".",
)
@click.option(
    "--allow-host",
    multiple=True,
    metavar="NAME",
    help="Host header names to answer (repeatable); required with a wildcard --host (0.0.0.0 "
    "or ::), against DNS rebinding.",
)
@click.pass_obj
def serve(app, host, port, ready, allow_host):
    """Serve the review web app (loopback only by default)."""
    import uvicorn

    from safeguard.commands.signin import entrance, use_accepted_settings
    from safeguard.review.app import create_app
    from safeguard.review.decisions import DecisionError, check_ready_dir

    store = entrance(app)  # the app signs each session in and gives it its own door
    use_accepted_settings(app, store)  # the page releases photos: only on accepted settings
    if not store.has_role("dsl"):
        raise click.ClickException(
            "no staff account has the dsl role: create one with "
            "`safeguard staff add USER --role dsl`"
        )
    missing = app.config.missing_release_folders()
    if missing:  # the page would offer the DSL a folder that is not there
        raise click.ClickException(f"release_folders: {', '.join(missing)} is not an existing "
                                   "folder; create it first")
    if ready is not None:
        try:
            ready = check_ready_dir(ready.absolute(), app.home)
        except DecisionError as e:
            raise click.ClickException(str(e)) from e
    hosts = sorted(LOOPBACK_NAMES - {"::1"}) + ["[::1]"] + list(allow_host)
    if not is_loopback(host):
        echo(
            f"WARNING: serving on {host}, not loopback: anyone who can reach this machine "
            "can try to sign in to DSL-only data, and traffic is not encrypted (plain "
            "HTTP). Prefer the default 127.0.0.1.",
            err=True,
        )
        if host in ("0.0.0.0", "::"):
            if not allow_host:
                # any Host header would be served: a page on another site could rebind its own
                # name to this machine and drive the DSL's browser against the review app
                raise click.UsageError(
                    f"--host {host} listens on every address: name the host names it answers to "
                    "with --allow-host NAME (repeatable), e.g. --allow-host safeguard.school.internal")
            hosts = list(allow_host)
        else:
            hosts.append(host)
    web = create_app(app.home, app.config, store=store, allowed_hosts=hosts, ready_dir=ready)
    shown = f"[{host}]" if ":" in host else host
    echo(f"safeguard review: http://{shown}:{port}/  (Ctrl-C to stop)", err=True)
    # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a guesser on this machine
    # would be a new client on every try. Only the proxies a school names are believed.
    proxies = list(app.config.review_trusted_proxies)
    uvicorn.run(
        web, host=host, port=port, log_level="warning", server_header=False, access_log=False,
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
    )


# ---------------------------------------------------------------------------------------------
# list / show


@review.command("list")
@_as_option
@_json_option
@click.pass_obj
def list_(app, as_user, as_json):
    """Held photos waiting for a decision: overdue first, then newest first."""
    door, _ = _sign_in(app, as_user)
    items = door.held_queue(app.config.held_review_days)
    if as_json:
        echo(json.dumps([i.as_dict() for i in items], indent=1))
        return
    if not items:
        echo("Nothing is waiting for review.")
        return
    from rich.markup import escape
    from rich.table import Table

    from safeguard.terminal import console
    from safeguard.terminal import shown as one_line

    table = Table(title=f"held photos ({len(items)})")
    for col in ("id", "held", "file", "faces", "why held"):
        table.add_column(col, overflow="fold")
    for i in items:
        held = f"{i.held_at:%Y-%m-%d}" + (f" [red]OVERDUE {i.age_days}d[/]" if i.overdue else "")
        faces = f"{i.faces} ({i.restricted} restricted, {i.unknown} unknown)"
        why = "; ".join(t for k, t in i.badges if k != "channel") + f" [for {i.channel}]"
        table.add_row(i.id, held, escape(one_line(i.name)), faces, escape(why))
    console().print(table)


@review.command()
@click.argument("held_id")
@click.option("--distances", is_flag=True,
              help="Show the distance to each nearest pupil as a number, not only in words.")
@_as_option
@_json_option
@click.pass_obj
def show(app, held_id, distances, as_user, as_json):
    """One held photo: every face, who it matched and why, and what a release would redact; for
    each face that was not cleared, the nearest pupils ("close", "possible") to confirm it as
    (`review confirm`)."""
    from safeguard.review.decisions import DecisionError, face_rows, queue_item

    door, _ = _sign_in(app, as_user)
    try:
        rec = door.held_record(_check_id(held_id))
        choices = {c["n"]: c for c in door.face_choices(held_id)}
    except DecisionError as e:
        raise click.ClickException(str(e)) from e
    names = door.names()
    item = queue_item(rec, app.config.held_review_days)
    rows = face_rows(rec, names)
    keys = ("n", "box", "label", "action", "pupil", "name", "reason", "distance")
    faces = [{**{k: r[k] for k in keys}, "redacted_in_preview": r["redact"]} for r in rows]
    for f in faces:
        c = choices.get(f["n"])
        if c is not None:
            f["nearest"] = [p if distances else {k: v for k, v in p.items() if k != "distance"}
                            for p in c["candidates"]]
            f["confirmed"] = c["confirmed"]
    out = {
        **item.as_dict(),
        "input": rec.get("input"),
        "sha256": rec.get("sha256"),
        "faces": faces,
        "metadata_removed": rec.get("metadata_removed", []),
        "flags": rec.get("flags", []),
        "caption": rec.get("caption"),
        "caption_flags": [f.what for f in door.check_caption(rec["caption"])]
        if rec.get("caption") else [],
    }
    asked = rec.get("asked")
    if asked:
        out["asked"] = {k: asked.get(k) for k in ("by", "note", "suggest", "return_to")}
    if as_json:
        echo(json.dumps(out, indent=1))
        return
    echo(
        f"{item.id}  held {item.held_at:%Y-%m-%d %H:%M} UTC for {item.channel}"
        + (f"  OVERDUE ({item.age_days} days)" if item.overdue else "")
    )
    echo(f"file: {rec.get('input')}")
    if out["caption"] is not None:
        flagged = out["caption_flags"]
        echo(f"caption: {out['caption']}" + (f"  [FLAGGED: {', '.join(flagged)}]"
                                             if flagged else ""))
    for f in rows:
        mark = "redact" if f["redact"] else "keep"
        # the match in words; the figure only for the DSL who asks for it (--distances)
        dist = (f" {_strength(app, f['distance'])}" if f["distance"] is not None else "") + (
            f" (d={f['distance']:.2f})" if distances and f["distance"] is not None else "")
        echo(
            f"  face {f['n']}: {f['label']:<10} {f['title']}"
            + (f" ({f['pupil']})" if f["pupil"] else "")
            + (f" - {f['detail']}" if f["detail"] else "")
            + f"{dist}  -> {mark}"
        )
        _show_nearest(choices.get(f["n"]), distances)
    if asked:
        echo(f"sent to check by {asked.get('by') or 'the watched folder'}"
             + (f": {asked['note']}" if asked.get("note") else "")
             + (f" (they suggest {', '.join(asked['suggest'])})" if asked.get("suggest") else ""))


def _show_nearest(choice: dict | None, distances: bool) -> None:
    if choice is None:
        return
    c = choice["confirmed"]
    if c:
        echo(f"      confirmed {'not ours' if c.get('not_ours') else c.get('pupil')} by "
             f"{c.get('by')}")
        return
    for p in choice["candidates"]:
        d = f" {p['distance']:.3f}" if distances and p.get("distance") is not None else ""
        echo(f"      {p['nearness'] or 'far'}{d}: {p['name']} ({p['pupil']})"
             + ("" if p["may_be_shown"] else ", may not be shown here")
             + (", suggested" if p["suggested"] else ""))


@review.command()
@click.argument("held_id")
@click.option("--face", "face", type=click.IntRange(1), required=True,
              help="The face's number, as `review show` lists it.")
@click.option("--pupil", default=None, metavar="ID", help="This face is this pupil.")
@click.option("--not-ours", is_flag=True, help="This face is nobody of ours (stays redacted).")
@_as_option
@_json_option
@click.pass_obj
def confirm(app, held_id, face, pupil, not_ours, as_user, as_json):
    """Confirm who a face of a held photo is. A pupil who may be shown on the photo's channel is
    kept when the photo is released; with biometric consent the face also joins their references
    (`pupils references`). Refused, with the reason, for a face within the restricted tolerance
    of another pupil or too poor to be a reference: the face then stays redacted."""
    from safeguard.confirmation import ConfirmError
    from safeguard.review.confirm import said
    from safeguard.review.decisions import DecisionError

    if (pupil is None) == (not not_ours):
        raise click.UsageError("give either --pupil ID or --not-ours")
    door, _ = _sign_in(app, as_user)
    try:
        done = door.confirm_face(_check_id(held_id), face, pupil, not_ours)
    except (ConfirmError, DecisionError) as e:
        raise click.ClickException(str(e)) from e
    echo(json.dumps({"id": held_id, **done}) if as_json else said(done, door.names()))


# ---------------------------------------------------------------------------------------------
# release / reject


def _faces_option(value: str | None) -> set[int] | None:
    if value is None:
        return None
    out: set[int] = set()
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise click.BadParameter(
                "face numbers as shown by `review show`, like 1,3", param_hint="--redact-faces"
            )
        out.add(int(part) - 1)
    return out


@review.command()
@click.argument("held_id")
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Ready folder (an existing folder outside the home; default: the last used).",
)
@click.option(
    "--redact-faces",
    metavar="N,N",
    default=None,
    help="Per-face choice: redact exactly these faces (numbers from `review show`); "
    "leaving a previewed face visible needs --reason.",
)
@click.option(
    "--unredacted", is_flag=True, help="Release with every face visible (needs --reason)."
)
@click.option("--reason", default=None, help="Why (required for --unredacted and overrides).")
@click.option("--approve", is_flag=True,
              help="On a channel that needs sign-off: approve the post at once as well "
              "(you sign it off; recorded as both).")
@click.option("--caption-ok", is_flag=True,
              help="With --approve: the caption identifies a child and may be posted as it is.")
@_as_option
@_json_option
@click.pass_obj
def release(app, held_id, out, redact_faces, unredacted, reason, approve, caption_ok, as_user,
            as_json):
    """Release a held photo into the ready folder: redacted as previewed (default), with your
    per-face choices, or unredacted. Stripped and verified like `blur`; the held original is then
    destroyed and the decision logged. On a channel that needs sign-off (approval in
    config.toml) the copy waits as a post for an approver instead, unless --approve."""
    from safeguard.access import Refused
    from safeguard.review.decisions import DecisionError, last_ready_dir

    if unredacted and redact_faces is not None:
        raise click.UsageError("--unredacted and --redact-faces exclude each other")
    choices = _faces_option(redact_faces)
    door, _ = _sign_in(app, as_user)
    target = out.absolute() if out is not None else last_ready_dir(app.home, app.config)
    try:
        done = door.release(
            _check_id(held_id),
            target,
            redact=choices,
            unredacted=unredacted,
            reason=reason,
            allowed=list(app.config.release_paths()) or None,
            approve=approve,
            caption_confirmed=caption_ok,
        )
    except (DecisionError, Refused) as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        echo(json.dumps(done.as_dict()))
    elif done.output is None:
        echo(f"Released {done.id} ({done.decision}) for sign-off: post {done.approval} waits "
             "for an approver (safeguard approvals show). The held original is destroyed.")
    else:
        echo(
            f"Released {done.id} ({done.decision}) as {done.output}; faces redacted: "
            f"{', '.join(map(str, done.redacted)) or 'none'}. The held original is "
            "destroyed."
        )


@review.command()
@click.argument("held_id")
@click.option("--reason", required=True, help="Why the photo must not be published.")
@_as_option
@_json_option
@click.pass_obj
def reject(app, held_id, reason, as_user, as_json):
    """Reject a held photo: the original is destroyed at once and the decision logged."""
    from safeguard.review.decisions import DecisionError
    door, _ = _sign_in(app, as_user)
    try:
        done = door.reject(_check_id(held_id), reason)
    except DecisionError as e:
        raise click.ClickException(str(e)) from e
    echo(json.dumps(done) if as_json else f"Rejected {held_id}: the original is destroyed.")


def _strength(app, distance: float) -> str:
    """"strong match" / "possible match" / "no close match", cut at the home's tolerances."""
    from safeguard.review.words import match_strength

    cfg = app.config
    return match_strength(distance, cfg.clear_tolerance, cfg.restrict_tolerance)


@review.command("takedowns")
@click.option("--distances", is_flag=True,
              help="Show each photo's face distance as a number, not only in words.")
@_as_option
@_json_option
@click.pass_obj
def takedowns(app, distances, as_user, as_json):
    """Published photos to take down: lists made when consent was withdrawn or a register flag
    added (see `safeguard index`)."""
    door, _ = _sign_in(app, as_user)
    items = door.takedowns(open_only=True)  # of the pupils in the account's academy
    if as_json:
        items = [{k: v for k, v in t.items() if k != "name"} for t in items]
        echo(json.dumps(items, indent=1))
        return
    if not items:
        echo("No published photos waiting to be taken down.")
        return
    for t in items:
        echo(f"{t['id']}  {t['name']} ({t['pupil']}): {t['reason']}")
        if t.get("problem"):  # the search could not run: never read as "nothing found"
            echo(f"    {t['problem']}: check the published photos by hand ({t.get('detail')})")
        for h in t.get("hits", []):
            figure = f", distance {h['distance']:.2f}" if distances else ""
            echo(f"    {h['path']}  ({_strength(app, h['distance'])}{figure})")
        for u in t.get("unscanned", []):
            echo(f"    {u['path']}  (could not be scanned: check by hand)")


@review.command("close-takedown")
@click.argument("item_id")
@click.option("--note", default=None, help="What was done.")
@_as_option
@_json_option
@click.pass_obj
def close_takedown(app, item_id, note, as_user, as_json):
    """Close a takedown list once its photos are taken down."""
    from safeguard import takedown

    door, _ = _sign_in(app, as_user)
    try:
        item = door.close_takedown(item_id, note)
    except takedown.TakedownError as e:
        raise click.ClickException(str(e)) from e
    echo(json.dumps(item) if as_json else f"Closed takedown list {item_id}.")


# ---------------------------------------------------------------------------------------------
# report


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--html",
    "html_out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the contact sheet (owner-only, 0600).",
)
@click.option("--channel", "-c", default=None, help="Channel to check against (default: config).")
@click.option(
    "--unknown",
    type=click.Choice(["keep", "redact", "hold"]),
    default=None,
    help="Unknown-face policy (default: config).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes (default: all cores).",
)
@_as_option
@click.pass_obj
def report(app, paths, html_out, channel, unknown, jobs, as_user):
    """Write a DSL contact sheet of a batch: a thumbnail per photo with every face outlined and
    labelled (pupil names and reasons). Analyses like `scan`; writes no photo. A DSL document:
    needs a dsl staff account, and the file is written owner-only."""
    from safeguard.commands.batch_options import usage_errors
    from safeguard.pipeline import collect_inputs
    from safeguard.publish import Request, Session
    from safeguard.review.contact import contact_sheet

    door, who = _sign_in(app, as_user)
    cfg = app.config
    with usage_errors():  # analysed as `scan` would: nothing written
        session = Session(app.home, who, door, cfg, Request(channel=channel, unknown=unknown))
    channel = session.channel
    files, early = collect_inputs(paths)
    outcomes = list(session.outcomes(files, early, jobs=jobs or os.cpu_count() or 1))
    # a scoped DSL's sheet: another academy's pupils are "another academy's pupil", unnamed
    html = contact_sheet(outcomes, door.names(), channel, who.user, cfg, view=door.face_view)
    target = html_out.absolute()
    _write_private(target, html.encode("utf-8"))
    pupils = sorted({f.decision.pupil for o in outcomes for f in o.faces
                     if f.decision.pupil and door.face_view({"pupil": f.decision.pupil})["pupil"]})
    door.audit.append(
        who.user,
        "report.contact_sheet",
        None,
        {"photos": len(outcomes), "file": target.name, "channel": channel, "pupils": pupils},
    )
    held = sum(o.status == "held" for o in outcomes)
    echo(
        f"Wrote {target} (owner-only): {len(outcomes)} photos, {held} would be held. "
        "It names pupils: keep it to the DSL and delete it after use.",
        err=True,
    )


def _write_private(path: Path, data: bytes) -> None:
    """Atomic, fsynced, owner-only (0600): the store's own writer."""
    from consent_db.storage import atomic_write_bytes

    if not path.parent.is_dir():
        raise click.ClickException(f"folder {path.parent} does not exist")
    atomic_write_bytes(path, data)

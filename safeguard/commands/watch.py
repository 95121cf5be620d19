"""`safeguard watch` (the watched folder) and `safeguard status` (its counts)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path

import click

from safeguard.commands.batch_options import GROUP_HELP, TEXT_HELP
from safeguard.commands.signin import AS_HELP
from safeguard.config import STYLES, TEXT_POLICIES, UNKNOWN_POLICIES
from safeguard.exitcodes import EXIT_CODES_HELP, ExitStatus
from safeguard.home import overlaps
from safeguard.terminal import Formatter, echo


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("inbox", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ready", "-r", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the publishable copies.")
@click.option("--channel", "-c", default=None,
              help="Where the photos will be published (default from config: social).")
@click.option("--poll", type=click.FloatRange(0.1, 3600), default=None, metavar="SECONDS",
              help="Look at the inbox every SECONDS instead of waiting for file events "
                   "(network shares, where events do not arrive).")
@click.option("--once", is_flag=True,
              help="Process what is in the inbox (and whatever a crash left), then exit.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: all cores).")
@click.option("--settle", type=click.FloatRange(0.05, 60), default=1.0, show_default=True,
              metavar="SECONDS",
              help="A file is taken when it is unchanged across two looks this far apart.")
@click.option("--give-up", type=click.FloatRange(0, 86400), default=30.0, show_default=True,
              metavar="SECONDS",
              help="A complete-looking file that still does not decode after this long is "
                   "taken and rejected.")
@click.option("--unknown", type=click.Choice(UNKNOWN_POLICIES), default=None,
              help="What to do with faces that match nobody (default from config: redact).")
@click.option("--style", type=click.Choice(STYLES), default=None,
              help="How restricted faces are covered (default from config: blur).")
@click.option("--format", "fmt", type=click.Choice(["jpeg", "png"]), default=None,
              help="Output format (default from config: jpeg).")
@click.option("--group", "groups", multiple=True, metavar="NAME", help=GROUP_HELP)
@click.option("--text", type=click.Choice(TEXT_POLICIES), default=None, help=TEXT_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo on stdout.")
@click.option("--as", "as_user", metavar="USER", help=AS_HELP)
@click.pass_obj
def watch(app, inbox, ready, channel, poll, once, jobs, settle, give_up, unknown, style, fmt,
          groups, text, as_json, as_user):
    """Watch INBOX: every photo dropped there ends ready (a publishable copy in --ready), held
    for the DSL, or rejected (both under the home), and a line in INBOX/_safeguard-status.txt
    says which, never who or why.

    A file is taken once it stops changing and decodes; names ending .part, .crdownload, .tmp
    and hidden or ~$ files wait until renamed. The same photo dropped twice is processed once.
    After a crash (even kill -9) the next start finishes what was in hand. SIGTERM or Ctrl-C:
    finish the photos in hand and exit 0 (a second signal puts them back in the inbox).

    For a channel whose posts need sign-off (approval = {CHANNEL = "slt"} in config.toml),
    each photo's copy (with the caption beside it, INBOX/<same name>.txt) waits as a post of its
    own until a DSL or senior leader approves it (`safeguard approvals`, or the review page);
    only then does it land in --ready. The status line says "awaiting approval" and the post.

    A photo in a first-level subfolder named for a group (INBOX/4O/...) is checked against that
    group's roster, as with --group 4O; other photos use --group, or the whole school."""
    from safeguard.commands.batch_options import usage_errors
    from safeguard.commands.signin import signed_in
    from safeguard.watch import AlreadyRunning, Target, Watcher, WatchSettings

    inbox = inbox.expanduser().resolve()
    ready = ready.expanduser().resolve()
    home = app.home
    if not inbox.is_dir():
        raise click.ClickException(f"the inbox {inbox} is not a folder")
    if overlaps(ready, inbox):
        raise click.ClickException("the ready folder and the inbox must not be inside each other")
    if overlaps(home.root, inbox):
        raise click.ClickException(
            f"keep the inbox and safeguard's home folder apart: {inbox} and {home.root} are one "
            "inside the other, so staff who drop photos could reach the keys, the pupils' "
            "records and the held photos. Choose an inbox outside the home (and the home "
            "outside the inbox)")
    store, who = signed_in(app, "photos", as_user)  # once, at the start: comms up
    cfg = app.config  # the accepted settings (signin)
    from safeguard.publish import check_channel, check_groups, resolve_choices

    with usage_errors():
        choices = resolve_choices(cfg, who, store.audit, unknown=unknown, style=style, text=text)
        channel = check_channel(cfg, channel)
        home.ensure()
        matrix = store.photo_inputs(channel).matrix  # fail now (bad channel, key), not later
        groups = check_groups(matrix, groups)
    try:
        ready.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise click.ClickException(f"cannot create the ready folder: {e.strerror or e}") from e
    settings = WatchSettings(home=home.root, channel=channel, config=cfg,
                             unknown=choices["unknown"], style=choices["style"],
                             output_format=fmt or cfg.output_format, groups=groups,
                             text=choices["text"])
    target = Target(home, inbox, ready, channel)
    try:
        target.lock()
    except AlreadyRunning as e:
        raise click.ClickException(str(e)) from e
    handlers = _setup_logging(home.logs_dir / "watch.log")

    def emit(record: dict) -> None:
        echo(json.dumps(record))

    from safeguard.scope import academy_of_submitter

    watcher = Watcher(target, settings, jobs=jobs or os.cpu_count() or 1, settle=settle,
                      give_up=give_up, poll=poll, once=once, emit=emit if as_json else None,
                      audit=store.audit, by=who.user, academy=academy_of_submitter(who))
    old = {s: signal.signal(s, lambda *_: watcher.request_stop())
           for s in (signal.SIGTERM, signal.SIGINT)}
    log = logging.getLogger("safeguard.watch")
    log.info("watching %s (ready: %s, channel: %s%s)", inbox, ready, channel,
             f", polling every {poll:g}s" if poll else "")
    try:
        counts = watcher.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        target.unlock()
    log.info("stopped: %d ready, %d awaiting approval, %d held, %d rejected, %d duplicates",
             counts.exported, counts.awaiting, counts.held, counts.rejected, counts.duplicates)
    for h in handlers:
        logging.getLogger("safeguard.watch").removeHandler(h)
        h.close()
    if counts.unfinished:
        raise click.ClickException(
            f"{counts.unfinished} photo(s) could not be finished (see the log); they stay in "
            "processing and the next start finishes them")
    return ExitStatus.for_batch(counts.held, counts.rejected) if once else ExitStatus.OK


def _setup_logging(logfile: Path) -> list[logging.Handler]:
    """One line per photo, to stderr and HOME/logs/watch.log (owner-only), names in it with their
    control characters escaped (safeguard.terminal.Formatter)."""
    fmt = _IsoFormatter("%(asctime)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        logfile.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        handlers.append(logging.FileHandler(logfile, encoding="utf-8"))
    except OSError as e:
        echo(f"warning: cannot write {logfile}: {e.strerror or e}", err=True)
    log = logging.getLogger("safeguard.watch")
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    return handlers


class _IsoFormatter(Formatter):
    def formatTime(self, record, datefmt=None):
        import datetime as dt

        return dt.datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The counts as one JSON object.")
@click.option("--matching", is_flag=True,
              help="Also the matching statistics per channel (DSL or admin: signs in).")
@click.option("--as", "as_user", metavar="USER", help=AS_HELP)
@click.pass_obj
def status(app, as_json, matching, as_user):
    """Counts of the watched folders' photos: waiting in the inboxes, in processing, made ready
    today, held for the DSL (undecided), awaiting sign-off, rejected, and what was decided today
    (released, approved, declined, ...). Anyone who runs the watcher may see them.

    With --matching (a DSL or an admin, who signs in), also the matching statistics per channel:
    the clearing tolerance in force, calibrated to the enrolled gallery, and the share of
    never-enrolled faces it predicts would be cleared; comms staff see counts only.

    JSON fields: inbox, processing, ready_today, held, awaiting_approval (posts waiting for
    sign-off; null when they cannot be read), rejected, decided_today (what the DSL and the
    approvers decided today about the inboxes' photos: released, released for sign-off,
    rejected, approved, declined), watchers (one object per
    watched inbox: inbox, ready, channel, running, waiting, processing, ready_today), and matching
    (per channel, with --matching only, else {}: clear_tolerance, predicted_false_clear, target,
    candidates); references (counts, no pupil:
    no_current_reference, pupils with biometric consent and no reference young enough to clear
    them; confirmed, references the DSL confirmed; max_age_months; {} without a store)."""
    from safeguard.commands.signin import signed_in
    from safeguard.watch import status_counts

    if matching:  # the statistics are the DSL's and the admin's (safeguard.cases)
        signed_in(app, as_user=as_user, case_path="status --matching")
    counts = status_counts(app.home)
    counts["matching"] = _matching(app) if matching else {}
    counts["references"] = _references(app)
    if as_json:
        echo(json.dumps(counts))
        return
    echo(f"inbox:        {counts['inbox']} waiting")
    echo(f"processing:   {counts['processing']}")
    echo(f"ready today:  {counts['ready_today']}")
    echo(f"held:         {counts['held']} waiting for the DSL")
    if counts.get("awaiting_approval"):
        echo(f"sign-off:     {counts['awaiting_approval']} post(s) awaiting approval")
    echo(f"rejected:     {counts['rejected']}")
    decided = {k: n for k, n in counts["decided_today"].items() if n}
    if decided:
        echo("decided today: " + ", ".join(f"{n} {k}" for k, n in decided.items()))
    for ch, m in counts["matching"].items():
        echo(f"matching ({ch}): clearing tolerance {m['clear_tolerance']:.3f}, predicted "
             f"strangers cleared {100 * m['predicted_false_clear']:.3f}% (target "
             f"{100 * m['target']:.3f}%, {m['candidates']} consenting pupils enrolled)")
    refs = counts["references"]
    if refs:
        echo(f"references:   {refs['no_current_reference']} pupil(s) with biometric consent have "
             f"no reference younger than {refs['max_age_months']} months (none of their faces "
             f"is cleared); {refs['confirmed']} confirmed by the DSL")
    for w in counts["watchers"]:
        state = "running" if w["running"] else "not running"
        waiting = "?" if w["waiting"] is None else w["waiting"]
        echo(f"  {w['inbox']} -> {w['ready']} ({w['channel']}): {state}; {waiting} "
             f"waiting, {w['processing']} processing, {w['ready_today']} ready today")


def _references(app) -> dict:
    """Counts of the pupils' references (no pupil named); {} without a store."""
    from consent_db import StoreError
    from safeguard.commands.signin import entrance

    if not (app.home.store_dir / "store.json").exists():
        return {}
    try:
        return entrance(app).references_summary()
    except StoreError as e:
        raise click.ClickException(str(e)) from e


def _matching(app) -> dict:
    """The live calibration per channel (safeguard.calibration); {} without a store."""
    from consent_db import StoreError
    from safeguard.commands.signin import entrance

    if not (app.home.store_dir / "store.json").exists():
        return {}
    try:
        return entrance(app).calibration()
    except StoreError as e:
        raise click.ClickException(str(e)) from e

"""`safeguard scan` and `safeguard blur`: the comms staff's batch pass over photos."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from safeguard.commands.signin import AS_HELP
from safeguard.config import STYLES, TEXT_POLICIES, UNKNOWN_POLICIES
from safeguard.exitcodes import EXIT_CODES_HELP, ExitStatus
from safeguard.terminal import console, echo
from safeguard.terminal import shown as one_line


def open_matrix(app, channel: str, door):
    """The match matrix for `channel` and the pupils' names (for file-name screening), through
    the signed-in account's door (safeguard.door: every academy's pupils, naming nobody). A
    damaged store is an error: never an empty matrix, which would match nobody."""
    from consent_db import StoreError

    cfg = app.config
    if channel not in cfg.channels:
        raise click.BadParameter(f"unknown channel {channel!r}; channels: {', '.join(cfg.channels)}",
                                 param_hint="--channel")
    try:
        return door.photo_inputs(channel)
    except StoreError as e:
        raise click.ClickException(str(e)) from e


def batch_choices(cfg, who, audit, channel=None, **chosen) -> dict[str, str]:
    """The batch's own choices (--unknown, --text, --style, --audio: for `channel`) over the
    settings: stricter only,
    unless the signed-in role may relax them (safeguard.config.STRICTNESS); a laxer one is a
    usage error (exit 2). A batch relaxed by an admin or the DSL goes in the audit log."""
    from safeguard.config import ConfigError

    try:
        choices = cfg.batch_choices(who.role, channel, **chosen)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    audit_relaxed(audit, who, cfg, chosen, channel)
    return choices


def audit_relaxed(audit, who, cfg, chosen: dict, channel=None) -> None:
    """Record a batch that an admin or the DSL made laxer than the settings (allowed: they can
    change the settings; recorded, because the settings' own record would not show it)."""
    laxer = cfg.laxer(channel, **chosen)
    if laxer:
        audit.append(who.user, "batch.relaxed", None,
                     {name: f"{cfg.setting_for(name, channel)} -> {value}"
                      for name, value in laxer.items()})


def check_groups(matrix, groups) -> tuple[str, ...]:
    """`groups` as given, once each; a group no enrolled pupil belongs to is a usage error (a
    typo would otherwise clear nobody, or a roster would silently widen)."""
    from safeguard.calibration import unknown_groups

    unknown = unknown_groups(matrix, groups)
    if unknown:
        raise click.BadParameter(
            f"no enrolled pupil is in group {', '.join(map(repr, unknown))} (pupils list --group "
            "NAME shows a roster)", param_hint="--group")
    return tuple(dict.fromkeys(groups))


GROUP_HELP = ("Class, club or team in the photos (repeatable): only their consenting pupils can "
              "clear a face; every restricted pupil still restricts.")


SERVICE_HELP = ("Send the photos to the safeguard service listening on this Unix socket instead of "
                "opening the home: how comms staff work without access to the store or keys "
                "(docs/deploy.md). Env: SAFEGUARD_SERVICE.")


CAPTION_HELP = ("The caption to be posted with the photos (a text file): checked for a pupil's full "
                "name, a class name and personal details like `safeguard caption` does; findings "
                "are reported (JSON: \"caption\" on every line) and make the exit code at least 3.")


TEXT_HELP = ("Text in a photo that names a pupil (full name) or a class: covered solid (redact), "
             "the photo held for the DSL (hold), or not read (keep). Default from config: redact. "
             "A photo may be held for the DSL whatever this says.")


def _common(f):
    f = click.option("--text", type=click.Choice(TEXT_POLICIES), default=None, help=TEXT_HELP)(f)
    f = click.option("--caption", "caption_file", default=None,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help=CAPTION_HELP)(f)
    f = click.option("--service", type=click.Path(dir_okay=False, path_type=Path),
                     envvar="SAFEGUARD_SERVICE", default=None, metavar="SOCKET",
                     help=SERVICE_HELP)(f)
    f = click.option("--as", "as_user", metavar="USER", help=AS_HELP)(f)
    f = click.option("--group", "groups", multiple=True, metavar="NAME", help=GROUP_HELP)(f)
    f = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
                     help="Worker processes (default: all cores).")(f)
    f = click.option("--json", "as_json", is_flag=True,
                     help="One JSON object per input on stdout.")(f)
    f = click.option("--unknown", type=click.Choice(UNKNOWN_POLICIES), default=None,
                     help="What to do with faces that match nobody (default from config: redact).")(f)
    f = click.option("--channel", "-c", default=None,
                     help="Where the photos will be published (default from config: social).")(f)
    f = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))(f)
    return f


@click.command(epilog=EXIT_CODES_HELP)
@_common
@click.pass_obj
def scan(app, paths, channel, unknown, as_json, jobs, groups, as_user, service, caption_file,
         text):
    """Report what `blur` would do with each photo. Writes nothing. Any role may run it (comms
    up): what it says of a face is restricted, cleared or unknown, never who or why."""
    sys.exit(_run(app, paths, channel, unknown, None, None, None, as_json, jobs, write=False,
                  groups=groups, as_user=as_user, service=service,
                  caption=_read_caption(caption_file), text=text))


@click.command(epilog=EXIT_CODES_HELP)
@_common
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the publishable copies.")
@click.option("--style", type=click.Choice(STYLES), default=None,
              help="How restricted faces are covered (default from config: blur).")
@click.option("--format", "fmt", type=click.Choice(["jpeg", "png"]), default=None,
              help="Output format (default from config: jpeg).")
@click.option("--quality", type=click.IntRange(1, 100), default=None, help="JPEG quality.")
@click.option("--audio", type=click.Choice(["strip", "keep"]), default=None,
              help="A clip's sound: strip it, or keep it (encoded afresh; nothing else of the "
              "clip's sound is carried). Default from config: strip, unless the channel keeps "
              "it. A batch may strip sound its channel keeps, never keep what it strips.")
@click.option("--ask-dsl", is_flag=True,
              help="Send each photo in which a face would be blurred to the DSL to check who is "
              "in it, instead of writing the blurred copy: it reads \"held for the DSL to check\", "
              "and the copy the DSL releases (faces they confirm as pupils who may be shown "
              "kept) lands in --out.")
@click.option("--note", default=None, metavar="TEXT",
              help="With --ask-dsl: a note for the DSL (\"Year 4 trip, all consented\").")
@click.option("--suggest", multiple=True, metavar="NAME",
              help="With --ask-dsl: who you think is in the photos (repeatable); the DSL sees "
              "these as suggestions only.")
@click.pass_obj
def blur(app, paths, out, channel, unknown, style, fmt, quality, as_json, jobs, groups, as_user,
         service, caption_file, text, audio, ask_dsl, note, suggest):
    """Make publishable copies of photos: metadata stripped, restricted faces redacted.

    PATHS are files or folders (walked recursively). A photo the DSL is to check first is held
    under the home, never written to --out, and reads "held for the DSL to check". Many things
    hold a photo (unknown faces with --unknown hold, text, and spot checks of photos chosen at
    random, among others); which one is for the DSL to know, so every hold reads the same."""
    sys.exit(_run(app, paths, channel, unknown, style, fmt, quality, as_json, jobs, write=True,
                  out=out, groups=groups, as_user=as_user, service=service,
                  caption=_read_caption(caption_file), text=text,
                  ask=asking(ask_dsl, note, suggest, out, service), audio=audio))


def asking(ask_dsl: bool, note: str | None, suggest: tuple, out: Path, service) -> dict | None:
    """What a batch sent to the DSL to check carries (pipeline.Job.ask_dsl), or None."""
    if not ask_dsl:
        if note or suggest:
            raise click.UsageError("--note and --suggest go with --ask-dsl")
        return None
    if service is not None:
        raise click.UsageError("--ask-dsl works on the home, not through the service: drop the "
                               "photos into the watched folder's _check/ folder instead")
    note = " ".join((note or "").split())[:500] or None
    names = [" ".join(s.split())[:64] for s in suggest if s.strip()][:30]
    return {"note": note, "suggest": names, "return_to": str(out.absolute())}


def _read_caption(path: Path | None) -> str | None:
    return None if path is None else path.read_text(encoding="utf-8", errors="replace")


def _caption_report(findings: list[dict] | None, as_json: bool) -> None:
    """The caption's findings, for a person (JSON puts them on every line instead)."""
    if findings is None or as_json:
        return
    if not findings:
        echo("Caption: nothing in it identifies a child.")
        return
    for f in findings:
        shown = f' "{f["text"]}"' if f.get("text") else ""
        echo(f"Caption, characters {f['start']}-{f['end']}: {f['what']}{shown}")
    echo("The caption identifies a child: change it before posting.")


def _run(app, paths, channel, unknown, style, fmt, quality, as_json, jobs, write, out=None,
         groups=(), as_user=None, service=None, caption=None, text=None, ask=None,
         audio=None) -> int:
    """The batch; returns the exit status (safeguard.exitcodes) rather than exiting, so the demo
    can run it in-process."""
    if service is None:
        from safeguard import workers

        workers.start_early(paths, jobs or os.cpu_count() or 1)  # before the pipeline loads
    from safeguard.pipeline import collect_inputs, start_workers

    if service is not None:
        settings = {"channel": channel, "unknown": unknown, "style": style, "format": fmt,
                    "quality": quality, "groups": list(groups), "write": write,
                    "caption": caption, "text": text, "audio": audio,
                    "out": str(out.absolute()) if out is not None else None}
        return _run_remote(app, service, paths, settings, as_json, out, as_user)

    files, early = collect_inputs(paths)
    # the workers start now and load their models while this process signs in and opens the
    # store; they are given the job once it exists, and end with this process
    pool = start_workers(jobs or os.cpu_count() or 1, len(files))
    try:
        status = _run_batch(app, files, early, pool, channel, unknown, style, fmt, quality,
                            as_json, jobs, write, out, groups, as_user, caption, text, ask,
                            audio)
    except BaseException:  # not signed in, say: the workers need not finish loading first
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    if pool is not None:
        pool.shutdown()  # every photo given to it has its outcome: they are idle
    return status


def _run_batch(app, files, early, pool, channel, unknown, style, fmt, quality, as_json, jobs,
               write, out, groups, as_user, caption, text, ask=None, audio=None) -> int:
    from safeguard.commands.signin import signed_in
    from safeguard.pipeline import Job, process_batch

    store, who = signed_in(app, "photos", as_user)  # and app.config is the accepted settings
    cfg = app.config.with_overrides(jpeg_quality=quality)
    channel = channel or cfg.default_channel
    choices = batch_choices(cfg, who, store.audit, channel, unknown=unknown, style=style,
                            text=text, audio=audio)
    if write:
        app.home.ensure()
    inputs = open_matrix(app, channel, store)
    post = None
    if write and out is not None:
        from safeguard import approvals

        if approvals.needs_approval(cfg, channel):  # the post waits for sign-off
            from safeguard.scope import academy_of_submitter

            post = approvals.start(app.home, channel, out, caption, who.user,
                                   academy=academy_of_submitter(who))
    job = Job(
        config=cfg,
        channel=channel,
        unknown=choices["unknown"],
        style=choices["style"],
        out_dir=(out if post is None else approvals.folder(app.home) / post["id"] / "staging")
        if write else None,
        held_dir=app.home.held_dir if write else None,
        output_format=fmt or cfg.output_format,
        groups=check_groups(inputs.matrix, groups),
        text=choices["text"],
        audio=choices["audio"],
        ask_dsl=None if ask is None else {**ask, "by": who.user},
        **inputs.job_fields(),
    )
    findings = None
    if caption is not None:
        findings = [f.public() for f in store.check_caption(caption)]
    if write and out is not None and post is None:
        out.mkdir(parents=True, exist_ok=True)
    outcomes = list(early)
    report = _Reporter(as_json, total=len(files) + len(early), write=write, caption=findings)
    for o in early:
        report.one(o)
    try:
        for o in process_batch(files, job, jobs or os.cpu_count() or 1, pool):
            if post is not None and o.output:  # into the post, sealed, not into --out
                staged = Path(o.output)
                approvals.add(app.home, post, staged.name, staged.read_bytes())
                staged.unlink()
                o.output, o.approval = None, post["id"]
            outcomes.append(o)
            report.one(o)
    except KeyboardInterrupt:
        report.close()
        echo("Interrupted: finished photos are in place; none is partial.", err=True)
        return ExitStatus.INTERRUPTED
    report.close()
    if post is not None:
        _finish_post(app, store, post, as_json)
    held = sum(o.status == "held" for o in outcomes)
    rejected = sum(o.status == "rejected" for o in outcomes)
    if not as_json:
        _summary(outcomes, write)
    _caption_report(findings, as_json)
    return _with_caption(ExitStatus.for_batch(held, rejected), findings)


def _finish_post(app, store, post: dict, as_json: bool) -> None:
    """Submit the post for sign-off, or drop it when no copy went into it."""
    import shutil

    from safeguard import approvals

    shutil.rmtree(approvals.folder(app.home) / post["id"] / "staging", ignore_errors=True)
    if not post["files"]:
        shutil.rmtree(approvals.folder(app.home) / post["id"], ignore_errors=True)
        return
    approvals.submit(app.home, post, store.audit)
    if not as_json:
        echo(f"{len(post['files'])} cop{'y' if len(post['files']) == 1 else 'ies'} awaiting "
             f"approval as post {post['id']} (safeguard approvals status {post['id']}); "
             f"once approved they land in {post['out_dir']}.")


def _with_caption(status: ExitStatus, findings: list | None) -> int:
    """A caption that identifies a child makes a clean batch exit 3 (as a held photo would)."""
    return ExitStatus.HELD if findings and status == ExitStatus.OK else status


def _run_remote(app, socket_path, paths, settings, as_json, out, as_user):
    """The batch through the service (safeguard.service): the photos are read here, as the
    person running the command, and the copies written here; the home is never opened."""
    from types import SimpleNamespace

    from safeguard.commands.signin import credentials
    from safeguard.images import LoadError, read_bytes, write_atomic
    from safeguard.pipeline import collect_inputs
    from safeguard.service import Client, ServiceError

    user, password = credentials(app, as_user, "photos")
    try:
        client = Client(socket_path, {**settings, "user": user, "password": password})
    except ServiceError as e:
        if e.usage:
            raise click.UsageError(str(e)) from None
        raise click.ClickException(str(e)) from None
    files, early = collect_inputs(paths)
    write = settings["write"]
    if write and out is not None:
        out.mkdir(parents=True, exist_ok=True)
    findings = client.caption
    report = _Reporter(as_json, total=len(files) + len(early), write=write, caption=findings)
    outcomes = []

    def one(public: dict) -> None:
        o = SimpleNamespace(input=public["input"], status=public["status"],
                            output=public.get("output"), error=public.get("error"),
                            held_id=public.get("held_id"), flags=public.get("flags") or [],
                            removed=public.get("metadata_removed") or [],
                            faces=[SimpleNamespace(**f) for f in public.get("faces") or []],
                            kind=public.get("kind", "photo"))
        outcomes.append(o)
        report.emit(public)

    for o in early:
        one(o.public())
    try:
        for f in files:
            try:
                data = read_bytes(f)
            except LoadError as e:
                one({"input": str(f), "status": "rejected", "error": str(e), "faces": []})
                continue
            public, clean = client.photo(str(f), data)
            public["input"] = str(f)
            if clean and write and out is not None:
                public["output"] = str(write_atomic(clean, out, Path(public["output"]).name))
            elif public["status"] == "exported" and write:
                public["output"] = None
            one(public)
    except ServiceError as e:
        report.close()
        raise click.ClickException(f"the service stopped the batch: {e}") from None
    except KeyboardInterrupt:
        report.close()
        echo("Interrupted: finished photos are in place; none is partial.", err=True)
        return ExitStatus.INTERRUPTED
    finally:
        client.close()
    report.close()
    held = sum(o.status == "held" for o in outcomes)
    rejected = sum(o.status == "rejected" for o in outcomes)
    if not as_json:
        _summary(outcomes, write)
    _caption_report(findings, as_json)
    return _with_caption(ExitStatus.for_batch(held, rejected), findings)


class _Reporter:
    def __init__(self, as_json: bool, total: int, write: bool, caption: list | None = None):
        self.as_json = as_json
        self.caption = caption
        self.progress = None
        if not as_json and sys.stderr.isatty() and total > 1:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.progress = Progress("[progress.description]{task.description}", BarColumn(),
                                     MofNCompleteColumn(), TimeRemainingColumn(),
                                     console=console(stderr=True), transient=True)
            self.progress.start()
            self.task = self.progress.add_task("Checking photos" if not write else "Processing",
                                               total=total)

    def one(self, o) -> None:
        self.emit(o.public())

    def emit(self, public: dict) -> None:
        if self.as_json:
            if self.caption is not None:
                public = {**public, "caption": {"ok": not self.caption,
                                                "findings": self.caption}}
            echo(json.dumps(public))
        elif self.progress is not None:
            self.progress.advance(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _summary(outcomes, write: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from safeguard.pipeline import HELD_MESSAGE

    out = console()
    table = Table(title="safeguard: " + ("blur" if write else "scan (nothing written)"))
    table.add_column("photo", overflow="fold")
    table.add_column("result")
    table.add_column("faces", justify="right")
    table.add_column("redacted", justify="right")
    table.add_column("output / note", overflow="fold")
    shown = outcomes if len(outcomes) <= 60 else [o for o in outcomes if o.status != "exported"]
    for o in shown[:200]:
        redacted = sum(f.action == "redact" for f in o.faces)
        if o.status == "exported":
            result = "[green]exported[/]" if write else "[green]ok to export[/]"
            note = o.output or ("; ".join(o.removed[:3]) + ("..." if len(o.removed) > 3 else ""))
        elif o.status == "held":
            result, note = "[yellow]held[/]", f"{HELD_MESSAGE} ({o.held_id or 'scan'})"
        else:
            result, note = "[red]rejected[/]", o.error or ""
        if o.flags:
            note += " [" + "; ".join(o.flags) + "]"
        shown_name = _display(o.input)
        if any("pupil's name" in f for f in o.flags):
            shown_name = "(name withheld: it contains a pupil's name)"
        # file names and reasons are text, never Rich markup ("[/bold].jpg" would crash it)
        table.add_row(escape(one_line(shown_name)), result, str(len(o.faces)), str(redacted), escape(note))
    out.print(table)
    n = len(outcomes)
    exp = sum(o.status == "exported" for o in outcomes)
    held = sum(o.status == "held" for o in outcomes)
    rej = sum(o.status == "rejected" for o in outcomes)
    faces = sum(len(o.faces) for o in outcomes)
    red = sum(f.action == "redact" for o in outcomes for f in o.faces)
    verb = "exported" if write else "ready to export"
    clips = sum(getattr(o, "kind", "photo") == "video" for o in outcomes)
    out.print(f"{_count(n - clips, 'photo')}{' and ' + _count(clips, 'clip') if clips else ''}: "
              f"{exp} {verb}, {held} held for the DSL to check, "
              f"{rej} rejected; {faces} faces found, {red} redacted.")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _display(path: str) -> str:
    """Paths under the current folder shown relative to it; undecodable bytes replaced."""
    try:
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            path = rel
    except ValueError:
        pass
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

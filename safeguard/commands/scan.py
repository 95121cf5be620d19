"""`safeguard scan` and `safeguard blur`: the comms staff's batch pass over photos. Parses the
options into a publish request, opens the publish session (safeguard.publish) and shows what it
yields (safeguard.batch_terminal); the work and the checks are the library's."""

from __future__ import annotations

import os
from pathlib import Path

import click

from safeguard.commands.batch_options import CAPTION_HELP, GROUP_HELP, SERVICE_HELP, TEXT_HELP
from safeguard.commands.signin import AS_HELP
from safeguard.config import STYLES, TEXT_POLICIES, UNKNOWN_POLICIES
from safeguard.exitcodes import EXIT_CODES_HELP, ExitStatus
from safeguard.terminal import echo


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
    from safeguard.publish import Request

    request = Request(channel=channel, groups=tuple(groups), unknown=unknown, text=text,
                      caption=_read_caption(caption_file), write=False)
    return ExitStatus(_run(app, paths, request, as_json=as_json, jobs=jobs, as_user=as_user,
                           service=service))


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
    from safeguard.publish import Request

    request = Request(channel=channel, groups=tuple(groups), unknown=unknown, text=text,
                      style=style, format=fmt, quality=quality, audio=audio,
                      caption=_read_caption(caption_file), out=out, write=True,
                      ask_dsl=asking(ask_dsl, note, suggest, out))
    return ExitStatus(_run(app, paths, request, as_json=as_json, jobs=jobs, as_user=as_user,
                           service=service))


def asking(ask_dsl: bool, note: str | None, suggest: tuple, out: Path) -> dict | None:
    """What a batch sent to the DSL to check carries (publish.Request.ask_dsl), or None."""
    if not ask_dsl:
        if note or suggest:
            raise click.UsageError("--note and --suggest go with --ask-dsl")
        return None
    note = " ".join((note or "").split())[:500] or None
    names = [" ".join(s.split())[:64] for s in suggest if s.strip()][:30]
    return {"note": note, "suggest": names, "return_to": str(out.absolute())}


def _read_caption(path: Path | None) -> str | None:
    return None if path is None else path.read_text(encoding="utf-8", errors="replace")


def _run(app, paths, request, *, as_json: bool, jobs: int | None, as_user: str | None,
         service: Path | None) -> ExitStatus:
    """The batch, here or through the service; returns the exit status (safeguard.exitcodes),
    which the command returns for the command line to exit with (safeguard.cli)."""
    if service is not None:
        return _run_remote(app, service, paths, request, as_json, as_user)
    from safeguard import workers

    jobs = jobs or os.cpu_count() or 1
    workers.start_early(paths, jobs)  # before the pipeline loads
    from safeguard import batch_terminal
    from safeguard.commands.batch_options import usage_errors
    from safeguard.commands.signin import signed_in
    from safeguard.pipeline import collect_inputs, start_workers
    from safeguard.publish import Session

    files, early = collect_inputs(paths)
    # the workers start now and load their models while this process signs in and opens the
    # store; they are given the job once it exists, and end with this process
    pool = start_workers(jobs, len(files))
    try:
        door, who = signed_in(app, "photos", as_user)  # and app.config is the accepted settings
        with usage_errors():
            session = Session(app.home, who, door, app.config, request)
        status = batch_terminal.run(session, files, early, as_json=as_json, jobs=jobs, pool=pool)
    except BaseException:  # not signed in, say: the workers need not finish loading first
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    if pool is not None:
        pool.shutdown()  # every photo given to it has its outcome: they are idle
    return status


def _run_remote(app, socket_path, paths, request, as_json, as_user) -> ExitStatus:
    """The batch through the service (safeguard.service): the photos are read here, as the
    person running the command, and the copies written here; the home is never opened."""
    from safeguard import batch_terminal
    from safeguard.commands.signin import credentials
    from safeguard.pipeline import collect_inputs
    from safeguard.publish import BatchResult
    from safeguard.service import Client, ServiceError, hello_for

    user, password = credentials(app, as_user, "photos")
    try:
        client = Client(socket_path, {**hello_for(request), "user": user, "password": password})
    except ServiceError as e:
        if e.usage:
            raise click.UsageError(str(e)) from None
        raise click.ClickException(str(e)) from None
    files, early = collect_inputs(paths)
    result = BatchResult(caption=client.caption)
    report = batch_terminal.Reporter(as_json, total=len(files) + len(early), write=request.write,
                                     caption=result.caption)
    try:
        for public in client.publish(files, early, request.out if request.write else None):
            result.add(batch_terminal.ShownOutcome.from_public(public))
            report.emit(public)
    except ServiceError as e:
        report.close()
        raise click.ClickException(f"the service stopped the batch: {e}") from None
    except KeyboardInterrupt:
        report.close()
        echo(batch_terminal.INTERRUPTED, err=True)
        result.interrupted = True
        return result.status
    finally:
        client.close()
    report.close()
    batch_terminal.done(result, request.write, as_json)
    return result.status

"""`safeguard caption`: check a post's caption before it goes out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from safeguard.commands.signin import AS_HELP
from safeguard.exitcodes import ExitStatus, exit_codes_help
from safeguard.terminal import echo


@click.command(epilog=exit_codes_help(ExitStatus.OK, ExitStatus.ERROR, ExitStatus.USAGE,
                                      ExitStatus.NEEDS_CHANGE))
@click.argument("text", required=False)
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the caption from this file ('-' as TEXT reads standard input).")
@click.option("--channel", "-c", default=None, help="Where the post will go (default: social).")
@click.option("--json", "as_json", is_flag=True, help="The findings as one JSON object.")
@click.option("--as", "as_user", metavar="USER", help=AS_HELP)
@click.pass_obj
def caption(app, text, path, channel, as_json, as_user):
    """Check a caption for what identifies a child: a pupil's full name (either order, with an
    initial, with typos), a class name ("4O", "Year 4 Oak", "Class 6B"), a phone number, an email
    address, a home street, or a child's age beside their full name. A first name alone is fine.

    It quotes the words found and says what kind of thing they are (with --json, where they are
    too), and nothing else about the child; a caption that needs changing ends with exit code 6."""
    from safeguard.commands.signin import signed_in

    if path is not None:
        text = path.read_text(encoding="utf-8", errors="replace")
    elif text in (None, "-"):
        text = sys.stdin.read()
    cfg = app.config
    channel = channel or cfg.default_channel
    if channel not in cfg.channels:
        raise click.BadParameter(f"unknown channel {channel!r}", param_hint="--channel")
    store, _ = signed_in(app, "photos", as_user)
    findings = store.check_caption(text)
    if as_json:
        echo(json.dumps({"channel": channel, "ok": not findings,
                         "findings": [f.public(words=True) for f in findings]}))
    elif not findings:
        echo("Nothing in the caption identifies a child.")
    else:
        for f in findings:
            echo(f.quoted)
        echo(f"{len(findings)} thing(s) in the caption identify a child: change it before "
             "posting.")
    return ExitStatus.NEEDS_CHANGE if findings else ExitStatus.OK

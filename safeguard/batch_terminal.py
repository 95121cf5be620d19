"""A batch on the terminal: progress, one JSON line per input, the summary table and the
caption's findings. What `scan`, `blur` and the demo show of a publish session
(safeguard.publish); it decides nothing."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

from safeguard.naming import quoted
from safeguard.terminal import console, echo
from safeguard.terminal import shown as one_line

INTERRUPTED = "Interrupted: finished photos are in place; none is partial."


@dataclass
class ShownFace:
    action: str


@dataclass
class ShownOutcome:
    """An outcome as the service sends it back (Outcome.public), for the summary table."""

    input: str
    status: str
    output: str | None = None
    error: str | None = None
    held_id: str | None = None
    flags: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    faces: list = field(default_factory=list)
    kind: str = "photo"
    approval: str | None = None

    @classmethod
    def from_public(cls, public: dict) -> ShownOutcome:
        return cls(input=public["input"], status=public["status"], output=public.get("output"),
                   error=public.get("error"), held_id=public.get("held_id"),
                   flags=public.get("flags") or [], removed=public.get("metadata_removed") or [],
                   faces=[ShownFace(f.get("action")) for f in public.get("faces") or []],
                   kind=public.get("kind", "photo"), approval=public.get("approval"))


def run(session, files, early, *, as_json: bool, jobs: int, pool=None) -> int:
    """Publish `files` (after `early`, rejected while collecting) through `session`, shown as it
    goes; the exit status (publish.BatchResult)."""
    write = session.request.write
    report = Reporter(as_json, total=len(files) + len(early), write=write,
                      caption=session.caption)
    try:
        for o in session.outcomes(files, early, jobs=jobs, pool=pool):
            report.one(o)
    except KeyboardInterrupt:
        report.close()
        echo(INTERRUPTED, err=True)
        session.result.interrupted = True
        return session.result.status
    report.close()
    post = session.finish()
    if post is not None and not as_json:
        n = len(post["files"])
        echo(f"{n} cop{'y' if n == 1 else 'ies'} awaiting approval as post {post['id']} "
             f"(safeguard approvals status {post['id']}); once approved they land in "
             f"{post['out_dir']}.")
    done(session.result, write, as_json)
    return session.result.status


def done(result, write: bool, as_json: bool) -> None:
    """The summary and the caption's findings, after the last photo."""
    if not as_json:
        summary(result.outcomes, write)
    caption_report(result.caption, as_json)


def caption_report(findings: list[dict] | None, as_json: bool) -> None:
    """The caption's findings, for a person (JSON puts them on every line instead)."""
    if findings is None or as_json:
        return
    if not findings:
        echo("Caption: nothing in it identifies a child.")
        return
    for f in findings:  # the words quoted (an older service may send a name's as None)
        echo("Caption: " + (quoted(f["text"], f["what"]) if f.get("text") else f["what"]))
    echo("The caption identifies a child: change it before posting.")


class Reporter:
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


def summary(outcomes, write: bool) -> None:
    """The table of a batch, its counts, and then one line per id (a held photo's, a post's),
    each starting its line so that no id is broken across lines to be copied."""
    from rich.markup import escape
    from rich.table import Table

    from safeguard.outcome import AWAITING, AWAITING_WORDS, HELD_MESSAGE

    out = console()
    table = Table(title="safeguard: " + ("blur" if write else "scan (nothing written)"))
    table.add_column("photo", overflow="fold")
    table.add_column("result")
    table.add_column("faces", justify="right")
    table.add_column("redacted", justify="right")
    table.add_column("output / note", overflow="fold")
    shown = outcomes if len(outcomes) <= 60 else [o for o in outcomes if o.status != "exported"
                                                   or _awaiting(o)]
    held_ids, posts = [], {}  # (id, photo); post id -> copies in it
    for o in shown[:200]:
        redacted = sum(f.action == "redact" for f in o.faces)
        name = _shown_name(o)
        if _awaiting(o):
            result, note = f"[cyan]{AWAITING_WORDS}[/]", "in the post below"
        elif o.status == "exported":
            result = "[green]exported[/]" if write else "[green]ok to export[/]"
            note = o.output or ("; ".join(o.removed[:3]) + ("..." if len(o.removed) > 3 else ""))
        elif o.status == "held":
            result, note = "[yellow]held[/]", HELD_MESSAGE
            if o.held_id:
                held_ids.append((o.held_id, name))
        else:
            result, note = "[red]rejected[/]", o.error or ""
        if o.flags:
            note += " [" + "; ".join(o.flags) + "]"
        # file names and reasons are text, never Rich markup ("[/bold].jpg" would crash it)
        table.add_row(escape(one_line(name)), result, str(len(o.faces)), str(redacted),
                      escape(note))
    out.print(table)
    n = len(outcomes)
    waiting = sum(_awaiting(o) for o in outcomes)
    exp = sum(o.status in ("exported", AWAITING) for o in outcomes) - waiting
    held = sum(o.status == "held" for o in outcomes)
    rej = sum(o.status == "rejected" for o in outcomes)
    faces = sum(len(o.faces) for o in outcomes)
    red = sum(f.action == "redact" for o in outcomes for f in o.faces)
    verb = "exported" if write else "ready to export"
    clips = sum(getattr(o, "kind", "photo") == "video" for o in outcomes)
    out.print(f"{count(n - clips, 'photo')}{' and ' + count(clips, 'clip') if clips else ''}: "
              f"{exp} {verb}, " + (f"{waiting} {AWAITING_WORDS}, " if waiting else "")
              + f"{held} held for the DSL to check, "
              f"{rej} rejected; {faces} faces found, {red} redacted.")
    for o in outcomes:
        if _awaiting(o):
            posts[o.approval] = posts.get(o.approval, 0) + 1
    # each id starts its own line: a long name never pushes it across the edge of the terminal
    for ident, n in posts.items():
        out.print(f"{ident}  post {AWAITING_WORDS}: {n} cop{'y' if n == 1 else 'ies'} "
                  f"(safeguard approvals status {ident})", soft_wrap=True, highlight=False)
    for ident, name in held_ids:
        out.print(escape(f"{ident}  {HELD_MESSAGE}: {one_line(name)}"), soft_wrap=True,
                  highlight=False)


def _awaiting(o) -> bool:
    """Did `o`'s copy go into a post waiting for sign-off (not exported yet)?"""
    return bool(getattr(o, "approval", None)) and o.status in ("exported", "awaiting_approval")


def _shown_name(o) -> str:
    if any("pupil's name" in f for f in o.flags):
        return "(name withheld: it contains a pupil's name)"
    return display(o.input)


def count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def display(path: str) -> str:
    """Paths under the current folder shown relative to it; undecodable bytes replaced."""
    try:
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            path = rel
    except ValueError:
        pass
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

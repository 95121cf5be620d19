"""What comms staff see: the status file in the inbox (never through a link), names
withheld, one-line reasons; and the counts of `safeguard status`."""


from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from pathlib import Path

from consent_db.storage import atomic_write_bytes
from safeguard.home import Home
from safeguard.watch.claims import Claim
from safeguard.watch.common import STATUS_FILE, STATUS_MAX_BYTES, WITHHELD
from safeguard.watch.settle import scan_inbox
from safeguard.watch.target import Ledger, is_running


def publish_status(master: Path, inbox: Path, line: str) -> None:
    """Append `line` to `master` (owner-only, under the home; trimmed to its last 2,000 lines
    past STATUS_MAX_BYTES) and copy it to INBOX/STATUS_FILE without following any link. Comms
    staff read the file in a terminal as often as in an editor: whatever reached `line` (a name,
    a worker's error), its control characters are written as visible escapes and it stays one
    line."""
    import fcntl

    from safeguard.terminal import shown

    line = shown(line)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(master, flags, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        # The watcher and the review app (a decision made later: safeguard.watch.feedback) both
        # write here: one at a time, so that neither's copy into the inbox drops the other's line.
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.write(line + "\n")
        f.flush()
        text = master.read_bytes()
        if len(text) > STATUS_MAX_BYTES:
            text = b"\n".join(text.splitlines()[-2000:]) + b"\n"
            atomic_write_bytes(master, text)
        atomic_write_bytes(inbox / STATUS_FILE, text, mode=0o644, follow_links=False)


def display_name(rel: str, names: Iterable[str]) -> str:
    """The input's name as comms staff may see it: withheld when it holds a pupil's name (or when
    the names could not be read, signalled by a name of NUL); control characters replaced."""
    from safeguard.pipeline import mentions_pupil

    names = tuple(names)
    if "\0" in names or mentions_pupil(rel, names):
        return WITHHELD
    text = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)


def public_reason(error: str | None, claim: Claim, names: Iterable[str]) -> str:
    """A rejection reason fit for the status file: one line, no paths, no names."""
    from safeguard.pipeline import mentions_pupil

    text = (error or "could not be processed").splitlines()[0] if error else "could not be processed"
    for p in (str(claim.input), str(claim.dir), Path(claim.rel).name):
        text = text.replace(p, "the photo")
    names = tuple(names)
    if "\0" in names or mentions_pupil(text, names):
        return "could not be processed safely"
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


# ---------------------------------------------------------------------------------------------
# Status


def status_counts(home: Home, today: dt.date | None = None) -> dict:
    """Counts for `safeguard status`: photos waiting in each inbox, in processing, made ready
    today (at once, or released or approved later), held for the DSL (undecided), rejected, and
    what was decided today about the inboxes' held photos and posts."""
    from safeguard.watch.feedback import DECISIONS

    today = today or dt.date.today()
    watchers = []
    decided = dict.fromkeys(DECISIONS, 0)
    root = home.root / "watch"
    for tj in sorted(root.glob("inbox-*/target.json")) if root.is_dir() else []:
        try:
            t = json.loads(tj.read_text())
        except (OSError, ValueError):
            continue
        inbox = Path(t["inbox"])
        try:
            waiting = len(scan_inbox(inbox, [Path(t["ready"]), home.root]))
        except OSError:
            waiting = None
        proc = tj.parent / "processing"
        processing = len([d for d in proc.iterdir() if not d.name.startswith(".")]) \
            if proc.is_dir() else 0
        ready_today = 0
        for e in Ledger(tj.parent / "ledger.jsonl").entries():
            if _local_date(e.get("time")) != today:
                continue
            if e.get("status") == "exported" and not e.get("approval"):
                ready_today += 1  # in ready: at once, or released or approved later
            if e.get("decided") in decided:
                decided[e["decided"]] += 1
        watchers.append({"inbox": str(inbox), "ready": t.get("ready"), "channel": t.get("channel"),
                         "running": is_running(tj.parent), "waiting": waiting,
                         "processing": processing, "ready_today": ready_today})
    return {
        "inbox": sum(w["waiting"] or 0 for w in watchers),
        "processing": sum(w["processing"] for w in watchers),
        "ready_today": sum(w["ready_today"] for w in watchers),
        "held": _count_held(home.held_dir),
        "awaiting_approval": _count_awaiting(home),
        "rejected": _count_rejected(home.rejected_dir),
        "decided_today": decided,
        "watchers": watchers,
    }


def _local_date(iso: str | None) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(iso).astimezone().date() if iso else None
    except ValueError:
        return None


def _count_held(folder: Path) -> int:
    from safeguard.held import HeldQueue

    q = HeldQueue(folder)
    n = 0
    for held_id in q.ids():
        try:
            n += q.record(held_id).get("state", "held") == "held"
        except (OSError, ValueError):
            continue
    return n


def _count_awaiting(home) -> int | None:
    """Posts waiting for sign-off (None when they cannot be read here)."""
    from safeguard import approvals

    try:
        return len(approvals.pending(home, scope=None))  # the machine's count: every post
    except Exception:  # noqa: BLE001 - no key here: say nothing rather than a wrong zero
        return None


def _count_rejected(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))

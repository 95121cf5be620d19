"""A decision made after the watcher let go of a photo, written back where comms staff look.

The watcher notes what became of each photo when it finishes it (a line in the inbox's status
file, a line in its ledger). What becomes of a held photo is decided later, by the DSL (released
or rejected), and of a post waiting for sign-off, by an approver (approved or declined), in
another process. Each such decision appends one line to the same status file and one to the
same ledger, found from the photo's claim (or its post) in the ledgers under HOME/watch: so
`safeguard status` counts what landed in ready, and the duplicate check sees the latest state (a
photo rejected or declined may be sent again; one still waiting or published stays a duplicate).

Comms staff read the status file. A line names the photo as the watcher's own line did (withheld
when its name held a pupil's), and says what happened; never whose face, which register or the
DSL's reasons. A decline's reason is the approver's words for the submitter: it is shown only
when it names no pupil, no class and no register (`words_for_comms`).

The decision itself is made and audited before this runs; a status file that cannot be written
(the inbox unreachable from this process) is logged and leaves the decision standing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("safeguard.watch")

# what was decided -> the photo's state after it
DECISIONS = {
    "released": "exported",  # by the DSL, into ready
    "released for sign-off": "awaiting approval",  # by the DSL, into a post
    "rejected": "rejected",  # by the DSL: the original destroyed
    "approved": "exported",  # by an approver: the copy landed in ready
    "declined": "declined",  # by an approver: the copy destroyed
}
WITHHELD_REASON = "the reason is for staff who may see who is in the photo: ask the approver"


def origin(home: Any, *, claim: str | None = None, post: str | None = None
           ) -> tuple[Path, dict] | None:
    """(the target's folder, the watcher's own ledger line) of the photo of watcher claim
    `claim`, or of the post `post` the watcher made for it; None for a photo that did not come
    through a watched inbox."""
    from safeguard.watch.target import Ledger

    root = Path(home.root) / "watch"
    if not (claim or post) or not root.is_dir():
        return None
    for tj in sorted(root.glob("inbox-*/target.json")):
        for e in Ledger(tj.parent / "ledger.jsonl").entries():
            if e.get("decided"):
                continue
            if (claim and e.get("claim") == claim) or (post and e.get("approval") == post):
                return tj.parent, e
    return None


def note(home: Any, decided: str, text: str, *, claim: str | None = None,
         post: str | None = None, output: str | None = None, new_post: str | None = None) -> bool:
    """Append what was `decided` (a key of DECISIONS) about the photo of watcher claim `claim`
    (or of the watcher's post `post`) to its inbox's ledger and status file: `text` is the
    status line's words for comms staff. `output`: the file's name in ready, when it landed
    there; `new_post`: the post it now waits in. False when the photo did not come through a
    watched inbox, or its target cannot be written."""
    from safeguard.watch.status import publish_status
    from safeguard.watch.target import Ledger

    found = origin(home, claim=claim, post=post)
    if found is None:
        return False
    folder, first = found
    now = dt.datetime.now().astimezone()
    entry = {"time": now.isoformat(timespec="seconds"), "claim": first.get("claim"),
             "sha256": first.get("sha256"), "channel": first.get("channel"),
             "ready": first.get("ready"), "status": DECISIONS[decided], "decided": decided,
             "display": first.get("display"), "output": output,
             **({"post": new_post} if new_post else {})}
    try:
        Ledger(folder / "ledger.jsonl").add(entry)
        inbox = Path(json.loads((folder / "target.json").read_text())["inbox"])
        publish_status(folder / "status.txt", inbox,
                       f"{now:%Y-%m-%d %H:%M:%S}  {first.get('display')}  ->  {text}")
    except (OSError, ValueError, KeyError) as e:
        log.warning("could not note a decision in the watched inbox: %s",
                    getattr(e, "strerror", None) or e)
        return False
    return True


def words_for_comms(reason: str | None, check: Callable[[str], list] | None) -> str | None:
    """`reason` when comms staff may read it: None when it names a pupil, a class or anything
    `check` (the caption check: safeguard.caption) flags, or a register, or when nothing can
    check it (fail closed)."""
    from consent_db.store import REGISTERS

    if not reason:
        return None
    if check is None:
        return None
    words = [*REGISTERS.values(), *(k for k in REGISTERS if k != "other"), "register"]
    if any(re.search(rf"\b{re.escape(w)}\b", reason, re.IGNORECASE) for w in words):
        return None
    try:
        if check(reason):
            return None
    except Exception:  # noqa: BLE001 - cannot be checked: not shown
        return None
    return reason

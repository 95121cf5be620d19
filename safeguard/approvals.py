"""Sign-off: the protocol's "a post goes out only once a senior leader who is a DSL has agreed it".

With `approval = {social = "slt"}` in config.toml, the blur pass for that channel does not write
its publishable copies into `--out`: the post (the redacted copies, the caption, the channel, the
folder they are for) waits under HOME/approvals/<id>/ until an approver (a DSL, or a member of
the senior leadership team with the `slt` role) approves it, and the copies land in that folder,
or declines it with a reason, and they are destroyed. Everything is in the audit log. Comms staff
learn the post's id and its state ("awaiting approval", "approved", "declined"), never more.

Files are sealed with the home's file key (safeguard.sealed) like held photos.

In a trust, a post belongs to the academy of the account that made it (None: a trust-wide
account). An approver scoped to an academy (safeguard.scope) sees, approves and declines only
that academy's posts, and another academy's post is "no such post" to them, as a post that does
not exist is; trust-wide approvers see every post. A post made by a trust-wide account is for
trust-wide approvers, as a held photo with no pupil of the academy is for trust-wide DSLs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safeguard import sealed
from safeguard.exitcodes import SafeguardError
from safeguard.home import overlaps

ID_RE = re.compile(r"[0-9]{8}-[0-9a-f]{12}")  # always fullmatch
AWAITING, APPROVED, DECLINED = "awaiting approval", "approved", "declined"


class ApprovalError(SafeguardError):
    """One line fit for the user."""


# A post's copy that is a clip (a held clip the DSL released, or one `blur` wrote): every clip
# safeguard writes is a fresh MP4 (safeguard.video), so its name says which it is.
CLIP_TYPES = {".mp4": "video/mp4"}


def is_clip(name: str) -> bool:
    """Is the post's copy named `name` a clip (played, not drawn as a picture)?"""
    return Path(name).suffix.lower() in CLIP_TYPES


def folder(home: Any) -> Path:
    return Path(home.root) / "approvals"


def needs_approval(config, channel: str) -> bool:
    return (config.approval or {}).get(channel, "none") == "slt"


def _key(home: Any) -> bytes:
    return sealed.home_key(home.root)


def _post_dir(home: Any, post_id: str) -> Path:
    if not isinstance(post_id, str) or not ID_RE.fullmatch(post_id):
        raise ApprovalError("no such post")
    d = folder(home) / post_id
    if not (d / "post.json").is_file():
        raise ApprovalError("no such post")
    return d


def _write_post(home: Any, d: Path, post: dict) -> None:
    sealed.write_json(d / "post.json", post, _key(home), f"approvals/{post['id']}/post")


def start(home: Any, channel: str, out_dir: Path, caption: str | None, by: str,
          post_id: str | None = None, academy: str | None = None,
          origin: dict | None = None) -> dict:
    """A new post of `academy` (the submitter's; None: trust-wide) waiting for its copies
    (`add`), then `submit`. Returns the post. A given `post_id` that was started before and
    never submitted (a crash) is started afresh. `origin`: where its photo came from when that
    is not the submitter's batch (a held photo released by the DSL: its held id and watcher
    claim), so that the decision flows back there (safeguard.watch.feedback)."""
    root = folder(home)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    post_id = post_id or f"{dt.date.today():%Y%m%d}-{secrets.token_hex(6)}"
    if not ID_RE.fullmatch(post_id):
        raise ApprovalError("bad post id")
    d = root / post_id
    shutil.rmtree(d, ignore_errors=True)
    (d / "files").mkdir(parents=True, mode=0o700)
    post = {"id": post_id, "channel": channel, "out_dir": str(Path(out_dir).absolute()),
            "caption": caption, "submitted_by": by, "academy": academy or None,
            "state": "open", "files": [], **({"origin": origin} if origin else {}),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    _write_post(home, d, post)
    return post


def add(home: Any, post: dict, name: str, data: bytes) -> None:
    """One publishable copy of the post, sealed until approved."""
    d = _post_dir(home, post["id"])
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name) or "photo"
    n = len(post["files"])
    stored = f"{n:04d}"
    sealed.write(d / "files" / stored, data, _key(home), f"approvals/{post['id']}/{stored}")
    post["files"].append({"stored": stored, "name": safe})
    _write_post(home, d, post)


def submit(home: Any, post: dict, audit) -> dict:
    post["state"] = AWAITING
    _write_post(home, _post_dir(home, post["id"]), post)
    audit.append(post["submitted_by"], "approval.submitted", None,
                 {"post": post["id"], "channel": post["channel"], "photos": len(post["files"])})
    return post


def post_id_for(key: str, day: dt.date | None = None) -> str:
    """A post id fixed by `key` (the watcher's claim id): the same after a crash and restart."""
    import hashlib

    return f"{day or dt.date.today():%Y%m%d}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def submit_photo(home: Any, post_id: str, channel: str, out_dir: Path, caption: str | None,
                 by: str, name: str, data: bytes, audit, academy: str | None = None,
                 origin: dict | None = None) -> dict:
    """A post of one photo under a fixed id (the watched folder's: one post per photo).
    Repeatable: a post already submitted under this id is returned as it is, whatever became
    of it since; one half made before a crash is made again."""
    try:
        post = get(home, post_id)
    except ApprovalError:
        post = None
    if post is not None and post["state"] != "open":
        return post
    post = start(home, channel, out_dir, caption, by, post_id, academy, origin)
    add(home, post, name, data)
    return submit(home, post, audit)


def get(home: Any, post_id: str) -> dict:
    d = _post_dir(home, post_id)
    try:
        return sealed.read_json(d / "post.json", _key(home), f"approvals/{post_id}/post")
    except sealed.SealedError as e:
        raise ApprovalError(f"post {post_id} cannot be opened: {e}") from None


def visible(post: dict, scope: str | None) -> bool:
    """May an approver scoped to academy `scope` (None: trust-wide) see this post?"""
    return scope is None or (post.get("academy") or None) == scope


def get_for(home: Any, post_id: str, scope: str | None) -> dict:
    """The post, for an approver scoped to `scope`: another academy's is "no such post"."""
    post = get(home, post_id)
    if not visible(post, scope):
        raise ApprovalError("no such post")
    return post


def pending(home: Any, *, scope: str | None) -> list[dict]:
    """Posts awaiting approval, newest first, that an approver scoped to `scope` may see (None:
    trust-wide, every post). No default: each caller says whose view it is."""
    root = folder(home)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir(), reverse=True):
        if ID_RE.fullmatch(d.name):
            try:
                post = get(home, d.name)
            except ApprovalError:
                continue
            if post["state"] == AWAITING and visible(post, scope):
                out.append(post)
    return out


def copies(home: Any, post: dict) -> list[tuple[str, bytes]]:
    """(name, bytes) of each publishable copy of the post."""
    d = _post_dir(home, post["id"])
    return [(f["name"], sealed.read(d / "files" / f["stored"], _key(home),
                                    f"approvals/{post['id']}/{f['stored']}"))
            for f in post["files"]]


def _reason(reason: str | None, required: bool) -> str | None:
    from safeguard.review.decisions import typed_reason

    return typed_reason(reason, required, "declining", ApprovalError)


def caption_findings(post: dict, check: Callable[[str], list] | None) -> list[str]:
    """What in the post's caption identifies a child (the kinds found, in order: "a full
    name", "a class name"), by `check` (the account's door.check_caption). A caption that
    cannot be checked here is refused: nobody approves a caption nobody read."""
    caption = post.get("caption")
    if not caption:
        return []
    if check is None:
        raise ApprovalError("the caption cannot be checked here: approve it where the store is")
    return list(dict.fromkeys(f.what for f in check(caption)))


CONFIRM_CAPTION = ("the caption identifies a child ({}): approve it only after reading it, "
                   "by confirming that it may be posted as it is (or decline it)")


def approve(home: Any, post_id: str, by: str, audit, note: str | None = None, *,
            scope: str | None, check: Callable[[str], list] | None = None,
            caption_confirmed: bool = False) -> dict:
    """The copies land in the post's folder (never overwriting), then the post is closed.
    `scope`: the approver's academy (None: trust-wide); no default, so no caller approves with
    a trust's reach by forgetting it. `check`: the caption check of the approver's door; a
    caption it flags is approved only with `caption_confirmed` (a deliberate tick or flag)."""
    from safeguard.images import write_atomic

    post = get_for(home, post_id, scope)
    if post["state"] != AWAITING:
        raise ApprovalError(f"post {post_id} was already decided ({post['state']})")
    flagged = caption_findings(post, check)
    if flagged and not caption_confirmed:
        raise ApprovalError(CONFIRM_CAPTION.format(", ".join(flagged)))
    out = Path(post["out_dir"])
    if overlaps(out, home.root):
        raise ApprovalError(f"post {post_id} is for a folder inside the safeguard home: "
                            "decline it")
    written = [str(write_atomic(data, out, name)) for name, data in copies(home, post)]
    _close(home, post, APPROVED, by, _reason(note, False), written)
    audit.append(by, "approval.approved", None,
                 {"post": post_id, "channel": post["channel"], "photos": len(written),
                  **({"caption_flagged": flagged, "caption_confirmed": True} if flagged else {})})
    landed = ", ".join(Path(w).name for w in written)
    _flow_back(home, post, "approved", f"approved at sign-off: ready as {landed}",
               output=Path(written[0]).name if written else None)
    return post


def _flow_back(home: Any, post: dict, decided: str, text: str, **kw) -> None:
    """The decision, in the status file and ledger of the watched inbox the photo came from."""
    from safeguard.watch.feedback import note

    origin = post.get("origin") or {}
    note(home, decided, text, claim=origin.get("watch_claim"),
         post=None if origin.get("watch_claim") else post["id"], **kw)


def decline(home: Any, post_id: str, by: str, reason: str, audit, *,
            scope: str | None, check: Callable[[str], list] | None = None) -> dict:
    """The copies destroyed. The submitter sees the reason when it names no pupil, class or
    register (`check`: the approver's door's caption check; without it, they see none)."""
    from safeguard.watch.feedback import WITHHELD_REASON, words_for_comms

    post = get_for(home, post_id, scope)
    if post["state"] != AWAITING:
        raise ApprovalError(f"post {post_id} was already decided ({post['state']})")
    why = _reason(reason, True)
    shown = words_for_comms(why, check)
    post["public_reason"] = shown or WITHHELD_REASON
    _close(home, post, DECLINED, by, why, [])
    audit.append(by, "approval.declined", None,
                 {"post": post_id, "channel": post["channel"], "reason": why})
    _flow_back(home, post, "declined",
               f"declined at sign-off ({post['public_reason']}): not published; it may be "
               "dropped in again once changed")
    return post


def _close(home: Any, post: dict, state: str, by: str, why: str | None, written: list) -> None:
    """The decision recorded first, then the sealed copies destroyed."""
    d = _post_dir(home, post["id"])
    post.update(state=state, decided_by=by, reason=why, written=written,
                decided=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    _write_post(home, d, post)
    shutil.rmtree(d / "files", ignore_errors=True)
    os.makedirs(d / "files", mode=0o700, exist_ok=True)


def public(post: dict) -> dict:
    """What the comms member who submitted it may see."""
    reason = post["public_reason"] if "public_reason" in post else post.get("reason")
    return {"id": post["id"], "channel": post["channel"], "state": post["state"],
            "photos": len(post["files"]), "reason": reason}


def as_json(post: dict) -> str:
    return json.dumps(post)

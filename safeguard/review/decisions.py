"""What the DSL can decide about a held image, and how each decision is carried out.

A held image can be
- released redacted: exactly as previewed (restricted and unknown faces whose action was redact
  or hold are redacted, cleared faces kept);
- released with per-face choices: the DSL picks which faces to redact; leaving visible a face the
  preview would redact is an override and needs a typed reason;
- released unredacted: every face visible; a typed reason is required;
- rejected: the original is destroyed at once.

A release is encoded fresh, stripped and verified exactly as the pipeline does, and written
atomically into a ready folder that exists and is outside the home. Order: the audit entries are
written first (so no released file is ever missing from the trail), then the file, then the held
record is settled (the original destroyed, a tombstone kept). If writing fails after the audit
entry, a failure entry follows it and the image stays held. A crash in between leaves the image
held (it can be released again) and at worst an extra audit entry: nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeguard.config import Config
from safeguard.faces import Box
from safeguard.held import HeldError, HeldQueue
from safeguard.home import overlaps

REDACTED_LABELS = ("restricted", "unknown")
MAX_REASON = 500


class DecisionError(Exception):
    """A decision that cannot be carried out; the message is one line, fit for the DSL."""


# ---------------------------------------------------------------------------------------------
# The queue


@dataclass
class QueueItem:
    id: str
    held_at: dt.datetime
    age_days: int
    overdue: bool
    channel: str
    name: str  # the original file's base name (DSL eyes only: it may hold a pupil's name)
    faces: int
    restricted: int
    unknown: int
    cleared: int
    badges: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    clip: bool = False  # a held clip: the queue shows its first track's frames, not a picture

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "held_at": self.held_at.isoformat(timespec="seconds"),
            "age_days": self.age_days,
            "overdue": self.overdue,
            "channel": self.channel,
            "file": self.name,
            "faces": self.faces,
            "restricted": self.restricted,
            "unknown": self.unknown,
            "cleared": self.cleared,
            "reasons": [text for kind, text in self.badges if kind != "channel"],
        }


def _held_at(rec: dict) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(rec["held_at"])
    except (KeyError, TypeError, ValueError):
        return dt.datetime.fromtimestamp(0, dt.UTC)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def badges(rec: dict) -> list[tuple[str, str]]:
    """Reason badges: the channel, "spot check" for a photo held only by one (nothing in it needed
    the DSL: safeguard.spot_check), each distinct register / consent reason, unknown faces."""
    from consent_db.store import REGISTERS
    from safeguard.spot_check import LABEL

    registers = set(REGISTERS.values())
    out: list[tuple[str, str]] = [("channel", rec.get("channel") or "?")]
    if rec.get("spot_check"):
        out.append(("spot", LABEL))
    if rec.get("asked"):
        out.append(("asked", "sent by comms staff to check"))
    seen: set[str] = set()
    for f in rec.get("faces", []):
        if f.get("label") != "restricted":
            continue
        for part in (f.get("reason") or "").split("; "):
            if part and part not in seen:
                seen.add(part)
                out.append(("register" if part in registers else "consent", part))
    n_unknown = sum(f.get("label") == "unknown" for f in rec.get("faces", []))
    if n_unknown:
        out.append(("unknown", f"{n_unknown} unknown face{'s' if n_unknown > 1 else ''}"))
    return out


def queue_item(rec: dict, review_days: int, now: dt.datetime | None = None) -> QueueItem:
    now = now or dt.datetime.now(dt.UTC)
    held_at = _held_at(rec)
    age = max(0, (now - held_at).days)
    faces = rec.get("faces", [])
    return QueueItem(
        id=rec["id"],
        held_at=held_at,
        age_days=age,
        overdue=age >= review_days,
        channel=rec.get("channel") or "?",
        name=Path(str(rec.get("input", ""))).name,
        faces=len(faces),
        restricted=sum(f.get("label") == "restricted" for f in faces),
        unknown=sum(f.get("label") == "unknown" for f in faces),
        cleared=sum(f.get("label") == "cleared" for f in faces),
        badges=badges(rec),
        clip=rec.get("kind") == "video",
    )


def _visible(rec: dict, store: Any) -> bool:
    """Is this held photo in the scope of the account `store` is scoped to (safeguard.scope)?"""
    from safeguard.scope import held_in_scope

    academy = getattr(store, "academy", None)
    return academy is None or held_in_scope(rec, academy, store)


def queue(held: HeldQueue, review_days: int, now: dt.datetime | None = None,
          store: Any = None) -> list[QueueItem]:
    """Undecided images: those held `review_days` or longer first (oldest first: they are
    overdue), then the rest newest first. With a store scoped to an academy, only that
    academy's photos."""
    items = []
    held.sweep()
    for held_id in held.pending():
        try:
            rec = held.record(held_id)
            if _visible(rec, store):
                items.append(queue_item(rec, review_days, now))
        except (OSError, ValueError, KeyError, HeldError):
            continue
    overdue = sorted((i for i in items if i.overdue), key=lambda i: i.held_at)
    fresh = sorted((i for i in items if not i.overdue), key=lambda i: i.held_at, reverse=True)
    return overdue + fresh


# ---------------------------------------------------------------------------------------------
# Faces


def face_boxes(rec: dict) -> list[Box]:
    return [Box(*[int(v) for v in f["box"]]) for f in rec.get("faces", [])]


def text_boxes(rec: dict) -> list[Box]:
    """Regions of text naming a pupil or a class (safeguard.text): always covered on release."""
    return [Box(*[int(v) for v in t["box"]]) for t in rec.get("texts", [])]


def with_text_covered(rgb, rec: dict):
    from safeguard.text import cover

    boxes = text_boxes(rec)
    return cover(rgb, boxes) if boxes else rgb


def previewed(rec: dict) -> set[int]:
    """Indexes of the faces the redacted preview covers: every face that was not cleared, but
    those the DSL confirmed as a pupil who may be shown (safeguard.confirmation)."""
    from safeguard.confirmation import kept

    return {
        i
        for i, f in enumerate(rec.get("faces", []))
        if f.get("action") in ("redact", "hold") and f.get("label") in REDACTED_LABELS
    } - kept(rec)


def face_rows(rec: dict, names: dict[str, str]) -> list[dict]:
    """One row per face of a held record, for the DSL (the CLI's `review show` and the review
    page): what it is, whom it matched and why, and whether the preview redacts it."""
    from safeguard.review.render import face_label

    planned = previewed(rec)
    rows = []
    for i, f in enumerate(rec.get("faces", [])):
        title, detail = face_label(f, names)
        sure = (f.get("confirmed") or {}).get("pupil")  # the DSL said who (confirmation)
        if sure:
            detail = f"confirmed as {names.get(sure, sure)} by {f['confirmed'].get('by')}"
        rows.append({
            "n": i + 1,
            "index": i,
            "box": f.get("box"),
            "label": f.get("label"),
            "action": f.get("action"),
            "title": title,
            "detail": detail,
            "pupil": f.get("pupil"),
            "name": names.get(f.get("pupil") or sure) if f.get("pupil") or sure else None,
            "reason": f.get("reason"),
            "distance": f.get("distance"),
            "redact": i in planned,
        })
    return rows


def pending_record(held: HeldQueue, held_id: str, store: Any = None) -> dict:
    """The record of a photo still waiting; another academy's photo, for an account scoped to
    one, is refused as if it did not exist."""
    try:
        rec = held.record(held_id)
    except (HeldError, OSError, ValueError):
        raise DecisionError("no such held image") from None
    if not _visible(rec, store):
        raise DecisionError("no such held image")
    if rec.get("state", "held") != "held":
        raise DecisionError(f"held image {held_id} was already decided ({rec.get('state')})")
    return rec


# ---------------------------------------------------------------------------------------------
# Ready folder


def _state_file(home: Any) -> Path:
    return Path(home.root) / "review" / "state.json"


def last_ready_dir(home: Any, config: Config) -> Path | None:
    """The ready folder to offer: the last one used, else the first of the settings'
    release_folders."""
    try:
        last = json.loads(_state_file(home).read_text()).get("ready_dir")
    except (OSError, ValueError, AttributeError):
        last = None
    last = last or next(iter(config.release_paths()), None)
    return Path(last) if last else None


def remember_ready_dir(home: Any, path: Path) -> None:
    f = _state_file(home)
    f.parent.mkdir(mode=0o700, exist_ok=True)
    from consent_db.storage import atomic_write_bytes

    atomic_write_bytes(f, json.dumps({"ready_dir": str(path)}).encode())


def check_ready_dir(path: str | os.PathLike[str] | None, home: Any,
                    allowed: list | tuple | None = None) -> Path:
    """The ready folder as an absolute path: it must exist, be a folder, and lie outside the home
    (the home holds originals and the consent store; released copies never go back into it).
    With `allowed` (the configured release folders), it must be one of them: the review page
    cannot be made to write anywhere else on the server."""
    if path is None or not str(path).strip():
        raise DecisionError("choose a ready folder for the released photo")
    p = Path(str(path).strip()).expanduser()
    if not p.is_absolute():
        raise DecisionError("the ready folder must be an absolute path")
    if not p.is_dir():
        raise DecisionError(f"ready folder {p} does not exist (create it first)")
    if overlaps(p, home.root):
        raise DecisionError("the ready folder must be outside the safeguard home")
    real = p.resolve()
    if allowed is not None:
        if not allowed:
            raise DecisionError("no ready folder is configured for releases: set release_folders "
                                "in config.toml, or start `review serve --out DIR`")
        if real not in {Path(a).expanduser().resolve() for a in allowed}:
            raise DecisionError(f"releases go only to the configured ready folders "
                                f"({', '.join(str(a) for a in allowed)})")
    if not os.access(real, os.W_OK):
        raise DecisionError(f"ready folder {p} is not writable")
    return real


def return_folder(rec: dict) -> str | None:
    """Where the copy of a photo comms staff asked the DSL to check goes back to: the batch's
    --out, or the watched folder's ready folder (the sealed record says; never the form)."""
    back = (rec.get("asked") or {}).get("return_to")
    return str(back) if back else None


# ---------------------------------------------------------------------------------------------
# Decisions


def typed_reason(reason: str | None, required: bool, what: str,
                 error: type[Exception] = DecisionError) -> str | None:
    """A reason as typed, whitespace collapsed; `error` when one is required and missing, or
    too long (release and reject here, decline of a post in safeguard.approvals)."""
    text = " ".join((reason or "").split())
    if required and len(text) < 3:
        raise error(f"{what} needs a typed reason")
    if len(text) > MAX_REASON:
        raise error(f"reason too long (max {MAX_REASON} characters)")
    return text or None



def _face_details(rec: dict, redact: set[int] | None) -> list[dict]:
    out = []
    for i, f in enumerate(rec.get("faces", [])):
        d = {
            "n": i + 1,
            "label": f.get("label"),
            "action": f.get("action"),
            "pupil": f.get("pupil"),
        }
        if f.get("confirmed"):  # who the DSL confirmed it as (safeguard.confirmation)
            d["confirmed"] = f["confirmed"].get("pupil") or "not ours"
        if redact is not None:
            d["redacted"] = i in redact
        out.append(d)
    return out


def _audit(store: Any, actor: str, action: str, rec: dict, details: dict) -> None:
    """One entry per pupil in the photo (so each pupil's trail shows it), or one with no subject
    when nobody in it is enrolled; all appended together under the store lock."""
    confirmed = [(f.get("confirmed") or {}).get("pupil") for f in rec.get("faces", [])]
    pupils = list(dict.fromkeys([f["pupil"] for f in rec.get("faces", []) if f.get("pupil")]
                                + [p for p in confirmed if p]))
    items = [(actor, action, p, details) for p in pupils] or [(actor, action, None, details)]
    with store.audit.lock:
        store.audit.append_locked(items)


@dataclass
class Released:
    id: str
    output: Path | None  # None: waiting for sign-off in post `approval`
    decision: str  # "redacted" | "per-face" | "unredacted"
    redacted: list[int]  # 1-based face numbers
    kept: list[int]
    approval: str | None = None  # the post it went into, on a channel that needs sign-off
    approved: bool = False  # released and approved at once by a DSL who signs off

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "status": "released",
            "output": str(self.output) if self.output else None,
            "decision": self.decision,
            "redacted_faces": self.redacted,
            "kept_faces": self.kept,
            "approval": self.approval,
            "approved": self.approved,
        }


def clean_bytes(
    original: bytes, rec: dict, redact: set[int], config: Config, style: str | None = None
) -> tuple[bytes, str]:
    """The publishable file for `original` with faces `redact` covered: decoded, redacted and
    checked as the preview and the pipeline do (redact.redact_chosen), encoded fresh and verified
    clean. Returns (bytes, format)."""
    from safeguard.images import decode_image
    from safeguard.metadata import encode_clean, verify_clean
    from safeguard.redact import redact_chosen

    image = decode_image(original, max_pixels=config.max_pixels)
    # exactly what the preview showed (review.render.preview): checked redaction, other faces kept
    pixels = redact_chosen(image.rgb, face_boxes(rec), redact, style or config.style,
                           config.mask_scale)
    pixels = with_text_covered(pixels, rec)
    fmt = config.output_format
    data = encode_clean(pixels, fmt, config.jpeg_quality)
    verify_clean(data, fmt, (image.width, image.height))
    return data, fmt


def release(
    home: Any,
    config: Config,
    store: Any,
    held_id: str,
    actor: str,
    out_dir: str | os.PathLike[str] | None,
    *,
    redact: set[int] | None = None,
    unredacted: bool = False,
    reason: str | None = None,
    allowed: list | tuple | None = None,
    approve: bool = False,
    caption_confirmed: bool = False,
) -> Released:
    """Release a held image into `out_dir` (one of `allowed`, when given: see check_ready_dir).

    `redact` None and `unredacted` False: as previewed. `redact` a set of 0-based face indexes:
    per-face choices (a reason is needed if a previewed face is left visible). `unredacted`:
    nothing covered (a reason is needed).

    On a channel that needs sign-off (safeguard.approvals) the released copy does not go into
    `out_dir` but into a post for it, with the photo's caption, that waits for an approver like
    any other; with `approve` (a DSL who may sign off, checked by the door), the post is
    approved at once, in the same audited steps, and a caption that identifies a child needs
    `caption_confirmed` as on the sign-off page. Either way the outcome flows back to the
    watched inbox the photo came from (safeguard.watch.feedback)."""
    from safeguard import approvals
    from safeguard.metadata import StripError

    held = HeldQueue(home.held_dir)
    rec = pending_record(held, held_id, store)
    back = return_folder(rec)
    if back is not None:  # asked by comms staff: the copy goes back where they asked from
        out_dir, allowed = back, None
    ready = check_ready_dir(out_dir, home, allowed)
    sign_off = approvals.needs_approval(config, rec.get("channel") or "")
    if sign_off and approve:
        try:
            flagged = approvals.caption_findings({"caption": rec.get("caption")},
                                                 getattr(store, "check_caption", None))
        except approvals.ApprovalError as e:
            raise DecisionError(str(e)) from None
        if flagged and not caption_confirmed:
            raise DecisionError(approvals.CONFIRM_CAPTION.format(", ".join(flagged)))
    faces = rec.get("faces", [])
    planned = previewed(rec)
    if unredacted and redact is not None:
        raise DecisionError("choose either per-face choices or unredacted, not both")
    if unredacted:
        chosen: set[int] = set()
        decision = "unredacted"
        why = typed_reason(reason, True, "releasing unredacted")
    elif redact is not None:
        bad = [i for i in redact if not 0 <= i < len(faces)]
        if bad:
            raise DecisionError(f"no face {bad[0] + 1} in this photo")
        chosen = set(redact)
        decision = "redacted" if chosen == planned else "per-face"
        overridden = planned - chosen
        why = typed_reason(
            reason,
            bool(overridden),
            f"leaving face {min(overridden) + 1 if overridden else 0} visible",
        )
    else:
        chosen, decision = planned, "redacted"
        why = typed_reason(reason, False, "")
    try:
        original = held.original(held_id)
    except (HeldError, OSError):
        raise DecisionError("the held original is missing") from None
    if rec.get("sha256") and hashlib.sha256(original).hexdigest() != rec["sha256"]:
        raise DecisionError("the held original does not match its record (changed on disk)")
    clip = rec.get("kind") == "video"
    try:
        if clip:  # its own rules, then written afresh into a hidden file in `ready`
            from safeguard.video.release import clip_reason, write_release

            why = clip_reason(rec, unredacted, reason, why)
            data, fmt = write_release(original, rec, None if unredacted else chosen, config,
                                      ready), "mp4"
        else:
            data, fmt = clean_bytes(original, rec, chosen, config)
    except StripError as e:
        raise DecisionError(f"could not write a verified clean file: {e}") from None
    except DecisionError:
        raise
    except Exception as e:  # noqa: BLE001 - fail closed: nothing is written
        raise DecisionError(f"could not prepare the {'clip' if clip else 'photo'} "
                            f"({type(e).__name__})") from None
    from safeguard.review.delivery import record_and_write

    try:
        return record_and_write(home, config, store, held, rec, actor, ready, data, fmt,
                                decision, why, chosen, sign_off, approve, caption_confirmed)
    finally:
        if clip:
            Path(data).unlink(missing_ok=True)


def reject(home: Any, store: Any, held_id: str, actor: str, reason: str | None) -> dict:
    """Reject a held image: logged, then its original destroyed at once."""
    held = HeldQueue(home.held_dir)
    rec = pending_record(held, held_id, store)
    why = typed_reason(reason, True, "rejecting")
    from safeguard.review.delivery import flow_back

    _audit(
        store,
        actor,
        "held.reject",
        rec,
        {
            "held_id": held_id,
            "decision": "reject",
            "reason": why,
            "channel": rec.get("channel"),
            "faces": _face_details(rec, None),
            **({"spot_check": True} if rec.get("spot_check") else {}),
        },
    )
    held.settle(held_id, "rejected", decided_by=actor)
    flow_back(home, rec, "rejected", "rejected by the DSL: not published; ask the DSL before "
               "sending it again")
    return {"id": held_id, "status": "rejected", "original_destroyed": True}

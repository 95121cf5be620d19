"""Where a released copy goes, and how the decision flows back.

The DSL's release of a held photo or clip (safeguard.review.decisions.release decides what is
covered and makes the verified copy) ends here: the audit entries first, then the copy put
where it goes, then the held record settled. A photo's copy is delivered by a publish session
(safeguard.publish) for the photo's channel, with its caption, as a batch's copies are: into
the ready folder, or, on a channel that needs sign-off, into a post of its own waiting for an
approver; with "release and approve" the same DSL approves it in the same audited steps. Either
way the decision is written back to the watched inbox the photo came from
(safeguard.watch.feedback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safeguard.held import HeldQueue
from safeguard.review.decisions import (
    DecisionError,
    Released,
    _audit,
    _face_details,
    remember_ready_dir,
)


def _session(home: Any, store: Any, config: Any, rec: dict, ready: Path,
             post_id: str | None = None):
    """The publish session that delivers a released photo: its channel, its caption, the ready
    folder; on a channel that needs sign-off its post under `post_id`, marked with where the
    photo came from (the decision on it flows back there)."""
    from consent_db import StoreError
    from safeguard.publish import Request, RequestError, Session

    request = Request(channel=rec.get("channel") or None, caption=rec.get("caption"), out=ready,
                      write=True)
    try:
        return Session(home, store.who, store, config, request, post_id=post_id,
                       origin={"held_id": rec["id"], "watch_claim": rec.get("watch_claim")})
    except (RequestError, StoreError) as e:
        raise DecisionError(f"the photo cannot be published: {e}") from None


def record_and_write(home: Any, config: Any, store: Any, held: HeldQueue, rec: dict,
                     actor: str, ready: Path, data: Any, fmt: str, decision: str,
                     why: str | None, chosen: set[int], sign_off: bool, approve: bool,
                     caption_confirmed: bool) -> Released:
    """The audit entries, then the file (`data`: a photo's bytes, or a clip's verified hidden
    file in `ready`), then the held record settled."""
    from safeguard import approvals
    from safeguard.pipeline import output_name

    held_id = rec["id"]
    faces = rec.get("faces", [])
    names = tuple(p.get("name", "") for p in store.pupils() if p.get("name"))
    name = output_name(Path(str(rec.get("input", "photo"))), fmt, rec.get("sha256") or "", names)
    post_id = approvals.post_id_for(f"held:{held_id}") if sign_off else None
    details = {
        "held_id": held_id,
        "decision": decision,
        "reason": why,
        "channel": rec.get("channel"),
        "ready_dir": str(ready),
        "file": name,
        "faces": _face_details(rec, chosen),
        **({"spot_check": True} if rec.get("spot_check") else {}),
        **({"sign_off": "release and approve" if approve else "awaiting approval",
            "post": post_id} if sign_off else {}),
    }
    clip = isinstance(data, Path)
    # a clip's verified file is linked into ready by name; into a post it goes as a photo's
    # bytes do, sealed (it was checked before it was handed here)
    session = None if clip and post_id is None else _session(home, store, config, rec, ready,
                                                              post_id)
    _audit(store, actor, "held.release", rec, details)
    if post_id is not None:
        copy = data.read_bytes() if clip else data
        return _release_for_sign_off(home, store, held, rec, actor, post_id, name, copy,
                                     decision, chosen, approve, caption_confirmed, session)
    try:
        if clip:
            from safeguard.video.release import link

            out = link(data, ready, name)
        else:
            out = Path(session.deliver_copy(name, data)["output"])
            session.finish()
    except OSError as e:
        _audit(
            store,
            actor,
            "held.release_failed",
            rec,
            {"held_id": held_id, "error": str(e.strerror or e)},
        )
        raise DecisionError(f"could not write into {ready}: {e.strerror or e}") from None
    held.settle(held_id, "released", decided_by=actor, decision=decision, output=out.name)
    try:
        remember_ready_dir(home, ready)
    except OSError:
        pass
    flow_back(home, rec, "released", f"released by the DSL: ready as {out.name}",
               output=out.name)
    return Released(
        held_id,
        out,
        decision,
        sorted(i + 1 for i in chosen),
        sorted(i + 1 for i in range(len(faces)) if i not in chosen),
    )


def _submitted(home: Any, post_id: str) -> bool:
    """Was the post `post_id` submitted already (a release repeated after a crash)?"""
    from safeguard import approvals

    try:
        return approvals.get(home, post_id)["state"] != "open"
    except approvals.ApprovalError:
        return False


def _release_for_sign_off(home: Any, store: Any, held: HeldQueue, rec: dict, actor: str,
                          post_id: str, name: str, data: bytes, decision: str,
                          chosen: set[int], approve: bool, caption_confirmed: bool,
                          session) -> Released:
    """The released copy into its own post through the session (an id fixed by the held id: a
    release repeated after a crash finds the post it submitted), then the held photo settled;
    with `approve`, the post approved by the same DSL."""
    from safeguard import approvals

    held_id = rec["id"]
    try:
        if not _submitted(home, post_id):
            session.deliver_copy(name, data)
            session.finish()
    except (OSError, approvals.ApprovalError) as e:
        _audit(store, actor, "held.release_failed", rec,
               {"held_id": held_id, "error": str(getattr(e, "strerror", None) or e)})
        raise DecisionError(f"could not make the post for sign-off: {e}") from None
    held.settle(held_id, "released", decided_by=actor, decision=decision, post=post_id)
    flow_back(home, rec, "released for sign-off",
               f"released by the DSL: awaiting approval as post {post_id} "
               f"(safeguard approvals status {post_id})", new_post=post_id)
    output = None
    if approve:
        try:
            post = approvals.approve(home, post_id, actor, store.audit,
                                     "released and approved by the DSL",
                                     scope=getattr(store, "academy", None),
                                     check=getattr(store, "check_caption", None),
                                     caption_confirmed=caption_confirmed)
        except approvals.ApprovalError as e:
            raise DecisionError(f"released for sign-off as post {post_id}, not approved: {e}"
                                ) from None
        output = Path(post["written"][0]) if post["written"] else None
    faces = rec.get("faces", [])
    return Released(held_id, output, decision, sorted(i + 1 for i in chosen),
                    sorted(i + 1 for i in range(len(faces)) if i not in chosen),
                    approval=post_id, approved=approve)


def flow_back(home: Any, rec: dict, decided: str, text: str, **kw) -> None:
    """The decision, in the status file and ledger of the watched inbox the photo came from."""
    from safeguard.watch.feedback import note

    if rec.get("watch_claim"):
        note(home, decided, text, claim=rec["watch_claim"], **kw)

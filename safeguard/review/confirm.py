"""Confirming faces of a held photo, for the review page and `safeguard review confirm`: the
rules are in safeguard.confirmation; this carries a confirmation out (the reference through the
account's door, the held record, the audit log) and serves the page's form."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import numpy as np

from safeguard.confirmation import (
    NOT_OURS,
    ConfirmError,
    candidates,
    may_be_shown,
    photo_taken,
    refusal,
)


def face_choices(door: Any, rec: dict) -> list[dict]:
    """For each face of a held record that was not cleared: its number, the nearest pupils in
    the account's scope (safeguard.confirmation.candidates), the suggestions of comms staff who
    asked, and what the DSL confirmed so far."""
    names = door.names()
    asked = rec.get("asked") or {}
    matrix = door.match_matrix(rec.get("channel") or door.config.default_channel)
    out = []
    for i, f in enumerate(rec.get("faces", [])):
        if f.get("label") == "cleared":
            continue
        confirmed = f.get("confirmed")
        out.append({
            "n": i + 1,
            "candidates": [c.as_dict(distances=True) for c in
                           candidates(f, matrix, names, door.config, asked.get("suggest"))],
            "confirmed": confirmed and {**confirmed,
                                        "name": names.get(confirmed.get("pupil") or "")},
            "can_confirm": f.get("encoding") is not None and not confirmed,
        })
    return out


def _held_day(rec: dict) -> dt.date:
    try:
        return dt.datetime.fromisoformat(rec["held_at"]).date()
    except (KeyError, TypeError, ValueError):
        return dt.date.today()


def _audit(door: Any, subject: str | None, details: dict) -> None:
    door.audit.append(door.user, "held.confirm", subject, details)


def confirm(door: Any, held: Any, held_id: str, n: int, pupil_id: str | None = None,
            not_ours: bool = False) -> dict:
    """Confirm face `n` (1-based) of a held photo as `pupil_id`, or as nobody of ours. Returns
    what was done ({"face", "pupil", "kept", "reference"}); ConfirmError with the reason when
    refused (the face stays redacted).

    The whole confirmation runs inside the held record's lock and reads the record there: two
    DSLs confirming faces of the same photo at once each keep their confirmation, and the same
    face confirmed twice at once is refused the second time (not added to references twice)."""
    from safeguard.held import HeldError
    from safeguard.review.decisions import DecisionError

    door.held_record(held_id)  # in scope and still waiting: refused before any lock is taken
    try:
        with held.locked(held_id):
            rec = door.held_record(held_id)
            done = _confirm(door, rec, held_id, n, pupil_id, not_ours)
            held.rewrite(held_id, rec)
    except HeldError:  # decided and removed meanwhile
        raise DecisionError("no such held image") from None
    return done


def _confirm(door: Any, rec: dict, held_id: str, n: int, pupil_id: str | None,
             not_ours: bool) -> dict:
    """`confirm` on a record read inside its lock: changes `rec` in place for the caller to
    write back."""
    from consent_db.errors import StoreError

    faces = rec.get("faces", [])
    if not isinstance(n, int) or not 1 <= n <= len(faces):
        raise ConfirmError(f"no face {n} in this photo")
    face = faces[n - 1]
    if face.get("label") == "cleared":
        raise ConfirmError(f"face {n} was cleared already: there is nothing to confirm")
    if face.get("confirmed"):
        c = face["confirmed"]
        raise ConfirmError(f"face {n} was confirmed already ({c.get('pupil') or NOT_OURS}, by "
                           f"{c.get('by')})")
    if (pupil_id is None) == (not not_ours):
        raise ConfirmError("confirm either a pupil or not ours")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    base = {"held_id": held_id, "face": n, "channel": rec.get("channel")}
    if not_ours:
        face["confirmed"] = {"not_ours": True, "by": door.user, "at": now, "keep": False}
        _audit(door, None, {**base, "confirmed": NOT_OURS})
        return {"face": n, "pupil": None, "kept": False, "reference": None}
    pupil_id = str(pupil_id).strip()
    p = door.get_pupil(pupil_id)
    if p is None:
        raise ConfirmError(f"no pupil {pupil_id}")
    channel = rec.get("channel") or door.config.default_channel
    matrix = door.match_matrix(channel)
    why = refusal(face, pupil_id, matrix, door.config, door.sees)
    ref_id = None
    if why is None and door.biometric_status(pupil_id).allowed:
        # it joins their references, through the reference store's own checks (quality, a
        # repeat, too near another pupil): refused there, the confirmation is refused
        from safeguard.enrolment import FaceQuality

        q = face.get("quality")
        taken = photo_taken(door.held_original(held_id), _held_day(rec))
        try:
            ref = door.add_reference(pupil_id, np.asarray(face["encoding"], np.float32), taken,
                                     "confirmation", door.user, photo=held_id,
                                     quality=FaceQuality(**q) if q else None)
        except StoreError as e:
            why = f"face {n} cannot become {pupil_id}'s reference: {e}; it stays redacted"
        else:
            ref_id = ref.get("id") if isinstance(ref, dict) else ref
    if why is not None:
        _audit(door, pupil_id, {**base, "confirmed": pupil_id, "refused": why})
        raise ConfirmError(why)
    keep = may_be_shown(p, channel)
    face["confirmed"] = {"pupil": pupil_id, "by": door.user, "at": now, "keep": keep,
                         "reference": ref_id}
    _audit(door, pupil_id, {**base, "confirmed": pupil_id, "kept": keep, "reference": ref_id})
    return {"face": n, "pupil": pupil_id, "kept": keep, "reference": ref_id}


def said(done: dict, names: dict[str, str]) -> str:
    """One line for the DSL about a confirmation carried out."""
    n = done["face"]
    if done["pupil"] is None:
        return f"Face {n}: not a pupil of ours; it stays redacted."
    who = f"{names.get(done['pupil'], done['pupil'])} ({done['pupil']})"
    kept = "kept in the release" if done["kept"] else \
        "stays redacted (no consent for this channel)"
    ref = "; added to their references" if done["reference"] else \
        "; not added to their references (no biometric consent)"
    return f"Face {n} confirmed as {who}: {kept}{ref}."


def routes(door_of, reviewer_session, drawn_changed) -> list:
    """The review page's confirmation form: POST /held/{id}/face/{n}/confirm with `pupil` (an
    id) or `not_ours`; back to the photo's page with what was done or why it was refused."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    from safeguard.held import ID_RE
    from safeguard.review.auth import csrf_ok
    from safeguard.review.decisions import DecisionError

    async def confirm_face(request: Request) -> Response:
        s = reviewer_session(request)
        if s is None:
            return PlainTextResponse("sign in first", 401)
        held_id, n = request.path_params["held_id"], request.path_params["n"]
        if not ID_RE.fullmatch(held_id):
            return PlainTextResponse("no such held image", 404)
        form = await request.form()
        if not csrf_ok(s, form.get("csrf")):
            return PlainTextResponse("form expired or forged: reload the page", 403)
        door = door_of(s)
        choice = str(form.get("choice") or "")
        not_ours = choice == "not_ours"
        pupil = None if not_ours else (choice or str(form.get("pupil") or ""))[:64]
        try:
            if not not_ours and not pupil.strip():
                raise ConfirmError("choose a pupil, or not ours")
            done = await run_in_threadpool(door.confirm_face, held_id, n, pupil, not_ours)
            s.flash = said(done, await run_in_threadpool(door.names))
        except (ConfirmError, DecisionError) as e:
            return RedirectResponse(f"/held/{held_id}?error={quote(str(e))}", status_code=303)
        drawn_changed()
        return RedirectResponse(f"/held/{held_id}", status_code=303)

    return [Route("/held/{held_id}/face/{n:int}/confirm", confirm_face, methods=["POST"])]

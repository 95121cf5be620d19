"""The DSL confirms who a face is: a face of a held photo that was not cleared, shown with the
nearest enrolled pupils, confirmed as one of them ("this is P001"), as nobody of ours, or left.

Confirming a pupil who consents for the photo's channel keeps that face when the photo is
released (the copy is made again from the original, through the same checks:
safeguard.review.decisions.release). When the pupil has biometric consent, the face's encoding
joins their references (dated with the photo's date, marked as confirmed by that DSL, audited),
so their next photo is cleared without help. Refused, with the reason, and the face left
redacted:
- a face within the restricted tolerance of another pupil who may not be shown (confirming it
  would keep, or teach the gallery, a face a restricted child could claim);
- a face below the enrolment quality checks (too small, not seen from the front, blurred) when
  it would become a reference;
- whatever the reference store refuses (no biometric consent any more, too near another pupil).

The face's encoding and its quality were kept in the sealed held record by the pipeline
(outcome.FaceOutcome), and go with the record's other details when the photo is decided. Comms
staff learn nothing of this but the copy they get back.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np

NOT_OURS = "not ours"
# how near a pupil a face lies, in words for the DSL (the number only on request)
CLOSE, POSSIBLE = "close", "possible"
MAX_CANDIDATES = 3


class ConfirmError(Exception):
    """A confirmation refused or impossible; one line, fit for the DSL. The face stays redacted."""


def nearness(distance: float, config) -> str | None:
    """"close" within the clearing tolerance, "possible" within the restricted one, else None
    (too far to offer)."""
    if distance <= config.clear_tolerance:
        return CLOSE
    if distance <= config.restrict_tolerance:
        return POSSIBLE
    return None


def per_pupil(encoding, matrix) -> dict[str, float]:
    """{pupil id: the nearest of their stored encodings' distance to `encoding`}."""
    if encoding is None or not len(matrix.encodings):
        return {}
    d = matrix.distances(np.asarray(encoding, np.float32))
    best: dict[str, float] = {}
    for row, dist in zip(matrix.row_pupil.tolist(), d.tolist(), strict=True):
        pid = matrix.pupil_ids[row]
        best[pid] = min(dist, best.get(pid, dist))
    return best


def restricted_ids(matrix) -> set[str]:
    return {pid for pid, r in zip(matrix.pupil_ids, matrix.restricted.tolist()) if r}


@dataclass
class Candidate:
    pupil: str
    name: str
    words: str | None  # "close", "possible", or None for a suggestion that lies further
    distance: float | None  # shown only on request
    shown: bool  # may be shown in this photo's channel (consent, no register)
    suggested: bool = False  # named by the comms staff who asked (a suggestion only)

    def as_dict(self, distances: bool = False) -> dict:
        d = {"pupil": self.pupil, "name": self.name, "nearness": self.words,
             "may_be_shown": self.shown, "suggested": self.suggested}
        if distances:
            d["distance"] = None if self.distance is None else round(self.distance, 3)
        return d


def suggested_ids(suggest: list[str] | None, names: dict[str, str]) -> list[str]:
    """The pupils in scope whose id or full name (case and spacing ignored) comms staff typed."""
    want = {" ".join(str(s).split()).casefold() for s in suggest or () if str(s).strip()}
    return [pid for pid, name in names.items()
            if pid.casefold() in want or " ".join(name.split()).casefold() in want]


def candidates(face: dict, matrix, names: dict[str, str], config,
               suggest: list[str] | None = None) -> list[Candidate]:
    """The nearest pupils in scope (`names`: {id: name}) for one face of a held record, nearest
    first, at most MAX_CANDIDATES within the restricted tolerance, then any suggested pupil not
    among them."""
    dists = {p: d for p, d in per_pupil(face.get("encoding"), matrix).items() if p in names}
    restricted = restricted_ids(matrix)
    out = []
    for pid, d in sorted(dists.items(), key=lambda kv: kv[1]):
        words = nearness(d, config)
        if words is None or len(out) >= MAX_CANDIDATES:
            break
        out.append(Candidate(pid, names[pid], words, d, pid not in restricted))
    sugg = suggested_ids(suggest, names)
    for c in out:
        c.suggested = c.pupil in sugg
    for pid in sugg:
        if pid not in {c.pupil for c in out}:
            d = dists.get(pid)
            out.append(Candidate(pid, names[pid], None if d is None else nearness(d, config), d,
                                 pid not in restricted if pid in matrix.pupil_ids else True,
                                 suggested=True))
    return out


def may_be_shown(pupil: dict, channel: str, today: dt.date | None = None) -> bool:
    """Does the pupil's record let their face be shown on `channel` (a valid consent, no
    register)? A record this account may not see registers in is read without them, so the
    caller passes the full record (the Door's)."""
    from consent_db.records import consent_state

    if pupil.get("registers"):
        return False
    ok, _ = consent_state((pupil.get("consents") or {}).get(channel), channel,
                          today or dt.date.today())
    return ok


def refusal(face: dict, pupil_id: str, matrix, config, sees) -> str | None:
    """Why confirming `face` as `pupil_id` is refused on the distances alone, or None (the other
    pupil named only when `sees(id)`, the account's scope):
    - the pipeline matched the face to another pupil who may not be shown (label restricted);
    - the face lies within the restricted tolerance of another pupil who may not be shown: the
      lookalike tolerance enrolment and new references use (calibration.lookalike_tolerance:
      closer than different pupils of this gallery are expected to be). The wider
      `restrict_tolerance` is not the test: at school scale nearly every child's face lies
      within it of some restricted pupil;
    - `pupil_id` is enrolled and another pupil who may not be shown lies nearer the face than
      they do, within `restrict_tolerance`: the gallery takes it for that pupil."""
    from safeguard.calibration import lookalike_tolerance, spread_of

    if face.get("encoding") is None:
        return "this face has no stored encoding (held before faces could be confirmed)"
    matched = face.get("pupil")
    if face.get("label") == "restricted" and matched and matched != pupil_id:
        who = matched if sees(matched) else "another pupil"
        return (f"the face was matched to {who}, who may not be shown: it stays redacted (if "
                "you are sure, leave it visible with your face choices and a reason)")
    restricted = restricted_ids(matrix)
    dists = per_pupil(face["encoding"], matrix)
    others = len(set(matrix.pupil_ids) - {pupil_id})
    tol = lookalike_tolerance(others, spread_of(matrix), config)
    own = dists.get(pupil_id)
    for d, p in sorted((d, p) for p, d in dists.items() if p != pupil_id and p in restricted):
        who = p if sees(p) else "another pupil"
        if d <= tol:
            return (f"the face lies within the restricted tolerance of {who}, who may not be "
                    "shown: it stays redacted")
        if own is not None and d < own and d <= config.restrict_tolerance:
            return (f"the face lies nearer {who}, who may not be shown, than {pupil_id}: it "
                    "stays redacted")
    return None


def photo_taken(original: bytes, fallback: dt.date) -> dt.date:
    """The day the photo was taken (EXIF DateTimeOriginal of the held original), else
    `fallback` (the day it was held)."""
    try:
        import exifread

        tags = exifread.process_file(io.BytesIO(original), details=False,
                                     stop_tag="DateTimeOriginal")
        raw = str(tags.get("EXIF DateTimeOriginal") or "").strip()
        if raw:
            return dt.datetime.strptime(raw[:10], "%Y:%m:%d").date()
    except Exception:  # noqa: BLE001 - no readable date: the day it was held
        return fallback
    return fallback


def kept(rec: dict) -> set[int]:
    """Indexes of the faces the DSL confirmed as a pupil who may be shown: kept on release."""
    return {i for i, f in enumerate(rec.get("faces", []))
            if (f.get("confirmed") or {}).get("keep")}

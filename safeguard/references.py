"""What a new reference must pass, and how a pupil's references are shown.

Every confirmed face can teach matching (a pupil with two childhood photos is recognised in a third
far more often than from one), but a wrong reference teaches it to clear someone else. So a new
reference, from an enrolment photo or from a face the DSL confirmed in a photo, is refused, with
the reason, when:

- the pupil has no biometric consent (written parental consent, no objection);
- the face is below the enrolment quality checks: too small, not seen from the front, blurred
  (safeguard.enrolment.quality_problem, on the measures the caller read: enrolment.face_quality);
- it repeats a reference the pupil already has (within enrolment.DUPLICATE_DISTANCE);
- it lies within the restricted tolerance of ANOTHER pupil: the lookalike tolerance enrolment uses
  (calibration.lookalike_tolerance: closer than different pupils of this gallery are expected to
  be, at most `max_lookalike_refusal` of different children refused), against every reference of
  every other enrolled pupil, consenting or restricted, old or current. Stored, such a face could
  be cleared as the one pupil when it is the other. (The wider `restrict_tolerance` that restricts
  a face is not the test here: at school scale nearly every child's face lies within it of some
  restricted pupil, so it would refuse nearly every confirmation.)

The door (safeguard.door.Door.add_reference) decides who may add which source, and audits
refusals; the store (consent_db.references) keeps the reference and its provenance.
"""

from __future__ import annotations

import datetime as dt

import numpy as np


def refusal(store, config, pupil_id: str, encoding: np.ndarray, quality) -> str | None:
    """Why `encoding` (a face of these `quality` measures: enrolment.FaceQuality) may not become
    a reference of `pupil_id`, in words fit for the DSL or the data manager; None when it may."""
    from safeguard.calibration import lookalike_tolerance, spread_of
    from safeguard.enrolment import DUPLICATE_DISTANCE, lookalikes, quality_problem

    st = store.biometric_status(pupil_id)
    if not st.allowed:
        return f"no biometric consent: {st.reason}"
    if quality is None:
        return "the face's size, sharpness and pose were not given: it cannot be checked"
    problem = quality_problem(quality.width, quality.eye_span, quality.nose_offset,
                              quality.sharpness)
    if problem:
        return problem
    enc = np.asarray(encoding, np.float32).reshape(-1)
    _metas, own = store.pupil_encodings(pupil_id)
    if len(own):
        d = float(np.min(np.linalg.norm(np.asarray(own, np.float32) - enc, axis=1)))
        if d < DUPLICATE_DISTANCE:
            return f"a near-duplicate of a reference the pupil already has (distance {d:.3f})"
    matrix = store.match_matrix(config.default_channel)
    others = len(set(matrix.pupil_ids) - {pupil_id})
    tol = lookalike_tolerance(others, spread_of(matrix), config)
    near = lookalikes(enc, matrix, pupil_id, tol)
    if near:
        other, d = near[0]
        return (f"too near pupil {other} (distance {d:.3f}, within {tol:.3f}: closer than "
                "different pupils of this gallery are expected to be); stored, this face could "
                "be taken for the other pupil")
    return None


def shown(refs: list[dict], today: dt.date, max_age_months: int | None) -> list[dict]:
    """The references as listed: each with `current` (young enough to clear a face)."""
    from consent_db.references import is_current

    return [dict(r, current=is_current({"photo_date": r["taken"], "added": r["added"]}, today,
                                       max_age_months)) for r in refs]


def without_current_reference(pupils: list[dict], today: dt.date,
                              max_age_months: int | None) -> int:
    """How many pupils with biometric consent have no reference young enough to clear them
    (none at all, or only old ones): `status` and the DPIA pack count them."""
    from consent_db import ledger
    from consent_db.references import is_current

    n = 0
    for p in pupils:
        if not ledger.status(p.get("biometric")).allowed:
            continue
        if not any(is_current(e, today, max_age_months) for e in p.get("encodings", [])):
            n += 1
    return n


def summary(pupils: list[dict], max_age_months: int) -> dict:
    """Counts of the pupils' references, no pupil named (`safeguard status`): pupils with
    biometric consent and no reference young enough to clear them, references the DSL confirmed,
    and the age limit."""
    return {"no_current_reference": without_current_reference(pupils, dt.date.today(),
                                                              max_age_months),
            "confirmed": sum(e.get("source") == "confirmation" for p in pupils
                             for e in p.get("encodings", [])),
            "max_age_months": max_age_months}

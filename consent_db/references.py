"""A pupil's references: the face encodings matching uses, each with where it came from (part of
ConsentStore).

A reference is one stored encoding (sealed in the encodings shards like every encoding, see
vault.py) and its record in the pupil's "encodings" list:

    id        the encoding's id (32 hex digits)
    taken     the day the photo was taken ("photo_date" in the record: the name encodings had
              before references); the reference's age is counted from it
    source    "enrolment" (a reference photo: `pupils enrol`) or "confirmation" (the DSL
              confirmed the pupil's face in a photo)
    by        the account that added it; None for encodings enrolled before references were
              recorded (the audit log's encodings.enrol entry names them)
    added     when it was added (UTC, seconds); the enrolment day for older encodings
    photo     for a confirmation, the held photo it came from; else None

Stores made before references need no rewrite: an encoding record without a source is read as
an enrolment reference (`reference_of`), so every encoding stays and keeps matching, and the
record is written out in full the next time that pupil's references change.

An old reference still restricts but no longer clears (`is_current`): children's faces change
fast, and a photo of a seven-year-old clears an eleven-year-old's stranger lookalike as readily as
the pupil. The store's match matrix is told the age limit (the setting
`reference_max_age_months`) and keeps old references of consenting pupils as rivals only
(encodings.py).
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np

import consent_db.ledger as ledger_rules
from consent_db.errors import StoreError
from consent_db.records import _iso, default_actor
from consent_db.vault import DIM, shard_of

SOURCES = ("enrolment", "confirmation")
_HELD_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-")


def reference_of(e: dict) -> dict:
    """The reference a stored encoding record is, with every field (older records filled in)."""
    return {
        "id": e["id"],
        "taken": e.get("photo_date"),
        "source": e.get("source") or "enrolment",
        "by": e.get("by"),
        "added": e.get("added") or e.get("enrolled"),
        "photo": e.get("photo"),
    }


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months before `day` (the month's last day when that day
    does not exist: 31 March less one month is 28 or 29 February)."""
    import calendar

    y, m = divmod(day.year * 12 + (day.month - 1) - months, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def reference_day(e: dict) -> dt.date | None:
    """The day a reference's age counts from: the photo's date, else the day it was stored."""
    raw = e.get("photo_date") or e.get("taken") or (e.get("added") or e.get("enrolled") or "")[:10]
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def is_current(e: dict, today: dt.date, max_age_months: int | None) -> bool:
    """Whether a reference may still clear a face: its photo is at most `max_age_months` old
    (None: no limit). A reference with no date at all is not current: fail closed."""
    if max_age_months is None:
        return True
    day = reference_day(e)
    return day is not None and day >= months_before(today, max_age_months)


def current_since(e: dict, oldest: str) -> bool:
    """`is_current` for a whole store at once: `oldest` is the earliest current day as ISO text
    (months_before(today, limit).isoformat()); ISO dates compare as text, so a trust's 100,000
    references need no date parsed."""
    day = e.get("photo_date") or (e.get("added") or e.get("enrolled") or "")[:10]
    return bool(day) and day >= oldest


def _record(eid: str, taken: str | None, source: str, by: str, photo: str | None) -> dict:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {"id": eid, "photo_date": taken, "enrolled": now[:10], "source": source, "by": by,
            "added": now, "photo": photo}


def _filled(e: dict) -> dict:
    """An encoding record written out in full (source, by, added, photo), keeping what it had."""
    ref = reference_of(e)
    return {**e, "source": ref["source"], "by": ref["by"], "added": ref["added"],
            "photo": ref["photo"]}


class References:
    """A pupil's references: add one (with its provenance), list them, remove one. A part of
    ConsentStore: uses its transaction (`_change`) and tables; never used alone. Who may do which
    (and the checks a confirmation must pass) is the door's: safeguard.door."""

    def add_reference(
        self,
        pupil_id: str,
        encoding: np.ndarray,
        taken: dt.date | str,
        source: str,
        by: str | None = None,
        photo: str | None = None,
    ) -> dict:
        """Store one reference of the pupil and return it (`reference_of`). Refuses (StoreError)
        unless the biometric ledger allows processing, for an unknown source, a missing date, or
        an encoding that is not 128 finite numbers. Audited as references.add."""
        by = by or default_actor()
        if source not in SOURCES:
            raise StoreError(f"unknown reference source {source!r}; sources: {', '.join(SOURCES)}")
        day = _iso(taken)
        if day is None:
            raise StoreError("a reference needs the date its photo was taken")
        if photo is not None and (not photo or len(photo) > 128
                                  or not set(photo) <= _HELD_ID_CHARS):
            raise StoreError(f"{photo!r} is not a held photo id")
        v = np.asarray(encoding, dtype=np.float32).reshape(-1)
        if v.shape != (DIM,) or not np.all(np.isfinite(v)):
            raise StoreError(f"an encoding must be {DIM} finite numbers")
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            st = ledger_rules.status(rec["biometric"])
            if not st.allowed:
                raise StoreError(
                    f"{pupil_id}: no reference may be stored: {st.reason}. Encodings may be"
                    " stored only with written parental consent and no objection.")
            eid = uuid.uuid4().hex
            t.shard_add[shard_of(pupil_id)][eid] = v
            rec["encodings"] = [_filled(e) for e in rec["encodings"]]
            record = _record(eid, day, source, by, photo)
            rec["encodings"].append(record)
            self._save(doc, rec)
            t.log(by, "references.add", pupil_id, reference=eid, source=source, taken=day,
                  **({"photo": photo} if photo else {}))
        return reference_of(record)

    def references(self, pupil_id: str) -> list[dict]:
        """The pupil's references (`reference_of`), oldest photo first."""
        p = self.get_pupil(pupil_id)
        if p is None:
            raise StoreError(f"no pupil {pupil_id}")
        refs = [reference_of(e) for e in p.get("encodings", [])]
        return sorted(refs, key=lambda r: (r["taken"] or "", r["added"] or "", r["id"]))

    def remove_reference(self, pupil_id: str, ref_id: str, *, actor: str | None = None,
                         reason: str = "removed on request") -> dict:
        """Remove one reference (its encoding is destroyed with its record); returns it as it
        was. StoreError for a reference the pupil does not have. Audited as references.remove."""
        actor = actor or default_actor()
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            found = [e for e in rec["encodings"] if e["id"] == ref_id]
            if not found:
                raise StoreError(f"{pupil_id} has no reference {ref_id}")
            rec["encodings"] = [_filled(e) for e in rec["encodings"] if e["id"] != ref_id]
            t.shard_drop.add(shard_of(pupil_id))  # the row goes after the record says so
            rec["biometric"]["destroyed"].append(
                {"date": dt.date.today().isoformat(), "count": 1, "reason": reason})
            self._save(doc, rec)
            ref = reference_of(found[0])
            t.log(actor, "references.remove", pupil_id, reference=ref_id, source=ref["source"],
                  taken=ref["taken"], reason=reason)
        return ref

"""Pupils' records: add, update, read and list (part of ConsentStore)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from typing import Any

import consent_db.ledger as ledger_rules
from consent_db.errors import StoreError
from consent_db.records import (
    _ID_RE,
    STALE_DAYS,
    TOMBSTONES,
    Q,
    _check_register,
    _iso,
    _today,
    cannot_add,
    clean_groups,
    consent_state,
    default_actor,
    expiring_consents,
    stale_encodings,
    tombstone_in,
    tombstone_mark,
)


class PupilRecords:
    """Pupils' records: add, update, read and list. A part of ConsentStore: uses its transaction
    (`_change`) and tables; never used alone."""

    # -- pupils ----------------------------------------------------------------------------

    def add_pupil(
        self,
        pupil_id: str,
        name: str,
        *,
        consents: dict[str, bool] | None = None,
        registers: Iterable[str] = (),
        biometric_consent: bool = False,
        academy: str | None = None,
        year: str | None = None,
        leaving_date: dt.date | str | None = None,
        groups: Iterable[str] = (),
        actor: str | None = None,
        today: dt.date | None = None,
        reinstate: bool = False,
    ) -> dict:
        """Add a pupil. `consents` maps channel -> given (True) or refused (False), recorded as
        given "at add" today with no expiry. `biometric_consent` records written parental
        consent ("recorded at add", today).

        An id erased while on a protected register (a register tombstone) comes back only with
        `reinstate` (a DSL's add, safeguard.door): otherwise erasing and adding again would take
        a child off a register without the DSL."""
        actor = actor or default_actor()
        day = _today(today).isoformat()
        if not _ID_RE.fullmatch(pupil_id or ""):
            raise StoreError(
                f"pupil id {pupil_id!r}: use letters, digits, '.', '_' or '-' (max 64)"
            )
        if not (name or "").strip():
            raise StoreError("a pupil needs a name")
        consents = consents or {}
        for ch in consents:
            self._check_channel(ch)
        registers = list(dict.fromkeys(registers))
        for r in registers:
            _check_register(r)
        record: dict[str, Any] = {
            "id": pupil_id,
            "name": name.strip(),
            "academy": academy,
            "year": year,
            "leaving_date": _iso(leaving_date),
            "groups": clean_groups(groups),
            "created": day,
            "consents": {},
            "consent_history": [],
            "registers": [],
            "biometric": ledger_rules.new_ledger(),
            "encodings": [],
        }
        for ch, given in consents.items():
            record["consents"][ch] = {
                "state": "granted" if given else "refused",
                "by": "recorded at add",
                "date": day,
                "evidence": None,
                "expires": None,
            }
        for r in registers:
            record["registers"].append(
                {"register": r, "since": day, "recorded_by": actor, "note": None}
            )
        if biometric_consent:
            record["biometric"]["events"].append(
                ledger_rules.event("consent", who="recorded at add", date=day, form="written")
            )
        with self._change() as t:
            if self._find(pupil_id) is not None:
                raise StoreError(f"pupil {pupil_id} already exists")
            reinstated = self._unbury(t, pupil_id, reinstate)
            self._insert(record)
            t.log(
                actor,
                "pupil.add",
                pupil_id,
                consents={ch: ("granted" if g else "refused") for ch, g in consents.items()},
                registers=len(registers),
                biometric_consent=biometric_consent,
                **({"register_tombstone": reinstated} if reinstated else {}),
            )
        return copy.deepcopy(record)

    def _unbury(self, t, pupil_id: str, reinstate: bool) -> str | None:
        """Remove the register tombstone of `pupil_id` for a DSL's add (returns the date it was
        erased); refuse the add without `reinstate`; None when there is no tombstone."""
        found = tombstone_in(t.data, tombstone_mark(self._tomb_key, pupil_id))
        if found is None:
            return None
        if not reinstate:
            raise StoreError(cannot_add(pupil_id))
        del t.data[TOMBSTONES][found[0]]
        self._storage.mark_dirty()
        return found[1].get("erased") or "?"

    def update_pupil(
        self,
        pupil_id: str,
        *,
        name: str | None = None,
        academy: str | None = None,
        year: str | None = None,
        leaving_date: dt.date | str | None = None,
        groups: Iterable[str] | None = None,
        actor: str | None = None,
    ) -> dict:
        """Change the fields given (None: unchanged). `groups` replaces the pupil's groups
        (class, clubs, teams); an empty list removes them all."""
        actor = actor or default_actor()
        groups = clean_groups(groups) if groups is not None else None
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            changed = []
            for k, v in (
                ("name", name),
                ("academy", academy),
                ("year", year),
                ("leaving_date", _iso(leaving_date)),
                ("groups", groups),
            ):
                if v is not None and rec.get(k) != v:
                    rec[k] = v
                    changed.append(k)
            if changed:
                self._save(doc, rec)
                t.log(actor, "pupil.update", pupil_id, fields=changed)
        return copy.deepcopy(rec)

    def get_pupil(self, pupil_id: str) -> dict | None:
        """The whole record (registers included: gate what you show), or None."""
        doc = self._pupils.get(Q.id == pupil_id)
        return copy.deepcopy(dict(doc)) if doc is not None else None

    def pupils(self) -> list[dict]:
        with self._storage.snapshot():
            return [copy.deepcopy(dict(d)) for d in self._pupils.all()]

    def list_pupils(
        self,
        *,
        restricted_for: str | None = None,
        register: str | None = None,
        stale: bool = False,
        stale_days: int = STALE_DAYS,
        expiring_within: int | None = None,
        today: dt.date | None = None,
    ) -> list[dict]:
        """Pupils matching every filter given, sorted by id. See `pupil_summary` for the fields."""
        day = _today(today)
        if restricted_for:
            self._check_channel(restricted_for)
        if register and register != "any":
            _check_register(register)
        out = []
        for p in self.pupils():
            if restricted_for:
                ok, _ = consent_state(p["consents"].get(restricted_for), restricted_for, day)
                if ok and not p["registers"]:
                    continue
            if register:
                names = {r["register"] for r in p["registers"]}
                if not names or (register != "any" and register not in names):
                    continue
            if stale and not stale_encodings(p, day, stale_days):
                continue
            if expiring_within is not None and not expiring_consents(p, day, expiring_within):
                continue
            out.append(p)
        return sorted(out, key=lambda p: p["id"])

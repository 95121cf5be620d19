"""The biometric ledger: consent, objection and withdrawal for encodings (part of ConsentStore)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import consent_db.ledger as ledger_rules
from consent_db.errors import StoreError
from consent_db.records import _iso, default_actor
from consent_db.transaction import _Txn
from consent_db.vault import shard_of


class BiometricLedger:
    """The biometric ledger: consent, objection and withdrawal for encodings. A part of ConsentStore: uses its transaction
    (`_change`) and tables; never used alone."""

    # -- biometric ledger ------------------------------------------------------------------

    def biometric_status(self, pupil_id: str) -> ledger_rules.BiometricStatus:
        p = self.get_pupil(pupil_id)
        if p is None:
            raise StoreError(f"no pupil {pupil_id}")
        return ledger_rules.status(p["biometric"])

    def biometric_notify(
        self,
        pupil_id: str,
        parent: str,
        *,
        date: dt.date | str | None = None,
        actor: str | None = None,
    ) -> None:
        self._ledger_event(pupil_id, "notified", who=parent, date=date, actor=actor)

    def biometric_consent(
        self,
        pupil_id: str,
        parent: str,
        *,
        date: dt.date | str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> None:
        self._ledger_event(
            pupil_id,
            "consent",
            who=parent,
            date=date,
            evidence=evidence,
            form="written",
            actor=actor,
        )

    def biometric_object(
        self,
        pupil_id: str,
        who: str,
        *,
        child: bool = False,
        form: str | None = None,
        date: dt.date | str | None = None,
        note: str | None = None,
        actor: str | None = None,
    ) -> int:
        """Record an objection (a parent's, or the child's own with child=True, in any form).
        Destroys the pupil's encodings at once; returns how many."""
        return self._ledger_event(
            pupil_id,
            "objection",
            who=who,
            party="child" if child else "parent",
            form=form,
            date=date,
            note=note,
            actor=actor,
        )

    def biometric_withdraw(
        self,
        pupil_id: str,
        who: str,
        *,
        date: dt.date | str | None = None,
        note: str | None = None,
        actor: str | None = None,
    ) -> int:
        """Record a withdrawal of biometric consent; destroys the encodings at once."""
        return self._ledger_event(
            pupil_id, "withdrawal", who=who, date=date, note=note, actor=actor
        )

    def _ledger_event(
        self,
        pupil_id: str,
        kind: str,
        *,
        who: str,
        actor: str | None,
        date: dt.date | str | None = None,
        **kw: Any,
    ) -> int:
        actor = actor or default_actor()
        day = _iso(date) or dt.date.today().isoformat()
        try:
            ev = ledger_rules.event(kind, who=who or "", date=day, **kw)
        except ValueError as e:
            raise StoreError(str(e)) from e
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            rec["biometric"]["events"].append(ev)
            t.log(
                actor,
                f"biometric.{kind}",
                pupil_id,
                party=ev["party"],
                date=day,
                form=ev["form"],
                evidence=bool(ev["evidence"]),
            )
            destroyed = self._destroy_if_not_allowed(t, rec, actor)
            self._save(doc, rec)
        return destroyed

    def _destroy_if_not_allowed(self, t: _Txn, rec: dict, actor: str) -> int:
        st = ledger_rules.status(rec["biometric"])
        if st.allowed or not rec["encodings"]:
            return 0
        return self._destroy_encodings(t, rec, actor, st.reason)

    def _destroy_encodings(self, t: _Txn, rec: dict, actor: str, reason: str) -> int:
        n = len(rec["encodings"])
        if not n:
            return 0
        rec["encodings"] = []
        rec["biometric"]["destroyed"].append(
            {"date": dt.date.today().isoformat(), "count": n, "reason": reason}
        )
        t.shard_drop.add(shard_of(rec["id"]))
        t.log(actor, "encodings.destroy", rec["id"], count=n, reason=reason)
        return n

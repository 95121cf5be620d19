"""Erasure, subject access and retention (part of ConsentStore)."""

from __future__ import annotations

import datetime as dt

import consent_db.ledger as ledger_rules
from consent_db.errors import StoreError
from consent_db.records import _today, default_actor
from consent_db.vault import DIM, shard_of


class Erasure:
    """Erasure, subject access and retention. A part of ConsentStore: uses its transaction
    (`_change`) and tables; never used alone."""

    # -- erasure, subject access, retention ------------------------------------------------

    def erase(
        self,
        pupil_id: str,
        *,
        actor: str | None = None,
        reason: str = "erasure request",
    ) -> int:
        """Right to erasure: the record and its encodings go; the audit log keeps a tombstone
        (the id, when, who, how many encodings were destroyed). Returns encodings destroyed."""
        actor = actor or default_actor()
        with self._change() as t:
            doc = self._doc(pupil_id)
            n = len(doc.rec.get("encodings", []))
            if n:
                t.shard_drop.add(shard_of(pupil_id))
            self._remove(doc)
            t.log(actor, "pupil.erase", pupil_id, encodings_destroyed=n, reason=reason)
        return n

    def export(self, pupil_id: str) -> dict:
        """Subject access: everything held about the pupil and every audit entry about them."""
        p = self.get_pupil(pupil_id)
        if p is None:
            raise StoreError(f"no pupil {pupil_id}")
        metas, _ = self.pupil_encodings(pupil_id)
        return {
            "exported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "pupil": p,
            "biometric_status": ledger_rules.status(p["biometric"]).reason,
            "encodings_held": [
                {**m, "what": f"a face template of {DIM} numbers computed from a photo"}
                for m in metas
            ],
            "audit": self.audit.entries(pupil=pupil_id),
        }

    def purge(
        self,
        *,
        today: dt.date | None = None,
        retention_days: int = 365,
        dry_run: bool = False,
        actor: str | None = None,
    ) -> dict[str, list[str]]:
        """Leavers: encodings destroyed once the leaving date has passed (biometric processing
        ends with the pupil's use of the system); the whole record erased `retention_days` after
        leaving. Returns {"encodings_destroyed": [...], "erased": [...]}."""
        actor = actor or default_actor()
        day = _today(today)
        plan: dict[str, list[str]] = {"encodings_destroyed": [], "erased": []}
        for p in self.pupils():
            left = p.get("leaving_date")
            if not left or dt.date.fromisoformat(left) > day:
                continue
            if (day - dt.date.fromisoformat(left)).days > retention_days:
                plan["erased"].append(p["id"])
            elif p["encodings"]:
                plan["encodings_destroyed"].append(p["id"])
        if dry_run or not any(plan.values()):
            return plan
        with self._change() as t:
            for pid in plan["erased"]:
                doc = self._find(pid)
                if doc is None:
                    continue
                n = len(doc.rec.get("encodings", []))
                if n:
                    t.shard_drop.add(shard_of(pid))
                self._remove(doc)
                t.log(
                    actor,
                    "pupil.erase",
                    pid,
                    encodings_destroyed=n,
                    reason=f"retention: left more than {retention_days} days ago",
                )
            for pid in plan["encodings_destroyed"]:
                doc = self._find(pid)
                if doc is None:
                    continue
                rec = doc.rec
                self._destroy_encodings(t, rec, actor, "pupil has left")
                self._save(doc, rec)
        return plan

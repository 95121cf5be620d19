"""Erasure, subject access and retention (part of ConsentStore)."""

from __future__ import annotations

import datetime as dt

import consent_db.ledger as ledger_rules
from consent_db.errors import StoreError
from consent_db.records import TOMBSTONES, _today, default_actor, tombstone_in, tombstone_mark
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
        (the id, when, who, how many encodings were destroyed). A pupil on a protected register
        also leaves a register tombstone in the sealed store (`tombstone`): the id alone, never
        a name, so that the id cannot come back without a DSL (who decides about registers;
        safeguard.door lets only a DSL erase such a pupil). Returns encodings destroyed."""
        actor = actor or default_actor()
        with self._change() as t:
            doc = self._doc(pupil_id)
            n = len(doc.rec.get("encodings", []))
            if n:
                t.shard_drop.add(shard_of(pupil_id))
            self._remove(doc)
            buried = self._bury(t, doc.rec)
            t.log(actor, "pupil.erase", pupil_id, encodings_destroyed=n, reason=reason,
                  **({"register_tombstone": True} if buried else {}))
        return n

    def _bury(self, t, rec: dict) -> bool:
        """Leave the register tombstone of an erased pupil who was on a register: a keyed hash
        of the id (records.tombstone_mark), the academy and the day; never a name."""
        if not rec.get("registers"):
            return False
        mark = tombstone_mark(self._tomb_key, rec["id"])
        table = t.data.setdefault(TOMBSTONES, {})
        if tombstone_in(t.data, mark) is None:
            key = str(max((int(k) for k in table), default=0) + 1)
            table[key] = {"mark": mark, "academy": rec.get("academy"),
                          "erased": dt.date.today().isoformat()}
            self._storage.mark_dirty()
        return True

    def tombstone(self, pupil_id: str) -> dict | None:
        """{"academy", "erased"} when `pupil_id` was erased while on a protected register (and
        not added again since), else None."""
        with self._storage.snapshot() as data:
            found = tombstone_in(data, tombstone_mark(self._tomb_key, pupil_id))
        return None if found is None else {k: found[1].get(k) for k in ("academy", "erased")}

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
        records: bool = True,
        pupils: list[dict] | None = None,
    ) -> dict[str, list[str]]:
        """Leavers: encodings destroyed once the leaving date has passed (biometric processing
        ends with the pupil's use of the system); the whole record erased `retention_days` after
        leaving. Returns {"encodings_destroyed": [...], "erased": [...]}.

        With `records` False (an account that may not erase a register pupil, safeguard.door),
        no record is erased: every leaver past retention is listed under "records_for_dsl",
        whether on a register or not (so the list says nothing about registers), and only their
        encodings go. `pupils`: the records to consider (default: all)."""
        actor = actor or default_actor()
        day = _today(today)
        plan: dict[str, list[str]] = {"encodings_destroyed": [], "erased": []}
        if not records:
            plan["records_for_dsl"] = []
        for p in self.pupils() if pupils is None else pupils:
            left = p.get("leaving_date")
            if not left or dt.date.fromisoformat(left) > day:
                continue
            if (day - dt.date.fromisoformat(left)).days > retention_days:
                if records:
                    plan["erased"].append(p["id"])
                    continue
                plan["records_for_dsl"].append(p["id"])
            if p["encodings"]:
                plan["encodings_destroyed"].append(p["id"])
        if dry_run or not (plan["erased"] or plan["encodings_destroyed"]):
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
                buried = self._bury(t, doc.rec)
                t.log(
                    actor,
                    "pupil.erase",
                    pid,
                    encodings_destroyed=n,
                    reason=f"retention: left more than {retention_days} days ago",
                    **({"register_tombstone": True} if buried else {}),
                )
            for pid in plan["encodings_destroyed"]:
                doc = self._find(pid)
                if doc is None:
                    continue
                rec = doc.rec
                self._destroy_encodings(t, rec, actor, "pupil has left")
                self._save(doc, rec)
        return plan

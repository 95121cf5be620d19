"""Encodings: enrol, read, remove, and the match matrix built from them (part of ConsentStore)."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np

import consent_db.ledger as ledger_rules
from consent_db.crypto import (
    KeyProblem,
)
from consent_db.errors import StoreError
from consent_db.matrix import MatchMatrix
from consent_db.records import (
    REGISTERS,
    _check_schema,
    _iso,
    _meta_of,
    _MissingEncodings,
    _today,
    consent_state,
    default_actor,
)
from consent_db.references import _record, current_since, months_before
from consent_db.storage import (
    StorageError,
    gc_paused,
)
from consent_db.vault import DIM, shard_of


class EncodingStore:
    """Encodings: enrol, read, remove, and the match matrix built from them. A part of ConsentStore: uses its transaction
    (`_change`) and tables; never used alone."""

    # -- encodings -------------------------------------------------------------------------

    def enrol(
        self,
        pupil_id: str,
        encodings: list[np.ndarray],
        photo_dates: list[dt.date],
        actor: str | None = None,
    ) -> list[str]:
        """Store face encodings (128 floats each) of the pupil; returns their ids. Refuses
        (StoreError) unless the biometric ledger allows processing."""
        actor = actor or default_actor()
        if len(encodings) != len(photo_dates):
            raise StoreError("one photo date is needed per encoding")
        vecs = []
        for e in encodings:
            v = np.asarray(e, dtype=np.float32)
            if v.shape != (DIM,) or not np.all(np.isfinite(v)):
                raise StoreError(f"an encoding must be {DIM} finite numbers")
            vecs.append(v)
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            st = ledger_rules.status(rec["biometric"])
            if not st.allowed:
                raise StoreError(
                    f"{pupil_id}: enrolment refused: {st.reason}. Encodings may be"
                    " stored only with written parental consent and no objection."
                )
            ids = []
            shard = shard_of(pupil_id)
            for v, d in zip(vecs, photo_dates):
                eid = uuid.uuid4().hex
                ids.append(eid)
                t.shard_add[shard][eid] = v
                rec["encodings"].append(_record(eid, _iso(d), "enrolment", actor, None))
            self._save(doc, rec)
            t.log(
                actor,
                "encodings.enrol",
                pupil_id,
                count=len(ids),
                photo_dates=sorted({_iso(d) for d in photo_dates}),
            )
        return ids

    def pupil_encodings(self, pupil_id: str) -> tuple[list[dict], np.ndarray]:
        """(metadata of each encoding, (n, 128) float32) for one pupil."""
        p = self.get_pupil(pupil_id)
        if p is None:
            raise StoreError(f"no pupil {pupil_id}")
        want = {e["id"]: i for i, e in enumerate(p["encodings"])}
        out = np.zeros((len(want), DIM), np.float32)
        found = np.zeros(len(want), bool)
        ids, vecs = self._read_shard(shard_of(pupil_id))
        for eid, v in zip(ids, vecs):
            if eid in want:
                out[want[eid]] = v
                found[want[eid]] = True
        metas = [e for e, f in zip(p["encodings"], found) if f]
        return metas, out[found]

    def remove_encodings(
        self, pupil_id: str, *, actor: str | None = None, reason: str = "removed on request"
    ) -> int:
        actor = actor or default_actor()
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            n = self._destroy_encodings(t, rec, actor, reason)
            if n:
                self._save(doc, rec)
        return n

    def _read_shard(self, shard: str) -> tuple[list[str], np.ndarray]:
        try:
            return self._vault.read(shard)
        except KeyProblem as e:
            raise StoreError(f"encodings shard {shard}: {e} (key {self.keyfile})") from e

    def match_matrix(self, channel: str, today: dt.date | None = None,
                     max_age_months: int | None = None) -> MatchMatrix:
        """Every usable encoding with its pupil's restriction for `channel`, read fresh. Refuses
        (StoreError) when an encoding the store lists is missing, after reading again twice (an
        erasure in another process between the two reads is not damage).

        With `max_age_months` (the setting reference_max_age_months), a consenting pupil's
        references whose photo is older than that go to a second entry under the pupil's id that
        only rivals (MatchMatrix.rivals): they no longer clear the pupil's face but still stand
        against other pupils' matches. A restricted pupil's references all restrict, however
        old."""
        with gc_paused():
            for attempt in range(3):
                try:
                    return self._match_matrix(channel, today, max_age_months)
                except _MissingEncodings:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _match_matrix(self, channel: str, today: dt.date | None,
                      max_age_months: int | None = None) -> MatchMatrix:
        self._check_channel(channel)
        day = _today(today)
        try:
            with self._storage.snapshot() as data:
                _check_schema(_meta_of(data), self.folder)
                pupils = list(data.get("pupils", {}).values())
        except StorageError as e:
            raise StoreError(str(e)) from e
        pupil_ids: list[str] = []
        restricted: list[bool] = []
        on_register: list[bool] = []
        reasons: list[str] = []
        groups: list[tuple[str, ...]] = []
        row_of: dict[str, int] = {}
        aged: list[tuple[str, list[str]]] = []  # consenting pupils' references past the age limit
        oldest = "" if max_age_months is None else months_before(day, max_age_months).isoformat()
        for p in pupils:
            encs = p.get("encodings")
            if not encs or not ledger_rules.status(p.get("biometric")).allowed:
                continue
            why = [REGISTERS.get(r["register"], r["register"]) for r in p.get("registers", [])]
            registered = bool(why)
            ok, cwhy = consent_state(p.get("consents", {}).get(channel), channel, day)
            if not ok:
                why.append(cwhy)
            if not why and oldest:  # a consenting pupil: only current references clear
                old = [e["id"] for e in encs if not current_since(e, oldest)]
                if old:
                    aged.append((p["id"], old))
                    gone = set(old)
                    encs = [e for e in encs if e["id"] not in gone]
                if not encs:
                    continue
            idx = len(pupil_ids)
            pupil_ids.append(p["id"])
            on_register.append(registered)
            restricted.append(bool(why))
            reasons.append("; ".join(why))
            groups.append(tuple(p.get("groups", ())))
            for e in encs:
                row_of[e["id"]] = idx
        real = len(pupil_ids)
        for pid, old in aged:
            idx = len(pupil_ids)
            pupil_ids.append(pid)
            on_register.append(False)
            restricted.append(False)
            reasons.append("")
            groups.append(())
            for eid in old:
                row_of[eid] = idx
        blocks, rows = [], []
        for shard in self._vault.shards():
            ids, vecs = self._read_shard(shard)
            sel = [i for i, eid in enumerate(ids) if eid in row_of]
            if sel:
                blocks.append(vecs[sel] if len(sel) != len(ids) else vecs)
                rows.extend(row_of[ids[i]] for i in sel)
        if len(rows) != len(row_of):
            # an encoding the store lists is gone (a shard deleted or damaged): matching without
            # it would clear a restricted pupil's face or miss a register; never run on that
            raise _MissingEncodings(
                f"{len(row_of) - len(rows)} of {len(row_of)} encodings listed in the consent store "
                f"are missing from {self.folder / 'encodings'}: the store is damaged; restore it "
                "from your backup (or re-enrol those pupils)")
        enc = np.concatenate(blocks) if blocks else np.zeros((0, DIM), np.float32)
        enc = np.ascontiguousarray(enc, dtype=np.float32)
        return MatchMatrix(
            encodings=enc,
            sq_norms=np.einsum("ij,ij->i", enc, enc).astype(np.float32),
            row_pupil=np.asarray(rows, dtype=np.int32),
            pupil_ids=pupil_ids,
            restricted=np.asarray(restricted, dtype=bool),
            on_register=np.asarray(on_register, dtype=bool),
            reasons=reasons,
            channel=channel,
            built=day,
            groups=groups,
            rivals=(np.arange(len(pupil_ids)) >= real) if aged else None,
        )

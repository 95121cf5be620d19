"""Photo consent per channel and protected registers (part of ConsentStore)."""

from __future__ import annotations

import copy
import datetime as dt

from consent_db.errors import StoreError
from consent_db.records import _check_register, _iso, _today, consent_state, default_actor


class Consents:
    """Photo consent per channel and protected registers. A part of ConsentStore: uses its transaction
    (`_change`) and tables; never used alone."""

    # -- photo consent ---------------------------------------------------------------------

    def grant_consent(
        self,
        pupil_id: str,
        channel: str,
        *,
        given_by: str,
        date: dt.date | str | None = None,
        evidence: str | None = None,
        expires: dt.date | str | None = None,
        actor: str | None = None,
    ) -> dict:
        return self._set_consent(
            pupil_id, channel, "granted", given_by, date, evidence, expires, actor
        )

    def refuse_consent(
        self,
        pupil_id: str,
        channel: str,
        *,
        given_by: str,
        date: dt.date | str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> dict:
        return self._set_consent(
            pupil_id, channel, "refused", given_by, date, evidence, None, actor
        )

    def _set_consent(self, pupil_id, channel, state, given_by, date, evidence, expires, actor):
        actor = actor or default_actor()
        self._check_channel(channel)
        if not (given_by or "").strip():
            raise StoreError("say who gave (or refused) consent: --by NAME")
        day, exp = _iso(date) or dt.date.today().isoformat(), _iso(expires)
        if exp and exp < day:
            raise StoreError(f"expiry {exp} is before the consent date {day}")
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            old = rec["consents"].get(channel)
            if old:
                rec["consent_history"].append({"channel": channel, **old})
            rec["consents"][channel] = {
                "state": state,
                "by": given_by.strip(),
                "date": day,
                "evidence": evidence,
                "expires": exp,
            }
            self._save(doc, rec)
            t.log(
                actor,
                f"consent.{'grant' if state == 'granted' else 'refuse'}",
                pupil_id,
                channel=channel,
                date=day,
                expires=exp,
                evidence=bool(evidence),
            )
        return copy.deepcopy(rec["consents"][channel])

    def withdraw_consent(
        self,
        pupil_id: str,
        channel: str,
        *,
        by: str,
        date: dt.date | str | None = None,
        actor: str | None = None,
    ) -> dict:
        actor = actor or default_actor()
        self._check_channel(channel)
        day = _iso(date) or dt.date.today().isoformat()
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            old = rec["consents"].get(channel) or {
                "state": "none",
                "by": None,
                "date": None,
                "evidence": None,
                "expires": None,
            }
            if old.get("state") != "none":
                rec["consent_history"].append({"channel": channel, **old})
            rec["consents"][channel] = {
                **old,
                "state": "withdrawn",
                "withdrawn_on": day,
                "withdrawn_by": (by or "").strip() or None,
            }
            self._save(doc, rec)
            t.log(actor, "consent.withdraw", pupil_id, channel=channel, date=day)
        return copy.deepcopy(rec["consents"][channel])

    def consent_for(
        self,
        pupil_id: str,
        channel: str,
        today: dt.date | None = None,
    ) -> tuple[bool, str]:
        self._check_channel(channel)
        p = self.get_pupil(pupil_id)
        if p is None:
            raise StoreError(f"no pupil {pupil_id}")
        return consent_state(p["consents"].get(channel), channel, _today(today))

    # -- protected registers ---------------------------------------------------------------

    def add_register(
        self,
        pupil_id: str,
        register: str,
        *,
        note: str | None = None,
        since: dt.date | str | None = None,
        actor: str | None = None,
    ) -> None:
        actor = actor or default_actor()
        _check_register(register)
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            if any(r["register"] == register for r in rec["registers"]):
                return
            rec["registers"].append(
                {
                    "register": register,
                    "since": _iso(since) or dt.date.today().isoformat(),
                    "recorded_by": actor,
                    "note": note,
                }
            )
            self._save(doc, rec)
            t.log(actor, "register.add", pupil_id, register=register)

    def remove_register(self, pupil_id: str, register: str, *, actor: str | None = None) -> None:
        actor = actor or default_actor()
        _check_register(register)
        with self._change() as t:
            doc = self._doc(pupil_id)
            rec = doc.rec
            before = len(rec["registers"])
            rec["registers"] = [r for r in rec["registers"] if r["register"] != register]
            if len(rec["registers"]) == before:
                raise StoreError(f"{pupil_id} is not on the {register} register")
            self._save(doc, rec)
            t.log(actor, "register.remove", pupil_id, register=register)

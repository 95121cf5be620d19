"""The consent store's pure rules and names: consent states, registers, groups, staleness."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
from collections.abc import Iterable
from pathlib import Path

from tinydb import Query

from consent_db.errors import StoreError

SCHEMA_VERSION = 1
DEFAULT_CHANNELS = ("website", "social", "newsletter", "press", "prospectus")
REGISTERS = {
    "cp": "CP register",
    "lac": "looked-after",
    "adopted": "adopted",
    "court-order": "court order",
    "other": "other protected register",
}
STALE_DAYS = 365
# Ids of pupils erased while on a protected register (sealed in the store, no name): adding the id
# again is for a DSL, who is told it was on a register.
TOMBSTONES = "register_tombstones"
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # always fullmatch
Q = Query()
_GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,39}")


def default_actor() -> str:
    return os.environ.get("SAFEGUARD_USER") or getpass.getuser()


def _iso(d: dt.date | str | None) -> str | None:
    if d is None or d == "":
        return None
    if isinstance(d, str):
        try:
            return dt.date.fromisoformat(d).isoformat()
        except ValueError as e:
            raise StoreError(f"{d!r} is not a date (YYYY-MM-DD)") from e
    if isinstance(d, dt.datetime):
        return d.date().isoformat()
    return d.isoformat()


def _today(today: dt.date | None) -> dt.date:
    return today or dt.date.today()


def consent_state(record: dict | None, channel: str, today: dt.date) -> tuple[bool, str]:
    """(valid, why): valid only if granted, not withdrawn and not past its expiry date."""
    if not record:
        return False, f"no consent for {channel}"
    state = record.get("state")
    if state == "refused":
        return False, f"consent for {channel} refused"
    if state == "withdrawn":
        return False, f"consent for {channel} withdrawn on {record.get('withdrawn_on')}"
    if state != "granted":
        return False, f"no consent for {channel}"
    expires = record.get("expires")
    if expires and today > dt.date.fromisoformat(expires):
        return False, f"consent for {channel} expired on {expires}"
    return True, f"consent for {channel}"


def clean_groups(groups: Iterable[str]) -> list[str]:
    """Group names (a class "4O", a club "choir", a team "u11-football"), checked, without
    repeats (case ignored), in order."""
    out: list[str] = []
    for g in groups:
        g = (g or "").strip()
        if not g:
            continue
        if not _GROUP_RE.fullmatch(g):
            raise StoreError(f"group {g!r}: use letters, digits, spaces, '.', '_', '+' or '-' "
                             "(max 40, starting with a letter or digit)")
        if g.casefold() not in {o.casefold() for o in out}:
            out.append(g)
    return out


def _check_register(r: str) -> None:
    if r not in REGISTERS:
        raise StoreError(f"unknown register {r!r}; registers: {', '.join(REGISTERS)}")


def stale_encodings(p: dict, today: dt.date, days: int = STALE_DAYS) -> list[dict]:
    return [
        e
        for e in p.get("encodings", [])
        if e.get("photo_date") and (today - dt.date.fromisoformat(e["photo_date"])).days > days
    ]


def expiring_consents(p: dict, today: dt.date, within_days: int) -> list[str]:
    """Channels whose valid consent expires within `within_days` days from today."""
    out = []
    for ch, rec in p.get("consents", {}).items():
        ok, _ = consent_state(rec, ch, today)
        if (
            ok
            and rec.get("expires")
            and ((dt.date.fromisoformat(rec["expires"]) - today).days <= within_days)
        ):
            out.append(ch)
    return out


def cannot_add(pupil_id: str) -> str:
    """The one refusal for adding an id that this account may not add, whatever the cause (the id
    belongs to another academy, or it was erased from a protected register): the words never say
    which, so a refusal tells nobody anything about a pupil they may not see."""
    return f"cannot add {pupil_id} from this account: ask a trust-wide DSL"


def tombstone_mark(key: bytes, pupil_id: str) -> str:
    """What a register tombstone keeps of the id: a keyed hash (HMAC-SHA256 with a key derived
    from the store's), so that even the opened store holds no erased pupil's id in the clear,
    yet the id is known again when someone adds it."""
    import hashlib
    import hmac

    return hmac.new(key, pupil_id.encode("utf-8"), hashlib.sha256).hexdigest()


def tombstone_in(data: dict | None, mark: str) -> tuple[str, dict] | None:
    """(key, record) of the register tombstone with `mark` in the store's data, or None."""
    for key, rec in ((data or {}).get(TOMBSTONES) or {}).items():
        if rec.get("mark") == mark:
            return key, rec
    return None


class _MissingEncodings(StoreError):
    """An encoding the store lists is not in the encodings files."""


def _meta_of(data: dict | None) -> dict | None:
    if not data:
        return None
    return (data.get("meta") or {}).get("1")


def _check_schema(meta: dict | None, folder: Path) -> None:
    if meta is None:
        raise StoreError(f"{folder / 'store.json'} is not a safeguard consent store")
    v = meta.get("schema")
    if not isinstance(v, int):
        raise StoreError(f"{folder / 'store.json'} has no schema version; not a safeguard store")
    if v > SCHEMA_VERSION:
        raise StoreError(
            f"the consent store at {folder} was written by a newer safeguard (schema {v}; this"
            f" version reads up to {SCHEMA_VERSION}); upgrade safeguard before using it"
        )


def pupil_summary(p: dict, channels, today: dt.date, *, stale_days: int,
                  show_registers: bool) -> dict:
    """What a listing shows of one pupil: consents per channel ("yes", "expired", the recorded
    state or "none"), biometric permission, encodings and their staleness, consents expiring
    within 30 days. Registers only with `show_registers` (a DSL's view: safeguard.access.may(role,
    "registers")); otherwise the key is absent, not empty."""
    from consent_db import ledger

    consents = {}
    for ch in channels:
        ok, why = consent_state(p["consents"].get(ch), ch, today)
        rec = p["consents"].get(ch) or {}
        consents[ch] = "yes" if ok else ("expired" if "expired" in why else rec.get("state") or "none")
    out = {
        "id": p["id"],
        "name": p["name"],
        "academy": p.get("academy"),
        "year": p.get("year"),
        "leaving_date": p.get("leaving_date"),
        "groups": list(p.get("groups") or []),
        "consents": consents,
        "biometric": ledger.status(p["biometric"]).allowed,
        "encodings": len(p.get("encodings", [])),
        "stale_encodings": len(stale_encodings(p, today, stale_days)),
        "expiring": expiring_consents(p, today, 30),
    }
    if show_registers:
        out["registers"] = [r["register"] for r in p.get("registers", [])]
    return out

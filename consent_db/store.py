"""The consent store: pupils, photo consent per channel, protected registers, the biometric
ledger, encodings, staff accounts. A domain API over TinyDB; TinyDB itself stays inside.

Files under HOME/consent_db/ (all 0600, folder 0700):
    store.json      TinyDB tables: meta (schema, key check), pupils, staff
    encodings/*.bin AES-GCM sealed encoding shards (see vault.py)
    audit.jsonl     hash-chained audit log (see audit.py), audit.head its last seq and hash
    store.lock      the one cross-process lock every change takes
The key is HOME/keys/store.key (see crypto.py).

Every change is one transaction: lock, read fresh, change, then commit in an order that never
leaves biometric data without a record allowing it: audit entries, shards gaining rows, the JSON,
shards losing rows. Reads take no lock and no cache: each call reads the files as they are now.
"""

from __future__ import annotations

import copy
import datetime as dt
import getpass
import json
import os
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from tinydb import Query, TinyDB

from consent_db import ledger as ledger_rules
from consent_db.audit import AuditError, AuditLog
from consent_db.crypto import (
    KeyProblem,
    create_key,
    key_matches,
    key_path,
    load_key,
    make_key_check,
)
from consent_db.errors import StoreError
from consent_db.staff import MAX_FAILURES as _MAX_LOGIN_FAILURES
from consent_db.staff import StaffAccounts
from consent_db.storage import (
    AtomicJSONStorage,
    StorageError,
    atomic_write_bytes,
    gc_paused,
    store_lock,
)
from consent_db.vault import DIM, Vault, shard_of

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
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # always fullmatch
Q = Query()


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


@dataclass(frozen=True)
class MatchMatrix:
    """Every usable stored encoding, ready for the expanded distance |m|^2 - 2 M q + |q|^2."""

    encodings: np.ndarray  # (N, 128) float32, every stored encoding
    sq_norms: np.ndarray  # (N,) float32, |e|^2 precomputed
    row_pupil: np.ndarray  # (N,) int32, index into pupil_ids
    pupil_ids: list[str]  # P pupils with at least one encoding
    restricted: np.ndarray  # (P,) bool: no valid consent for the channel, or on any register
    on_register: np.ndarray  # (P,) bool: on a protected register: hold the whole image for the DSL
    reasons: list[str]  # (P,) DSL-only text; never shown to comms staff
    channel: str = ""
    built: dt.date = field(default_factory=dt.date.today)
    groups: list[tuple[str, ...]] = field(default_factory=list)  # (P,) class, club, team names

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Euclidean distance from one (128,) encoding to every row."""
        q = np.asarray(query, np.float32).reshape(DIM)
        d2 = self.sq_norms - 2.0 * (self.encodings @ q) + float(q @ q)
        return np.sqrt(np.maximum(d2, 0.0))


_GROUP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,39}")


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


class _Ref(NamedTuple):
    key: str  # TinyDB document id (as stored)
    rec: dict  # the live record inside the transaction's data


@dataclass
class _Txn:
    data: dict | None = None
    index: dict[str, str] | None = None
    next_key: int | None = None
    audit: list[tuple[str, str, str | None, dict]] = field(default_factory=list)
    shard_add: dict[str, dict[str, np.ndarray]] = field(default_factory=lambda: defaultdict(dict))
    shard_drop: set[str] = field(default_factory=set)

    def log(self, actor: str, action: str, subject: str | None, **details: Any) -> None:
        self.audit.append((actor, action, subject, details))


class ConsentStore:
    """Open with `ConsentStore.open(home)`; every method reads or writes the files directly."""

    def __init__(self, folder: Path, key: bytes, channels: Iterable[str], keyfile: Path) -> None:
        self.folder = folder
        self.channels = tuple(channels)
        self.keyfile = keyfile
        self._lock = store_lock(folder)
        self._db = TinyDB(folder / "store.json", self._lock, key=key, storage=AtomicJSONStorage)
        self._storage: AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
        self._pupils = self._db.table("pupils", cache_size=0)
        self._staff = self._db.table("staff", cache_size=0)
        self.staff = StaffAccounts(self._staff, self._change)  # the staff accounts' one seam
        self._meta = self._db.table("meta", cache_size=0)
        self._vault = Vault(folder / "encodings", key)
        self.audit = AuditLog(folder / "audit.jsonl", self._lock, key=key,
                              anchor=self._audit_anchor)
        self._local = threading.local()  # the running transaction, per thread

    def _audit_anchor(self) -> int | None:
        """The first audit seq written with the key, as the sealed store records it."""
        try:
            with self._storage.snapshot() as data:
                meta = _meta_of(data) or {}
        except StorageError as e:
            raise StoreError(str(e)) from e
        value = meta.get("audit_keyed_from")
        return int(value) if value is not None else None

    @property
    def _current(self) -> _Txn | None:
        return getattr(self._local, "txn", None)

    @_current.setter
    def _current(self, value: _Txn | None) -> None:
        self._local.txn = value

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, home: Any, channels: Iterable[str] | None = None, *,
             create: bool = False) -> ConsentStore:
        """Open the store under `home` (a safeguard.home.Home). With `create`, a new store (and
        key) is made when there is none: only `safeguard init` and tests' set-up ask for that.

        Raises StoreError with a clear message when there is no store (a mistyped --home), when
        part of it is missing (never run on a damaged store: an empty one would clear or miss
        every pupil), when the key is missing or wrong, or when the store was written by a newer
        version of safeguard."""
        problem = missing_part(home)
        if problem and not (create and problem.nothing):
            raise StoreError(problem.message)
        home.ensure()
        folder, kpath = Path(home.store_dir), key_path(Path(home.keys_dir))
        channels = tuple(channels or DEFAULT_CHANNELS)
        lock = store_lock(folder)
        path, sidecar = folder / "store.json", folder / "meta.json"
        try:
            key = _open_key(kpath, path, lock)
            probe = AtomicJSONStorage(path, lock, key=key)
            # meta.json repeats the store's meta so that opening need not decrypt and parse the
            # whole store; the copy inside store.json is the one every read and write checks.
            meta = _read_sidecar(sidecar) or _meta_of(probe.read())
            if meta is None:
                with probe.transaction() as data:  # first use (or a race to it): create once
                    meta = _meta_of(data)
                    if meta is None:
                        meta = {
                            "schema": SCHEMA_VERSION,
                            "key_check": make_key_check(key),
                            "created": dt.datetime.now(dt.UTC).isoformat(),
                        }
                        data["meta"] = {"1": meta}
                        probe.commit_now()
            if not sidecar.exists():
                atomic_write_bytes(sidecar, json.dumps(meta).encode())
        except KeyProblem as e:
            raise StoreError(
                f"{e}. The consent store at {folder} was created with a key that is needed to read"
                " it; restore the key file from your backup (the store is not empty, and a new key"
                " would not open it)."
            ) from e
        except StorageError as e:
            if not key_matches(key, (_read_sidecar(sidecar) or {}).get("key_check", "")):
                raise StoreError(_wrong_key(kpath, folder)) from e
            raise StoreError(str(e)) from e
        _check_schema(meta, folder)
        if not key_matches(key, meta.get("key_check", "")):
            raise StoreError(_wrong_key(kpath, folder))
        return cls(folder, key, channels, kpath)

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def _change(self) -> Iterator[_Txn]:
        if self._current is not None:  # inside batch(): join it
            yield self._current
            return
        try:
            with self._storage.transaction() as data:
                _check_schema(_meta_of(data), self.folder)
                for table in (self._pupils, self._staff, self._meta):
                    # TinyDB caches the next document id per Table object; another process may
                    # have used it since. Forget it so each insert recomputes from fresh data.
                    table._next_id = None
                t = self._current = _Txn(data=data)
                try:
                    yield t
                finally:
                    self._current = None
                self._commit(t, data)
        except StorageError as e:
            raise StoreError(str(e)) from e
        except AuditError as e:
            raise StoreError(f"audit log: {e}") from e

    def _commit(self, t: _Txn, data: dict) -> None:
        written = self.audit.append_locked(t.audit)
        meta = _meta_of(data)
        if written and meta is not None and "audit_keyed_from" not in meta:
            # anchored in the sealed store: from this seq on every entry must be keyed, so the
            # log cannot be passed off as an earlier version's by rewriting it without the key
            meta["audit_keyed_from"] = written[0]["seq"]
        touched = set(t.shard_add) | t.shard_drop
        keep: dict[str, set[str]] = defaultdict(set)
        if touched:
            for p in data.get("pupils", {}).values():
                s = shard_of(p["id"])
                if s in touched:
                    keep[s].update(e["id"] for e in p.get("encodings", []))
        gaining = [s for s in touched if s not in t.shard_drop]
        losing = [s for s in touched if s in t.shard_drop]
        for s in gaining:  # before the JSON: a crash leaves unlisted rows, never used
            self._vault.apply(s, t.shard_add.get(s, {}), keep[s])
        self._storage.commit_now()
        for s in losing:  # after the JSON: the record saying "destroyed" is durable first
            self._vault.apply(s, t.shard_add.get(s, {}), keep[s])

    # TinyDB's Table rebuilds its whole table dict on every write (O(n) per operation), which
    # makes a 20,000-row import quadratic. Inside a transaction the store therefore edits the
    # table's documents in the transaction's data (TinyDB's own on-disk layout) through an
    # id index, and commits once; reads outside a transaction go through TinyDB queries.

    def _index(self) -> dict[str, str]:
        t = self._current
        assert t is not None and t.data is not None
        if t.index is None:
            t.index = {r["id"]: k for k, r in t.data.setdefault("pupils", {}).items()}
        return t.index

    def _find(self, pupil_id: str) -> _Ref | None:
        key = self._index().get(pupil_id)
        return None if key is None else _Ref(key, self._current.data["pupils"][key])

    def _doc(self, pupil_id: str) -> _Ref:
        ref = self._find(pupil_id)
        if ref is None:
            raise StoreError(f"no pupil {pupil_id}")
        return ref

    def _insert(self, record: dict) -> None:
        table = self._current.data.setdefault("pupils", {})
        t = self._current
        if t.next_key is None:
            t.next_key = max((int(k) for k in table), default=0) + 1
        key = str(t.next_key)
        t.next_key += 1
        table[key] = record
        self._index()[record["id"]] = key
        self._storage.mark_dirty()

    def _remove(self, ref: _Ref) -> None:
        del self._current.data["pupils"][ref.key]
        del self._index()[ref.rec["id"]]
        self._storage.mark_dirty()

    def _save(self, doc: _Ref, record: dict) -> None:
        record["updated"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._current.data["pupils"][doc.key] = record
        self._storage.mark_dirty()

    def _check_channel(self, channel: str) -> None:
        if channel not in self.channels:
            raise StoreError(f"unknown channel {channel!r}; channels: {', '.join(self.channels)}")

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
    ) -> dict:
        """Add a pupil. `consents` maps channel -> given (True) or refused (False), recorded as
        given "at add" today with no expiry. `biometric_consent` records written parental
        consent ("recorded at add", today)."""
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
            self._insert(record)
            t.log(
                actor,
                "pupil.add",
                pupil_id,
                consents={ch: ("granted" if g else "refused") for ch, g in consents.items()},
                registers=len(registers),
                biometric_consent=biometric_consent,
            )
        return copy.deepcopy(record)

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
            today = dt.date.today().isoformat()
            for v, d in zip(vecs, photo_dates):
                eid = uuid.uuid4().hex
                ids.append(eid)
                t.shard_add[shard][eid] = v
                rec["encodings"].append({"id": eid, "photo_date": _iso(d), "enrolled": today})
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

    def match_matrix(self, channel: str, today: dt.date | None = None) -> MatchMatrix:
        """Every usable encoding with its pupil's restriction for `channel`, read fresh. Refuses
        (StoreError) when an encoding the store lists is missing, after reading again twice (an
        erasure in another process between the two reads is not damage)."""
        with gc_paused():
            for attempt in range(3):
                try:
                    return self._match_matrix(channel, today)
                except _MissingEncodings:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _match_matrix(self, channel: str, today: dt.date | None) -> MatchMatrix:
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
        for p in pupils:
            encs = p.get("encodings")
            if not encs or not ledger_rules.status(p.get("biometric")).allowed:
                continue
            idx = len(pupil_ids)
            pupil_ids.append(p["id"])
            why = [REGISTERS.get(r["register"], r["register"]) for r in p.get("registers", [])]
            on_register.append(bool(why))
            ok, cwhy = consent_state(p.get("consents", {}).get(channel), channel, day)
            if not ok:
                why.append(cwhy)
            restricted.append(bool(why))
            reasons.append("; ".join(why))
            groups.append(tuple(p.get("groups", ())))
            for e in encs:
                row_of[e["id"]] = idx
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
        )

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

    # -- staff -----------------------------------------------------------------------------

    def add_staff(self, user: str, role: str, password: str, *, actor: str | None = None,
                  academy: str | None = None):
        return self.staff.add(user, role, password, actor=actor or default_actor(),
                              academy=academy)

    def has_staff(self) -> bool:
        return self.staff.any()

    def list_staff(self) -> list[dict]:
        return self.staff.list()

    def remove_staff(self, user: str, *, actor: str | None = None) -> None:
        self.staff.remove(user, actor=actor or default_actor())

    def verify_staff(self, user: str, password: str, now: dt.datetime | None = None,
                     max_failures: int | None = None):
        """-> consent_db.staff.Staff, or None (wrong password, unknown user, or locked out:
        5 consecutive failures lock the account for 15 minutes, across processes; the review page
        passes a higher number and throttles each client)."""
        return self.staff.verify(user, password, now, max_failures or _MAX_LOGIN_FAILURES)

    # -- bulk ------------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group changes into one transaction (one lock, one commit): all or nothing."""
        with self._change():
            yield


class _MissingEncodings(StoreError):
    """An encoding the store lists is not in the encodings files."""


class Missing(NamedTuple):
    nothing: bool  # True: no store at all (init makes one); False: a damaged store
    message: str


def missing_part(home: Any) -> Missing | None:
    """Why the store under `home` cannot be used as it is, or None: nothing of a store is there
    (`init` makes one), or the store file is gone while its key, its metadata or encodings remain
    (damaged: restore from backup, never start again empty)."""
    folder = Path(home.store_dir)
    store_file = folder / "store.json"
    if store_file.is_file() and store_file.stat().st_size:
        return None
    left = [p.name for p in (key_path(Path(home.keys_dir)), folder / "meta.json", folder / "audit.jsonl")
            if p.exists()]
    shards = folder / "encodings"
    if shards.is_dir() and any(shards.iterdir()):
        left.append("encodings/")
    if not left:
        root = Path(home.root)
        return Missing(True, f"no consent store at {root}: create one with `safeguard --home "
                             f"{root} init --admin USER` (or check --home / SAFEGUARD_HOME)")
    return Missing(False, f"the consent store at {folder} is damaged: store.json is missing or "
                          f"empty but {', '.join(left)} remain. Restore store.json from your "
                          "backup; safeguard will not run on (or start again from) an empty "
                          "store, which would clear or miss every pupil")


def _open_key(kpath: Path, store_file: Path, lock) -> bytes:
    """The store's key: loaded, or created with a new store (under the store's lock, so two
    processes creating one store agree on one key). Never a new key for a store that exists (a
    new key would not open it): that is a KeyProblem."""
    if kpath.exists() or (store_file.exists() and store_file.stat().st_size):
        return load_key(kpath)
    with lock:
        if kpath.exists() or (store_file.exists() and store_file.stat().st_size):
            return load_key(kpath)
        return create_key(kpath)


def _wrong_key(kpath: Path, folder: Path) -> str:
    return (
        f"the key {kpath} does not open the consent store at {folder} (wrong key file);"
        " restore the right key from your backup"
    )


def _read_sidecar(path: Path) -> dict | None:
    try:
        meta = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return meta if isinstance(meta, dict) and "schema" in meta else None


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

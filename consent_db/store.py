"""The consent store: pupils, photo consent per channel, protected registers, the biometric
ledger, encodings, staff accounts. A domain API over TinyDB; TinyDB itself stays inside.

Files under HOME/consent_db/ (all 0600, folder 0700):
    store.json      TinyDB tables: meta (schema, key check), pupils, staff
    encodings/*.bin AES-GCM sealed encoding shards (see vault.py)
    audit.jsonl     hash-chained audit log (see audit.py), audit.head its last seq and hash
    store.lock      the one cross-process lock every change takes
The key is HOME/keys/store.key (see crypto.py).

The class is put together from one part per concern: pupils.py (records), consents.py (photo
consent and registers), biometric.py (the biometric ledger), encodings.py, references.py (each
encoding's provenance: enrolment or the DSL's confirmation), erasure.py (erasure,
subject access, retention); staff.py (accounts) through its own seam. This module opens the
store and runs transactions. Pure rules live in records.py, the match matrix in matrix.py.

Every change is one transaction: lock, read fresh, change, then commit in an order that never
leaves biometric data without a record allowing it: audit entries, shards gaining rows, the JSON,
shards losing rows. Reads take no lock and no cache: each call reads the files as they are now.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from tinydb import TinyDB

from consent_db.audit import AuditError, AuditLog
from consent_db.biometric import BiometricLedger
from consent_db.consents import Consents
from consent_db.crypto import (
    KeyProblem,
    create_key,
    key_matches,
    key_path,
    load_key,
    make_key_check,
)
from consent_db.encodings import EncodingStore
from consent_db.erasure import Erasure
from consent_db.errors import StoreError
from consent_db.matrix import MatchMatrix
from consent_db.pupils import PupilRecords
from consent_db.records import (  # re-exported: the store's public names stay importable here
    DEFAULT_CHANNELS,
    REGISTERS,
    SCHEMA_VERSION,
    STALE_DAYS,
    _check_schema,
    _meta_of,
    _MissingEncodings,
    clean_groups,
    consent_state,
    default_actor,
    expiring_consents,
    stale_encodings,
)
from consent_db.references import References
from consent_db.settings import AcceptedSettings
from consent_db.staff import StaffAccounts
from consent_db.storage import (
    AtomicJSONStorage,
    StorageError,
    atomic_write_bytes,
    store_lock,
)
from consent_db.transaction import _Ref, _Txn
from consent_db.vault import Vault, shard_of


class ConsentStore(PupilRecords, Consents, BiometricLedger, EncodingStore, References, Erasure):
    """Open with `ConsentStore.open(home)`; every method reads or writes the files directly."""

    def __init__(self, folder: Path, key: bytes, channels: Iterable[str], keyfile: Path) -> None:
        self.folder = folder
        self.channels = tuple(channels)
        self.keyfile = keyfile
        self._lock = store_lock(folder)
        self._gen_key = generation_key(key)
        self._tomb_key = _derived(key, b"safeguard register tombstones v1")
        self._db = TinyDB(folder / "store.json", self._lock, key=key, storage=AtomicJSONStorage,
                          check=self._check_generation, before_read=self._recorded_generation)
        self._storage: AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
        self._pupils = self._db.table("pupils", cache_size=0)
        self._staff = self._db.table("staff", cache_size=0)
        self._sources = self._db.table("throttle", cache_size=0)  # sign-in sources (staff.py)
        # the staff accounts' seam; their in-memory doors audit failures straight to the log
        self.staff = StaffAccounts(self._staff, self._change, self._sources,
                                   audit=lambda: self.audit)
        self._stamps: tuple[int | None, dict[str, str]] | None = None
        self._settings = self._db.table("settings", cache_size=0)
        self.settings = AcceptedSettings(self._settings, self._change)  # accepted config.toml
        self._meta = self._db.table("meta", cache_size=0)
        self._vault = Vault(folder / "encodings", key)
        self.audit = AuditLog(folder / "audit.jsonl", self._lock, key=key,
                              anchor=self._audit_anchor, witness=self._audit_witness)
        self._local = threading.local()  # the running transaction, per thread

    # -- rollback protection ---------------------------------------------------------------
    # Every commit counts up `generation` in the sealed store and then records it in store.gen,
    # sealed with a key derived from the store's. A store.json older than the last commit (put
    # back from an old copy on its own: consents withdrawn since would be forgotten) is refused
    # at its first read, as is a store whose store.gen was removed. A whole home put back from
    # one backup is consistent and opens.
    #
    # Readers take no lock, so the record is read before store.json: a commit writes store.json
    # first and the record after, so the file read next is at least as new as the record read
    # first, whatever commits in between (read the other way round, a commit between the two
    # reads looked like a rollback: found by four threads writing at once).

    def _recorded_generation(self) -> int | None:
        return read_generation(self.folder, self._gen_key)

    def _check_generation(self, data: dict, recorded: int | None) -> None:
        meta = _meta_of(data) or {}
        have = int(meta.get("generation", 0))
        if recorded is None and have > 0:
            # The store's first commit may have come between the two reads: its record appears
            # (and then says nothing about the older state read first: nothing to compare).
            for _ in range(50):
                if read_generation(self.folder, self._gen_key) is not None:
                    return
                time.sleep(0.01)
        if recorded is None:
            if have > 0:
                raise StorageError(f"{self.folder / GEN_FILE} is missing: the store's record of "
                                   "its last write is gone; restore the whole home from backup")
            return
        if have < recorded:
            raise StorageError(
                f"{self.folder / 'store.json'} is older than the store's last write (generation "
                f"{have} < {recorded}): it was put back from an old copy on its own. Restore the "
                "whole home from one backup, or put back the current store.json")

    def _audit_anchor(self) -> int | None:
        """The first audit seq written with the key, as the sealed store records it."""
        try:
            with self._storage.snapshot() as data:
                meta = _meta_of(data) or {}
        except StorageError as e:
            raise StoreError(str(e)) from e
        value = meta.get("audit_keyed_from")
        return int(value) if value is not None else None

    def _audit_witness(self) -> dict | None:
        """The last audit entry the sealed store committed with ({"seq", "hash"}): a second,
        sealed record of the log's end, so that a log cut and its head deleted or put back
        is still found."""
        try:
            with self._storage.snapshot() as data:
                meta = _meta_of(data) or {}
        except StorageError as e:
            raise StoreError(str(e)) from e
        return meta.get("audit_head")

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
                for table in (self._pupils, self._staff, self._meta, self._sources,
                              self._settings):
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
        meta = _meta_of(data)
        recorded = (meta or {}).get("audit_head")
        written = self.audit.append_locked(t.audit, witness=recorded)
        # only ever forward: the record never follows a log that went backwards
        forward = written and (not recorded or written[-1]["seq"] > int(recorded.get("seq", 0)))
        if forward and meta is not None:
            meta["audit_head"] = {"seq": written[-1]["seq"], "hash": written[-1]["hash"]}
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
        generation = None
        if meta is not None:
            generation = meta["generation"] = int(meta.get("generation", 0)) + 1
        self._storage.commit_now()
        if generation is not None:  # after the JSON: a crash leaves it one behind, never ahead
            write_generation(self.folder, self._gen_key, generation)
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

    # -- staff -----------------------------------------------------------------------------

    def add_staff(self, user: str, role: str, password: str, *, actor: str | None = None,
                  academy: str | None = None, display_name: str | None = None):
        return self.staff.add(user, role, password, actor=actor or default_actor(),
                              academy=academy, display_name=display_name)

    def has_staff(self) -> bool:
        return self.staff.any()

    def list_staff(self) -> list[dict]:
        return self.staff.list()

    def remove_staff(self, user: str, *, actor: str | None = None) -> None:
        self.staff.remove(user, actor=actor or default_actor())

    def verify_staff(self, user: str, password: str, *, source: str | None = None,
                     throttle=None, audit_failures: bool = True, now: dt.datetime | None = None):
        """-> consent_db.staff.Staff, or None (wrong password, unknown user, or not a user name).
        Raises staff.Throttled while the source must wait: failures slow down where they come
        from (by default this process's OS user), never lock the account (consent_db.throttle)."""
        import os

        return self.staff.verify(user, password, source=source or f"uid:{os.getuid()}",
                                 throttle=throttle, audit_failures=audit_failures, now=now)

    def change_staff(self, user: str, *, actor: str, role: str | None = None,
                     academy: str | None = None, trust_wide: bool = False,
                     display_name: str | None = None):
        return self.staff.change(user, actor=actor, role=role, academy=academy,
                                 trust_wide=trust_wide, display_name=display_name)

    def staff_display_names(self) -> dict[str, str]:
        return self.staff.display_names()

    def unlock_staff(self, user: str, *, actor: str) -> int:
        return self.staff.unlock(user, actor=actor)

    def staff_stamp(self, user: str) -> str | None:
        """The account's current stamp (None: no such account), checked by the review app on
        every request. Recomputed only when the store's generation moved: a small sealed file
        read, not the whole store, on most requests."""
        gen = read_generation(self.folder, self._gen_key)
        cached = self._stamps
        if cached is None or gen is None or cached[0] != gen:
            with self._storage.snapshot():
                stamps = self.staff.stamps()
            cached = self._stamps = (gen, stamps)
        return cached[1].get(user)

    # -- settings --------------------------------------------------------------------------

    def settings_digest(self) -> str | None:
        """The sha256 of config.toml as an admin or the DSL last accepted it; None if never."""
        record = self.settings.current()
        return record["digest"] if record else None

    def accept_settings(self, digest: str, values: dict, by: str,
                        changed: list[str] = ()) -> dict:
        return self.settings.accept(digest, values, by=by, changed=list(changed))

    # -- bulk ------------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group changes into one transaction (one lock, one commit): all or nothing."""
        with self._change():
            yield


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


__all__ = [
    "DEFAULT_CHANNELS", "REGISTERS", "SCHEMA_VERSION", "STALE_DAYS", "ConsentStore", "MatchMatrix",
    "Missing", "StoreError", "_MissingEncodings", "clean_groups", "consent_state",
    "default_actor", "expiring_consents", "missing_part", "stale_encodings",
]


GEN_FILE = "store.gen"


def _derived(store_key: bytes, purpose: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(store_key, purpose, hashlib.sha256).digest()


def generation_key(store_key: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(store_key, b"safeguard store generation v1", hashlib.sha256).digest()


def read_generation(folder: Path, key: bytes) -> int | None:
    from consent_db.crypto import unseal

    try:
        raw = (folder / GEN_FILE).read_bytes()
    except FileNotFoundError:
        return None
    try:
        return int(json.loads(unseal(key, raw, b"store-generation"))["generation"])
    except (KeyProblem, ValueError, KeyError, TypeError) as e:
        raise StorageError(f"{folder / GEN_FILE} cannot be read with this store's key "
                           "(altered); restore the whole home from backup") from e


def write_generation(folder: Path, key: bytes, generation: int) -> None:
    from consent_db.crypto import seal

    atomic_write_bytes(folder / GEN_FILE,
                       seal(key, json.dumps({"generation": generation}).encode(),
                            b"store-generation"))

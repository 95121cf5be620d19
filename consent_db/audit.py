"""The audit log: append-only JSON lines, one entry per change, chained by keyed hashes.

Each entry holds who (actor), what (action, details), about whom (subject: a pupil or staff id)
and when (UTC), plus `prev` (the previous entry's hash) and `hash`: an HMAC-SHA-256 over the entry
without its hash, keyed by a key derived from the store's key (`"v": 2`), so nobody without the
key can recompute the chain after deleting or editing an entry. Cutting entries off the end is
caught by the head file (audit.head: the last seq and hash), sealed with AES-GCM under the same
derived key and replaced atomically after every append: it cannot be rewritten without the key,
and an unreadable head is a failure, not a note. The sealed store records the first keyed seq
(`anchor`): every entry from there on must be keyed. Entries written by an earlier version (plain
SHA-256, before that seq) are checked as they were written.
Names and biometric data never go in: details are checked. With the key, an entry's action,
details and subject are sealed too (`"v": 4`, AES-GCM under another derived key, bound to the
entry's seq), padded to a multiple of PAD bytes: on disk only seq, time and actor stay readable,
so the file says neither about whom something was done (a DSL acting on P001) nor, by its
length, what (a register added or removed, why a photo was held); `entries()` opens them for the
DSL. Entries an earlier version sealed (`"v": 3`: subject readable) are read as they were written.

An append never takes its place in the chain from the log's tail alone: it continues from the
furthest of the tail, the sealed head and the sealed store's own record of the last entry it
committed with (`witness`). A log cut and then signed into keeps its gap (a seq jump and a
broken link) for `verify` to report, instead of a head rewritten to match the cut log. `verify`
also checks the log against the store's record and against a head digest a DSL noted elsewhere
(`head_digest`, `verify(expect=...)`): the one check that holds when the whole home, log and head
and store together, is put back from one old copy.

Appends take the store lock (shared with the store, so a change and its entry are serialised).
An entry is committed once its line and newline are fsynced; a torn last line left by a crash is
an uncommitted write and is cut off by the next append.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

GENESIS = "0" * 64
KEYED = (2, 3, 4)  # entry versions chained with the keyed HMAC; 3: action and details sealed
# too; 4: the subject as well, padded
PAD = 256  # sealed bodies are padded to a multiple of this: their length says nothing
_TAIL_CHUNK = 65536


class AuditError(RuntimeError):
    pass


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict, mac_key: bytes | None = None) -> str:
    """The entry's chain hash: HMAC-SHA-256 under `mac_key` for a keyed entry (`"v": 2`), plain
    SHA-256 for an entry an earlier version wrote."""
    body = _canonical({k: v for k, v in entry.items() if k != "hash"})
    if entry.get("v") in KEYED:
        if mac_key is None:
            raise AuditError("a keyed audit entry needs the store's key to check")
        return hmac.new(mac_key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def details_key(store_key: bytes) -> bytes:
    """AES-GCM key that seals each entry's action and details (`"v": 3`)."""
    return hmac.new(store_key, b"safeguard audit details v3", hashlib.sha256).digest()


def seal_body(key: bytes, seq: int, action: str, details: dict,
              subject: str | None = None) -> str:
    """The sealed part of an entry: action, details and subject, padded with spaces (which JSON
    ignores) to the next multiple of PAD bytes, so a register added and one removed, or a long
    note and a short one, seal to the same length."""
    import base64

    from consent_db.crypto import seal

    body = _canonical({"action": action, "details": details, "subject": subject})
    body += b" " * (-len(body) % PAD)
    return base64.b64encode(seal(key, body, f"audit/{seq}".encode())).decode("ascii")


def open_body(key: bytes | None, entry: dict) -> dict | None:
    """{"action", "details"} of a sealed entry; None without the key or when it does not open."""
    import base64

    from consent_db.crypto import KeyProblem, unseal

    if key is None:
        return None
    try:
        body = unseal(key, base64.b64decode(entry["sealed"]), f"audit/{entry.get('seq')}".encode())
        return json.loads(body)
    except (KeyProblem, ValueError, KeyError, TypeError):
        return None


def derived_keys(store_key: bytes) -> tuple[bytes, bytes]:
    """(HMAC key of the chain, AES-GCM key of the head), derived from the store's key."""
    return (hmac.new(store_key, b"safeguard audit chain v2", hashlib.sha256).digest(),
            hmac.new(store_key, b"safeguard audit head v2", hashlib.sha256).digest())


def _is_position(h: dict) -> bool:
    return isinstance(h.get("seq"), int) and isinstance(h.get("hash"), str)


def _parse_digest(text: str) -> tuple[int, str] | None:
    """(seq, hash prefix) of a head digest "SEQ:HASH" (at least 8 hex digits), or None."""
    seq, _, digest = text.strip().partition(":")
    digest = digest.lower()
    if not (seq.isdigit() and len(digest) >= 8 and all(c in "0123456789abcdef" for c in digest)):
        return None
    return int(seq), digest


def _check_details(value: Any, path: str = "details") -> None:
    """Refuse anything that could be biometric data (arrays, bytes, long lists of numbers)."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise AuditError(f"{path}: keys must be strings")
            _check_details(v, f"{path}.{k}")
        return
    if isinstance(value, (list, tuple)):
        if sum(isinstance(v, float) for v in value) > 8:
            raise AuditError(f"{path}: looks like numeric (possibly biometric) data; not logged")
        for i, v in enumerate(value):
            _check_details(v, f"{path}[{i}]")
        return
    raise AuditError(f"{path}: {type(value).__name__} cannot go in the audit log")


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _parse_when(value: dt.date | dt.datetime | str | None, end: bool) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    t = dt.time.max if end else dt.time.min
    return dt.datetime.combine(value, t, tzinfo=dt.UTC)


class AuditLog:
    def __init__(self, path: Path, lock: FileLock, key: bytes | None = None,
                 anchor=None, witness=None) -> None:
        self.path = path
        self.head_path = path.with_suffix(".head")
        self.lock = lock
        self._mac, self._seal = derived_keys(key) if key is not None else (None, None)
        self._details = details_key(key) if key is not None else None
        self._anchor = anchor  # () -> the first keyed seq recorded in the sealed store, or None
        # () -> the sealed store's record of the last entry it committed with ({"seq", "hash"})
        self._witness = witness

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        actor: str,
        action: str,
        subject: str | None,
        details: dict | None = None,
    ) -> dict:
        """Append one entry (under the store lock) and return it."""
        with self.lock:
            return self.append_locked([(actor, action, subject, details or {})])[-1]

    def append_locked(self, items: list[tuple[str, str, str | None, dict]],
                      witness: dict | None = None) -> list[dict]:
        """Append entries; the caller holds the lock. `witness`: the sealed store's record of the
        last entry it committed with ({"seq", "hash"}), when the caller has it to hand."""
        if not items:
            return []
        for actor, action, _subject, details in items:
            if not actor or not action:
                raise AuditError("an audit entry needs an actor and an action")
            _check_details(details)
        seq, prev = self._position(witness)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        out, lines = [], []
        for actor, action, subject, details in items:
            seq += 1
            e = {
                "seq": seq,
                "ts": now,
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": details,
                "prev": prev,
            }
            stored = e
            if self._details is not None:
                # On disk only who and when stay readable: what was done (a register added, a
                # photo held), its details and about whom are sealed, padded.
                stored = {k: v for k, v in e.items() if k not in ("action", "details", "subject")}
                stored.update(v=4, sealed=seal_body(self._details, seq, action, details, subject))
            elif self._mac is not None:
                stored["v"] = 2
            stored["hash"] = prev = entry_hash(stored, self._mac)
            out.append({**e, "v": stored.get("v"), "hash": prev})
            lines.append(_canonical(stored) + b"\n")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"".join(lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._write_head(seq, prev)
        return out

    def _write_head(self, seq: int, last_hash: str) -> None:
        """Record the last entry: written after the log is fsynced, so after a crash it can lag
        the log (verify notes it) but never lead it; replaced atomically, so it is never torn;
        sealed when the store's key is known, so it cannot be rewritten without it."""
        from consent_db.crypto import seal

        body = _canonical({"seq": seq, "hash": last_hash})
        data = seal(self._seal, body, b"audit.head") if self._seal is not None else body
        from consent_db.storage import atomic_write_bytes

        atomic_write_bytes(self.head_path, data)

    def _read_head(self) -> dict | None | str:
        """The head as written; None when there is none; "unreadable" when it does not open
        (altered, or not sealed with this store's key). A plain JSON head (an earlier version's,
        sealed at the next append) comes back marked "_plain"."""
        from consent_db.crypto import unseal

        try:
            data = self.head_path.read_bytes()
        except FileNotFoundError:
            return None
        if self._seal is not None:
            try:
                return json.loads(unseal(self._seal, data, b"audit.head"))
            except Exception:  # noqa: BLE001, S110 - not sealed by this key: plain, or altered
                pass
        try:
            head = json.loads(data)
        except ValueError:
            return "unreadable"
        if not isinstance(head, dict) or "seq" not in head or "hash" not in head:
            return "unreadable"
        if self._seal is not None:
            head["_plain"] = True
        return head

    def _position(self, witness: dict | None) -> tuple[int, str]:
        """(seq, hash) the next entry follows: the furthest of the log's tail, the sealed head
        and the store's record. Only the tail can be cut without the key; continuing from a
        witness past it leaves the cut in the chain for good (a seq jump, a broken link)."""
        seq, prev = self._tail_repair()
        head = self._read_head()
        known = [h for h in (head, witness)
                 if isinstance(h, dict) and not h.get("_plain") and _is_position(h)]
        for h in known:
            if int(h["seq"]) > seq:
                seq, prev = int(h["seq"]), str(h["hash"])
        return seq, prev

    def head_digest(self) -> str | None:
        """A short digest of the log's end, "SEQ:HASH16", for a DSL to note down or copy off
        the machine; `verify(expect=...)` checks the log still holds it. None for an empty log."""
        with self.lock:  # the tail is repaired under the lock only: never cut a line being written
            seq, last = self._tail_repair()
        return None if seq == 0 else f"{seq}:{last[:16]}"

    def _tail_repair(self) -> tuple[int, str]:
        """(last seq, last hash); cuts off a torn last line left by an interrupted append."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0, GENESIS
        if size == 0:
            return 0, GENESIS
        with open(self.path, "rb+") as f:
            start = max(0, size - _TAIL_CHUNK)
            while True:
                f.seek(start)
                chunk = f.read(size - start)
                if not chunk.endswith(b"\n"):
                    cut = chunk.rfind(b"\n")
                    if cut < 0 and start > 0:
                        start = max(0, start - _TAIL_CHUNK)
                        continue
                    f.truncate(start + cut + 1 if cut >= 0 else 0)
                    os.fsync(f.fileno())
                    return self._tail_repair()
                lines = chunk[:-1].split(b"\n")
                if len(lines) > 1 or start == 0:
                    last = json.loads(lines[-1])
                    return int(last["seq"]), str(last["hash"])
                start = max(0, start - _TAIL_CHUNK)

    # -- reading ---------------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            yield from enumerate(f, 1)

    def entries(
        self,
        pupil: str | None = None,
        since: dt.date | dt.datetime | str | None = None,
        until: dt.date | dt.datetime | str | None = None,
    ) -> list[dict]:
        """Committed entries, oldest first, optionally about one subject and within [since, until]."""
        lo, hi = _parse_when(since, end=False), _parse_when(until, end=True)
        out = []
        for _n, line in self._lines():
            if not line.endswith(b"\n"):
                break  # torn, uncommitted
            e = json.loads(line)
            if "sealed" in e:
                body = open_body(self._details, e)
                e = {k: v for k, v in e.items() if k != "sealed"}
                e.update(body if body is not None else
                         {"action": "(sealed: cannot be opened)", "details": {}})
                e.setdefault("subject", None)
            if pupil is not None and e.get("subject") != pupil:
                continue
            if lo or hi:
                ts = dt.datetime.fromisoformat(e["ts"])
                if (lo and ts < lo) or (hi and ts > hi):
                    continue
            out.append(e)
        return out

    def verify(self, expect: str | None = None) -> VerifyResult:
        """Check the chain, its end against the sealed head and the store's record, and, with
        `expect` (a `head_digest` noted earlier), that the log still holds that entry."""
        problems: list[str] = []
        notes: list[str] = []
        prev, expect_seq, count, last_hash = GENESIS, 1, 0, GENESIS
        head = self._read_head()
        keyed_from = self._anchor() if self._anchor is not None else None
        witness = self._witness() if self._witness is not None else None
        if not (isinstance(witness, dict) and _is_position(witness)):
            witness = None
        noted = _parse_digest(expect) if expect is not None else None
        wanted = {int(h["seq"]) for h in (head, witness) if isinstance(h, dict) and _is_position(h)}
        if noted is not None:
            wanted.add(noted[0])
        seen: dict[int, str] = {}  # hashes of the wanted seqs
        after_head: set[str] = set()  # times of entries past the head's seq (one append: one)
        if keyed_from is not None and isinstance(head, dict) and head.get("_plain"):
            problems.append("audit.head is not sealed although the store records a keyed log "
                            "(replaced): the log's end cannot be trusted")
            head = "replaced"
        for n, line in self._lines():
            if not line.endswith(b"\n"):
                notes.append(
                    f"line {n}: incomplete last entry (an interrupted write, not committed)"
                )
                break
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                problems.append(f"line {n}: not valid JSON (edited)")
                prev, expect_seq = None, expect_seq + 1
                continue
            count += 1
            seq_here = e.get("seq") if isinstance(e.get("seq"), int) else expect_seq
            if "sealed" in e and open_body(self._details, e) is None:
                problems.append(f"line {n} (seq {e.get('seq')}): its sealed part does not open "
                                "with this store's key (edited)")
            if keyed_from is not None and seq_here >= keyed_from and e.get("v") not in KEYED:
                problems.append(
                    f"line {n} (seq {e.get('seq')}): not keyed, where every entry since seq "
                    f"{keyed_from} is (rewritten without the key)")
            if e.get("seq") != expect_seq:
                problems.append(
                    f"line {n}: seq {e.get('seq')} where {expect_seq} was expected "
                    "(entries deleted or reordered)"
                )
            if prev is not None and e.get("prev") != prev:
                problems.append(
                    f"line {n} (seq {e.get('seq')}): does not follow the entry before it"
                    " (an entry was deleted, inserted or edited)"
                )
            try:
                good = hmac.compare_digest(entry_hash(e, self._mac), str(e.get("hash")))
            except AuditError as err:
                problems.append(f"line {n} (seq {e.get('seq')}): {err}")
                good = True
            if not good:
                problems.append(
                    f"line {n} (seq {e.get('seq')}): content does not match its hash (edited)"
                )
            prev = e.get("hash")
            last_hash = prev
            if seq_here in wanted:
                seen[seq_here] = str(prev)
            past_head = isinstance(head, dict) and _is_position(head) and seq_here > head["seq"]
            if past_head and len(after_head) < 2:
                after_head.add(str(e.get("ts")))
            expect_seq = (e.get("seq") if isinstance(e.get("seq"), int) else expect_seq) + 1
        if head is None and count:
            problems.append("audit.head is missing (the log's end cannot be checked)")
        elif head == "replaced":
            pass  # reported above
        elif head == "unreadable":
            # it is replaced atomically, so a crash cannot tear it: altered, or another key's
            problems.append("audit.head cannot be read or was not sealed with this store's key "
                            "(altered): the log's end cannot be trusted")
            head = None
        if isinstance(head, dict):
            last_seq = expect_seq - 1
            if head["seq"] > last_seq:
                problems.append(
                    f"the log ends at seq {last_seq} but {head['seq']} entries were "
                    "written (entries cut from the end)"
                )
            elif head["seq"] == last_seq and head["hash"] != last_hash:
                problems.append(f"the last entry (seq {last_seq}) is not the one written")
            elif head["seq"] < last_seq and len(after_head) == 1:
                notes.append(
                    f"entries after seq {head['seq']} were appended without updating the"
                    " head (an interrupted append)"
                )
            elif head["seq"] < last_seq:
                # one interrupted append leaves the head behind by one batch (one time), never more
                problems.append(
                    f"audit.head records seq {head['seq']} but the log goes on to {last_seq} "
                    "over several appends: the head is an older copy put back")
            if head["seq"] < last_seq and seen.get(head["seq"], head["hash"]) != head["hash"]:
                problems.append(f"the entry at seq {head['seq']} is not the one the head records")
        last_seq = expect_seq - 1
        if witness is not None:
            if witness["seq"] > last_seq:
                problems.append(
                    f"the log ends at seq {last_seq} but the store recorded entry {witness['seq']}"
                    " (entries cut from the end, or the log put back from an older copy)")
            elif seen.get(witness["seq"]) != witness["hash"]:
                problems.append(f"the entry at seq {witness['seq']} is not the one the store "
                                "recorded (the log was replaced)")
        if expect is not None:
            if noted is None:
                problems.append(f"{expect!r} is not a head digest (SEQ:HASH, as `audit head` "
                                "prints it)")
            elif noted[0] > last_seq:
                problems.append(f"the log ends at seq {last_seq}, before the noted head {expect} "
                                "(cut, or the home was put back from an older copy)")
            elif not seen.get(noted[0], "").startswith(noted[1]):
                problems.append(f"the entry at seq {noted[0]} is not the one noted in {expect} "
                                "(the log was replaced)")
        return VerifyResult(ok=not problems, entries=count, problems=problems, notes=notes)

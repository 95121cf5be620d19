"""The audit log: append-only JSON lines, one entry per change, hash-chained.

Each entry holds who (actor), what (action, details), about whom (subject: a pupil or staff id)
and when (UTC), plus `prev` (the previous entry's hash) and `hash` (SHA-256 over the entry
without its hash). Editing an entry breaks its hash; deleting one breaks the next entry's `prev`;
cutting entries off the end is caught by the head file (audit.head, the last seq and hash),
written after every append. Names and biometric data never go in: details are checked.

Appends take the store lock (shared with the store, so a change and its entry are serialised).
An entry is committed once its line and newline are fsynced; a torn last line left by a crash is
an uncommitted write and is cut off by the next append.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

GENESIS = "0" * 64
_TAIL_CHUNK = 65536


class AuditError(RuntimeError):
    pass


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


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
    def __init__(self, path: Path, lock: FileLock) -> None:
        self.path = path
        self.head_path = path.with_suffix(".head")
        self.lock = lock

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

    def append_locked(self, items: list[tuple[str, str, str | None, dict]]) -> list[dict]:
        """Append entries; the caller holds the lock."""
        if not items:
            return []
        for actor, action, _subject, details in items:
            if not actor or not action:
                raise AuditError("an audit entry needs an actor and an action")
            _check_details(details)
        seq, prev = self._tail_repair()
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
            e["hash"] = prev = entry_hash(e)
            out.append(e)
            lines.append(_canonical(e) + b"\n")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"".join(lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._write_head(seq, prev)
        return out

    def _write_head(self, seq: int, last_hash: str) -> None:
        """Record the last entry. Advisory and cheap (no fsync): written after the log is
        fsynced, so after a crash it can lag the log (verify notes it) but never lead it."""
        fd = os.open(self.head_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _canonical({"seq": seq, "hash": last_hash}))
        finally:
            os.close(fd)

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
            if pupil is not None and e.get("subject") != pupil:
                continue
            if lo or hi:
                ts = dt.datetime.fromisoformat(e["ts"])
                if (lo and ts < lo) or (hi and ts > hi):
                    continue
            out.append(e)
        return out

    def verify(self) -> VerifyResult:
        problems: list[str] = []
        notes: list[str] = []
        prev, expect_seq, count, last_hash = GENESIS, 1, 0, GENESIS
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
            if entry_hash(e) != e.get("hash"):
                problems.append(
                    f"line {n} (seq {e.get('seq')}): content does not match its hash (edited)"
                )
            prev = e.get("hash")
            last_hash = prev
            expect_seq = (e.get("seq") if isinstance(e.get("seq"), int) else expect_seq) + 1
        try:
            head = json.loads(self.head_path.read_bytes())
        except FileNotFoundError:
            head = None
            if count:
                problems.append("audit.head is missing (the log's end cannot be checked)")
        except ValueError:
            head = None  # torn by a crash mid-write (it is not fsynced); the next append fixes it
            notes.append("audit.head is unreadable (interrupted write); the log's end is unchecked")
        if head is not None:
            last_seq = expect_seq - 1
            if head["seq"] > last_seq:
                problems.append(
                    f"the log ends at seq {last_seq} but {head['seq']} entries were "
                    "written (entries cut from the end)"
                )
            elif head["seq"] == last_seq and head["hash"] != last_hash:
                problems.append(f"the last entry (seq {last_seq}) is not the one written")
            elif head["seq"] < last_seq:
                notes.append(
                    f"entries after seq {head['seq']} were appended without updating the"
                    " head (an interrupted append)"
                )
        return VerifyResult(ok=not problems, entries=count, problems=problems, notes=notes)

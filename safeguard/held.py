"""Held images: originals waiting for the DSL, under HOME/held, owner-only.

Each held image is a folder HOME/held/<id>/ with the original bytes (`original`) and `record.json`
(DSL-only: who was matched and why), both sealed with a key derived from the store's key
(safeguard/sealed.py). Comms staff only ever learn the id and that the photo was held for
safeguarding review.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from safeguard.exitcodes import SafeguardError

ID_RE = re.compile(r"[0-9]{8}-[0-9a-f]{12}")  # always fullmatch


class HeldError(SafeguardError):
    pass


class HeldQueue:
    """The held images under `folder` (HOME/held). `key`: the file key (safeguard.sealed); by
    default derived from the home's store key, beside `folder`. Without a key nothing is held
    (HeldError): the pipeline then rejects the photo rather than keep it unsealed."""

    def __init__(self, folder: Path, key: bytes | None = None) -> None:
        self.folder = folder
        self._key = key

    @property
    def key(self) -> bytes:
        if self._key is None:
            from safeguard.sealed import SealedError, home_key

            try:
                self._key = home_key(self.folder.parent)
            except SealedError as e:
                raise HeldError(str(e)) from e
        return self._key

    def _write(self, folder: Path, held_id: str, name: str, data: bytes) -> None:
        from safeguard import sealed

        sealed.write(folder / name, data, self.key, f"held/{held_id}/{name}")

    def _read(self, held_id: str, name: str) -> bytes:
        from safeguard import sealed

        try:
            return sealed.read(self.path(held_id) / name, self.key, f"held/{held_id}/{name}")
        except sealed.SealedError as e:
            raise HeldError(str(e)) from e

    def _write_record(self, held_id: str, rec: dict, folder: Path | None = None) -> None:
        self._write(folder or self.path(held_id), held_id, "record.json",
                    json.dumps(rec, indent=1).encode())

    def hold(self, original: bytes, record: dict, seal_original=None) -> str:
        """Keep `original` with its DSL-only `record`; returns the new id. Atomic: the folder
        appears under its final name only once both files are complete. `seal_original(folder,
        held_id)`: writes the sealed original itself instead (hold_file)."""
        key = self.key  # no key: refuse before anything is written
        assert key
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        held_id = f"{dt.date.today():%Y%m%d}-{secrets.token_hex(6)}"
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.folder))
        try:
            os.chmod(staging, 0o700)
            if seal_original is None:
                self._write(staging, held_id, "original", original)
            else:
                seal_original(staging, held_id)
            rec = dict(record, id=held_id, held_at=dt.datetime.now(dt.UTC).isoformat(),
                       state="held")
            self._write_record(held_id, rec, staging)
            os.rename(staging, self.folder / held_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return held_id

    def hold_file(self, original: Path, record: dict) -> str:
        """`hold` for an original read from a file and sealed a megabyte at a time (a clip):
        memory does not grow with its size."""
        from safeguard import sealed

        return self.hold(b"", record, seal_original=lambda folder, held_id: sealed.write_from(
            folder / "original", original, self.key, f"held/{held_id}/original"))

    def path(self, held_id: str) -> Path:
        """The folder of a held image; ids that are not exactly our format are refused (no path
        the request can steer)."""
        if not isinstance(held_id, str) or not ID_RE.fullmatch(held_id):
            raise HeldError("no such held image")
        p = self.folder / held_id
        if not (p / "record.json").is_file():
            raise HeldError("no such held image")
        return p

    def record(self, held_id: str) -> dict:
        return json.loads(self._read(held_id, "record.json"))

    def original(self, held_id: str) -> bytes:
        return self._read(held_id, "original")

    def ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted((p.name for p in self.folder.iterdir() if ID_RE.fullmatch(p.name)
                       and (p / "record.json").is_file()), reverse=True)

    @contextlib.contextmanager
    def locked(self, held_id: str):
        """Hold the record's own lock (flock on HOME/held/<id>/lock) for a read-modify-write:
        two DSLs confirming faces of the same photo at once would otherwise each write back the
        record as they read it, and one confirmation would be lost. flock, not lockf: the lock
        belongs to the open file, so two threads of the review app exclude each other too. Not
        re-entrant: inside, write with `rewrite`, not `update`."""
        p = self.path(held_id)
        fd = os.open(p / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the file releases the lock

    def change(self, held_id: str, edit) -> dict:
        """Read the record inside its lock, let `edit(rec)` change it in place, write it back;
        returns the record written. Whatever `edit` raises leaves the record as it was."""
        with self.locked(held_id):
            rec = self.record(held_id)
            edit(rec)
            self._write_record(held_id, rec)
            return rec

    def rewrite(self, held_id: str, rec: dict) -> None:
        """Write back a record read inside `locked(held_id)` (only there)."""
        self._write_record(held_id, rec)

    def update(self, held_id: str, **changes) -> dict:
        return self.change(held_id, lambda rec: rec.update(changes))

    def destroy(self, held_id: str) -> None:
        """Remove a held original for good (rejected by the DSL, or released)."""
        p = self.path(held_id)
        gone = self.folder / f".deleting-{held_id}"
        os.rename(p, gone)
        shutil.rmtree(gone)

    # -- decisions (added for the DSL review) ---------------------------------------

    def pending(self) -> list[str]:
        """Ids still waiting for a decision (state "held"), newest first."""
        out = []
        for held_id in self.ids():
            try:
                if self.record(held_id).get("state", "held") == "held":
                    out.append(held_id)
            except (OSError, ValueError, HeldError):
                continue
        return out

    def settle(self, held_id: str, state: str, **info) -> dict:
        """Close a decided image: the original is destroyed and the record shrinks to a tombstone
        (id, dates, state, who decided and the output's file name). Who was in the photo and why
        stays only in the audit log. The tombstone is written before the original goes, so a
        crash in between leaves a decided record whose leftover original `sweep` removes."""
        with self.locked(held_id):  # not over a confirmation being written at this moment
            rec = self.record(held_id)
            keep = {k: rec.get(k) for k in ("id", "held_at", "channel", "sha256")}
            tomb = dict(keep, state=state, decided_at=dt.datetime.now(dt.UTC).isoformat(),
                        **info)
            p = self.path(held_id)
            self._write_record(held_id, tomb)
        try:
            os.unlink(p / "original")
        except FileNotFoundError:
            pass
        return tomb

    def sweep(self) -> list[str]:
        """Remove originals left behind by decided records (a crash inside `settle`)."""
        swept = []
        for held_id in self.ids():
            try:
                decided = self.record(held_id).get("state", "held") != "held"
            except (OSError, ValueError, HeldError):
                continue
            leftover = self.folder / held_id / "original"
            if decided and leftover.exists():
                leftover.unlink()
                swept.append(held_id)
        return swept

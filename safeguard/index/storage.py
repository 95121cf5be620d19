"""The index on disk: key, meta, segments, compaction, erasure (PhotoIndex)."""


from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from safeguard.index import manifest
from safeguard.index.common import _AAD, INDEX_KEY_NAME, SCHEMA, IndexProblem
from safeguard.index.photo import FileResult
from safeguard.index.segments import _pack, _Segment, _segment_name, _segment_seq, _unpack
from safeguard.index.snapshot import Snapshot, _merge

# ---------------------------------------------------------------------------------------------
# The index on disk


class PhotoIndex:
    """HOME/index/ and its key. Reads take no lock (segments never change once written);
    writers hold `lock()`."""

    def __init__(self, home: Any) -> None:
        self.home = home
        self.folder = Path(home.root) / "index"
        self.key_file = Path(home.keys_dir) / INDEX_KEY_NAME
        self._key: bytes | None = None

    @property
    def meta_file(self) -> Path:
        return self.folder / "meta.json"

    def exists(self) -> bool:
        return self.meta_file.exists()

    # -- key -------------------------------------------------------------------------------

    def create(self) -> PhotoIndex:
        """Create the folder, key and meta on first use; then check the key. Idempotent."""
        from consent_db.crypto import create_key, make_key_check
        from consent_db.storage import atomic_write_bytes

        self.home.ensure()
        old = os.umask(0o077)
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.folder, 0o700)
        finally:
            os.umask(old)
        if not self.exists():
            with self.lock():
                if not self.exists():
                    if self.key_file.exists() and any(self._segment_files()):
                        raise IndexProblem(f"{self.folder} has segments but no meta.json; "
                                           "run `safeguard index --erase` and index again")
                    if not self.key_file.exists():
                        create_key(self.key_file)
                    key = self._load_key()
                    meta = {"schema": SCHEMA, "created": dt.datetime.now(dt.UTC).isoformat(),
                            "key_check": make_key_check(key)}
                    manifest.write(self.folder, key, {})  # before meta: no index without it
                    atomic_write_bytes(self.meta_file, json.dumps(meta).encode())
        return self.open()

    def open(self) -> PhotoIndex:
        """Check that the index exists and that the key opens it."""
        from consent_db.crypto import key_matches

        try:
            meta = json.loads(self.meta_file.read_bytes())
        except FileNotFoundError:
            raise IndexProblem(
                "no published-photo index yet: run `safeguard index ARCHIVE...` first") from None
        except (OSError, ValueError) as e:
            raise IndexProblem(f"{self.meta_file} is unreadable: {e}") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("schema"), int):
            raise IndexProblem(f"{self.meta_file} is not a safeguard index")
        if meta["schema"] > SCHEMA:
            raise IndexProblem(f"the index was written by a newer safeguard (schema "
                               f"{meta['schema']}); upgrade safeguard")
        key = self._load_key()
        if not key_matches(key, meta.get("key_check", "")):
            raise IndexProblem(f"the key {self.key_file} does not open the index at {self.folder}"
                               " (wrong key file); restore it, or erase the index and rebuild it")
        self._key = key
        return self

    def _load_key(self) -> bytes:
        from consent_db.crypto import KeyProblem, load_key

        try:
            return load_key(self.key_file)
        except KeyProblem as e:
            raise IndexProblem(f"{e}; without it the index cannot be read: erase it "
                               "(`safeguard index --erase`) and index the archive again") from e

    # -- segments --------------------------------------------------------------------------

    def lock(self, timeout: float = 5.0):
        from filelock import FileLock

        return FileLock(str(self.folder / "index.lock"), timeout=timeout, mode=0o600)

    def _segment_files(self) -> list[tuple[int, Path]]:
        if not self.folder.is_dir():
            return []
        out = []
        for p in self.folder.iterdir():
            seq = _segment_seq(p.name)
            if seq is not None:
                out.append((seq, p))
        return sorted(out)

    def _read_segment(self, want: manifest.Entry) -> _Segment:
        """The segment the index's list names, checked against the list: its size and digest
        before it is opened, its counts after."""
        from consent_db.crypto import KeyProblem, unseal

        assert self._key is not None, "open() first"
        name = _segment_name(want.seq)
        sealed = (self.folder / name).read_bytes()
        want.check(name, sealed)
        try:
            plain = unseal(self._key, sealed, _AAD + str(want.seq).encode())
        except KeyProblem as e:
            raise IndexProblem(f"index segment {name}: {e}") from e
        seg = _unpack(plain)
        if seg.seq != want.seq:
            raise IndexProblem(f"index segment {name} does not match its name")
        want.check_counts(name, len(seg.path), len(seg.encodings))
        return seg

    def segments(self) -> dict[int, manifest.Entry]:
        """The segments the index is made of now (its sealed list), by sequence number."""
        if self._key is None:
            self.open()
        assert self._key is not None
        return manifest.read(self.folder, self._key)

    def load(self) -> Snapshot:
        """The whole index, read fresh: every segment its sealed list names, or IndexProblem (one
        missing or altered is never read as an index without it). A segment gone because a
        compaction replaced it meanwhile is not missing: the list has changed, and it is read
        again."""
        from consent_db.storage import gc_paused

        want = self.segments()
        for _attempt in range(5):
            try:
                with gc_paused():
                    return _merge([self._read_segment(e) for _, e in sorted(want.items())])
            except FileNotFoundError as e:
                now = self.segments()
                if now == want:
                    name = Path(e.filename or "").name or "a segment"
                    raise IndexProblem(
                        f"index segment {name} is missing; the index is incomplete: "
                        f"{manifest.REBUILD}") from None
                want = now
                time.sleep(0.05)
            except OSError as e:
                raise IndexProblem(f"an index segment is unreadable ({e.strerror or e}); "
                                   f"{manifest.REBUILD}") from None
        raise IndexProblem("the index kept changing while it was read; try again")

    def write_segment(self, seq: int, results: list[FileResult], gone: list[str],
                      replaces_through: int = 0) -> Path:
        """Seal and write one segment atomically (the caller holds the lock)."""
        from consent_db.crypto import seal
        from consent_db.storage import atomic_write_bytes

        assert self._key is not None, "open() first"
        plain = _pack(seq, replaces_through, results, gone)
        path = self.folder / _segment_name(seq)
        sealed = seal(self._key, plain, _AAD + str(seq).encode())
        atomic_write_bytes(path, sealed)
        entries = {s: e for s, e in self.segments().items() if s > replaces_through}
        entries[seq] = manifest.entry(seq, sealed, len(results),
                                      sum(r.faces for r in results))
        manifest.write(self.folder, self._key, entries)  # the batch counts from here
        return path

    def compact(self) -> int:
        """Rewrite the index as one segment, then delete the others (the caller holds the lock).
        Returns the number of segments replaced."""
        replaced = len(self.segments())
        if replaced <= 1:
            return 0
        snap = self.load()
        last = max([*self.segments(), *(s for s, _ in self._segment_files())])
        self.write_segment(last + 1, [snap.result(i) for i in range(snap.photos)], [],
                           replaces_through=last)
        self.clean_temp_files()
        return replaced

    def clean_temp_files(self) -> None:
        """Remove temp files left by a crash mid-write, and segments the index's list does not
        name (a batch whose commit did not finish, segments a compaction replaced): they are
        not part of the index (the caller holds the lock)."""
        for p in self.folder.glob(".*.tmp"):
            p.unlink(missing_ok=True)
        keep = self.segments()
        for seq, p in self._segment_files():
            if seq not in keep:
                p.unlink(missing_ok=True)

    def erase(self) -> bool:
        """Remove the index and its key. Returns False when there was nothing to erase."""
        existed = self.folder.exists() or self.key_file.exists()
        if self.folder.exists():
            with self.lock(timeout=30):
                gone = self.folder.with_name(f".index-erasing-{os.getpid()}")
                os.rename(self.folder, gone)
            shutil.rmtree(gone)
        self.key_file.unlink(missing_ok=True)
        self._key = None
        return existed



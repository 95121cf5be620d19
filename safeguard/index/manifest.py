"""The index's own list of its segments, sealed: which segments it should have, and each one's
digest and counts.

A segment is sealed, so it cannot be altered unseen; but the folder can lose one (moved away, cut
short by a full disk, deleted by someone who can write to the home) or get older ones back (the
segments a compaction replaced, each a true earlier state of the index and sealed with its key).
Read as "whatever segments are there", such an index answers a search with "0 found" over what is
left, and the DSL is told that nothing needs taking down. So the index keeps, sealed with its key,
the list of segments that make it up now: a segment that the list names and that is missing, of
another size or digest, or that holds other counts, makes the index unusable (IndexProblem), and
a segment that the list does not name is not part of the index (a batch whose commit did not
finish, or one a compaction replaced), whatever its seal.

The list is rewritten, atomically, after each segment is written (by the writer holding the
index's lock): a crash between the two leaves a segment the list does not name, and the batch in
it is redone by the next run, as before.

What the list cannot tell is the whole folder (list and segments) put back together from an older
copy: that is an older index, and the next `safeguard index` run finds the photos published since
(docs/threat-model.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from safeguard.index.common import _AAD, IndexProblem

MANIFEST = "manifest.bin"
_MANIFEST_AAD = _AAD + b"manifest"
REBUILD = "erase it (`safeguard index --erase`) and index the archive again"


@dataclass(frozen=True)
class Entry:
    """What the index knows of one of its segments."""

    seq: int
    sha256: str  # of the sealed file
    size: int  # bytes of the sealed file
    photos: int
    faces: int

    def check(self, name: str, sealed: bytes) -> None:
        if len(sealed) != self.size or hashlib.sha256(sealed).hexdigest() != self.sha256:
            raise IndexProblem(f"index segment {name} is not the one the index wrote (damaged or "
                               f"replaced); the index is incomplete: {REBUILD}")

    def check_counts(self, name: str, photos: int, faces: int) -> None:
        if (photos, faces) != (self.photos, self.faces):
            raise IndexProblem(f"index segment {name} holds {photos} photo(s) where the index "
                               f"wrote {self.photos}; the index is incomplete: {REBUILD}")


def entry(seq: int, sealed: bytes, photos: int, faces: int) -> Entry:
    return Entry(seq, hashlib.sha256(sealed).hexdigest(), len(sealed), photos, faces)


def read(folder: Path, key: bytes) -> dict[int, Entry]:
    """The segments the index should have, by sequence number."""
    from consent_db.crypto import KeyProblem, unseal

    path = folder / MANIFEST
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        raise IndexProblem(f"the index has no list of its segments ({MANIFEST} is missing: "
                           f"damaged, or made by an earlier safeguard); {REBUILD}") from None
    except OSError as e:
        raise IndexProblem(f"{path} is unreadable ({e.strerror or e}); {REBUILD}") from None
    try:
        doc = json.loads(unseal(key, sealed, _MANIFEST_AAD))
        return {int(e["seq"]): Entry(int(e["seq"]), str(e["sha256"]), int(e["size"]),
                                     int(e["photos"]), int(e["faces"]))
                for e in doc["segments"]}
    except (KeyProblem, ValueError, KeyError, TypeError) as e:
        raise IndexProblem(f"the index's list of its segments ({MANIFEST}) is damaged; "
                           f"{REBUILD}") from e


def write(folder: Path, key: bytes, entries: dict[int, Entry]) -> None:
    """Replace the list (the caller holds the index's lock)."""
    from consent_db.crypto import seal
    from consent_db.storage import atomic_write_bytes

    doc = {"segments": [e.__dict__ for _, e in sorted(entries.items())]}
    plain = json.dumps(doc, separators=(",", ":")).encode()
    atomic_write_bytes(folder / MANIFEST, seal(key, plain, _MANIFEST_AAD))

"""Encrypted encoding shards: the biometric templates, kept apart from the JSON store.

Encodings are 128 float32 numbers each. 20,000 pupils x 5 encodings as JSON float lists would be
~100k lists to parse on every open; here they are compact binary rows, sealed with AES-GCM in 64
shard files (chosen by a CRC of the pupil id), so opening decrypts ~51 MB in one pass and an
enrolment rewrites one small shard rather than every encoding in the trust.

Shard plaintext: b"SGE1", uint32 n, n x 16-byte encoding ids, n x 128 float32 (little-endian).
The JSON store is the source of truth for which encodings exist: a row whose id the store does not
list (left by a crash between the two writes) is never used and is dropped at the next rewrite.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from consent_db.crypto import KeyProblem, seal, unseal
from consent_db.storage import StorageError, atomic_write_bytes

DIM = 128
N_SHARDS = 64
_MAGIC = b"SGE1"
_AAD = b"safeguard/encodings/v1/"


def shard_of(pupil_id: str) -> str:
    return f"{zlib.crc32(pupil_id.encode('utf-8')) % N_SHARDS:02x}"


class Vault:
    def __init__(self, folder: Path, key: bytes) -> None:
        self.folder = folder
        self.key = key

    def _path(self, shard: str) -> Path:
        return self.folder / f"{shard}.bin"

    def shards(self) -> list[str]:
        if not self.folder.exists():
            return []
        return sorted(p.stem for p in self.folder.glob("*.bin"))

    def read(self, shard: str) -> tuple[list[str], np.ndarray]:
        """(encoding ids as hex, (n, 128) float32) of one shard; empty if absent."""
        try:
            sealed = self._path(shard).read_bytes()
        except FileNotFoundError:
            return [], np.zeros((0, DIM), np.float32)
        try:
            plain = unseal(self.key, sealed, _AAD + shard.encode())
        except KeyProblem as e:
            # a shard put there by someone without the key (or another key's): never used, and
            # never rewritten by the next enrolment (which reads it first)
            raise StorageError(f"encoding shard {self._path(shard)} is not sealed with the "
                               "store's key (altered or put in place): refused. Restore the "
                               "encodings folder from your backup") from e
        if plain[:4] != _MAGIC:
            raise StorageError(f"encoding shard {self._path(shard)} has an unknown format")
        (n,) = struct.unpack_from("<I", plain, 4)
        ids_end = 8 + 16 * n
        raw_ids = plain[8:ids_end]
        ids = [raw_ids[i : i + 16].hex() for i in range(0, 16 * n, 16)]
        vecs = np.frombuffer(plain, dtype="<f4", count=n * DIM, offset=ids_end).reshape(n, DIM)
        return ids, vecs

    def write(self, shard: str, ids: list[str], vecs: np.ndarray) -> None:
        if len(ids) == 0:
            try:
                self._path(shard).unlink()
            except FileNotFoundError:
                pass
            return
        vecs = np.ascontiguousarray(vecs, dtype="<f4").reshape(len(ids), DIM)
        plain = b"".join(
            [
                _MAGIC,
                struct.pack("<I", len(ids)),
                b"".join(bytes.fromhex(i) for i in ids),
                vecs.tobytes(),
            ]
        )
        self.folder.mkdir(mode=0o700, exist_ok=True)
        atomic_write_bytes(self._path(shard), seal(self.key, plain, _AAD + shard.encode()))

    def apply(self, shard: str, add: dict[str, np.ndarray], keep: set[str]) -> int:
        """Rewrite a shard: current rows whose id is in `keep`, plus `add`. Returns rows dropped."""
        ids, vecs = self.read(shard)
        rows = [(i, v) for i, v in zip(ids, vecs) if i in keep and i not in add]
        dropped = len(ids) - len(rows)
        rows += list(add.items())
        if rows:
            self.write(shard, [r[0] for r in rows], np.stack([r[1] for r in rows]))
        else:
            self.write(shard, [], np.zeros((0, DIM), np.float32))
        return dropped

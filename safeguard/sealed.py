"""Files under the home that name pupils or hold their photos, sealed with the store's key.

Held originals and their DSL records (`held/<id>/`), the takedown list (`takedown/<id>.json`) and
the watcher's decided outcomes (`processing/<claim>/outcome.json`) say who was in a photo, or
are the photo. The home is the service account's alone (mode 0700), and on top of that these
files are sealed (AES-256-GCM) with a key derived from the store's key: a copy of the home's
folders without the key (a backup, a stolen disk image) reveals none of them. Each file is bound
to its place (the associated data names it), so a sealed file moved to another item or renamed
does not open.

A file written before sealing was introduced (no magic) is still read, so an upgrade loses no
held photo; everything written from now on is sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from consent_db.crypto import KeyProblem, key_path, load_key, seal, unseal

MAGIC = b"safeguard-sealed-1\n"


class SealedError(Exception):
    """A sealed file cannot be opened (no key, wrong key, altered, or moved)."""


def file_key(store_key: bytes) -> bytes:
    """The key that seals files, derived from the store's key (never the store key itself)."""
    return hmac.new(store_key, b"safeguard sealed files v1", hashlib.sha256).digest()


def home_key(home_root: Path) -> bytes:
    """The file key of the home at `home_root`; SealedError when its store key is missing."""
    try:
        return file_key(load_key(key_path(Path(home_root) / "keys")))
    except KeyProblem as e:
        raise SealedError(f"cannot seal or open held files: {e}") from e


def write(path: Path, data: bytes, key: bytes, place: str) -> None:
    """Seal `data` for `place` and write it atomically, owner-only (0600)."""
    from consent_db.storage import atomic_write_bytes

    atomic_write_bytes(path, MAGIC + seal(key, data, place.encode()))


def write_from(path: Path, source: Path, key: bytes, place: str, chunk: int = 1 << 20) -> None:
    """Seal the file `source` for `place` into `path` as `write` does (the same format: nonce,
    ciphertext, tag), a megabyte at a time, so that a held clip of a gigabyte is never in
    memory. Written to a hidden temp file beside `path`, fsynced, then renamed into place."""
    import os
    import secrets

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from consent_db.crypto import _NONCE
    from consent_db.storage import fsync_dir

    nonce = os.urandom(_NONCE)
    enc = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(place.encode())
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, \
                open(source, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as src:
            out.write(MAGIC + nonce)
            for block in iter(lambda: src.read(chunk), b""):
                out.write(enc.update(block))
            out.write(enc.finalize() + enc.tag)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read(path: Path, key: bytes, place: str) -> bytes:
    raw = Path(path).read_bytes()
    if not raw.startswith(MAGIC):
        return raw  # written before sealing: read as it is (re-sealed when next written)
    try:
        return unseal(key, raw[len(MAGIC):], place.encode())
    except KeyProblem as e:
        raise SealedError(f"{Path(path).name}: {e}") from e


def write_json(path: Path, obj, key: bytes, place: str) -> None:
    write(path, json.dumps(obj, indent=1, ensure_ascii=False).encode(), key, place)


def read_json(path: Path, key: bytes, place: str):
    return json.loads(read(path, key, place))


def is_sealed(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC

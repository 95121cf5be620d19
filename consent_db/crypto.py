"""Encryption at rest for biometric encodings: AES-256-GCM, key in its own owner-only file.

The key lives in HOME/keys/store.key (0600), apart from the store, so a copy of the store folder
alone reveals no encodings. The store keeps a key check (a known plaintext sealed with the key)
so that a missing or wrong key is a clear error at open, never a silently empty store.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_NAME = "store.key"
_KEY_CHECK_PLAINTEXT = b"safeguard consent store key check v1"
_NONCE = 12


class KeyProblem(Exception):
    """The key is missing, unreadable or does not open this store."""


def key_path(keys_dir: Path) -> Path:
    return keys_dir / KEY_FILE_NAME


def create_key(path: Path) -> bytes:
    """Create a new random 256-bit key at `path`, owner-only, whole or not at all (a crash never
    leaves an empty key file); refuse to overwrite (FileExistsError)."""
    from consent_db.storage import create_exclusive

    key = AESGCM.generate_key(bit_length=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    create_exclusive(path, base64.b64encode(key) + b"\n", mode=0o600)
    return key


def load_key(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise KeyProblem(f"encryption key missing: {path}") from e
    except OSError as e:
        raise KeyProblem(f"cannot read encryption key {path}: {e}") from e
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError as e:
        raise KeyProblem(f"encryption key {path} is not a valid key file") from e
    if len(key) != 32:
        raise KeyProblem(f"encryption key {path} is not a 256-bit key")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # tighten rather than refuse: the home folder is already 0700
    return key


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Decrypt and authenticate; raises KeyProblem on a wrong key or altered data."""
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except (InvalidTag, ValueError) as e:
        raise KeyProblem("decryption failed: wrong key, or the data was altered") from e


def make_key_check(key: bytes) -> str:
    return base64.b64encode(seal(key, _KEY_CHECK_PLAINTEXT, b"key-check")).decode("ascii")


def key_matches(key: bytes, check: str) -> bool:
    try:
        return unseal(key, base64.b64decode(check), b"key-check") == _KEY_CHECK_PLAINTEXT
    except (KeyProblem, ValueError):
        return False

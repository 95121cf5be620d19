"""The consent and encodings store: pupils, photo consent per channel, protected registers, the
biometric consent ledger, encrypted face encodings, staff accounts and a hash-chained audit log.

    from consent_db import ConsentStore, MatchMatrix, StoreError
    store = ConsentStore.open(home)

The names are loaded on first use (PEP 562): `consent_db.errors` alone, which every command
imports to report a damaged store, then costs nothing, where the store itself loads numpy and
the cryptography package (0.1 s before a batch can start its workers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "DEFAULT_CHANNELS",
    "REGISTERS",
    "SCHEMA_VERSION",
    "ConsentStore",
    "MatchMatrix",
    "StoreError",
]

if TYPE_CHECKING:
    from consent_db.store import (
        DEFAULT_CHANNELS,
        REGISTERS,
        SCHEMA_VERSION,
        ConsentStore,
        MatchMatrix,
        StoreError,
    )


def __getattr__(name: str):
    if name in __all__:
        from consent_db import store

        return getattr(store, name)
    raise AttributeError(f"module 'consent_db' has no attribute {name!r}")

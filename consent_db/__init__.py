"""The consent and encodings store: pupils, photo consent per channel, protected registers, the
biometric consent ledger, encrypted face encodings, staff accounts and a hash-chained audit log.

    from consent_db import ConsentStore, MatchMatrix, StoreError
    store = ConsentStore.open(home)
"""

from consent_db.store import (
    DEFAULT_CHANNELS,
    REGISTERS,
    SCHEMA_VERSION,
    ConsentStore,
    MatchMatrix,
    StoreError,
)

__all__ = [
    "DEFAULT_CHANNELS",
    "REGISTERS",
    "SCHEMA_VERSION",
    "ConsentStore",
    "MatchMatrix",
    "StoreError",
]

"""The index's format constants and its one error."""


from __future__ import annotations

from safeguard.exitcodes import SafeguardError

DIM = 128
SCHEMA = 2  # 2: a sealed list of the segments (manifest.bin) beside them
INDEX_KEY_NAME = "index.key"
SEGMENT_PREFIX = "seg-"
MAX_SEGMENTS = 64  # more than this after a run: compact into one
BATCH_FILES = 64  # commit at least every this many photos ...
BATCH_SECONDS = 30.0  # ... or this many seconds, whichever comes first
SEARCH_BLOCK = 4096  # rows per block in search(): 2 MB of encodings, stays in L2
_MAGIC = b"SGX1"
_AAD = b"safeguard/index/v1/"
GONE = "file vanished before it could be read"


class IndexProblem(SafeguardError):
    """The index cannot be used (missing or wrong key, another run holds it, bad archive...).
    The message is one line fit for the user."""

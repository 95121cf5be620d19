"""The published-photo index: every face in every published image, so that a pupil can be found
across everything the trust has already published ("living consent").

    index_archive(home, roots)      walk, detect and encode new or changed photos, commit in batches
    PhotoIndex(home).load()         the whole index as arrays (a Snapshot)
    search(snapshot, encodings, t)  photos where a face lies within t of any of the encodings
    on_consent_change(home, id, r)  the same search, run by the store's CLI, hits to the DSL

The index holds face encodings of everyone in the published photos: special-category data like
the consent store. So it is encrypted at rest with its own key (HOME/keys/index.key, created and
read exactly like the store's key, consent_db/crypto.py), holds no names (only file paths, content
hashes, boxes and encodings; identities live only in the store) and is erased by deleting its
folder and its key.

Files under HOME/index/ (folder 0700, files 0600):
    meta.json       schema and key check (a known plaintext sealed with the key)
    manifest.bin    the sealed list of the segments the index is made of, with their digests and
                    counts (`manifest`): one missing, altered or replaced is IndexProblem
    seg-<seq>.bin   AES-GCM sealed segments, one per committed batch, never changed once written
    index.lock      taken by every writer (one `safeguard index` at a time)

A segment says, for a batch of photos: path, size, mtime, sha256, error (if the photo could not be
read) and its faces (boxes and 128-float encodings), plus the paths that are gone. Segments are
applied in sequence order and later ones win, so a batch redone after a crash replaces rather than
duplicates. A segment appears under its final name only once it is complete (temp file, fsync,
rename): kill -9 at any point loses at most the batch in flight, which the next run redoes. When
there are many segments, they are compacted into one segment that says which ones it replaces;
the old ones are deleted afterwards (a crash in between leaves them ignored).

The parts, one module each: `photo` (one photo's faces), `segments` (the sealed unit on disk),
`snapshot` (the whole index in memory), `search`, `storage` (PhotoIndex), `archive`
(index_archive), `backends` (serial, local pool, Ray), `consent` (the search after a consent
change) and `sheet` (the DSL's contact sheet).
"""

from safeguard.index.archive import IndexSummary, index_archive
from safeguard.index.common import BATCH_FILES, BATCH_SECONDS, DIM, MAX_SEGMENTS, IndexProblem
from safeguard.index.consent import (
    ConsentSearch,
    default_tolerance,
    on_consent_change,
    pupil_queries,
)
from safeguard.index.photo import FileResult, Task, index_file
from safeguard.index.search import FaceHit, Hit, nearest, search
from safeguard.index.sheet import render_contact_sheet
from safeguard.index.snapshot import Snapshot, empty_snapshot
from safeguard.index.storage import PhotoIndex

__all__ = [
    "BATCH_FILES", "BATCH_SECONDS", "DIM", "MAX_SEGMENTS", "ConsentSearch", "FaceHit",
    "FileResult", "Hit", "IndexProblem", "IndexSummary", "PhotoIndex", "Snapshot", "Task",
    "default_tolerance", "empty_snapshot", "index_archive", "index_file", "nearest",
    "on_consent_change", "pupil_queries", "render_contact_sheet", "search",
]

"""The published-photo index: every face in every published image, so that a pupil can be found
across everything the trust has already published (issue 8, "living consent").

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
    seg-<seq>.bin   AES-GCM sealed segments, one per committed batch, never changed once written
    index.lock      taken by every writer (one `safeguard index` at a time)

A segment says, for a batch of photos: path, size, mtime, sha256, error (if the photo could not be
read) and its faces (boxes and 128-float encodings), plus the paths that are gone. Segments are
applied in sequence order and later ones win, so a batch redone after a crash replaces rather than
duplicates. A segment appears under its final name only once it is complete (temp file, fsync,
rename): kill -9 at any point loses at most the batch in flight, which the next run redoes. When
there are many segments, they are compacted into one segment that says which ones it replaces;
the old ones are deleted afterwards (a crash in between leaves them ignored).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DIM = 128
SCHEMA = 1
INDEX_KEY_NAME = "index.key"
SEGMENT_PREFIX = "seg-"
MAX_SEGMENTS = 64  # more than this after a run: compact into one
BATCH_FILES = 64  # commit at least every this many photos ...
BATCH_SECONDS = 30.0  # ... or this many seconds, whichever comes first
SEARCH_BLOCK = 4096  # rows per block in search(): 2 MB of encodings, stays in L2
_MAGIC = b"SGX1"
_AAD = b"safeguard/index/v1/"
GONE = "file vanished before it could be read"


class IndexProblem(Exception):
    """The index cannot be used (missing or wrong key, another run holds it, bad archive...).
    The message is one line fit for the user."""


# ---------------------------------------------------------------------------------------------
# One photo (runs in a worker process or a Ray actor)


@dataclass
class Task:
    path: str
    size: int
    mtime_ns: int


@dataclass
class FileResult:
    """One photo as the index keeps it. `boxes` are [x0, y0, x1, y1] in the upright image."""

    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    boxes: np.ndarray  # (n, 4) int32
    encodings: np.ndarray  # (n, 128) float32
    error: str | None = None

    @property
    def faces(self) -> int:
        return len(self.boxes)


def _no_faces() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), np.int32), np.zeros((0, DIM), np.float32)


def index_file(task: Task, max_pixels: int = 100_000_000) -> FileResult:
    """Read, hash, decode, detect and encode one photo. Never raises for a bad photo: it comes
    back with `error` set (and no faces)."""
    from safeguard.images import LoadError, decode_image, read_bytes

    boxes, encs = _no_faces()
    sha = None
    try:
        data = read_bytes(Path(task.path))
        sha = hashlib.sha256(data).hexdigest()
        image = decode_image(data, max_pixels=max_pixels)
        from safeguard.detect import detect_faces
        from safeguard.identify import encode_faces

        faces = detect_faces(image.rgb)
        if faces:
            encs = np.asarray(encode_faces(image.rgb, faces), dtype=np.float32)
            boxes = np.asarray([f.box.as_list() for f in faces], dtype=np.int32).reshape(-1, 4)
        error = None
    except LoadError as e:
        error = str(e)
    except MemoryError:
        error = "image too large to process in memory"
    except Exception as e:  # noqa: BLE001 - a photo that cannot be scanned is recorded as such
        error = f"internal error ({type(e).__name__})"
    return FileResult(task.path, task.size, task.mtime_ns, sha, boxes, encs, error)


# ---------------------------------------------------------------------------------------------
# Segments: the sealed on-disk unit


def _pack(seq: int, replaces_through: int, results: list[FileResult], gone: list[str]) -> bytes:
    header = {
        "seq": seq,
        "replaces_through": replaces_through,
        "path": [r.path for r in results],
        "size": [int(r.size) for r in results],
        "mtime_ns": [int(r.mtime_ns) for r in results],
        "sha256": [r.sha256 for r in results],
        "error": [r.error for r in results],
        "faces": [r.faces for r in results],
        "gone": list(gone),
    }
    hdr = json.dumps(header, separators=(",", ":")).encode()
    hdr += b" " * (-(8 + len(hdr)) % 64)  # arrays start 64-byte aligned within the plaintext
    if results:
        boxes = np.concatenate([r.boxes.reshape(-1, 4) for r in results]).astype("<i4")
        encs = np.concatenate([r.encodings.reshape(-1, DIM) for r in results]).astype("<f4")
    else:
        boxes, encs = _no_faces()
    return b"".join([_MAGIC, struct.pack("<I", len(hdr)), hdr, boxes.tobytes(), encs.tobytes()])


@dataclass
class _Segment:
    seq: int
    replaces_through: int
    path: list[str]
    size: list[int]
    mtime_ns: list[int]
    sha256: list[str | None]
    error: list[str | None]
    faces: np.ndarray  # (n,) int64
    gone: list[str]
    boxes: np.ndarray  # (F, 4) int32
    encodings: np.ndarray  # (F, 128) float32


def _unpack(plain: bytes) -> _Segment:
    if plain[:4] != _MAGIC:
        raise IndexProblem("an index segment has an unknown format")
    (n,) = struct.unpack_from("<I", plain, 4)
    h = json.loads(plain[8 : 8 + n])
    faces = np.asarray(h["faces"], dtype=np.int64)
    total = int(faces.sum())
    off = 8 + n
    boxes = np.frombuffer(plain, "<i4", total * 4, off).reshape(total, 4)
    encs = np.frombuffer(plain, "<f4", total * DIM, off + total * 16).reshape(total, DIM)
    if encs.ctypes.data % 16:  # misaligned rows make every matrix product several times slower
        encs = encs.copy()
    return _Segment(h["seq"], h["replaces_through"], h["path"], h["size"], h["mtime_ns"],
                    h["sha256"], h["error"], faces, h["gone"], boxes, encs)


def _segment_name(seq: int) -> str:
    return f"{SEGMENT_PREFIX}{seq:012d}.bin"


def _segment_seq(name: str) -> int | None:
    if not (name.startswith(SEGMENT_PREFIX) and name.endswith(".bin")):
        return None
    digits = name[len(SEGMENT_PREFIX) : -4]
    return int(digits) if digits.isdigit() else None


# ---------------------------------------------------------------------------------------------
# The whole index in memory


@dataclass
class Snapshot:
    """Every indexed photo and face, as arrays. Photo i has faces face_start[i]:face_start[i+1]."""

    path: list[str]
    size: np.ndarray  # (P,) int64
    mtime_ns: np.ndarray  # (P,) int64
    sha256: list[str | None]
    error: list[str | None]
    face_start: np.ndarray  # (P + 1,) int64
    boxes: np.ndarray  # (F, 4) int32
    encodings: np.ndarray  # (F, 128) float32
    sq_norms: np.ndarray  # (F,) float32
    face_photo: np.ndarray  # (F,) int64
    seq: int = 0
    segments: int = 0
    _pos: dict[str, int] | None = field(default=None, repr=False)

    @property
    def photos(self) -> int:
        return len(self.path)

    @property
    def faces(self) -> int:
        return len(self.encodings)

    def position(self, path: str) -> int | None:
        if self._pos is None:
            self._pos = {p: i for i, p in enumerate(self.path)}
        return self._pos.get(path)

    def result(self, i: int) -> FileResult:
        a, b = int(self.face_start[i]), int(self.face_start[i + 1])
        return FileResult(self.path[i], int(self.size[i]), int(self.mtime_ns[i]),
                          self.sha256[i], self.boxes[a:b], self.encodings[a:b], self.error[i])

    def unscanned(self) -> list[tuple[str, str]]:
        """(path, reason) of every indexed file that could not be scanned: a pupil may be in it."""
        return [(p, e) for p, e in zip(self.path, self.error) if e]


def empty_snapshot() -> Snapshot:
    boxes, encs = _no_faces()
    return Snapshot([], np.zeros(0, np.int64), np.zeros(0, np.int64), [], [],
                    np.zeros(1, np.int64), boxes, encs, np.zeros(0, np.float32),
                    np.zeros(0, np.int64))


def _merge(segments: list[_Segment]) -> Snapshot:
    """Apply segments in order (later wins, tombstones remove) into one Snapshot."""
    if not segments:
        return empty_snapshot()
    cut = max(s.replaces_through for s in segments)
    segments = [s for s in segments if s.seq > cut]
    last = segments[-1].seq
    if len(segments) == 1 and not segments[0].gone and len(set(segments[0].path)) == len(
        segments[0].path
    ):
        s = segments[0]  # the usual case after a compaction: no gathering, no copies
        return _snapshot_from(s.path, s.size, s.mtime_ns, s.sha256, s.error, s.faces, s.boxes,
                              s.encodings, last, 1)
    alive: dict[str, tuple[int, int]] = {}
    for si, s in enumerate(segments):
        for p in s.gone:
            alive.pop(p, None)
        for fi, p in enumerate(s.path):
            alive.pop(p, None)  # re-insert: keeps the order in which photos were last indexed
            alive[p] = (si, fi)
    starts = [np.concatenate([[0], np.cumsum(s.faces)]) for s in segments]
    base = np.cumsum([0] + [len(s.encodings) for s in segments])
    paths, size, mtime, sha, err, nfaces, row0 = [], [], [], [], [], [], []
    for p, (si, fi) in alive.items():
        s = segments[si]
        paths.append(p)
        size.append(s.size[fi])
        mtime.append(s.mtime_ns[fi])
        sha.append(s.sha256[fi])
        err.append(s.error[fi])
        nfaces.append(int(s.faces[fi]))
        row0.append(int(base[si] + starts[si][fi]))
    counts = np.asarray(nfaces, dtype=np.int64)
    total = int(counts.sum())
    # rows: for each photo, row0 .. row0 + count - 1, without a Python loop over faces
    first = np.repeat(np.asarray(row0, dtype=np.int64), counts)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = first + within
    all_boxes = np.concatenate([s.boxes for s in segments])
    all_encs = np.concatenate([s.encodings for s in segments])
    return _snapshot_from(paths, size, mtime, sha, err, counts, all_boxes[rows], all_encs[rows],
                          last, len(segments))


def _snapshot_from(paths, size, mtime, sha, err, counts, boxes, encs, seq, nseg) -> Snapshot:
    counts = np.asarray(counts, dtype=np.int64)
    encs = np.ascontiguousarray(encs, dtype=np.float32)
    return Snapshot(
        path=list(paths),
        size=np.asarray(size, dtype=np.int64),
        mtime_ns=np.asarray(mtime, dtype=np.int64),
        sha256=list(sha),
        error=list(err),
        face_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        boxes=np.ascontiguousarray(boxes, dtype=np.int32).reshape(-1, 4),
        encodings=encs,
        sq_norms=np.einsum("ij,ij->i", encs, encs).astype(np.float32),
        face_photo=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
        seq=seq,
        segments=nseg,
    )


# ---------------------------------------------------------------------------------------------
# Search


@dataclass
class FaceHit:
    box: list[int]
    distance: float


@dataclass
class Hit:
    """One indexed photo in which the pupil appears (its closest face first)."""

    path: str
    sha256: str | None
    faces: list[FaceHit]

    @property
    def distance(self) -> float:
        return self.faces[0].distance

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "distance": round(self.distance, 4),
            "box": self.faces[0].box,
            "faces": [{"box": f.box, "distance": round(f.distance, 4)} for f in self.faces],
        }


def nearest(encodings: np.ndarray, sq_norms: np.ndarray, queries: np.ndarray,
            block: int = SEARCH_BLOCK, threads: int | None = None) -> np.ndarray:
    """(F,) distance from each indexed face to the closest of `queries` ((k, 128)).

    Uses |e|^2 - 2 e.q + |q|^2 with |e|^2 precomputed: per block of rows, one matrix-vector
    product per query; a block of 4096 rows (2 MB) stays in cache across the k products, so k
    queries cost about one pass over memory plus k passes over cache. The products are numpy's
    own einsum loops, not BLAS: measured here, multi-threaded BLAS on a busy 2-core machine was
    up to 10x slower (its threads spin-wait), and single-threaded it was no faster than einsum.
    Large indexes are split over `threads` Python threads (default: every core; einsum releases
    the GIL), each with its own rows."""
    q = np.asarray(queries, dtype=np.float32).reshape(-1, DIM)
    n = len(encodings)
    if n == 0 or len(q) == 0:
        return np.full(n, np.inf, dtype=np.float32)
    qq = np.einsum("ij,ij->i", q, q).astype(np.float32)
    out = np.empty(n, dtype=np.float32)

    def rows(a: int, b: int) -> None:
        for s in range(a, b, block):
            e = min(b, s + block)
            blk = encodings[s:e]
            m = np.einsum("ij,j->i", blk, q[0])
            m *= -2.0
            m += qq[0]
            for j in range(1, len(q)):
                d = np.einsum("ij,j->i", blk, q[j])
                d *= -2.0
                d += qq[j]
                np.minimum(m, d, out=m)
            out[s:e] = m

    parts = max(1, min(threads or os.cpu_count() or 1, n // (16 * block)))
    if parts == 1:
        rows(0, n)
    else:
        from concurrent.futures import ThreadPoolExecutor

        cuts = [n * i // parts // block * block for i in range(parts)] + [n]
        with ThreadPoolExecutor(parts) as pool:
            list(pool.map(lambda i: rows(cuts[i], cuts[i + 1]), range(parts)))
    out += sq_norms
    np.maximum(out, 0.0, out=out)
    return np.sqrt(out, out=out)


def search(snapshot: Snapshot, queries: np.ndarray, tolerance: float,
           threads: int | None = None) -> list[Hit]:
    """Every indexed photo with a face within `tolerance` of any of `queries`, closest first."""
    d = nearest(snapshot.encodings, snapshot.sq_norms, queries, threads=threads)
    rows = np.flatnonzero(d <= tolerance)
    per: dict[int, list[FaceHit]] = {}
    for r in rows:
        per.setdefault(int(snapshot.face_photo[r]), []).append(
            FaceHit([int(v) for v in snapshot.boxes[r]], float(d[r])))
    hits = []
    for i, faces in per.items():
        faces.sort(key=lambda f: f.distance)
        hits.append(Hit(snapshot.path[i], snapshot.sha256[i], faces))
    hits.sort(key=lambda h: (h.distance, h.path))
    return hits


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

    def _read_segment(self, seq: int, path: Path) -> _Segment:
        from consent_db.crypto import KeyProblem, unseal

        assert self._key is not None, "open() first"
        sealed = path.read_bytes()
        try:
            plain = unseal(self._key, sealed, _AAD + str(seq).encode())
        except KeyProblem as e:
            raise IndexProblem(f"index segment {path.name}: {e}") from e
        seg = _unpack(plain)
        if seg.seq != seq:
            raise IndexProblem(f"index segment {path.name} does not match its name")
        return seg

    def load(self) -> Snapshot:
        """The whole index, read fresh. Retries if a compaction removed a segment meanwhile."""
        from consent_db.storage import gc_paused

        if self._key is None:
            self.open()
        for attempt in range(5):
            try:
                with gc_paused():
                    segs = [self._read_segment(seq, p) for seq, p in self._segment_files()]
                    return _merge(segs)
            except FileNotFoundError:
                if attempt == 4:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def write_segment(self, seq: int, results: list[FileResult], gone: list[str],
                      replaces_through: int = 0) -> Path:
        """Seal and write one segment atomically (the caller holds the lock)."""
        from consent_db.crypto import seal
        from consent_db.storage import atomic_write_bytes

        assert self._key is not None, "open() first"
        plain = _pack(seq, replaces_through, results, gone)
        path = self.folder / _segment_name(seq)
        atomic_write_bytes(path, seal(self._key, plain, _AAD + str(seq).encode()))
        return path

    def compact(self) -> int:
        """Rewrite the index as one segment, then delete the others (the caller holds the lock).
        Returns the number of segments replaced."""
        files = self._segment_files()
        if len(files) <= 1:
            return 0
        snap = self.load()
        last = files[-1][0]
        self.write_segment(last + 1, [snap.result(i) for i in range(snap.photos)], [],
                           replaces_through=last)
        for _seq, p in files:
            p.unlink(missing_ok=True)
        return len(files)

    def clean_temp_files(self) -> None:
        """Remove temp files left by a crash mid-write (the caller holds the lock)."""
        for p in self.folder.glob(".*.tmp"):
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


# ---------------------------------------------------------------------------------------------
# Indexing an archive


@dataclass
class IndexSummary:
    archives: list[str]
    backend: str = "local"
    workers: int = 1
    found: int = 0  # image files found under the archives
    unchanged: int = 0  # same path, size and mtime: not read
    new: int = 0  # paths not in the index before
    changed: int = 0  # known paths whose size or mtime changed
    touched: int = 0  # ... of which the content was the same (not re-encoded)
    copied: int = 0  # new or changed files whose content was already indexed (not re-encoded)
    encoded: int = 0  # files detected and encoded this run
    errors: int = 0  # files that could not be read or decoded (kept as unscanned)
    removed: int = 0  # indexed files that are gone from the archives
    faces_added: int = 0
    batches: int = 0
    compacted: int = 0
    photos_indexed: int = 0  # in the whole index afterwards
    faces_indexed: int = 0
    unscanned_indexed: int = 0
    skipped: list[dict] = field(default_factory=list)  # links etc.: never indexed
    error_files: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["seconds"] = round(self.seconds, 3)
        d["error_files"] = self.error_files[:1000]
        return d


Progress = Callable[[str, int | None, int], None]  # (phase, total, advance)


def index_archive(
    home: Any,
    roots: Iterable[Path],
    *,
    jobs: int | None = None,
    ray_address: str | None = None,
    batch_files: int = BATCH_FILES,
    batch_seconds: float = BATCH_SECONDS,
    allow_empty: bool = False,
    max_pixels: int = 100_000_000,
    progress: Progress | None = None,
) -> IndexSummary:
    """Bring the index up to date with the photos under `roots` (folders or files).

    Only new or changed files are read (same path, size and mtime: skipped); a changed file whose
    content hash is unchanged, or whose content is already indexed under another path, is not
    encoded again. Files gone from a root lose their entries. Results are committed every
    `batch_files` photos or `batch_seconds`, so an interrupted run resumes where it stopped.
    Ctrl-C commits what is finished and returns with `interrupted` set."""
    from safeguard.pipeline import collect_inputs

    start = time.perf_counter()
    roots = [Path(os.path.abspath(r)) for r in roots]
    for r in roots:
        if not (r.exists() or r.is_symlink()):
            raise IndexProblem(f"no such file or folder: {r} (is the archive mounted?)")
    summary = IndexSummary([str(r) for r in roots])
    index = PhotoIndex(home).create()
    from filelock import Timeout

    try:
        lock = index.lock(timeout=2.0)
        lock.acquire()
    except Timeout:
        raise IndexProblem("another `safeguard index` is running on this home; wait for it "
                           "to finish") from None
    try:
        index.clean_temp_files()
        snap = index.load()
        files, early = collect_inputs(roots)
        summary.skipped = [{"path": o.input, "reason": o.error} for o in early]
        summary.found = len(files)
        # What is gone: indexed paths under a root that the walk did not see.
        seen = {str(f) for f in files}
        gone: list[str] = []
        for r in roots:
            prefix = str(r) + os.sep
            under = [p for p in snap.path if (p == str(r) or p.startswith(prefix))]
            missing = [p for p in under if p not in seen]
            if r.is_dir() and under and len(missing) == len(under) and not allow_empty:
                summary.warnings.append(
                    f"{r}: none of its {len(under)} indexed photos was found (is the archive "
                    "mounted?); their entries are kept. Use --allow-empty to remove them.")
                continue
            gone.extend(missing)
        summary.removed = len(gone)
        # What to look at: new paths, or known paths whose size or mtime changed.
        todo: list[Task] = []
        for f in files:
            try:
                st = os.lstat(f)
            except FileNotFoundError:
                continue
            i = snap.position(str(f))
            if i is not None and snap.size[i] == st.st_size and snap.mtime_ns[i] == st.st_mtime_ns:
                summary.unchanged += 1
                continue
            todo.append(Task(str(f), st.st_size, st.st_mtime_ns))
        if progress:
            progress("indexing", len(todo), 0)
        run = _Run(index, snap, summary, batch_files, batch_seconds, progress)
        if gone:
            run.gone.extend(gone)
        # nothing to encode: no pool (and no Ray cluster) to start
        backend = (_backend(jobs, ray_address, len(todo), max_pixels) if todo
                   else _Serial(max_pixels))
        summary.backend, summary.workers = backend.name, backend.workers
        try:
            run.feed(todo, backend)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            backend.close()
            run.commit()  # what is finished is kept, even when interrupted
        if not summary.interrupted and len(index._segment_files()) > MAX_SEGMENTS:
            summary.compacted = index.compact()
        final = index.load()
        summary.photos_indexed, summary.faces_indexed = final.photos, final.faces
        summary.unscanned_indexed = len(final.unscanned())
    finally:
        lock.release()
    summary.seconds = time.perf_counter() - start
    return summary


class _Run:
    """The main loop of one indexing run: decide per file, feed the workers, commit batches."""

    def __init__(self, index: PhotoIndex, snap: Snapshot, summary: IndexSummary,
                 batch_files: int, batch_seconds: float, progress: Progress | None) -> None:
        self.index, self.snap, self.s = index, snap, summary
        self.batch_files, self.batch_seconds, self.progress = batch_files, batch_seconds, progress
        self.seq = max([snap.seq] + [q for q, _ in index._segment_files()])
        self.pending: list[FileResult] = []
        self.gone: list[str] = []
        self.last_commit = time.monotonic()
        # content already indexed: sha -> a result holding its faces (this run's or the index's)
        self.by_sha: dict[str, int | FileResult] = {}
        for i, (h, e) in enumerate(zip(snap.sha256, snap.error)):
            if h and not e:
                self.by_sha.setdefault(h, i)
        self.waiting: dict[str, list[Task]] = {}  # sha in flight -> tasks with the same content
        self.inflight: dict[str, str] = {}  # path submitted -> sha we hashed

    def _known(self, sha: str) -> FileResult | None:
        v = self.by_sha.get(sha)
        if v is None:
            return None
        return v if isinstance(v, FileResult) else self.snap.result(v)

    def feed(self, todo: list[Task], backend: _Backend) -> None:
        from safeguard.images import LoadError, read_bytes

        for task in todo:
            known_i = self.snap.position(task.path)
            if known_i is None:
                self.s.new += 1
            else:
                self.s.changed += 1
            try:
                sha = hashlib.sha256(read_bytes(Path(task.path))).hexdigest()
            except LoadError as e:
                self._done(FileResult(task.path, task.size, task.mtime_ns, None, *_no_faces(),
                                      error=str(e)))
                continue
            if sha in self.waiting:
                self.waiting[sha].append(task)
                continue
            same = self._known(sha)
            if same is not None:
                if known_i is not None and self.snap.sha256[known_i] == sha:
                    self.s.touched += 1
                else:
                    self.s.copied += 1
                self._done(FileResult(task.path, task.size, task.mtime_ns, sha, same.boxes,
                                      same.encodings))
                continue
            self.waiting[sha] = []
            self.inflight[task.path] = sha
            backend.submit(task)
            self._drain(backend, until_free=True)
        self._drain(backend, until_free=False)

    def _drain(self, backend: _Backend, until_free: bool) -> None:
        while backend.full() if until_free else backend.busy():
            r = backend.next()
            self.s.encoded += 1
            sha = self.inflight.pop(r.path)
            queued = self.waiting.pop(sha, [])
            self._done(r)
            for t in queued:  # same content as r when we hashed them
                if r.sha256 == sha and r.error != GONE:
                    self.s.copied += 1
                    self._done(FileResult(t.path, t.size, t.mtime_ns, sha, r.boxes, r.encodings,
                                          r.error))
                else:  # r's file changed or vanished after we hashed it: encode them themselves
                    self.waiting.setdefault(sha, [])
                    self.inflight[t.path] = sha
                    backend.submit(t)

    def _done(self, r: FileResult) -> None:
        if r.error == GONE:  # vanished between the walk and the read: as if never seen
            if self.snap.position(r.path) is not None:
                self.gone.append(r.path)
                self.s.removed += 1
            self._advance()
            return
        if r.error:
            self.s.errors += 1
            self.s.error_files.append({"path": r.path, "error": r.error})
        else:
            self.s.faces_added += r.faces
            if r.sha256:
                self.by_sha[r.sha256] = r
        self.pending.append(r)
        self._advance()
        if (len(self.pending) >= self.batch_files
                or time.monotonic() - self.last_commit >= self.batch_seconds):
            self.commit()

    def _advance(self) -> None:
        if self.progress:
            self.progress("indexing", None, 1)

    def commit(self) -> None:
        if not self.pending and not self.gone:
            return
        self.seq += 1
        self.index.write_segment(self.seq, self.pending, self.gone)
        self.s.batches += 1
        self.pending, self.gone = [], []
        self.last_commit = time.monotonic()


# ---------------------------------------------------------------------------------------------
# Where the encoding runs: this process, a local process pool, or a Ray cluster


class _Backend:
    """Submit tasks, take results back in completion order; at most `window` in flight."""

    name = "local"
    workers = 1
    window = 1

    def submit(self, task: Task) -> None:
        raise NotImplementedError

    def next(self) -> FileResult:
        raise NotImplementedError

    def in_flight(self) -> int:
        raise NotImplementedError

    def full(self) -> bool:
        return self.in_flight() >= self.window

    def busy(self) -> bool:
        return self.in_flight() > 0

    def close(self) -> None:
        pass


class _Serial(_Backend):
    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.queue: list[Task] = []

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def next(self) -> FileResult:
        return index_file(self.queue.pop(0), self.max_pixels)

    def in_flight(self) -> int:
        return len(self.queue)


_WORKER_MAX_PIXELS = 100_000_000


def _init_worker(max_pixels: int, workers: int = 1) -> None:
    global _WORKER_MAX_PIXELS
    _WORKER_MAX_PIXELS = max_pixels
    from safeguard.detect import in_halves

    in_halves(workers > 1)  # side by side, the workers' detector peaks add up
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _die_with_parent()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (kill -9 of `safeguard index` must not
    leave workers holding the index lock they inherited)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers exit when the pool's pipe closes
        pass


def _work(task: Task) -> FileResult:
    return index_file(task, _WORKER_MAX_PIXELS)


class _LocalPool(_Backend):
    """Processes on this machine, one core each (detector and encoder are single-threaded)."""

    def __init__(self, jobs: int, max_pixels: int) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.workers = jobs
        self.window = 2 * jobs  # keeps every worker busy while the main process hashes
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork"),
                                        initializer=_init_worker, initargs=(max_pixels, jobs))
        self.futures: set = set()
        self.done: list = []

    def submit(self, task: Task) -> None:
        self.futures.add(self.pool.submit(_work, task))

    def next(self) -> FileResult:
        from concurrent.futures import FIRST_COMPLETED, wait

        if not self.done:
            finished, self.futures = wait(self.futures, return_when=FIRST_COMPLETED)
            self.done.extend(finished)
        return self.done.pop().result()

    def in_flight(self) -> int:
        return len(self.futures) + len(self.done)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _RayPool(_Backend):
    """Ray actors (one CPU each, models loaded once per actor) in a ray.util.ActorPool."""

    name = "ray"

    def __init__(self, address: str, jobs: int | None, max_pixels: int) -> None:
        # Ray copies a `uv run` driver's command line to start its workers, and that `uv run`
        # re-syncs the environment without the extras (removing Ray itself): workers then die
        # at start and the pool waits for ever. Start workers with this interpreter instead.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise IndexProblem("--ray needs Ray: install the extra (`uv sync --extra ray` or "
                               "`pip install 'safeguard[ray]'`)") from None
        import logging

        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            opts: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
            if address == "local":
                opts.update(num_cpus=jobs or os.cpu_count() or 1, include_dashboard=False)
            else:
                opts["address"] = address
            try:
                ray.init(**opts)
            except Exception as e:  # noqa: BLE001 - one line for the user, not Ray's traceback
                raise IndexProblem(f"cannot connect to Ray at {address}: "
                                   f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
                                   ) from None
            self.started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(jobs or cpus, cpus))
        self.window = 2 * self.workers
        actor = ray.remote(num_cpus=1)(_IndexActor)
        self.pool = ActorPool([actor.remote(max_pixels) for _ in range(self.workers)])
        self.count = 0

    def submit(self, task: Task) -> None:
        self.pool.submit(lambda a, t: a.index.remote(t), task)
        self.count += 1

    def next(self) -> FileResult:
        self.count -= 1
        return self.pool.get_next_unordered()

    def in_flight(self) -> int:
        return self.count

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


class _IndexActor:
    """A Ray actor: the face models stay loaded between photos. The archive must be readable at
    the same path on every node (a shared mount)."""

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels

    def index(self, task: Task) -> FileResult:
        return index_file(task, self.max_pixels)


def _backend(jobs: int | None, ray_address: str | None, n: int, max_pixels: int) -> _Backend:
    if ray_address:
        return _RayPool(ray_address, jobs, max_pixels)
    jobs = max(1, min(jobs or os.cpu_count() or 1, n))
    if jobs == 1:
        return _Serial(max_pixels)
    return _LocalPool(jobs, max_pixels)


# ---------------------------------------------------------------------------------------------
# Consent changes: search the index by itself, hits to the DSL's takedown list


@dataclass
class ConsentSearch:
    """What on_consent_change did. `message` is one line for whoever changed the store (the data
    manager): it names no photo and no register."""

    pupil: str
    reason: str
    searched: bool
    message: str
    photos_searched: int = 0
    hits: list[Hit] = field(default_factory=list)
    unscanned: int = 0
    item_id: str | None = None


def pupil_queries(home: Any, pupil_id: str) -> np.ndarray:
    """The pupil's stored encodings ((k, 128) float32; k may be 0)."""
    from consent_db import ConsentStore, StoreError
    from safeguard.config import ConfigError, load_config

    if not (Path(home.store_dir) / "store.json").exists():  # never create a store as a side effect
        raise IndexProblem(f"no consent store at {home.store_dir}: no pupil {pupil_id}")
    try:
        channels = load_config(Path(home.config_file)).channels
    except ConfigError:
        channels = None
    try:
        store = ConsentStore.open(home, channels=channels)
        _metas, encs = store.pupil_encodings(pupil_id)
    except StoreError as e:
        raise IndexProblem(str(e)) from e
    return np.asarray(encs, dtype=np.float32).reshape(-1, DIM)


def default_tolerance(home: Any) -> float:
    from safeguard.config import ConfigError, load_config

    try:
        return load_config(Path(home.config_file)).restrict_tolerance
    except ConfigError:
        from safeguard.config import Config

        return Config().restrict_tolerance


def on_consent_change(home: Any, pupil_id: str, reason: str,
                      tolerance: float | None = None) -> ConsentSearch | None:
    """After a consent withdrawal or a new register flag: find the pupil in everything already
    published and put the hits on the DSL's takedown list (safeguard.takedown).

    Returns None when there is no index (nothing published has been indexed). Needs the pupil's
    stored encodings: after a withdrawal of *biometric* consent (or an objection) they have been
    destroyed, as the law requires, and no search is possible (`searched` False)."""
    from safeguard import takedown

    index = PhotoIndex(home)
    if not index.exists():
        return None
    queries = pupil_queries(home, pupil_id)
    if len(queries) == 0:
        return ConsentSearch(
            pupil_id, reason, searched=False,
            message=(f"{pupil_id} has no stored face encodings, so published photos cannot be "
                     "searched for them automatically; tell the DSL to check by hand."))
    tol = default_tolerance(home) if tolerance is None else tolerance
    snap = index.open().load()
    hits = search(snap, queries, tol)
    unscanned = [{"path": p, "error": e} for p, e in snap.unscanned()]
    result = ConsentSearch(pupil_id, reason, searched=True, message="",
                           photos_searched=snap.photos, hits=hits, unscanned=len(unscanned))
    if hits or unscanned:
        result.item_id = takedown.add(home, pupil_id, reason, [h.as_dict() for h in hits],
                                      photos_searched=snap.photos, unscanned=unscanned,
                                      tolerance=tol)
    result.message = (
        f"Searched {snap.photos} published photo(s) for {pupil_id}: {len(hits)} found"
        + (f", {len(unscanned)} could not be scanned" if unscanned else "")
        + (f"; on the DSL's takedown list ({result.item_id})." if result.item_id else ".")
    )
    return result


# ---------------------------------------------------------------------------------------------
# The DSL's contact sheet


def render_contact_sheet(pupil_id: str, hits: list[Hit], tolerance: float, photos_searched: int,
                         unscanned: list[tuple[str, str]], thumb: int = 320) -> str:
    """A self-contained HTML page: one thumbnail per hit with the matching face outlined.

    Thumbnails are re-encoded from pixels (no EXIF, no GPS). A photo whose content changed since
    it was indexed, or that is gone, is listed without a thumbnail and says so."""
    import html

    cards = []
    for h in hits:
        img, note = _thumbnail(h, thumb)
        faces = "; ".join(f"distance {f.distance:.3f}, box {f.box}" for f in h.faces)
        body = (f'<img src="data:image/jpeg;base64,{img}" alt="">' if img
                else f'<div class="missing">{html.escape(note)}</div>')
        cards.append(
            f'<figure>{body}<figcaption><code>{html.escape(h.path)}</code><br>'
            f'{html.escape(faces)}'
            + (f'<br><em>{html.escape(note)}</em>' if img and note else "")
            + "</figcaption></figure>")
    skipped = "".join(f"<li><code>{html.escape(p)}</code>: {html.escape(e)}</li>"
                      for p, e in unscanned)
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>DSL ONLY: published photos of pupil {html.escape(pupil_id)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#111}}
.dsl{{background:#b00020;color:#fff;padding:.8em 1em;font-weight:bold;border-radius:4px}}
.grid{{display:flex;flex-wrap:wrap;gap:1em}}
figure{{margin:0;width:{thumb}px}} figure img{{max-width:100%;border:1px solid #ccc}}
figcaption{{font-size:.8em}} figcaption code{{word-break:break-all}}
.missing{{width:{thumb}px;height:120px;background:#eee;display:flex;align-items:center;
justify-content:center;text-align:center}}
</style></head><body>
<p class="dsl">DSL ONLY. Safeguarding information: photos already published in which pupil
{html.escape(pupil_id)} appears. Do not share, forward or print; delete this file when done.</p>
<p>Made {when}. {len(hits)} photo(s) found among {photos_searched} indexed published photo(s)
(a face within {tolerance:.2f} of one of the pupil's stored encodings). Check each one: a match is
a likeness, not a proof.</p>
<div class="grid">{''.join(cards) or '<p>No photo found.</p>'}</div>
{f'<h2>Could not be scanned ({len(unscanned)})</h2><p>The pupil may be in these too; check them by hand.</p><ul>{skipped}</ul>' if unscanned else ''}
</body></html>
"""


def _thumbnail(hit: Hit, size: int) -> tuple[str | None, str]:
    import io

    from PIL import Image, ImageDraw

    from safeguard.images import LoadError, decode_image, read_bytes

    try:
        data = read_bytes(Path(hit.path))
    except LoadError as e:
        return None, f"not readable now: {e}"
    note = ""
    if hit.sha256 and hashlib.sha256(data).hexdigest() != hit.sha256:
        note = "this file changed since it was indexed: run `safeguard index` again"
    try:
        rgb = decode_image(data).rgb
    except LoadError as e:
        return None, f"cannot be shown: {e}"
    im = Image.fromarray(rgb)
    scale = min(1.0, size / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(im)
    for f in hit.faces:
        x0, y0, x1, y1 = (round(v * scale) for v in f.box)
        for k in range(3):
            draw.rectangle([x0 - k, y0 - k, x1 + k, y1 + k], outline=(255, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode("ascii"), note

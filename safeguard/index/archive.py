"""Indexing an archive: walk, detect and encode new or changed photos, commit in batches."""


from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeguard.index.backends import _Backend, _backend, _Serial
from safeguard.index.common import BATCH_FILES, BATCH_SECONDS, GONE, MAX_SEGMENTS, IndexProblem
from safeguard.index.photo import FileResult, Task, _no_faces
from safeguard.index.snapshot import Snapshot
from safeguard.index.storage import PhotoIndex

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



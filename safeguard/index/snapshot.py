"""The whole index in memory (a Snapshot), merged from its segments in sequence order."""


from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from safeguard.index.photo import FileResult, _no_faces
from safeguard.index.segments import _Segment

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



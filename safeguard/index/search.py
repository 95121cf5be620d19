"""Exact search: photos where a face lies within a tolerance of any query encoding."""


from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from safeguard.index.common import DIM, SEARCH_BLOCK
from safeguard.index.snapshot import Snapshot

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



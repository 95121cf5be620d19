"""How fast is `safeguard find` over a large published-photo index?

Builds a synthetic index in the real on-disk format (AES-GCM sealed segment under a throwaway
home), with FACES random 128-float encodings spread over PHOTOS photos (3 faces a photo by
default, paths like a school's archive), then measures:

  write   sealing and writing the index as one segment (what a compaction does)
  load    reading, decrypting and unpacking it into arrays (PhotoIndex.load)
  query   one search for a pupil: the blocked matrix-vector products over every face plus
          picking the photos within tolerance (safeguard.index.search), for k = 1 and k = 5
          stored encodings of the pupil

Usage:  .venv/bin/python benchmarks/bench_index.py [--faces 1000000] [--per-photo 3]
Writes benchmarks/out/bench_index.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from safeguard.home import Home
from safeguard.index import DIM, FileResult, PhotoIndex, search


def synthetic(faces: int, per_photo: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    enc = (rng.standard_normal((faces, DIM), dtype=np.float32) * 0.09).astype(np.float32)
    photos = -(-faces // per_photo)
    results = []
    for i in range(photos):
        a, b = i * per_photo, min(faces, (i + 1) * per_photo)
        boxes = np.tile(np.asarray([100, 120, 220, 270], np.int32), (b - a, 1))
        year = 2015 + i % 10
        results.append(FileResult(
            f"/srv/archive/website/{year}/{i % 12 + 1:02d}/event-{i // 12:06d}/IMG_{i:07d}.jpg",
            2_500_000 + i, 1_700_000_000_000_000_000 + i, f"{i:064x}", boxes, enc[a:b]))
    return enc, results


def timed(fn, repeat: int) -> tuple[float, float]:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--per-photo", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    t = time.perf_counter()
    enc, results = synthetic(args.faces, args.per_photo)
    # plant a pupil: 4 photos where a face is within 0.3 of one of the pupil's 5 encodings
    rng = np.random.default_rng(1)
    pupil = (rng.standard_normal((5, DIM), dtype=np.float32) * 0.09).astype(np.float32)
    planted = [7, 123_456 % len(enc), len(enc) // 2, len(enc) - 1]
    for r, j in zip(planted, [0, 1, 2, 4]):
        noise = rng.standard_normal(DIM).astype(np.float32)
        enc[r] = pupil[j] + 0.25 * noise / np.linalg.norm(noise)
    make_s = time.perf_counter() - t

    out: dict = {"faces": args.faces, "photos": len(results), "cpus": os.cpu_count(),
                 "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}
    with tempfile.TemporaryDirectory() as tmp:
        index = PhotoIndex(Home(Path(tmp) / "home")).create()
        t = time.perf_counter()
        with index.lock():
            index.write_segment(1, results, [])
        out["write_s"] = round(time.perf_counter() - t, 3)
        out["index_bytes"] = sum(p.stat().st_size for p in index.folder.glob("seg-*.bin"))
        del results

        loads = []
        for _ in range(3):
            t = time.perf_counter()
            snap = PhotoIndex(index.home).load()
            loads.append(time.perf_counter() - t)
            if _ < 2:
                del snap
        out["load_s"] = {"min": round(min(loads), 3), "median": round(statistics.median(loads), 3)}
        assert snap.faces == args.faces

        for threads in (1, os.cpu_count() or 1):
            for k in (1, 5):
                q = pupil[:k]
                best, med = timed(lambda q=q, t=threads: search(snap, q, 0.6, threads=t),
                                  args.repeat)
                out[f"query_k{k}_threads{threads}_ms"] = {"min": round(best * 1000, 1),
                                                          "median": round(med * 1000, 1)}
                out[f"hits_k{k}"] = len(search(snap, q, 0.6))
        # a naive single matrix-vector product without blocking, for comparison
        q = pupil[0]
        best, med = timed(lambda: snap.sq_norms - 2.0 * (snap.encodings @ q), args.repeat)
        out["plain_matvec_ms"] = {"min": round(best * 1000, 1), "median": round(med * 1000, 1)}
    out["synthetic_s"] = round(make_s, 1)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    dst = Path(__file__).resolve().parent / "out" / "bench_index.json"
    dst.parent.mkdir(exist_ok=True)
    dst.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

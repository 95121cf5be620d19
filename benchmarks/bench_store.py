"""Consent store at trust scale: open + build the match matrix, and match one face.

Synthetic: 20,000 pupils x 5 encodings (random unit-ish 128-d vectors), each pupil with consent
records for the five default channels, a few on registers. Usage:

    .venv/bin/python benchmarks/bench_store.py [--pupils 20000] [--per-pupil 5] [--home DIR]

Seeding goes through the library in one batch transaction (as a CSV import would); the timed
part is a fresh `ConsentStore.open(home)` + `match_matrix("social")`, then the expanded distance
|m|^2 - 2 M q + |q|^2 for one query face.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from consent_db import ConsentStore
from safeguard.home import Home


def seed(home: Home, pupils: int, per_pupil: int) -> float:
    rng = np.random.default_rng(0)
    shared = rng.normal(size=128)
    shared *= 0.5 / np.linalg.norm(shared)
    store = ConsentStore.open(home, create=True)
    t0 = time.perf_counter()
    day = dt.date(2025, 1, 15)
    with store.batch():
        for i in range(pupils):
            pid = f"P{i:06d}"
            store.add_pupil(
                pid,
                f"Pupil {i}",
                academy=f"Academy {i % 7}",
                year=f"Y{i % 13 + 1}",
                consents={
                    "website": True,
                    "social": i % 3 != 0,
                    "newsletter": True,
                    "press": i % 2 == 0,
                    "prospectus": True,
                },
                registers=["cp"] if i % 97 == 0 else [],
                biometric_consent=True,
            )
            # Shaped like dlib encodings of real faces: a component all faces share, a per-person
            # offset (different people ~0.9 apart) and a per-photo offset (the same person's
            # photos ~0.3 apart, as measured on the shared test identities).
            person = rng.normal(size=128)
            person *= 0.62 / np.linalg.norm(person)
            noise = rng.normal(size=(per_pupil, 128))
            noise *= 0.22 / np.linalg.norm(noise, axis=1, keepdims=True)
            vecs = (shared + person + noise).astype(np.float32)
            store.enrol(pid, list(vecs), [day] * per_pupil)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pupils", type=int, default=20_000)
    ap.add_argument("--per-pupil", type=int, default=5)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    root = a.home or Path(tempfile.mkdtemp(prefix="bench_store_"))
    home = Home(root)
    if not (home.store_dir / "store.json").exists():
        s = seed(home, a.pupils, a.per_pupil)
        print(f"seeded {a.pupils} pupils x {a.per_pupil} encodings in {s:.1f} s (one batch)")
    size = (home.store_dir / "store.json").stat().st_size
    shards = sum(p.stat().st_size for p in (home.store_dir / "encodings").glob("*.bin"))
    print(f"store.json {size / 1e6:.1f} MB, encoding shards {shards / 1e6:.1f} MB")

    opens = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        m = ConsentStore.open(home).match_matrix("social")
        opens.append(time.perf_counter() - t0)
    print(
        f"open + match_matrix: {m.encodings.shape[0]} rows, {len(m.pupil_ids)} pupils: "
        f"median {statistics.median(opens):.3f} s (min {min(opens):.3f}, max {max(opens):.3f})"
    )

    # a new photo of a stored pupil: one of their encodings moved by a photo-sized offset
    jitter = np.random.default_rng(1).normal(size=128).astype(np.float32)
    q = m.encodings[12345 % len(m.encodings)] + jitter * np.float32(0.2 / np.linalg.norm(jitter))
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        d2 = m.sq_norms - 2.0 * (m.encodings @ q) + float(q @ q)
        best = int(np.argmin(d2))
        _pupil = m.pupil_ids[m.row_pupil[best]]
        times.append(time.perf_counter() - t0)
    print(
        f"match one face: median {statistics.median(times) * 1e3:.3f} ms "
        f"(p95 {sorted(times)[int(len(times) * 0.95)] * 1e3:.3f} ms)"
    )

    qs = m.encodings[:8] + np.float32(0.01)
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        d2 = m.sq_norms[None, :] - 2.0 * (qs @ m.encodings.T) + (qs * qs).sum(1)[:, None]
        _best = np.argmin(d2, axis=1)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(
        f"match 8 faces in one product: median {med * 1e3:.3f} ms ({med * 1e3 / 8:.3f} ms a face)"
    )

    # What the pipeline really does: safeguard.identify.distances_per_pupil with the policy's
    # cutoff (exact within it, a triangle-inequality bound per pupil beyond it).
    from safeguard.config import Config
    from safeguard.identify import distances_per_pupil
    from safeguard.policy import decision_cutoff

    # every face is matched at the narrower cutoff; the few left unknown near a consenting pupil
    # are matched again at the full one (pipeline.analyse)
    cutoff = decision_cutoff(Config(), distinct=False)
    t0 = time.perf_counter()
    distances_per_pupil(q[None, :], m, cutoff=cutoff)  # first call builds the per-pupil index
    build = time.perf_counter() - t0
    for label, queries in (("one face", q[None, :]), ("8 faces", qs)):
        times = []
        for _ in range(100):
            t0 = time.perf_counter()
            distances_per_pupil(queries, m, cutoff=cutoff)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(
            f"pipeline matcher, {label}: median {med * 1e3:.3f} ms ({med * 1e3 / len(queries):.3f}"
            f" ms a face; per-pupil index built once in {build:.3f} s)"
        )


if __name__ == "__main__":
    main()

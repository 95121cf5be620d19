"""The pipeline matches most faces within a narrow cutoff (far pupils get only a lower bound) and
decides again, with exact distances further out, a face left unknown near a consenting pupil: a
distinct match must not be lost because another pupil's bound looked close.

A real face from the samples (detected and encoded by the real models) against a store whose
pupils are placed around its encoding: one consenting pupil at 0.53, one whose two encodings lie
0.76 away but whose centroid bound is 0.63, and 200 far pupils.
"""

from __future__ import annotations

import numpy as np
import pytest

from consent_db.store import MatchMatrix
from safeguard.config import Config
from safeguard.detect import detect_faces
from safeguard.identify import distances_per_pupil, encode_faces
from safeguard.images import load_image
from safeguard.pipeline import Job, analyse
from safeguard.policy import decide_face, decision_cutoff
from tests.conftest import SAMPLES

pytestmark = pytest.mark.model


def _directions(n: int, seed: int) -> np.ndarray:
    """n orthonormal directions in the encodings' 128-d space."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(128, n)))
    return q.T.astype(np.float32)


def _matrix(face: np.ndarray) -> MatchMatrix:
    a, w, *far = _directions(2 + 200, seed=5)
    rows = [face + 0.53 * a]  # pupil 0: consenting, 0.53 away (beyond clear_tolerance 0.5)
    # pupil 1: centroid 0.75 away, radius 0.12: bound 0.63, both encodings ~0.76 away
    centre = face + 0.75 * w
    rows += [centre + 0.12 * far[0], centre - 0.12 * far[0]]
    owner = [0, 1, 1]
    for k, d in enumerate(far[1:], start=2):  # 199 more pupils, about 1.0 away
        rows.append(face + 1.0 * d)
        owner.append(k)
    enc = np.stack(rows).astype(np.float32)
    n = max(owner) + 1
    return MatchMatrix(
        encodings=enc,
        sq_norms=np.einsum("ij,ij->i", enc, enc),
        row_pupil=np.array(owner, np.int32),
        pupil_ids=[f"P{k:03d}" for k in range(n)],
        restricted=np.zeros(n, bool),
        on_register=np.zeros(n, bool),
        reasons=["consent"] * n,
        channel="social",
    )


def test_a_distinct_match_is_cleared_though_a_bound_looked_close():
    cfg = Config()
    rgb = load_image(SAMPLES / "photos" / "visit.jpg").rgb
    faces = detect_faces(rgb)
    assert faces
    biggest = max(faces, key=lambda f: f.box.width)
    assert biggest.box.width >= cfg.small_face
    face = encode_faces(rgb, [biggest])[0]
    m = _matrix(face)

    # exact distances: P000 at 0.53, every other pupil at least 0.2 further: a distinct match
    exact = distances_per_pupil(face[None], m)[0]
    assert abs(exact[0] - 0.53) < 1e-3 and np.delete(exact, 0).min() - exact[0] >= 0.2
    # with the narrow cutoff alone, P001's bound (0.63) hides that
    narrow = distances_per_pupil(face[None], m, cutoff=decision_cutoff(cfg, distinct=False))[0]
    args = (m.restricted, m.on_register, m.pupil_ids, m.reasons, cfg, "redact")
    assert decide_face(narrow, *args, face_width=biggest.box.width).label == "unknown"
    assert decide_face(exact, *args, face_width=biggest.box.width).label == "cleared"

    job = Job(config=cfg, channel="social", matrix=m)
    [out] = [o for o in analyse(rgb, job) if o.box == biggest.box]
    assert (out.label, out.action, out.decision.pupil) == ("cleared", "keep", "P000")

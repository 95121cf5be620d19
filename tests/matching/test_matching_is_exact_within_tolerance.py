"""The pruned matcher gives exactly the brute-force answer wherever a decision can depend on it."""

import numpy as np

from consent_db import MatchMatrix
from safeguard.identify import distances_per_pupil


def _matrix(enc, rows, n_pupils):
    return MatchMatrix(enc, np.einsum("ij,ij->i", enc, enc), rows.astype(np.int32),
                       [f"P{i}" for i in range(n_pupils)], np.zeros(n_pupils, bool),
                       np.zeros(n_pupils, bool), [""] * n_pupils)


def _brute(q, enc, rows, n_pupils):
    d = np.linalg.norm(enc[None, :, :] - q[:, None, :], axis=2)
    out = np.full((len(q), n_pupils), np.inf)
    for i in range(len(q)):
        np.minimum.at(out[i], rows, d[i])
    return out


def test_pruned_distances_equal_brute_force_within_the_cutoff(reference_encodings):
    rng = np.random.default_rng(3)
    n_pupils, per = 300, 4
    # pupils as tight clusters around real-looking encodings, rows shuffled as a store may give
    centres = rng.normal(0, 0.09, (n_pupils, 128)).astype(np.float32)
    centres[:2] = reference_encodings["ada"][0], reference_encodings["ben"][0]
    rows = np.repeat(np.arange(n_pupils), per)
    enc = (centres[rows] + rng.normal(0, 0.03, (len(rows), 128))).astype(np.float32)
    perm = rng.permutation(len(rows))
    enc, rows = enc[perm], rows[perm]
    q = np.concatenate([reference_encodings["ada"], reference_encodings["ben"],
                        centres[5:9] + 0.02, rng.normal(0, 0.09, (6, 128))]).astype(np.float32)
    m = _matrix(enc, rows, n_pupils)
    truth = _brute(q, enc, rows, n_pupils)
    from safeguard.config import Config
    from safeguard.policy import decision_cutoff

    for cutoff in (0.45, 0.6, 0.7, decision_cutoff(Config())):
        got = distances_per_pupil(q, m, cutoff=cutoff)
        near = truth <= cutoff
        assert near.any()
        np.testing.assert_allclose(got[near], truth[near], atol=1e-4)
        assert np.all(got[~near] > cutoff)  # far pupils stay beyond the cutoff
        assert np.all(got <= truth + 1e-4)  # a bound never exceeds the truth
    np.testing.assert_allclose(distances_per_pupil(q, m), truth, atol=1e-4)

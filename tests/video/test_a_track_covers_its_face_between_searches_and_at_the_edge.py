"""Where a track's face is taken to be in frames the detector did not search, and which of a
track's frames decide it: pure functions, on boxes and decisions."""

from __future__ import annotations

from safeguard.faces import Box
from safeguard.policy import FaceDecision
from safeguard.video.process import best_samples, decide_track
from safeguard.video.tracks import Track, coverage

W, H = 1920, 1080


def test_a_face_growing_between_two_searches_is_covered_whole():
    # a zoom: the face seen at frame 60 and 62 is larger in between than a straight line says
    t = Track(0, [(60, Box(158, 313, 495, 813), 0.9), (62, Box(120, 312, 467, 803), 0.9)])
    box = coverage(t, 100, 6, W, H)[61]
    true = Box(117, 268, 505, 827)
    assert box.intersection(true) >= 0.95 * true.area


def test_a_face_leaving_through_the_edge_is_held_for_a_second():
    inside = Track(0, [(10, Box(800, 400, 900, 520), 0.9), (20, Box(810, 400, 910, 520), 0.9)])
    leaving = Track(1, [(10, Box(40, 10, 200, 200), 0.9), (20, Box(30, 0, 190, 150), 0.9)])
    assert max(coverage(inside, 100, 6, W, H)) == 26
    assert max(coverage(leaving, 100, 6, W, H)) == 50
    assert min(coverage(leaving, 100, 6, W, H)) == 0  # and before it came in


def test_one_blurred_frame_does_not_decide_a_sharp_track():
    kept = FaceDecision("cleared", "keep", "P002", distance=0.2)
    near_other = FaceDecision("restricted", "redact", "P009", distance=0.59)
    samples = [(kept, 300.0), (kept, 280.0), (near_other, 40.0), (kept, 310.0)]
    assert decide_track(best_samples(samples), "redact").label == "cleared"


def test_a_sharp_frame_near_a_restricted_pupil_restricts_the_whole_track():
    kept = FaceDecision("cleared", "keep", "P002", distance=0.2)
    restricted = FaceDecision("restricted", "redact", "P001", distance=0.3)
    samples = [(kept, 300.0), (restricted, 290.0), (kept, 310.0)]
    assert decide_track(best_samples(samples), "redact").label == "restricted"
    held = FaceDecision("restricted", "hold", "P003", distance=0.3)
    assert decide_track(best_samples([*samples, (held, 200.0)]), "redact").action == "hold"


def test_a_track_split_between_two_pupils_is_not_cleared():
    a = FaceDecision("cleared", "keep", "P002", distance=0.2)
    b = FaceDecision("cleared", "keep", "P004", distance=0.2)
    assert decide_track(best_samples([(a, 300.0), (b, 300.0)]), "redact").action == "redact"


def test_a_face_cut_by_the_frame_edge_does_not_decide_a_track_seen_whole_later():
    import numpy as np

    from safeguard.video.process import quality

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    coming_in, whole = Box(1759, 261, 1913, 722), Box(900, 261, 1100, 722)
    assert quality(frame, coming_in) == 0.0 < quality(frame, whole)
    kept = FaceDecision("cleared", "keep", "V102", distance=0.08)
    other = FaceDecision("restricted", "redact", "V407", distance=0.597)
    samples = [(other, quality(frame, coming_in)), *[(kept, quality(frame, whole))] * 6]
    assert decide_track(best_samples(samples), "redact").label == "cleared"
    # a face only ever seen cut by the edge is decided on those frames: restricted
    assert decide_track(best_samples([(other, 0.0), (kept, 0.0)]), "redact").label == "restricted"

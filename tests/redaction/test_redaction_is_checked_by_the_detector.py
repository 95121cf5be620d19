"""After redaction the detector looks at every redacted face again; none may still read as a face.

`redact_checked` (used by the pipeline and the review app) redacts, looks again, and redacts
again (larger, then solid) any face that still reads as one (`redact.still_faces`). In a photo
of up to 1.5 MP the detector itself searches the redacted photo, so no face it would find again
is left; in a larger one each redacted face is scored as the detector scores it (crops at four
turns and windows of its pyramid levels) and must score below the detector's threshold. Real
photos: the bundled samples, a group of their 28 faces (30-60 px, on a plain sky-blue ground, where
plain blur leaves faces the detector finds again) made at test time, and, when the shared test data
is there, its group photos too.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support.synthetic import collage

from safeguard.detect import DEFAULT_CONFIG, detect_faces, face_likeness
from safeguard.images import load_image
from safeguard.redact import CHECK_DETECTOR_PIXELS, STYLES, on_face, redact, redact_checked
from tests.conftest import SAMPLES, SHARED_TESTDATA

pytestmark = pytest.mark.model

SKY = (190, 210, 235)
HAVE_SHARED = (SHARED_TESTDATA / "manifest.csv").exists()


def _sample_group() -> np.ndarray:
    """1400x1000: the samples' faces and their mirror images, 30-60 px wide, on a clear sky."""
    return collage(1400, 1000, widths=(30, 40, 50, 60), ground=SKY)[0]


def _photos():
    """Photos of up to CHECK_DETECTOR_PIXELS, with their faces."""
    paths = [*sorted((SAMPLES / "photos").glob("*.jpg")), _sample_group()]
    if HAVE_SHARED:
        groups = SHARED_TESTDATA / "groups"
        paths += sorted(groups.glob("*.jp*g"))[:3]
        # 002079: a blurred 48 px face that scores low in crops centred on it, but that the whole
        # detector finds again (a box at 0.25, off-centre); 007676: faces side by side, where a
        # larger second mask can make two ovals read as one face
        paths += [groups / n for n in ("dl__2008_002079.jpg", "dl__2008_007676.jpg")]
    for p in paths:
        rgb = p if isinstance(p, np.ndarray) else load_image(p).rgb
        faces = detect_faces(rgb)
        if faces and rgb.shape[0] * rgb.shape[1] <= CHECK_DETECTOR_PIXELS:
            yield p, rgb, [f.box for f in faces]


def _found_again(out, boxes) -> list:
    h, w = out.shape[:2]
    again = [g.box for g in detect_faces(out)]
    return [b for b in boxes if any(on_face(g, b, 1.5, w, h) for g in again)]


@pytest.mark.parametrize("style", STYLES)
def test_no_redacted_face_is_found_again_by_the_detector(style):
    checked = plain_found = 0
    for path, rgb, boxes in _photos():
        plain_found += len(_found_again(redact(rgb, boxes, style), boxes))
        out = redact_checked(rgb, boxes, style)
        assert _found_again(out, boxes) == [], (getattr(path, "name", "sample group"), style)
        assert (rgb != out).any(axis=2).sum() > 0
        checked += len(boxes)
    assert checked >= 25
    if style == "blur":  # the check has something to do: plain blur leaves faces to find
        assert plain_found >= 2


@pytest.mark.parametrize("style", STYLES)
def test_in_a_large_photo_no_redacted_face_scores_as_one(style):
    large = [
        load_image(SAMPLES / "photos" / "visit.jpg").rgb,
        cv2.resize(_sample_group(), None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC),
    ]
    if HAVE_SHARED:
        small = load_image(SHARED_TESTDATA / "groups" / "cd__00.jpg").rgb
        large.append(cv2.resize(small, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC))
    checked = 0
    for rgb in large:
        assert rgb.shape[0] * rgb.shape[1] > CHECK_DETECTOR_PIXELS
        boxes = [f.box for f in detect_faces(rgb)]
        before = face_likeness(rgb, boxes)
        assert (before >= DEFAULT_CONFIG.threshold).mean() > 0.8  # the measure sees faces
        out = redact_checked(rgb, boxes, style)
        after = face_likeness(out, boxes)
        assert after.max() < DEFAULT_CONFIG.threshold, (style, after.max())
        checked += len(boxes)
    assert checked >= 5


def test_a_kept_neighbour_is_not_held_against_a_redacted_face(shared_testdata):
    # a real crowd (groups/dface__city.jpg) with faces touching: skipped without the shared data
    """In a crowd a kept face's centre can lie inside its neighbour's mask; finding the kept
    face again must not make the check redact the neighbour again, larger, over it."""
    from safeguard.redact import still_faces

    rgb = load_image(shared_testdata / "groups" / "dface__city.jpg").rgb
    faces = {(f.box.x0, f.box.y0): f.box for f in detect_faces(rgb)}
    pairs = [(faces[a], faces[b]) for a, b in (((603, 154), (629, 155)), ((599, 128), (583, 108)))]
    for redacted, kept in pairs:
        out = redact(rgb, [redacted])
        assert still_faces(out, [redacted]) == [redacted]  # the kept face's own box counts
        assert still_faces(out, [redacted], keep=[kept]) == []
        checked = redact_checked(rgb, [redacted], keep=[kept])
        assert (checked == out).all()  # no second, larger pass over the kept face
    # In doubt it still counts: here the kept face, half under its neighbour's blur, is found
    # as a box between the two (overlap 0.43 with the kept face, 0.21 with the redacted one).
    redacted, kept = faces[(325, 128)], faces[(310, 147)]
    out = redact(rgb, [redacted])
    assert still_faces(out, [redacted], keep=[kept]) == [redacted]

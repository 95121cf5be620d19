"""After redaction the detector looks at every redacted face again; none may still read as a face.

`redact_checked` (used by the pipeline and the review app) redacts, scores a face-centred crop of
each redacted face at two sizes and four turns and a window of the detector's pyramid levels
around it, and redacts again (larger, then solid) any that still scores as a face. Real photos: the bundled samples and group photos of the shared test data.
"""

from __future__ import annotations

import pytest

from safeguard.detect import DEFAULT_CONFIG, detect_faces, face_likeness
from safeguard.images import load_image
from safeguard.redact import STYLES, redact_checked
from tests.conftest import SAMPLES


def _photos(shared_testdata):
    paths = sorted((SAMPLES / "photos").glob("*.jpg"))
    paths += sorted((shared_testdata / "groups").glob("*.jp*g"))[:3]
    for p in paths:
        rgb = load_image(p).rgb
        faces = detect_faces(rgb)
        if faces:
            yield p, rgb, [f.box for f in faces]


@pytest.mark.parametrize("style", STYLES)
def test_no_redacted_face_still_reads_as_a_face(shared_testdata, style):
    checked = 0
    for path, rgb, boxes in _photos(shared_testdata):
        before = face_likeness(rgb, boxes)
        assert (before >= DEFAULT_CONFIG.threshold).mean() > 0.8, path  # the measure sees faces
        out = redact_checked(rgb, boxes, style)
        after = face_likeness(out, boxes)
        assert after.max() < DEFAULT_CONFIG.threshold, (path, style, after.max())
        assert (rgb != out).any(axis=2).sum() > 0
        checked += len(boxes)
    assert checked >= 10

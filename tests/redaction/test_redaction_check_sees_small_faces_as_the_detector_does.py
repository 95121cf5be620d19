"""Small redacted faces at the edge of a large photo are checked as the detector's passes see them.

A blurred 40 px face is an oval of skin tone under a darker top: at the fine pass's scale, with the
photo's edge as its border, the detector can still score it as a face, while a crop centred on it
and resized does not. `redact_checked` therefore also scores a window of each pyramid level around
every small redacted face (detect._window_votes). Two photos, 4000x3000, with faces 36-48 px wide
along the top edge: "shared", real faces of the shared test data on a landscape (when it is there:
tests/support/data.py), and "samples", the bundled samples' faces and their mirror images on a plain sky-blue
ground, made at test time.

The samples' photo found a face the check used to miss: a blurred 45 px face near the top right
corner that the whole detector found again only in its turned pass (a box at 0.202, threshold
0.2, turned 90) while the check, scoring upright windows only, gave it 0.04. The check now scores
the turned passes' windows too. Since the blur is enlarged as 8-bit pixels (a level or two
different, 2026-12-05) the plain blur leaves none of the samples' faces found, not even at
threshold 0.1, so only the shared photo is a hard case for the plain blur; both are checked after
`redact_checked`.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SHARED_TESTDATA
from support.data import with_shared
from support.synthetic import sample_faces

from safeguard.detect import detect_faces
from safeguard.images import load_image
from safeguard.redact import STYLES, redact, redact_checked

pytestmark = pytest.mark.model


def _shared_faces():
    for path in sorted((SHARED_TESTDATA / "identities").glob("*/*.jp*g"))[:14]:
        rgb = load_image(path).rgb
        found = detect_faces(rgb)
        if len(found) == 1:
            yield rgb, found[0].box


@pytest.fixture(scope="module", params=with_shared(["samples"], ["shared"]))
def edge_photo(request):
    if request.param == "shared":
        land = load_image(SHARED_TESTDATA / "negatives" / "if__view.jpg").rgb
        canvas = cv2.resize(land, (4000, 3000), interpolation=cv2.INTER_CUBIC)
        faces = _shared_faces()
    else:
        canvas = np.empty((3000, 4000, 3), np.uint8)
        canvas[:] = (190, 210, 235)  # a clear sky
        faces = sample_faces(mirrored=True)
    x = 40
    for rgb, b in faces:
        half = max(b.width, b.height)
        cx, cy = (b.x0 + b.x1) // 2, (b.y0 + b.y1) // 2
        crop = rgb[max(0, cy - half) : cy + half, max(0, cx - half) : cx + half]
        for face_w in (36, 40, 48):
            s = face_w / b.width
            size = (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s)))
            tile = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            if x + tile.shape[1] > canvas.shape[1] - 10:
                break
            canvas[: tile.shape[0], x : x + tile.shape[1]] = tile
            x += tile.shape[1] + 30
    boxes = [f.box for f in detect_faces(canvas)]
    assert len(boxes) >= 25
    return request.param, canvas, boxes


def _still_found(out: np.ndarray, boxes) -> int:
    """Redacted faces on which the full detector still centres a box (benchmarks' criterion)."""
    h, w = out.shape[:2]
    again = [((g.box.x0 + g.box.x1) / 2, (g.box.y0 + g.box.y1) / 2) for g in detect_faces(out)]
    n = 0
    for b in boxes:
        r = b.scaled(1.5, w, h)
        n += any(r.x0 <= x <= r.x1 and r.y0 <= y <= r.y1 for x, y in again)
    return n


def test_plain_blur_leaves_small_edge_faces_the_detector_still_finds(edge_photo):
    # the case is a hard one: without the check the detector finds some blurred faces again
    kind, canvas, boxes = edge_photo
    if kind == "samples":
        pytest.skip("the plain blur leaves none of the samples' faces found (module docstring)")
    assert _still_found(redact(canvas, boxes, "blur", 1.5), boxes) >= 1


@pytest.mark.parametrize("style", STYLES)
def test_checked_redaction_leaves_no_small_edge_face_the_detector_finds(edge_photo, style):
    _kind, canvas, boxes = edge_photo
    out = redact_checked(canvas, boxes, style, 1.5)
    assert _still_found(out, boxes) == 0

"""Small redacted faces at the edge of a large photo are checked as the detector's passes see them.

A blurred 40 px face is an oval of skin tone under a darker top: at the fine pass's scale, with the
photo's edge as its border, the detector can still score it as a face, while a crop centred on it
and resized does not. `redact_checked` therefore also scores a window of each pyramid level around
every small redacted face (detect._window_votes). Real faces from the shared test data, 36-48 px
wide along the top edge of a 4000x3000 photo of a landscape.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from safeguard.detect import detect_faces
from safeguard.images import load_image
from safeguard.redact import STYLES, redact, redact_checked


@pytest.fixture(scope="module")
def edge_photo(shared_testdata):
    land = load_image(shared_testdata / "negatives" / "if__view.jpg").rgb
    canvas = cv2.resize(land, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    sources = sorted((shared_testdata / "identities").glob("*/*.jp*g"))[:14]
    x = 40
    for path in sources:
        rgb = load_image(path).rgb
        found = detect_faces(rgb)
        if len(found) != 1:
            continue
        b = found[0].box
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
    return canvas, boxes


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
    canvas, boxes = edge_photo
    assert _still_found(redact(canvas, boxes, "blur", 1.5), boxes) >= 1


@pytest.mark.parametrize("style", STYLES)
def test_checked_redaction_leaves_no_small_edge_face_the_detector_finds(edge_photo, style):
    canvas, boxes = edge_photo
    out = redact_checked(canvas, boxes, style, 1.5)
    assert _still_found(out, boxes) == 0

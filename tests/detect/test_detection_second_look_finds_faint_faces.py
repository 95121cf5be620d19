"""Faces that every pass scores below the threshold are still found when the fine pass leaves a
faint peak on them: a small face lying turned among upright people (no turned fine pass runs:
nothing turned was found), and a tiny face cut from a poor photo. The second look scores a
face-centred crop of each such peak at the four rotations, several times larger than the fine
pass sees it. An upright photo of people with no such face gains no box.

Two photos are made at test time: "samples", from the bundled samples' faces on a faceless room
(Ada's face turned, a greyscale copy of Ben's face at a third of its resolution as the poor one),
and "shared", from real photos of the shared test data (used in place, never copied into the
repo) when it is there (tests/support/data.py).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SHARED_TESTDATA
from support.data import with_shared
from support.synthetic import face_tile, faceless_scene, place, poor_copy, sample_faces, turned

from safeguard.detect import DetectorConfig, detect_faces
from safeguard.faces import Box
from safeguard.images import load_image

pytestmark = pytest.mark.model

SHARED = SHARED_TESTDATA  # honours SAFEGUARD_TESTDATA (conftest)
IDS = SHARED / "identities"
LANDSCAPE = SHARED / "negatives" / "if__view.jpg"  # no face
UPRIGHT = [  # big upright faces: the photo has faces, none of them turned
    "obama/fr__obama.jpg",
    "clapton/of__clapton-2.jpg",
    "lennon/of__lennon-2.jpg",
    "Tom_Cruise/dl__Tom_Cruise_avp_2014_4.jpg",
]
TURNED = "adams/of__adams.jpg"  # 48 px, turned 90 degrees counter-clockwise in the pixels
TINY = "Tom_Hanks/if__Tom_Hanks_54745.png"  # 112 px greyscale photo: a 40 px face, tight crop

HAVE_SHARED = all((IDS / p).exists() for p in [*UPRIGHT, TURNED, TINY]) and LANDSCAPE.exists()
KINDS = with_shared(["samples"], ["shared"], present=HAVE_SHARED)


def _tile(rel: str, face_width: int, context: float) -> tuple[np.ndarray, Box]:
    """The person's face with `context` times its size around it, scaled to `face_width`."""
    rgb = load_image(IDS / rel).rgb
    face = max(detect_faces(rgb), key=lambda f: f.box.area).box
    half = context * max(face.width, face.height) / 2
    cx, cy = (face.x0 + face.x1) / 2, (face.y0 + face.y1) / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(rgb.shape[1], int(cx + half)), min(rgb.shape[0], int(cy + half))
    s = face_width / face.width
    tile = cv2.resize(rgb[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    box = Box(
        round((face.x0 - x0) * s),
        round((face.y0 - y0) * s),
        round((face.x1 - x0) * s),
        round((face.y1 - y0) * s),
    )
    return tile, box


def _photo(kind: str) -> tuple[np.ndarray, list[Box], Box, Box]:
    """A 4000x3000 photo: four upright people, one small face turned 90, one tiny face."""
    if kind == "shared":
        canvas = cv2.resize(load_image(LANDSCAPE).rgb, (4000, 3000),
                            interpolation=cv2.INTER_CUBIC)
        tiles = [_tile(rel, 200, 2.0) for rel in UPRIGHT]
        small, tiny = _tile(TURNED, 48, 2.0), _tile(TINY, 40, 2.0)
    else:
        canvas = faceless_scene(4000, 3000)
        ada, ada2, ben, visit, left, right = sample_faces()
        tiles = [face_tile(*f, 200) for f in (ada2, visit, left, right)]
        small = face_tile(*ada, 48)
        tile, box = face_tile(*ben, 40)
        tiny = poor_copy(tile, 0.35), box  # grey, a third of the resolution: 14 px of detail

    def put(tile_box: tuple[np.ndarray, Box], x: int, y: int) -> Box:
        return place(canvas, *tile_box, x, y)

    upright = [put(t, 200 + 900 * n, 300) for n, t in enumerate(tiles)]
    return canvas, upright, put(turned(*small, 1), 900, 1900), put(tiny, 2900, 2100)


@pytest.fixture(scope="module", params=KINDS)
def photo(request):
    return _photo(request.param)


def test_a_lone_small_turned_face_and_a_tiny_poor_face_are_found(photo):
    canvas, upright, turned, tiny = photo
    faces = detect_faces(canvas)
    for truth in [*upright, turned, tiny]:
        assert any(f.box.iou(truth) > 0.3 for f in faces), (truth, faces)
    face = max(faces, key=lambda f: f.box.iou(turned))
    assert face.angle == 90, face
    # no box away from the people (a second, looser box on a small face's tile can score near
    # the threshold: harmless, it is redacted with the face)
    near = [t.scaled(3.0, canvas.shape[1], canvas.shape[0]) for t in [*upright, turned, tiny]]
    assert all(any(f.box.iou(n) > 0 for n in near) for f in faces), faces


def test_without_the_second_look_the_tiny_poor_face_is_missed(photo):
    """Why the second look exists: without it the passes lose the tiny greyscale face (in the
    shared photo its fine pass peak is about 0.06, under the 0.2 threshold). The small turned face is borderline
    without it (0.2-0.3 at 640 px turned passes) and is found by today's 1024 px turned passes."""
    canvas, upright, turned, tiny = photo
    faces = detect_faces(canvas, DetectorConfig(second_look_from=0))
    assert all(any(f.box.iou(t) > 0.3 for f in faces) for t in upright)
    assert any(f.box.iou(turned) > 0.3 for f in faces)
    assert not any(f.box.iou(tiny) > 0.3 for f in faces)

"""Small faces in a 12 MP photo turned in the pixels (a phone photo whose orientation tag was lost)
are all found, each with the angle that makes it upright; a faceless photo still gives none.

At the 640 px rotated passes a 64 px face of a 4000x3000 photo is 10 px: only the fine pass run
turned as well finds them all. The faces are real photos from the shared test data (used in
place, never copied into the repo); skipped, with the reason shown, when it is absent.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SHARED_TESTDATA

from safeguard.detect import detect_faces, profile_detect
from safeguard.faces import Box
from safeguard.images import load_image

SHARED = SHARED_TESTDATA  # honours SAFEGUARD_TESTDATA (conftest)
IDS = SHARED / "identities"
LANDSCAPE = SHARED / "negatives" / "if__view.jpg"  # no face
# Faces that a 640 px rotated pass missed at 40-80 px in the detection benchmark.
PEOPLE = [
    "biden/fr__biden.jpg",
    "obama/fr__obama.jpg",
    "kit_harington/fr__johnsnow_test1.jpg",
    "lennon/of__lennon-2.jpg",
    "human_stock_a/hu__stock-emotions-a-4.jpg",
    "Tom_Hanks/if__Tom_Hanks_54745.png",
    "inspireface_RD/if__RD_d4.jpeg",
    "Tom_Cruise/dl__Tom_Cruise_avp_2014_4.jpg",
    "clapton/of__clapton-2.jpg",
    "Mary_Katherine_Smart/if__Mary_Katherine_Smart_0001_5k.jpg",
]

pytestmark = pytest.mark.skipif(
    not all((IDS / p).exists() for p in PEOPLE) or not LANDSCAPE.exists(),
    reason=f"shared test data not found at {SHARED}",
)


def _group_photo(face_width: int = 64) -> tuple[np.ndarray, list[Box]]:
    """An upright 4000x3000 photo: the people, faces `face_width` px wide, on a landscape."""
    canvas = cv2.resize(load_image(LANDSCAPE).rgb, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    truth = []
    for n, rel in enumerate(PEOPLE):
        rgb = load_image(IDS / rel).rgb
        face = max(detect_faces(rgb), key=lambda f: f.box.area).box
        s = face_width / face.width
        # the head and shoulders around the face, scaled
        crop = rgb[
            max(0, face.y0 - face.height) : face.y1 + face.height,
            max(0, face.x0 - face.width) : face.x1 + face.width,
        ]
        ox, oy = max(0, face.x0 - face.width), max(0, face.y0 - face.height)
        tile = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        x, y = 300 + (n % 5) * 700, 500 + (n // 5) * 1100
        th, tw = tile.shape[:2]
        canvas[y : y + th, x : x + tw] = tile
        truth.append(
            Box(
                round(x + (face.x0 - ox) * s),
                round(y + (face.y0 - oy) * s),
                round(x + (face.x1 - ox) * s),
                round(y + (face.y1 - oy) * s),
            )
        )
    return canvas, truth


@pytest.fixture(scope="module")
def group_photo() -> tuple[np.ndarray, list[Box]]:
    return _group_photo()


def test_64_px_faces_of_a_12_megapixel_photo_turned_90_are_all_found_upright(group_photo):
    upright, truth = group_photo
    turned = np.ascontiguousarray(np.rot90(upright))  # counter-clockwise: the tag said "turn 90"
    w = upright.shape[1]
    turned_truth = [Box(b.y0, w - b.x1, b.y1, w - b.x0) for b in truth]
    faces = detect_faces(turned)
    missed = [b for b in turned_truth if not any(f.box.iou(b) > 0.3 for f in faces)]
    assert not missed, f"missed {len(missed)} of {len(truth)}: {missed}"
    for b in turned_truth:
        face = max(faces, key=lambda f: f.box.iou(b))
        assert face.angle == 90, (b, face)
        # landmarks in image pixels, inside the face: eyes to the left of the mouth when the
        # face's top points left
        assert all(
            b.x0 - 8 <= x <= b.x1 + 8 and b.y0 - 8 <= y <= b.y1 + 8 for x, y in face.landmarks
        )
        assert max(face.landmarks[0][0], face.landmarks[1][0]) < min(
            face.landmarks[3][0], face.landmarks[4][0]
        )


def test_the_same_photo_upright_pays_for_no_turned_fine_pass(group_photo):
    upright, truth = group_photo
    faces, timings = profile_detect(upright)
    assert all(any(f.box.iou(b) > 0.3 and f.angle == 0 for f in faces) for b in truth)
    assert not [name for name, *_ in timings if name.startswith("fine rot")]


def test_a_faceless_12_megapixel_photo_still_gives_no_faces():
    land = cv2.resize(load_image(LANDSCAPE).rgb, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    faces, timings = profile_detect(land)
    assert faces == []
    # the turned fine passes did run: nothing was found, so nothing was hidden by a lost tag
    assert {name.split()[1] for name, *_ in timings if name.startswith("fine rot")} == {
        "rot90",
        "rot180",
        "rot270",
    }

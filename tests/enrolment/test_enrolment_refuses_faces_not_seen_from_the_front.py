"""A reference photo must show the pupil's face from the front. A profile or a head seen from
behind encodes poorly and lies near many strangers' faces: as a pupil's reference it would clear
them as that pupil.

A profile and a head from behind need real photos of them: those tests use the shared test data
and skip without it. The bundled portraits, turned every way at test time, check everywhere that
a face from the front is never refused (with real turned and rolled heads when the shared data is
there: tests/support/data.py).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SAMPLES
from support.data import with_shared
from support.store_fixtures import TESTDATA

from safeguard.detect import detect_faces
from safeguard.enrolment import check_photos, facing, reference_problem
from safeguard.images import load_image

pytestmark = pytest.mark.model

NONE_HELD = np.zeros((0, 128), np.float32)


@pytest.fixture
def testdata():
    if not (TESTDATA / "manifest.csv").exists():
        pytest.skip(f"shared test data not found at {TESTDATA}: a real profile and a real head "
                    "seen from behind (no public-domain photo of either is bundled)")
    return TESTDATA


TURNS = ["upright", "rot90", "rot180", "rot270"]  # np.rot90's k: the list's index


@pytest.mark.parametrize("case", with_shared(TURNS, ["real turned and rolled heads"]))
def test_faces_from_the_front_pass_whichever_way_up_the_photo_is(tmp_path, case):
    """The bundled portraits turned every way; and the shared data's real photos turned 180
    degrees and of a rolled head, when it is there."""
    if case.startswith("real"):
        singles = TESTDATA / "singles"
        for name in ("if__r180.jpg", "if__left_wryneck.png"):
            [face] = detect_faces(load_image(singles / name).rgb)
            span, offset = facing(face)
            assert span >= 0.25 and offset < 0.5, name
        obama = TESTDATA / "identities" / "obama"
        checks = check_photos([obama / "fr__obama.jpg", obama / "fr__obama1.jpg"], NONE_HELD)
        assert [c.reason for c in checks] == ["ok", "ok"]
        return
    k = TURNS.index(case)
    paths = []
    for name in ("ada-1.jpg", "ben-1.jpg"):
        rgb = np.ascontiguousarray(np.rot90(load_image(SAMPLES / "references" / name).rgb, k))
        [face] = detect_faces(rgb)
        span, offset = facing(face)
        assert span >= 0.25 and offset < 0.5, (name, span, offset)
        paths.append(tmp_path / name)
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert [c.reason for c in check_photos(paths, NONE_HELD)] == ["ok", "ok"]


def test_a_profile_photo_is_refused_with_the_reason(testdata):
    [check] = check_photos([testdata / "singles" / "if__left_face.jpeg"], NONE_HELD)
    assert not check.ok
    assert "not seen from the front" in check.reason
    assert check.encoding is None


def test_a_head_seen_from_behind_is_not_a_reference_but_its_neighbour_is(testdata):
    rgb = load_image(testdata / "groups" / "cd__03.jpg").rgb
    faces = detect_faces(rgb)
    width = rgb.shape[1]
    behind = [f for f in faces if f.box.x0 > width / 2]  # cheek and ear, right of centre
    front = [f for f in faces if f.box.x1 < width * 0.6]
    assert behind and front
    for f in behind:
        assert "not seen from the front" in reference_problem(rgb, f)
    # the face beside it, looking at the camera, passes every check
    assert [reference_problem(rgb, f) for f in front] == [None]

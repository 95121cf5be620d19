"""A portrait is not refused for a far smaller face in the background, nor for a weak second box
the detector laid on the pupil's own face; a second person beside the pupil still refuses it, and
the data manager is told what was ignored."""

from dataclasses import replace

import numpy as np
from conftest import SAMPLES

from safeguard.detect import detect_faces
from safeguard.enrolment import DOMINANT_RATIO, check_photos, main_face
from safeguard.faces import Box
from safeguard.images import load_image

NONE_HELD = np.zeros((0, 128), np.float32)


def test_a_portrait_with_a_far_smaller_face_behind_is_enrolled_and_says_so(shared_testdata):
    photo = shared_testdata / "identities" / "Tom_Cruise" / "dl__Tom_Cruise_avp_2014_4.jpg"
    faces = sorted(detect_faces(load_image(photo).rgb), key=lambda f: -f.box.width)
    assert len(faces) == 2 and faces[1].box.width <= DOMINANT_RATIO * faces[0].box.width
    [check] = check_photos([photo], NONE_HELD)
    assert check.ok, check.reason
    assert check.face_width == faces[0].box.width
    assert check.note == "1 much smaller face in the background ignored"


def test_two_people_of_similar_size_are_still_refused(shared_testdata):
    for name in ("if__7242.jpg", "if__1996.jpg"):
        [check] = check_photos([shared_testdata / "singles" / name], NONE_HELD)
        assert not check.ok and "2 faces found" in check.reason, name


def test_a_weak_second_box_on_the_face_is_not_a_second_face():
    rgb = load_image(SAMPLES / "references" / "ben-1.jpg").rgb
    [face] = detect_faces(rgb)
    b = face.box
    # what the detector sometimes adds: a weak box over the hair and one eye of the same face
    weak = replace(face, box=Box(b.x0 + b.width // 4, b.y0 - b.height // 5,
                                 b.x1 + b.width // 4, b.y1 - b.height // 5), score=0.3)
    main, ignored, problem = main_face([face, weak])
    assert (main, ignored, problem) == (face, 0, None)
    # the same box scored as a sure face is another face, and refuses the photo
    sure = replace(weak, score=0.9)
    assert main_face([face, sure])[2] is not None

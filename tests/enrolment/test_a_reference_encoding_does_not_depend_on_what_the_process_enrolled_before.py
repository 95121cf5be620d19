"""A reference photo's encoding is a function of the photo alone. Enrolment averages jittered
copies of the face; dlib's jitter_image draws them from one generator that lives as long as the
process, so the same photo encoded ~0.06 apart after other enrolments in the same process (a
long-running service, or a test run): past the distance that tells a re-sent photo is already
held, so a new year's export stored last year's photo twice."""

import numpy as np
import pytest
from conftest import SAMPLES

from safeguard.detect import detect_faces
from safeguard.enrolment import ENROL_JITTERS
from safeguard.identify import encode_faces, face_chip, jitter
from safeguard.images import load_image

pytestmark = pytest.mark.model


def _encode(name):
    img = load_image(SAMPLES / "references" / name)
    return img.rgb, detect_faces(img.rgb)[:1]


def test_the_same_photo_encodes_the_same_after_other_photos_were_encoded():
    rgb, faces = _encode("ada-1.jpg")
    first = encode_faces(rgb, faces, jitters=ENROL_JITTERS)
    other_rgb, other_faces = _encode("ben-1.jpg")
    for _ in range(3):
        encode_faces(other_rgb, other_faces, jitters=ENROL_JITTERS)
    assert np.array_equal(encode_faces(rgb, faces, jitters=ENROL_JITTERS), first)


def test_jittered_copies_are_small_changes_of_the_chip_and_half_are_mirrored():
    rgb, faces = _encode("ada-1.jpg")
    chip = face_chip(rgb, faces[0])
    copies = jitter(chip, 20)
    assert all(c.shape == chip.shape and c.dtype == chip.dtype for c in copies)
    assert all(np.array_equal(a, b) for a, b in zip(copies, jitter(chip, 20)))
    # mirrored copies look more like the mirrored chip than like the chip itself
    mirrored = [np.abs(c.astype(int) - chip[:, ::-1]).mean() < np.abs(c.astype(int) - chip).mean()
                for c in copies]
    assert 0 < sum(mirrored) < len(copies)

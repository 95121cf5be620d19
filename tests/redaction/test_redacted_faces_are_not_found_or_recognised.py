"""Every redaction style destroys the face: the detector no longer finds it, and its encoding,
taken again at the original place, no longer matches the pupil (benchmarks/bench_redaction.py
measures the same on many more faces)."""

import numpy as np
import pytest
from conftest import REPO, SAMPLES, SHARED_TESTDATA
from support.data import with_shared

from safeguard.config import Config
from safeguard.detect import detect_faces
from safeguard.identify import encode_faces
from safeguard.images import load_image
from safeguard.redact import STYLES, redact

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def originals():
    out = []
    for name in ("assembly.jpg", "visit.jpg"):
        rgb = load_image(SAMPLES / "photos" / name).rgb
        out.append((rgb, detect_faces(rgb)))
    return out


@pytest.mark.parametrize("style", STYLES)
def test_redacted_face_is_neither_found_nor_matched(style, originals, reference_encodings):
    cfg = Config()
    refs = np.stack(reference_encodings["ada"] + reference_encodings["ben"])
    for rgb, faces in originals:
        assert faces
        red = redact(rgb, [f.box for f in faces], style, cfg.mask_scale)
        again = detect_faces(red)
        for f in faces:
            assert not [g for g in again if g.box.iou(f.box) >= 0.2], (style, f.box)
        for enc in encode_faces(red, faces):  # the original boxes and landmarks
            assert np.min(np.linalg.norm(refs - enc, axis=1)) > cfg.restrict_tolerance, style


# Faces the first parameters failed on (benchmarks/bench_redaction.py): a 6-cell blur left these
# detectable, a mosaic of sixths left the second within matching distance of its own reference.
HARD = [
    ("blur", "identities/lennon/of__lennon-2.jpg", "identities/lennon/of__lennon-1.jpg"),
    (
        "blur",
        "identities/inspireface_RD/if__RD_d5.jpeg",
        "identities/inspireface_RD/if__RD_d1.jpeg",
    ),
    ("pixelate", "identities/clapton/of__clapton-2.jpg", "identities/clapton/of__clapton-1.jpg"),
]
# The same check on a close-up portrait of the samples against the person's other photo.
PORTRAITS = [(style, "samples/references/ada-2.jpg", "samples/references/ada-1.jpg")
             for style in STYLES]


@pytest.mark.parametrize(("style", "probe", "reference"), with_shared(PORTRAITS, HARD))
def test_a_portrait_redacted_is_neither_found_nor_matched(style, probe, reference):
    """One face filling the photo, redacted, against the person's other photo: the samples'
    portrait in every style, and the shared data's faces the first parameters failed on."""
    def path(rel: str):
        return REPO / rel if rel.startswith("samples/") else SHARED_TESTDATA / rel

    cfg = Config()
    ref_rgb = load_image(path(reference)).rgb
    ref = encode_faces(ref_rgb, [max(detect_faces(ref_rgb), key=lambda f: f.box.area)])[0]
    rgb = load_image(path(probe)).rgb
    face = max(detect_faces(rgb), key=lambda f: f.box.area)
    red = redact(rgb, [face.box], style, cfg.mask_scale)
    assert not [g for g in detect_faces(red) if g.box.iou(face.box) >= 0.2]
    assert np.linalg.norm(encode_faces(red, [face])[0] - ref) > cfg.restrict_tolerance

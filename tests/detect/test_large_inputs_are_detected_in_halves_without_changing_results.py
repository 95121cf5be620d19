"""In a worker of a parallel pool the detector runs inputs above HALVES_ABOVE pixels (its fine pass)
as two overlapping halves, to bound the network's working memory (about 340 MB whole at
1600x1200). That must not change what it finds: the stitched output maps, and so the faces, are
those of the whole image.

The image is a collage made at test time from the bundled samples (support.synthetic.collage):
28 faces 50-110 px wide in a 7 x 4 grid on a faceless room, 1986x1545 as the shared data's
groups/dl__bald_guys.jpg that this test used before (the fine pass sees 1600x1245), with the middle
column of faces lying across the line where the halves are cut, whichever way the image is turned.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.synthetic import collage as make_collage

from safeguard import detect
from safeguard.detect import _maps, _resize_long, detect_faces

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def collage():
    return make_collage(1986, 1545)[0]


def _halves(monkeypatch):
    monkeypatch.setattr(detect.passes, "_halves", False)
    detect.in_halves()  # as a pool worker does; monkeypatch restores the lone-process default


def _whole():
    detect.in_halves(False)


@pytest.mark.parametrize("turn", [0, 1], ids=["landscape", "portrait"])
def test_halves_give_the_whole_image_maps(collage, monkeypatch, turn):
    img, _ = _resize_long(np.ascontiguousarray(np.rot90(collage, turn)), 1600)
    assert img.shape[0] * img.shape[1] > detect.HALVES_ABOVE
    _halves(monkeypatch)
    halves = _maps(img, 1)
    _whole()
    whole = _maps(img, 1)
    heat_h, heat_w = halves[0][0], whole[0][0]
    assert heat_h.shape == heat_w.shape
    assert np.abs(heat_h - heat_w).max() < 1e-3
    faces = heat_w > 0.35  # box sizes, offsets and landmarks where faces are
    for h, w in zip(halves[1:], whole[1:], strict=True):
        assert h.shape == w.shape
        assert np.abs(h[:, faces] - w[:, faces]).max() < 1e-2


def test_faces_found_are_the_same_whole_or_in_halves(collage, monkeypatch):
    _halves(monkeypatch)
    halves = detect_faces(collage)
    _whole()
    whole = detect_faces(collage)
    assert len(halves) == len(whole) >= 24
    for a, b in zip(halves, whole, strict=True):
        assert a.box == b.box and abs(a.score - b.score) < 1e-3

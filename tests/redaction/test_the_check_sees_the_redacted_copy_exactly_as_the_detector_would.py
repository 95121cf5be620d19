"""The check after redaction looks at the detector's images of the redacted copy (the fine,
coarse and turned levels). They are remade from the photo's own only where the redaction
reached (detect.Pyramid.redacted), and must be the same to the bit as the levels made from the
whole redacted copy, at every size a photo comes in: sizes whose grids meet often (4000 x 3000),
rarely (4032 x 3024) or never (3999 x 2999), upright and portrait, large enough to shrink and
small enough to be enlarged, and redacted twice, as a face that still reads as one is."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import SAMPLES

from safeguard.detect import DEFAULT_CONFIG, pyramid
from safeguard.faces import Box
from safeguard.images import load_image
from safeguard.redact import CHECK_GROWTH, reach, redact

pytestmark = pytest.mark.model


def _photo(w: int, h: int) -> np.ndarray:
    rgb = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC)


def _faces(w: int, h: int, n: int, seed: int) -> list[Box]:
    """Face boxes from 12 px to a fifth of the photo, some across its edges."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        side = int(rng.integers(12, max(13, min(w, h) // 5)))
        x, y = int(rng.integers(-side // 2, w - side // 2)), int(rng.integers(-side // 2, h - side // 2))
        out.append(Box(x, y, x + side, y + int(side * 1.2)).clip(w, h))
    return [b for b in out if b.width > 1 and b.height > 1]


def _rects(boxes: list[Box], scale: float, w: int, h: int):
    return [tuple(reach(b, scale, w, h).as_list()) for b in boxes]


def _same(a, b) -> None:
    assert (a.fine is None) == (b.fine is None)
    if a.fine is not None:
        assert a.fine[1] == b.fine[1] and np.array_equal(a.fine[0], b.fine[0])
    assert a.levels.keys() == b.levels.keys()
    for size in a.levels:
        assert a.levels[size][1] == b.levels[size][1]
        assert np.array_equal(a.levels[size][0], b.levels[size][0]), size


@pytest.mark.parametrize("size", [(4000, 3000), (4032, 3024), (3999, 2999), (3024, 4032),
                                  (2000, 1125), (1600, 1200), (1200, 900)])
def test_levels_remade_around_the_redacted_faces_are_those_of_the_whole_copy(size):
    w, h = size
    rgb = _photo(w, h)
    levels = pyramid(rgb, DEFAULT_CONFIG)
    boxes = _faces(w, h, 24, seed=w + h)
    out = redact(rgb, boxes, "blur", 1.5)
    remade = levels.redacted(out, _rects(boxes, 1.5, w, h))
    _same(remade, pyramid(out, DEFAULT_CONFIG))
    # a second, larger redaction of a few faces, remade from the first copy's levels
    again = boxes[::5]
    out2 = redact(out, again, "blur", 1.5 * CHECK_GROWTH)
    _same(remade.redacted(out2, _rects(again, 1.5 * CHECK_GROWTH, w, h)),
          pyramid(out2, DEFAULT_CONFIG))


def test_a_photo_redacted_nowhere_keeps_its_levels_and_a_copy_of_another_size_is_refused():
    rgb = _photo(4000, 3000)
    levels = pyramid(rgb, DEFAULT_CONFIG)
    same = levels.redacted(rgb.copy(), [])
    _same(same, levels)
    with pytest.raises(ValueError, match="size"):
        levels.redacted(_photo(3000, 4000), [])


def test_levels_after_one_that_is_the_photo_itself_are_remade_from_the_same_source():
    # a fine pass smaller than a turned pass: the 1024 px level is the photo itself, and the
    # 640 px level is made from the 800 px fine level, not from the photo
    cfg = replace(DEFAULT_CONFIG, fine_size=800)
    rgb = _photo(1000, 750)
    levels = pyramid(rgb, cfg)
    assert levels.levels[1024][0] is rgb
    boxes = _faces(1000, 750, 12, seed=7)
    out = redact(rgb, boxes, "blur", 1.5)
    _same(levels.redacted(out, _rects(boxes, 1.5, 1000, 750)), pyramid(out, cfg))

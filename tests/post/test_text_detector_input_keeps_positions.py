"""The photo is scaled for the text detector in two cheap steps (safeguard.text._scaled: an
average over k x k blocks, then bicubic). Whatever its size, a point of the scaled image must map
back to the same place in the photo, or a covered name would be covered beside itself."""

import numpy as np
import pytest

from safeguard import text

pytestmark = pytest.mark.model


@pytest.mark.parametrize("size", [(4000, 3000), (4031, 3023), (3000, 4000), (1900, 1400),
                                  (1000, 700)])
def test_a_mark_is_found_where_it_is_after_scaling(size):
    w, h = size
    photo = np.zeros((h, w, 3), np.uint8)
    x0, y0, side = int(w * 0.61), int(h * 0.27), max(40, w // 40)
    photo[y0 : y0 + side, x0 : x0 + side] = 255
    scale = min(1.0, text.DET_SIDE / max(h, w))
    if min(h, w) * scale < text.MIN_SIDE:
        scale = text.MIN_SIDE / min(h, w)
    target = (round(w * scale), round(h * scale))
    small, (sx, sy) = text._scaled(photo, target)
    assert small.shape[1::-1] == target
    ys, xs = np.nonzero(small[:, :, 0] > 127)
    # the mark's edges, taken back to the photo, within a pixel of the scaled image
    assert abs(xs.min() * sx - x0) <= sx + 1 and abs((xs.max() + 1) * sx - (x0 + side)) <= sx + 1
    assert abs(ys.min() * sy - y0) <= sy + 1 and abs((ys.max() + 1) * sy - (y0 + side)) <= sy + 1

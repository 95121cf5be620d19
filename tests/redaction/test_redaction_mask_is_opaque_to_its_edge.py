"""The redaction mask is fully opaque over the whole ellipse (the box grown by mask_scale): its
soft edge lies outside it, never over the face. Feathering inside the ellipse left a half-covered
rim that the detector read as a head's outline (benchmarks/bench_redaction.py)."""

import numpy as np
import pytest

from safeguard.faces import Box
from safeguard.redact import FEATHER, STYLES, redact

pytestmark = pytest.mark.model

SCALE = 1.5


def _radius(box: Box, shape) -> np.ndarray:
    """Each pixel's distance from the box's centre in units of the mask ellipse's radii."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    ax, ay = box.width * SCALE / 2, box.height * SCALE / 2
    return np.sqrt(((xx + 0.5 - cx) / ax) ** 2 + ((yy + 0.5 - cy) / ay) ** 2)


@pytest.mark.parametrize(
    "box", [Box(150, 120, 250, 250), Box(0, 40, 70, 140)], ids=["inside", "at the edge"]
)
def test_solid_covers_the_whole_ellipse_and_feathers_outside_it(box):
    rgb = np.random.default_rng(0).integers(60, 256, (400, 400, 3), dtype=np.uint8)
    out = redact(rgb, [box], "solid", SCALE)
    r = _radius(box, rgb.shape)
    assert (out[r <= 1.0] == 16).all()  # every pixel of the ellipse is the fill
    assert (out[box.y0 : box.y1, box.x0 : box.x1] == 16).all()  # and the box, corners included
    rim = (r > 1.02) & (r < 1.0 + FEATHER - 0.02)
    assert rim.any() and (out[rim] != rgb[rim]).any()  # the soft edge is outside the mask
    beyond = r >= 1.0 + FEATHER + 0.02
    assert (out[beyond] == rgb[beyond]).all()  # and ends within FEATHER of it


@pytest.mark.parametrize("style", STYLES)
def test_nothing_beyond_the_feather_changes(style):
    rgb = np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    box = Box(100, 90, 180, 190)
    out = redact(rgb, [box], style, SCALE)
    beyond = _radius(box, rgb.shape) >= 1.0 + FEATHER + 0.02
    assert (out[beyond] == rgb[beyond]).all()
    assert (out[box.y0 : box.y1, box.x0 : box.x1] != rgb[box.y0 : box.y1, box.x0 : box.x1]).any()

"""Redaction: cover each face completely and destroy what identifies it.

The mask is an ellipse over the detected box grown by `mask_scale` (hair, ears, chin), with a
short feathered edge so the patch does not look like a sticker. Inside it:

- blur: the region is shrunk to 3 px across the face, smoothed while small, and enlarged back
  bicubically: no facial structure survives and no block edges show. A plain Gaussian blur of
  modest radius leaves faces that detectors and encoders still find, so this is deliberately
  strong (6 px across, as first built, left 29 of 96 faces detectable: benchmarks/REPORT.md).
- pixelate: blocks of a third of the face width, nearest-neighbour (a mosaic). Sixths left 2 of
  96 faces within the matching tolerance of their own pupil.
- solid: a flat fill of the region's mean colour (or black).

benchmarks/ re-runs detection and encoding on every redacted face to check that none is found
again and none still matches its pupil.
"""

from __future__ import annotations

import cv2
import numpy as np

from safeguard.faces import Box

STYLES = ("blur", "pixelate", "solid")
BLUR_CELLS = 3.0  # pixels across the face the blur keeps (benchmarks/bench_redaction.py)
PIXELATE_BLOCKS = 3.0  # mosaic blocks across the face


def mask_region(box: Box, scale: float, width: int, height: int) -> Box:
    return box.scaled(scale, width, height)


def redact(rgb: np.ndarray, boxes: list[Box], style: str = "blur", mask_scale: float = 1.5) -> np.ndarray:
    """A copy of `rgb` with every box redacted in `style`. The input is not modified."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}")
    out = rgb.copy()
    h, w = out.shape[:2]
    for box in boxes:
        region = mask_region(box, mask_scale, w, h)
        if region.width < 2 or region.height < 2:
            # tiny box at an edge: fill it outright
            out[region.y0 : region.y1, region.x0 : region.x1] = 0
            continue
        patch = out[region.y0 : region.y1, region.x0 : region.x1]
        covered = _cover(patch, style, box)
        alpha = _ellipse_mask(region.width, region.height)
        # Fully opaque over the whole detected box, corners included: feathering only outside it.
        inner = box.clip(w, h)
        alpha[inner.y0 - region.y0 : inner.y1 - region.y0, inner.x0 - region.x0 : inner.x1 - region.x0] = 1.0
        patch[:] = (covered * alpha + patch * (1.0 - alpha)).astype(np.uint8)
    return out


def _cover(patch: np.ndarray, style: str, face: Box) -> np.ndarray:
    ph, pw = patch.shape[:2]
    if style == "solid":
        return np.broadcast_to(np.array([16, 16, 16], dtype=np.float32), patch.shape).copy()
    face_w = max(face.width, face.height, 6)
    if style == "pixelate":
        block = max(2, round(face_w / PIXELATE_BLOCKS))
        small = cv2.resize(patch, (max(1, pw // block), max(1, ph // block)),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (pw, ph), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    # blur: everything happens on the few-pixel image, so it costs next to nothing at any size
    sw = max(1, round(pw * BLUR_CELLS / face_w))
    sh = max(1, round(ph * BLUR_CELLS / face_w))
    small = cv2.resize(patch, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=0.7, sigmaY=0.7, borderType=cv2.BORDER_REPLICATE)
    return np.clip(cv2.resize(small, (pw, ph), interpolation=cv2.INTER_CUBIC), 0, 255)


def _ellipse_mask(w: int, h: int) -> np.ndarray:
    """H x W x 1 float mask: 1 inside the ellipse inscribed in the region, feathered at the rim."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nx = (xx + 0.5 - w / 2) / (w / 2)
    ny = (yy + 0.5 - h / 2) / (h / 2)
    r = np.sqrt(nx * nx + ny * ny)
    alpha = np.clip((1.0 - r) / 0.08, 0.0, 1.0)
    return alpha[..., None]

"""The images the detector's passes look at (the fine level and the coarse and turned ones), and
the same images of a redacted copy, remade only where the redaction changed the photo.

The check after redaction (safeguard.redact) scores windows of these levels, made from the
redacted photo. Made whole, they cost 0.054 CPU-s a 12 MP photo, and the check makes them once
or twice a photo; most of that is the area resize of 12 MP to 1600 px. Only the redacted faces
change, so `Pyramid.redacted` takes the levels of the photo before and resizes again just the
blocks of each level that those faces reach: 0.016 CPU-s for the 24 faces of the speed
benchmark's photos. An area resize of a block of whole periods (the smallest run of pixels in
which the two sizes' grids meet again: 2 pixels of the level for 4000 -> 1600, 50 for
4032 -> 1600) weighs its pixels exactly as the whole resize does, so every level is the same to
the bit as one made from the whole redacted photo (tests/redaction); where the periods are as
long as the level (a photo 3999 px wide), or the blocks would cover most of it, the level is
made whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from safeguard.detect.common import DetectorConfig

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (pixels of an image, end exclusive)
Level = tuple[np.ndarray, float]  # (image, scale: its px per photo px)
WHOLE_ABOVE = 0.6  # a level whose blocks to remake would cover more than this share is remade whole


def _resize_long(img: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """`img` scaled so its long side is `long_side` (INTER_AREA down, INTER_LINEAR up)."""
    h, w = img.shape[:2]
    scale = long_side / max(h, w)
    if abs(scale - 1) < 1e-3:
        return img, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp), scale


def _sizes(cfg: DetectorConfig) -> tuple:
    """What the levels depend on in a configuration."""
    return (cfg.fine_size, cfg.fine_max_upscale, tuple(cfg.coarse_sizes),
            tuple(cfg.rotated_sizes) if cfg.rotations else ())


@dataclass(frozen=True)
class Pyramid:
    """The passes' images of one photo as (image, scale): the fine level (None without a fine
    pass), and the coarse and turned levels by long side, each made from the next larger one."""

    sizes: tuple
    shape: tuple[int, ...]
    fine: Level | None
    levels: dict[int, Level]

    def fits(self, rgb: np.ndarray, cfg: DetectorConfig) -> bool:
        """Whether these are the levels `cfg` makes of a photo the size of `rgb`."""
        return self.shape == rgb.shape and self.sizes == _sizes(cfg)

    def redacted(self, rgb: np.ndarray, changed: list[Rect]) -> Pyramid:
        """The levels of `rgb`, a copy of this pyramid's photo that differs from it only inside
        the rectangles `changed`: each level remade where those reach it, the same to the bit
        as `pyramid(rgb)`."""
        if rgb.shape != self.shape:
            raise ValueError("a redacted copy has the photo's size")
        rects = [_clip(r, rgb.shape) for r in changed]
        rects = [r for r in rects if r[0] < r[2] and r[1] < r[3]]
        fine = None
        src, src_rects = rgb, rects
        if self.fine is not None:
            old, scale = self.fine
            if old.shape == rgb.shape and scale == 1.0:  # the photo itself
                fine = (rgb, 1.0)
            elif scale < 1:
                img, fine_rects = _remade(rgb, old, rects)
                fine = (img, scale)
                src, src_rects = img, fine_rects
            else:  # enlarged (bilinear): made whole
                fine = _resize_long(rgb, max(old.shape[:2]))
        levels: dict[int, Level] = {}
        for size, (old, scale) in sorted(self.levels.items(), reverse=True):
            if old.shape == rgb.shape and scale == 1.0:  # the photo itself; the next level is
                levels[size] = (rgb, 1.0)  # still made from `src`, as `pyramid` makes it
                continue
            img, src_rects = _remade(src, old, src_rects)
            levels[size] = (img, scale)
            src = img
        return Pyramid(self.sizes, self.shape, fine, levels)


def pyramid(rgb: np.ndarray, cfg: DetectorConfig, kept: Pyramid | None = None) -> Pyramid:
    """The passes' images of `rgb` under `cfg`, each made from the next larger one (cheap, no
    full-resolution copies). `kept`: the caller's own of `rgb`, returned where they fit `cfg`."""
    if kept is not None and kept.fits(rgb, cfg):
        return kept
    long_side = max(rgb.shape[:2])
    sizes = set(cfg.coarse_sizes) | set(cfg.rotated_sizes if cfg.rotations else ())
    levels: dict[int, Level] = {}
    fine = None
    if cfg.fine_size:
        target = min(cfg.fine_size, round(long_side * cfg.fine_max_upscale))
        fine = _resize_long(rgb, target)
    src, src_scale = fine if fine and fine[1] <= 1 else (rgb, 1.0)
    for size in sorted(sizes, reverse=True):
        if size >= long_side:
            levels[size] = (rgb, 1.0)
            continue
        img, s = _resize_long(src, size)
        levels[size] = (img, s * src_scale)
        src, src_scale = levels[size]
    return Pyramid(_sizes(cfg), rgb.shape, fine, levels)


def _remade(src: np.ndarray, old: np.ndarray, rects: list[Rect]) -> tuple[np.ndarray, list[Rect]]:
    """`old` (an area resize of an earlier `src`) made again from `src` where `rects` (of `src`)
    reach it; returns it and the rectangles of it that were made again."""
    hs, ws = src.shape[:2]
    hd, wd = old.shape[:2]
    if (hd, wd) == (hs, ws):
        return src, rects
    if not rects:
        return old, []
    blocks = []
    for x0, y0, x1, y1 in rects:
        j0, j1, sx0, sx1 = _periods(x0, x1, ws, wd)
        i0, i1, sy0, sy1 = _periods(y0, y1, hs, hd)
        blocks.append((j0, i0, j1, i1, sx0, sy0, sx1, sy1))
    if sum((b[2] - b[0]) * (b[3] - b[1]) for b in blocks) > WHOLE_ABOVE * wd * hd:
        return cv2.resize(src, (wd, hd), interpolation=cv2.INTER_AREA), [(0, 0, wd, hd)]
    out = old.copy()
    for j0, i0, j1, i1, sx0, sy0, sx1, sy1 in blocks:
        out[i0:i1, j0:j1] = cv2.resize(src[sy0:sy1, sx0:sx1], (j1 - j0, i1 - i0),
                                       interpolation=cv2.INTER_AREA)
    return out, [b[:4] for b in blocks]


def _periods(lo: int, hi: int, n_src: int, n_dst: int) -> tuple[int, int, int, int]:
    """Along one axis of an area resize from `n_src` to `n_dst` pixels: the run [j0, j1) of
    destination pixels that source pixels [lo, hi) reach, widened to whole periods (or the end),
    and the source run [s0, s1) it is made from."""
    period = n_dst // math.gcd(n_src, n_dst)
    j0 = lo * n_dst // n_src // period * period
    j1 = min(n_dst, _ceil(_ceil(hi * n_dst, n_src), period) * period)
    return j0, j1, j0 * n_src // n_dst, (j1 * n_src // n_dst if j1 < n_dst else n_src)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _clip(r: Rect, shape: tuple[int, ...]) -> Rect:
    h, w = shape[:2]
    return max(0, r[0]), max(0, r[1]), min(w, r[2]), min(h, r[3])

"""One pass of the network over one image: blob, inference (whole or in two halves), peaks, NMS."""


from __future__ import annotations

import numpy as np

from safeguard.detect.common import _INPUT, _OUTPUTS
from safeguard.detect.model import _session

# ----------------------------------------------------------------------------------------------
# One pass


def _blob(images: list[np.ndarray]) -> np.ndarray:
    """NCHW float32 batch of same-size uint8 RGB images, zero-padded to multiples of 32."""
    h, w = images[0].shape[:2]
    hp, wp = -(-h // 32) * 32, -(-w // 32) * 32
    blob = np.zeros((len(images), 3, hp, wp), dtype=np.float32)
    for i, img in enumerate(images):
        blob[i, :, :h, :w] = img.transpose(2, 0, 1)
    return blob


def _decode(heat, size, offset, lms, ys, xs):
    """Boxes (N x 4), scores (N) and landmarks (N x 5 x 2) of heatmap cells (ys, xs).

    `heat` is H x W, the others C x H x W, all of one batch item.
    """
    scores = heat[ys, xs]
    bh = np.exp(size[0, ys, xs]) * 4
    bw = np.exp(size[1, ys, xs]) * 4
    cy = (ys + offset[0, ys, xs] + 0.5) * 4
    cx = (xs + offset[1, ys, xs] + 0.5) * 4
    x0, y0 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)
    marks = lms[:, ys, xs].T.reshape(-1, 5, 2)  # (y, x) pairs relative to the box
    points = np.stack(
        [marks[:, :, 1] * bw[:, None] + x0[:, None], marks[:, :, 0] * bh[:, None] + y0[:, None]],
        axis=2,
    )
    return boxes, scores, points


def _infer(
    img: np.ndarray, threshold: float, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run CenterFace on a uint8 RGB image (any size; zero-padded to multiples of 32).

    Returns boxes (N x 4, x0 y0 x1 y1), scores (N) and landmarks (N x 5 x 2, x y), in `img`'s
    pixels, after NMS within the pass (so a weak cell next to a stronger box is dropped).
    """
    heat, size, offset, lms = _maps(img, threads)
    return _peaks(heat[0], size, offset, lms, threshold)


# The network's working memory grows with its input: about 340 MB at the fine pass's 1600x1200,
# kept by onnxruntime's arena for the next photo. Where several workers run at once (`in_halves`),
# inputs over HALVES_ABOVE pixels run as two halves split across the long side, each reaching
# TILE_CONTEXT px past the split; every output cell is taken from the half that holds it with that
# much context. The network sees about 256 px around a cell: at 256 the stitched maps match the
# whole-image maps to 1e-3 (measured on 12 MP and group photos; at 96 px, heat differs by 0.02).
# The halves cost more: one process detecting the montages took 19% longer; two workers on the
# 12 MP speed photos took no longer end to end, and 290 MB less (docs/benchmarks.md).
HALVES_ABOVE = 1_300_000  # the 1024 px passes (0.8 MP) run whole; the 1600 px fine pass in halves
TILE_CONTEXT = 256  # px, a multiple of 32 (the network's stride), so the halves keep its grid
_halves = False  # set by in_halves: this process is one of several workers


def in_halves(on: bool = True) -> None:
    """Run large inputs as two halves in this process (`_maps`). Called in each worker of a pool
    of two or more, where the workers' peaks add up; a lone process keeps the faster whole pass."""
    global _halves
    _halves = on


def _maps(img: np.ndarray, threads: int) -> tuple[np.ndarray, ...]:
    """CenterFace's four output maps for one image (heat 1 x H x W, the others C x H x W, at a
    quarter of the padded input), run whole or as two halves (`in_halves`)."""
    session = _session(threads)
    h, w = img.shape[:2]
    if not _halves or h * w <= HALVES_ABOVE:
        return tuple(o[0] for o in session.run(list(_OUTPUTS), {_INPUT: _blob([img])}))
    outs = two_halves(img, lambda tile: session.run(list(_OUTPUTS), {_INPUT: _blob([tile])}),
                      TILE_CONTEXT, scale=4)
    return tuple(o[0] for o in outs)


def two_halves(img: np.ndarray, run, context: int, scale: int = 1) -> list[np.ndarray]:
    """Run a fully convolutional network (`run`: an image to its output maps, spatial on their
    last two axes, `scale` times smaller than its input padded to multiples of 32) on `img` as two
    halves split across its long side at a multiple of 32, each reaching `context` px (a multiple
    of 32) past the split; each output cell is taken from the half that holds it with that much
    context. The joined maps are those of `img` padded as the network pads it."""
    h, w = img.shape[:2]
    wide = w >= h
    split = (w if wide else h) // 2 // 32 * 32
    first = img[:, : split + context] if wide else img[: split + context]
    second = img[:, split - context :] if wide else img[split - context :]
    cut, skip = split // scale, context // scale
    out = []
    for a, b in zip(run(first), run(second), strict=True):
        if wide:
            out.append(np.concatenate([a[..., :cut], b[..., skip:]], axis=-1))
        else:
            out.append(np.concatenate([a[..., :cut, :], b[..., skip:, :]], axis=-2))
    return out


def _peaks(heat, size, offset, lms, threshold: float):
    """Boxes, scores and landmarks of one batch item's heatmap cells above `threshold`, after
    NMS within the pass (so a weak cell next to a stronger box is dropped)."""
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2))
    boxes, scores, points = _decode(heat, size, offset, lms, ys, xs)
    keep = _nms(boxes, scores, 0.3, 1.1)[0]
    return boxes[keep], scores[keep], points[keep]


def _nms(
    boxes: np.ndarray, scores: np.ndarray, iou: float, contain: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Greedy NMS: indices kept (highest score first) and, for each, the indices it absorbed."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes.T
    areas = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    keep, members = [], []
    while len(order):
        i = order[0]
        rest = order[1:]
        iw = np.maximum(0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        ih = np.maximum(0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = iw * ih
        union = areas[i] + areas[rest] - inter
        overlap = inter / np.maximum(union, 1e-9)
        inside = inter / np.maximum(np.minimum(areas[i], areas[rest]), 1e-9)
        same = (overlap >= iou) | (inside >= contain)
        keep.append(i)
        members.append(rest[same])
        order = rest[~same]
    return np.asarray(keep, dtype=np.intp), members



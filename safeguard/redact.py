"""Redaction: cover each face completely and destroy what identifies it.

The mask is an ellipse over the detected box grown by `mask_scale` (hair, ears, chin), fully
opaque up to its edge (and over the whole box, corners included), with a soft edge *outside* it
(`FEATHER` of its radii) so the patch does not look like a sticker. A soft edge inside the
ellipse left a half-covered rim that the detector read as a head's outline: with it outside,
re-detection of 96 redacted faces fell from 6 to 1 (blur) and from 2 to 0 (solid)
(benchmarks/bench_redaction.py). Inside it:

- blur: the region is shrunk to 3 px across the face, smoothed while small, and enlarged back
  bicubically: no facial structure survives and no block edges show. A plain Gaussian blur of
  modest radius leaves faces that detectors and encoders still find, so this is deliberately
  strong (6 px across, as first built, left 29 of 96 faces detectable). Flatter (2 px) leaves
  a generic face whose encoding lies within matching distance of some people (5 of 96).
- pixelate: blocks of a third of the face width over the mask's region, nearest-neighbour (a
  mosaic). Sixths left 2 of 96 faces within the matching tolerance of their own pupil; blocks
  of 2/5 of the face and a mosaic of the blurred region 5 (too generic, as for the blur).
- solid: a flat dark fill. Filling from the surroundings' colour, or blending the blur with an
  inpainted fill from around the mask, made faces *easier* to find again (8 and 13 of 96): the
  hair then continues into the patch and the whole head reads as a face.

`redact_checked` (what the pipeline and the review app use) then checks each redacted face with the
detector (`still_faces`: the detector itself on photos up to 1.5 MP, its scores of each face on
larger ones) and redacts again, larger and finally solid, any that still reads as a face.
benchmarks/ re-runs detection and encoding on every redacted face to check that none is found
again and none still matches its pupil.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from safeguard.config import STYLES, Config
from safeguard.faces import Box

BLUR_CELLS = 3.0  # pixels across the face the blur keeps (benchmarks/bench_redaction.py)
PIXELATE_BLOCKS = 3.0  # mosaic blocks across the face
FEATHER = 0.15  # the soft edge outside the mask, as a share of its radii
CHECK_GROWTH = 1.4  # redact_checked: how much larger a second pass over a face that still reads as one
CHECK_DETECTOR_PIXELS = 1_500_000  # still_faces: up to this many pixels, the detector itself looks
CHECK_IOU = 0.2  # still_faces: a detection overlapping a redacted face this much is on it
KEPT_IOU = 0.5  # still_faces: a detection overlapping a kept face this much (and most) is that face


def mask_region(box: Box, scale: float, width: int, height: int) -> Box:
    return box.scaled(scale, width, height)


def reach(box: Box, mask_scale: float, width: int, height: int) -> Box:
    """Every pixel that redacting `box` at `mask_scale` may change: the mask's region and the
    feather outside it."""
    return mask_region(box, mask_scale * (1.0 + FEATHER), width, height)


def redact(
    rgb: np.ndarray, boxes: list[Box], style: str = Config.style, mask_scale: float = Config.mask_scale
) -> np.ndarray:
    """A copy of `rgb` with every box redacted in `style`. The input is not modified."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}")
    return _redact_into(rgb.copy(), boxes, style, mask_scale)


def _redact_into(out: np.ndarray, boxes: list[Box], style: str, mask_scale: float) -> np.ndarray:
    """`redact`, in `out` itself (a copy the caller owns): a 12 MP photo is 36 MB to copy."""
    h, w = out.shape[:2]
    for box in boxes:
        region = mask_region(box, mask_scale, w, h)
        if region.width < 2 or region.height < 2:
            # tiny box at an edge: fill it outright
            out[region.y0 : region.y1, region.x0 : region.x1] = 0
            continue
        # The feather lies outside the mask: fully opaque up to the mask's ellipse, fading out
        # over the next FEATHER of its radii.
        outer = reach(box, mask_scale, w, h)
        patch = out[outer.y0 : outer.y1, outer.x0 : outer.x1]
        covered = _cover(patch, style, box, region, outer)
        alpha = _alpha(box, mask_scale, region, outer, w, h)
        patch[:] = cv2.blendLinear(covered, patch, alpha, 1.0 - alpha)
    return out


def _alpha(box: Box, mask_scale: float, region: Box, outer: Box, w: int, h: int) -> np.ndarray:
    """H x W float32 opacity over `outer`: the feathered ellipse of the box grown by
    `mask_scale` (`_feathered_ellipse`), never less than the ellipse inscribed in the clipped
    `region` (which differs at the image's edges), and 1 over the whole detected box, corners
    included."""
    alpha = _feathered_ellipse(box, mask_scale, outer)
    sub = alpha[
        region.y0 - outer.y0 : region.y1 - outer.y0, region.x0 - outer.x0 : region.x1 - outer.x0
    ]
    np.maximum(sub, _ellipse_mask(region.width, region.height), out=sub)
    inner = box.clip(w, h)
    alpha[
        inner.y0 - outer.y0 : inner.y1 - outer.y0, inner.x0 - outer.x0 : inner.x1 - outer.x0
    ] = 1.0
    return alpha


def redact_chosen(rgb: np.ndarray, boxes: list[Box], chosen, style: str = Config.style,
                  mask_scale: float = Config.mask_scale) -> np.ndarray:
    """The faces `chosen` (indexes into `boxes`) redacted and checked (`redact_checked`), every
    other face kept: what the review page previews and what a release publishes, one function
    so the two cannot differ."""
    idx = set(chosen)
    picked = [boxes[i] for i in sorted(idx)]
    if not picked:
        return rgb
    keep = [b for i, b in enumerate(boxes) if i not in idx]
    return redact_checked(rgb, picked, style, mask_scale, keep=keep)


def redact_checked(rgb: np.ndarray, boxes: list[Box], style: str = Config.style,
                   mask_scale: float = Config.mask_scale, threshold: float | None = None,
                   keep: list[Box] | None = None, levels=None) -> np.ndarray:
    """`redact`, then the detector looks at every redacted face again (`still_faces`). A face
    that still reads as one is redacted again in the same style over a region `CHECK_GROWTH`
    times larger, and if it still reads as one, filled solid. `keep`: the photo's faces that
    stay as they are (cleared), so that finding one of them again is not held against a
    redacted neighbour. `levels`: the detector's images of `rgb` (detect.pyramid), where the
    caller kept them from detection: the redacted copy's are then remade only around its faces
    (`Pyramid.redacted`), the same to the bit."""
    out = redact(rgb, boxes, style, mask_scale)
    if not boxes:
        return out
    levels = _redacted_levels(levels, out, boxes, mask_scale)
    again = still_faces(out, boxes, mask_scale, threshold, keep, levels)
    if not again:
        return out
    out = _redact_into(out, again, style, mask_scale * CHECK_GROWTH)  # `out` is ours already
    levels = _redacted_levels(levels, out, again, mask_scale * CHECK_GROWTH)
    # Where the detector itself looks (it searches the whole photo anyway), every face is looked
    # at again: a larger mask can make two neighbouring ovals read as one face.
    still = still_faces(out, boxes if searched_whole(out) else again, mask_scale, threshold, keep,
                        levels)
    if still and style != "solid":
        out = _redact_into(out, still, "solid", mask_scale * CHECK_GROWTH)
    return out


def _redacted_levels(levels, out: np.ndarray, boxes: list[Box], mask_scale: float):
    """The detector's images of `out`, remade from `levels` (those of the photo before `boxes`
    were redacted at `mask_scale`) where the redaction reached; None without `levels`."""
    if levels is None:
        return None
    h, w = out.shape[:2]
    return levels.redacted(out, [tuple(reach(b, mask_scale, w, h).as_list()) for b in boxes])


def still_faces(out: np.ndarray, boxes: list[Box], mask_scale: float = Config.mask_scale,
                threshold: float | None = None, keep: list[Box] | None = None,
                levels=None) -> list[Box]:
    """The redacted faces (`boxes`) that `out` still shows as faces.

    Where the detector searches the photo, a detection that is one of the `keep` faces (kept
    unredacted: overlap >= KEPT_IOU with it, more than with any redacted face) is that face,
    not a redacted one showing through: in a crowd, a kept face's centre can lie inside its
    neighbour's mask (5 of the 21 group photos have such pairs), and counting it would redact
    the neighbour again, larger, over the kept face.

    Up to CHECK_DETECTOR_PIXELS the detector itself searches the whole redacted photo (0.25-0.5
    CPU-s there): a face still shows when a detection lies on it (overlap >= CHECK_IOU, or its
    centre inside the face's mask), which is exactly what a second run of the product would
    find. Larger photos would pay the whole detector again (0.6-1 CPU-s at 12 MP, where the
    scores take 0.35-0.55), so there each face is scored as the detector would score it
    (`detect.face_likeness`: crops centred on it at two sizes and four turns, and a window of
    each pyramid level where it is small) and counts at or above the detector's threshold. That
    is stricter than the detector on most faces (a centred crop scores a blurred oval higher than
    the whole photo does), but can miss a weak box the whole photo shows across two faces (the
    2 below); on the speed benchmark's 12 MP photos it left none of 98.

    Measured on the test data's 21 group photos (131 faces, 19 of the photos under 1.5 MP;
    benchmarks/bench_redaction.py): with the scores alone everywhere, blur left 4 faces on which
    the detector still found a box and redacted 53 a second time (pixelate 0 and 18); with the
    detector itself, 2 (one weak box across two faces of the 3 MP collage, which is scored) and
    27 (pixelate 0 and 3), for 0.45 CPU-s more a photo.

    `levels`: the detector's images of `out` itself (detect.Pyramid), made here otherwise."""
    from safeguard.detect import DEFAULT_CONFIG, detect_faces, face_likeness

    h, w = out.shape[:2]
    cfg = DEFAULT_CONFIG if threshold is None else replace(DEFAULT_CONFIG, threshold=threshold)
    if searched_whole(out):
        found = [g.box for g in detect_faces(out, cfg, levels)]
        found = [g for g in found if not _is_kept(g, boxes, keep or [])]
        return [b for b in boxes if any(on_face(g, b, mask_scale, w, h) for g in found)]
    return [b for b, v in zip(boxes, face_likeness(out, list(boxes), cfg, levels=levels,
                                                    mask_scale=mask_scale),
                              strict=True)
            if v >= cfg.threshold]


def searched_whole(out: np.ndarray) -> bool:
    """Whether `still_faces` runs the whole detector over `out` (else it scores each face)."""
    return out.shape[0] * out.shape[1] <= CHECK_DETECTOR_PIXELS


def _is_kept(found: Box, redacted: list[Box], keep: list[Box]) -> bool:
    """Whether a detection is one of the kept faces rather than a redacted one."""
    kept = max((found.iou(k) for k in keep), default=0.0)
    return kept >= KEPT_IOU and kept > max((found.iou(b) for b in redacted), default=0.0)


def on_face(found: Box, face: Box, mask_scale: float, w: int, h: int) -> bool:
    """Whether a detection `found` lies on the redacted `face`: it overlaps the face's box by
    CHECK_IOU, or its centre is inside the face's mask. benchmarks/bench_redaction.py counts a
    face as still detected by this same rule."""
    if found.iou(face) >= CHECK_IOU:
        return True
    return mask_region(face, mask_scale, w, h).holds_centre_of(found)


def _cover(patch: np.ndarray, style: str, face: Box, region: Box, outer: Box) -> np.ndarray:
    """The fill for `patch` (the area of `outer`, which holds the mask `region`), uint8."""
    ph, pw = patch.shape[:2]
    if style == "solid":
        return np.full(patch.shape, 16, np.uint8)
    face_w = max(face.width, face.height, 6)
    if style == "pixelate":
        # The mosaic's grid is laid over the mask's region (moving it changes which faces stay
        # within matching distance); the feather outside it repeats the edge blocks.
        inner = patch[
            region.y0 - outer.y0 : region.y1 - outer.y0, region.x0 - outer.x0 : region.x1 - outer.x0
        ]
        rh, rw = inner.shape[:2]
        block = max(2, round(face_w / PIXELATE_BLOCKS))
        small = cv2.resize(
            inner, (max(1, rw // block), max(1, rh // block)), interpolation=cv2.INTER_AREA
        )
        mosaic = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
        top, left = region.y0 - outer.y0, region.x0 - outer.x0
        return cv2.copyMakeBorder(
            mosaic, top, ph - rh - top, left, pw - rw - left, cv2.BORDER_REPLICATE
        )
    # blur: everything happens on the few-pixel image, so it costs next to nothing at any size.
    # It is enlarged as 8-bit pixels: OpenCV's bicubic enlargement of float pixels took 2 ms a
    # 400 px face (0.04 CPU-s of a 12 MP group photo's 24), of 8-bit ones 0.1 ms, and the two
    # differ by at most a level or two of a smooth blob.
    sw = max(1, round(pw * BLUR_CELLS / face_w))
    sh = max(1, round(ph * BLUR_CELLS / face_w))
    small = cv2.resize(patch, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=0.7, sigmaY=0.7, borderType=cv2.BORDER_REPLICATE)
    small = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    return cv2.resize(small, (pw, ph), interpolation=cv2.INTER_CUBIC)


def _feathered_ellipse(face: Box, mask_scale: float, outer: Box) -> np.ndarray:
    """H x W float32 mask over `outer`: 1 inside the ellipse of the face box grown by
    `mask_scale` (where the image cuts it too), falling to 0 over the next FEATHER of its radii."""
    cx, cy = (face.x0 + face.x1) / 2, (face.y0 + face.y1) / 2
    ax, ay = max(1.0, face.width * mask_scale / 2), max(1.0, face.height * mask_scale / 2)
    return np.clip((1.0 + FEATHER - _radius(outer.x0, outer.x1, outer.y0, outer.y1, cx, cy, ax, ay))
                   / FEATHER, 0.0, 1.0)


def _ellipse_mask(w: int, h: int) -> np.ndarray:
    """H x W float32 mask: 1 inside the ellipse inscribed in the region, feathered at the rim."""
    return np.clip((1.0 - _radius(0, w, 0, h, w / 2, h / 2, w / 2, h / 2)) / 0.08, 0.0, 1.0)


def _radius(x0: int, x1: int, y0: int, y1: int, cx: float, cy: float, ax: float, ay: float
            ) -> np.ndarray:
    """Over the pixels [y0, y1) x [x0, x1), each centre's distance from (cx, cy) in radii
    (ax, ay) of an ellipse: 1 on its rim. Rows and columns apart, then summed: no coordinate
    grids."""
    dx = ((np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / ax) ** 2
    dy = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / ay) ** 2
    return np.sqrt(dy[:, None] + dx[None, :])

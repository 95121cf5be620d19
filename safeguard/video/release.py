"""A held clip released by the DSL: written afresh from the held original with the tracks the DSL
chose covered, through the same writer and the same checks as a clip `blur` exports.

The held record keeps each track's detections (`hits`), so its box in every frame is worked out
again exactly as the export did (safeguard.video.tracks.coverage). The written copy's container
is checked against the allow-list; unless the DSL released it uncovered, its frames are searched
for faces again: a covered face that still reads as one is covered solid and the clip written
once more; a face no track covers or keeps, which the original shows too, refuses the release
(fail closed: the DSL may release it uncovered with a typed reason, or reject it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safeguard.faces import Box
from safeguard.metadata import StripError
from safeguard.video.tracks import Track


def tracks_of(rec: dict) -> list[Track]:
    """The held clip's tracks, in the order of its faces (track n is face n), from its record."""
    out = []
    for i, t in enumerate(rec.get("tracks") or []):
        hits = [(int(h[0]), Box(*[int(v) for v in h[1:5]]), 1.0) for h in t.get("hits") or []]
        if not hits:  # a record without them cannot be covered as it was found: fail closed
            raise StripError("the held record does not say where the clip's faces are")
        out.append(Track(i, sorted(hits, key=lambda h: h[0])))
    return out


@contextmanager
def private_copy(original: bytes) -> Iterator[Path]:
    """The held original as a file only this account can read, removed afterwards: a clip is
    decoded from a file, a frame at a time."""
    with tempfile.TemporaryDirectory(prefix="safeguard-held-clip-") as tmp:
        path = Path(tmp) / "clip"
        with open(path, "xb", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
            fh.write(original)
        yield path


def clip_reason(rec: dict, unredacted: bool, reason: str | None, why: str | None) -> str | None:
    """The DSL's reason for releasing this clip, or DecisionError: text naming a pupil, which a
    photo's release covers, cannot be followed through a moving picture, so a clip held for its
    text needs a typed reason unless it is released unredacted (which needs one anyway). On a
    channel that needs sign-off the written clip goes into a post as a photo's copy does
    (safeguard.review.delivery), after the same checks."""
    from safeguard.review.decisions import typed_reason

    if rec.get("texts") and not unredacted:
        return typed_reason(reason, True, "releasing a clip with text naming a pupil or a class "
                            "(a release does not cover it)")
    return why


def _job(config, threads: int, audio: str):
    from safeguard.publish import job_for

    # A release decides nothing (the DSL has): no matrix, and no calibration to work out. The
    # sound goes as the batch that held the clip would have sent it.
    return job_for(config, "", None, threads=threads, audio=audio)


def write_release(original: bytes, rec: dict, covered: set[int] | None, config,
                  ready: Path) -> Path:
    """Write the release of a held clip as a hidden, verified file in `ready` and return it (the
    caller gives it its name, or removes it). `covered`: the 0-based tracks to cover; None: none,
    and the written frames are not searched again (everything is shown, by the DSL's choice)."""
    from safeguard.policy import FaceDecision
    from safeguard.video.clip import probe
    from safeguard.video.container import verify_container
    from safeguard.video.process import (
        UNLIMITED,
        TrackOutcome,
        _check,
        _Plan,
        _write,
        keeps_sound,
    )

    job = _job(config, len(os.sched_getaffinity(0)),
               "keep" if rec.get("audio") == "keep" else "strip")
    chosen = covered or set()
    with private_copy(original) as src:
        info = probe(src, UNLIMITED)
        total = int(rec.get("frames") or 0)
        if total <= 0:
            raise StripError("the held record does not say how long the clip is")
        outcomes = [TrackOutcome(t, FaceDecision("unknown" if t.id in chosen else "cleared",
                                                 "redact" if t.id in chosen else "keep"), 0)
                    for t in tracks_of(rec)]
        fd, name = tempfile.mkstemp(prefix=".safeguard-", suffix=".mp4", dir=ready)
        os.close(fd)
        tmp = Path(name)
        try:
            solid: set[int] = set()
            for attempt in range(2):
                plan = _Plan.of(outcomes, total, info, solid)
                _write(src, info, job, UNLIMITED, plan, tmp)
                verify_container(tmp, keeps_sound(job, info), total, (plan.width, plan.height))
                if covered is None:
                    break
                again, missed = _check(src, tmp, info, job, UNLIMITED, outcomes, plan, total)
                if missed:
                    raise StripError("a face no track covers can be seen in the clip: release "
                                     "it uncovered (with a reason) or reject it")
                if not again:
                    break
                if attempt == 1 or job.config.style == "solid":
                    raise StripError("a covered face could still be seen")
                solid |= again
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp


def link(tmp: Path, ready: Path, name: str) -> Path:
    """Give the verified release its name in `ready`, never overwriting a file there."""
    from safeguard.video.process import _link_new

    try:
        return _link_new(tmp, ready, name)
    finally:
        tmp.unlink(missing_ok=True)

"""Which inputs are clips, and handing them to safeguard.video.process: a clip by its name, or
(a file without a picture's or a clip's name) by its first bytes. Nothing heavy is imported
here: the photo pipeline asks about every input."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from safeguard.suffixes import (
    IMAGE_SUFFIXES,
    OTHER_IMAGE_SUFFIXES,
    OTHER_VIDEO_SUFFIXES,
    VIDEO_SUFFIXES,
)

HEIF_BRANDS = (b"heic", b"heix", b"mif1", b"avif", b"msf1")  # pictures in an ISO-BMFF box
EBML = b"\x1a\x45\xdf\xa3"  # Matroska and WebM


def looks_like_a_clip(head: bytes) -> bool:
    """Are these a clip's first 16 bytes?"""
    return head.startswith(EBML) or (head[4:8] == b"ftyp" and head[8:12] not in HEIF_BRANDS)


def starts_like_a_clip(path: Path) -> bool:
    """Do the file's first bytes say it is a clip (an ISO-BMFF file that is not a HEIF or AVIF
    picture, or a Matroska/WebM file)?"""
    try:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW | os.O_NONBLOCK)) as fh:
            return looks_like_a_clip(fh.read(16))
    except OSError:
        return False


def is_clip(path: Path, data: bytes | None = None) -> bool:
    """Is this input a clip: by its name, else (no picture's name) by its first bytes."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES | OTHER_VIDEO_SUFFIXES:
        return True
    if suffix in IMAGE_SUFFIXES | OTHER_IMAGE_SUFFIXES:
        return False
    return looks_like_a_clip(data[:16]) if data is not None else starts_like_a_clip(path)


# what comms staff read beside a clip sent with `blur --ask-dsl` (or into the watched _check/)
NOT_ASKED = "clips are not sent for checking yet; blurred as usual"


def process(data: bytes | None, path: Path, job):
    """A clip from its file, or from bytes sent to the service (written to a private temporary
    file first: a clip is decoded from a file, a frame at a time)."""
    from safeguard.pipeline import Outcome
    from safeguard.video.process import process_clip

    if path.suffix.lower() in OTHER_VIDEO_SUFFIXES:
        return Outcome(input=str(path), status="rejected",
                       error="a clip format this does not take (MP4, MOV or WebM only)")
    # A clip is long work on one input: its detector and encoder run on every core (a pool's
    # worker has one thread per photo), and x264 encodes on threads of its own.
    job = replace(job, threads=max(job.threads, len(os.sched_getaffinity(0))))
    if data is None:
        outcome = process_clip(path, job)
    else:
        with tempfile.TemporaryDirectory(prefix="safeguard-clip-") as tmp:
            copy = Path(tmp) / ("clip" + (path.suffix.lower() or ".mp4"))
            with open(copy, "xb", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
                fh.write(data)
            outcome = process_clip(copy, job, name=path)
    if job.ask_dsl is not None and outcome.status != "rejected":
        # the DSL confirms the faces of photos only: comms staff who asked are told the clip
        # was not sent, rather than wait for a check that never comes
        outcome.flags.append(NOT_ASKED)
    return outcome


def complete(fd: int, size: int) -> bool:
    """Is the open clip whole, from its structure alone (nothing decoded, a few bytes read)? An
    MP4 or MOV is whole when its top-level boxes tile the file exactly and hold both the index
    (`moov`) and the media (`mdat`): a copy still arriving ends inside its last box. A WebM has
    no such outline (a camera may write its length as unknown): it is whole once it is stable,
    and a clip cut short is refused when its frames are decoded."""
    import struct

    head = os.pread(fd, 16, 0)
    if head.startswith(EBML):
        return True
    pos, seen = 0, set()
    while pos < size:
        box = os.pread(fd, 16, pos)
        if len(box) < 8:
            return False
        n, kind = struct.unpack(">I4s", box[:8])
        if n == 1:
            if len(box) < 16:
                return False
            n = struct.unpack(">Q", box[8:16])[0]
        elif n == 0:
            n = size - pos
        if n < 8:
            return False
        seen.add(kind)
        pos += n
    return pos == size and {b"moov", b"mdat"} <= seen

"""Which inputs are clips, and handing them to safeguard.video.process: a clip by its name, or
(a file without a picture's or a clip's name) by its first bytes. Nothing heavy is imported
here: the photo pipeline asks about every input."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from safeguard.suffixes import (
    IMAGE_SUFFIXES,
    OTHER_IMAGE_SUFFIXES,
    OTHER_VIDEO_SUFFIXES,
    VIDEO_SUFFIXES,
)

HEIF_BRANDS = (b"heic", b"heix", b"mif1", b"avif", b"msf1")  # pictures in an ISO-BMFF box
EBML = b"\x1a\x45\xdf\xa3"  # Matroska and WebM


def _looks_like_a_clip(head: bytes) -> bool:
    return head.startswith(EBML) or (head[4:8] == b"ftyp" and head[8:12] not in HEIF_BRANDS)


def starts_like_a_clip(path: Path) -> bool:
    """Do the file's first bytes say it is a clip (an ISO-BMFF file that is not a HEIF or AVIF
    picture, or a Matroska/WebM file)?"""
    try:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW | os.O_NONBLOCK)) as fh:
            return _looks_like_a_clip(fh.read(16))
    except OSError:
        return False


def is_clip(path: Path, data: bytes | None = None) -> bool:
    """Is this input a clip: by its name, else (no picture's name) by its first bytes."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES | OTHER_VIDEO_SUFFIXES:
        return True
    if suffix in IMAGE_SUFFIXES | OTHER_IMAGE_SUFFIXES:
        return False
    return _looks_like_a_clip(data[:16]) if data is not None else starts_like_a_clip(path)


def process(data: bytes | None, path: Path, job):
    """A clip from its file, or from bytes sent to the service (written to a private temporary
    file first: a clip is decoded from a file, a frame at a time)."""
    from safeguard.pipeline import Outcome
    from safeguard.video.process import process_clip

    if path.suffix.lower() in OTHER_VIDEO_SUFFIXES:
        return Outcome(input=str(path), status="rejected",
                       error="a clip format this does not take (MP4, MOV or WebM only)")
    if data is None:
        return process_clip(path, job)
    with tempfile.TemporaryDirectory(prefix="safeguard-clip-") as tmp:
        copy = Path(tmp) / ("clip" + (path.suffix.lower() or ".mp4"))
        with open(copy, "xb", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
            fh.write(data)
        return process_clip(copy, job, name=path)

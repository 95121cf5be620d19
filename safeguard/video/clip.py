"""Opening a clip: what it is, whether it may be processed, and its frames upright.

Everything goes through PyAV on a file descriptor opened without following links, so the
file that is checked is the file that is read. Frames are decoded one at a time (bounded
memory for any length) and turned upright from the rotation a phone writes in the track's
display matrix: the output carries the pixels upright and no rotation flag.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from safeguard.images import LoadError

# Containers a phone or an editor writes for the clips schools post. What FFmpeg calls them.
FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
# Codecs that are pictures, not moving images: a "clip" holding one is a still and is refused.
STILL_CODECS = frozenset({"mjpeg", "png", "bmp", "gif", "tiff", "webp", "jpeg2000"})


class ClipError(LoadError):
    """The file cannot be processed as a clip; the message is one line a member of staff reads."""


@dataclass(frozen=True)
class Limits:
    max_seconds: float = 600.0
    max_pixels: int = 4096 * 2304
    max_fps: float = 120.0
    max_bytes: int = 4 * 1024**3


@dataclass(frozen=True)
class ClipInfo:
    width: int  # upright, after the rotation
    height: int
    fps: Fraction
    frames: int  # as the container's index says (0 when it does not say)
    seconds: float
    rotation: int  # clockwise turn applied to each decoded frame: 0, 90, 180 or 270
    codec: str
    audio: bool
    bytes: int


def _open(path: Path):
    """A read-only binary file object for `path`, refusing links and anything not a regular
    file, and its size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ClipError("could not be opened (a link, or not a readable file)") from e
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ClipError("not a regular file")
    return os.fdopen(fd, "rb"), st.st_size


def _container(fh):
    import av

    try:
        return av.open(fh, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as e:
        raise ClipError("not a clip that can be read (damaged, cut short or an unknown format)") from e


def rotation_of(frame) -> int:
    """The clockwise turn that shows `frame` upright: FFmpeg's display matrix turns it
    `frame.rotation` degrees counter-clockwise."""
    try:
        ccw = round(float(frame.rotation or 0) / 90.0) * 90
    except (AttributeError, TypeError, ValueError):
        ccw = 0
    return (-ccw) % 360


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """`rgb` turned clockwise by `rotation` degrees (np.rot90 turns counter-clockwise)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=-k)) if k else rgb


def probe(path: Path, limits: Limits = Limits()) -> ClipInfo:
    """What `path` holds, or ClipError with the reason it cannot be processed. Decodes the
    first two frames: a file whose first frame does not decode is refused here, and one that
    has only one frame is a still, not a clip."""
    import av

    fh, size = _open(path)
    with fh:
        if size == 0:
            raise ClipError("empty file")
        if size > limits.max_bytes:
            raise ClipError(f"clip too large ({size // 1024**2} MB; the limit is "
                            f"{limits.max_bytes // 1024**2} MB)")
        with _container(fh) as c:
            if c.format.name not in FORMATS:
                raise ClipError(f"not a clip format this accepts ({c.format.name})")
            if not c.streams.video:
                raise ClipError("no video in this file")
            vs = c.streams.video[0]
            cc = vs.codec_context
            if cc.name in STILL_CODECS:
                raise ClipError("a still picture in a video file, not a clip")
            w, h = cc.width, cc.height
            if not w or not h:
                raise ClipError("the video has no picture size")
            if w * h > limits.max_pixels:
                raise ClipError(f"picture too large ({w}x{h}); the limit is "
                                f"{limits.max_pixels / 1e6:.1f} MP")
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            fps = Fraction(rate) if rate else Fraction(0)
            if not fps or fps <= 0:
                raise ClipError("the clip has no frame rate")
            if fps > limits.max_fps:
                raise ClipError(f"frame rate too high ({float(fps):.0f} a second; the limit is "
                                f"{limits.max_fps:.0f})")
            seconds = _duration(c, vs)
            if seconds > limits.max_seconds:
                raise ClipError(f"clip too long ({seconds / 60:.1f} minutes; the limit is "
                                f"{limits.max_seconds / 60:.0f})")
            first = []
            try:
                for frame in c.decode(video=0):
                    first.append(frame)
                    if len(first) == 2:
                        break
            except (av.FFmpegError, ValueError) as e:
                raise ClipError("the video does not decode (damaged or cut short)") from e
            if not first:
                raise ClipError("the video has no frames that decode")
            if len(first) < 2:
                raise ClipError("a still picture in a video file, not a clip")
            rot = rotation_of(first[0])
            if rot in (90, 270):
                w, h = h, w
            return ClipInfo(width=w, height=h, fps=fps, frames=int(vs.frames or 0),
                            seconds=seconds, rotation=rot, codec=cc.name,
                            audio=bool(c.streams.audio), bytes=size)


def _duration(c, vs) -> float:
    if vs.duration and vs.time_base:
        return float(vs.duration * vs.time_base)
    if c.duration:
        return c.duration / 1_000_000
    return 0.0


# Frames decoded ahead on a thread of their own while the caller works on the last one (FFmpeg
# and the detector both let go of Python's lock): at most this many wait, so memory stays
# bounded (four 1080p frames are 25 MB). 0: decoded in the caller's thread.
PREFETCH_FRAMES = 4


def frames(path: Path, info: ClipInfo, limits: Limits = Limits()) -> Iterator[np.ndarray]:
    """Every frame of `path`'s first video stream, upright RGB, one at a time. Raises ClipError
    when decoding fails part-way, when the clip runs past the length limit (a container that
    understated its length), or when fewer frames decode than its index lists (cut short)."""
    if PREFETCH_FRAMES <= 0:
        return _frames(path, info, limits)
    return ahead(_frames(path, info, limits), PREFETCH_FRAMES)


def ahead(items: Iterator, depth: int) -> Iterator:
    """`items`, made on a thread of their own at most `depth` ahead of the caller; an error
    there is raised here, in order. Closing this early stops the thread."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as e:  # noqa: BLE001 - handed to the caller, raised there
            put((False, e))
        finally:
            close = getattr(items, "close", None)  # a generator: its file is closed here
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="safeguard-decode", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _frames(path: Path, info: ClipInfo, limits: Limits) -> Iterator[np.ndarray]:
    import av

    fh, _ = _open(path)
    with fh, _container(fh) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        most = (int(limits.max_seconds * float(info.fps)) + 1
                if math.isfinite(limits.max_seconds) else None)
        n = 0
        try:
            for frame in c.decode(video=0):
                n += 1
                if most is not None and n > most:
                    raise ClipError("clip too long (it runs past the length limit)")
                rgb = frame.to_ndarray(format="rgb24")
                yield upright(rgb, info.rotation)
        except (av.FFmpegError, ValueError) as e:
            raise ClipError("the video stops decoding part-way (damaged or cut short)") from e
        if info.frames and n < info.frames - 1:
            raise ClipError(f"the clip is cut short ({n} of {info.frames} frames decode)")

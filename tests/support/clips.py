"""Clips made from photos, as a phone writes them: camera motion over a real photo, H.264 or
HEVC in MP4, a rotation flag, location and date atoms, AAC sound. Used by the tests and by
benchmarks/bench_video.py.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

# What a phone leaves in a clip's container, planted so that the tests can see it go.
PHONE_TAGS = {
    "location": "+51.5074-000.1278+011.000/",
    "com.apple.quicktime.location.ISO6709": "+51.5074-000.1278+011.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15",
    "com.apple.quicktime.software": "17.4",
    "com.apple.quicktime.creationdate": "2026-06-12T10:31:00+0100",
    "creation_time": "2026-06-12T09:31:00.000000Z",
    "make": "Apple",
    "model": "iPhone 15",
    "title": "Sports day Year 4",
}


@dataclass(frozen=True)
class Motion:
    """Where the camera looks at frame t of n: the crop window's centre and zoom, and a shake."""

    pan: float = 0.25  # fraction of the photo's width panned over the clip
    zoom: float = 1.0  # end zoom (1.0: none)
    shake: float = 0.0  # pixels of hand shake
    blur: int = 0  # motion blur kernel, px (0: none)
    centre: float = 0.5  # height of the window's centre, as a fraction of the photo's
    # The window's width at zoom 1 as a fraction of the photo's (0: as wide as the pan allows,
    # so nobody leaves the frame). A narrow window panned far (pan near 1) takes the faces at one
    # side out of the frame and brings those at the other side in.
    window: float = 0.0


def camera_matrices(shape: tuple[int, int], size: tuple[int, int], n: int,
                    motion: Motion = Motion(), seed: int = 0):
    """The 2x3 affine matrix from photo pixels (a photo of `shape` (h, w)) to frame pixels of
    `size` (w, h), for each of `n` frames: where a face of the photo is in each frame."""
    rng = np.random.default_rng(seed)
    ph, pw = shape[:2]
    w, h = size
    base = min(pw / w, ph / h) / (1 + motion.pan)  # the window at zoom 1
    if motion.window:
        base = min(motion.window * pw / w, ph / h)
    for t in range(n):
        u = t / max(1, n - 1)
        z = 1 + (motion.zoom - 1) * u
        cw, ch = w * base / z, h * base / z
        cx = pw / 2 + (u - 0.5) * motion.pan * pw * 0.5
        cy = ph * motion.centre
        if motion.shake:
            cx += rng.normal(0, motion.shake)
            cy += rng.normal(0, motion.shake)
        x0 = min(max(0.0, cx - cw / 2), pw - cw)
        y0 = min(max(0.0, cy - ch / 2), ph - ch)
        yield np.array([[w / cw, 0, -x0 * w / cw], [0, h / ch, -y0 * h / ch]], dtype=np.float64)


def camera_frames(photo: np.ndarray, size: tuple[int, int], n: int, motion: Motion = Motion(),
                  seed: int = 0):
    """`n` frames of `size` (w, h) looking over `photo` with `motion`."""
    import cv2

    for m in camera_matrices(photo.shape, size, n, motion, seed):
        frame = cv2.warpAffine(photo, m, size, flags=cv2.INTER_AREA)
        if motion.blur:
            k = np.zeros((motion.blur, motion.blur), np.float32)
            k[motion.blur // 2, :] = 1.0 / motion.blur
            frame = cv2.filter2D(frame, -1, k)
        yield frame


def write_phone_clip(path: Path, frames, fps: int = 30, codec: str = "libx264",
                     rotation: int = 0, tags: dict | None = None, audio: bool = True) -> Path:
    """Write upright `frames` as a phone would: stored turned, with a display matrix that turns
    them back (`rotation`: clockwise degrees a player turns the stored frames), the phone's tags,
    and a second of tone per second of picture. Frames are encoded as they come (a 1080p clip
    need not fit in memory)."""
    import av

    frames = iter(frames)
    first = next(frames)
    k = (rotation // 90) % 4
    sh, sw = np.rot90(first, k=k).shape[:2]
    tags = PHONE_TAGS if tags is None else tags
    options = {"x265-params": "log-level=error"} if codec in ("libx265", "hevc") else {}
    n = 0
    with av.open(str(path), mode="w", format="mp4",
                 options={"movflags": "+use_metadata_tags"}) as c:
        for key, value in tags.items():
            c.metadata[key] = value
        v = c.add_stream(codec, rate=fps, options=options)
        v.width, v.height, v.pix_fmt = sw, sh, "yuv420p"
        if rotation:
            v.set_display_rotation(-rotation)  # PyAV: counter-clockwise degrees
        a = None
        if audio:
            a = c.add_stream("aac", rate=48000)
        for f in itertools.chain([first], frames):
            stored = np.ascontiguousarray(np.rot90(f, k=k))  # undo a clockwise turn
            for p in v.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                c.mux(p)
            n += 1
        for p in v.encode():
            c.mux(p)
        if a is not None:
            seconds = n / fps
            samples = int(48000 * seconds)
            t = np.arange(samples) / 48000
            tone = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start:start + 1024]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                frame.sample_rate = 48000
                frame.pts = start
                frame.time_base = Fraction(1, 48000)
                for p in a.encode(frame):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path

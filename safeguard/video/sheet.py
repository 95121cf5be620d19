"""What the DSL sees of a held clip, drawn from the held original: the clip with every track
outlined and labelled in every frame it covers, the redacted preview (what "release as previewed"
would publish), and a strip of each track's best frames. DSL-only: labels carry names and reasons.

Everything is drawn a frame at a time from the decoded original and encoded as H.264 in MP4 at
screen size (`SIDE`), so memory stays bounded whatever the clip's length.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from safeguard.faces import Box

SIDE = 960  # the longer side of the clips drawn for the page
STRIP_HEIGHT = 160  # each best frame's face, in a track's strip
CROP_GROWTH = 1.8  # a face's crop shows a little around it


def _where(rec: dict, info, covered: set[int]) -> dict[int, list[tuple[int, Box]]]:
    """frame -> (track index, box) of every track in that frame, each held past its ends as a
    release would (safeguard.video.process.track_pad)."""
    from safeguard.video.process import track_pad
    from safeguard.video.release import tracks_of
    from safeguard.video.tracks import coverage

    total = int(rec.get("frames") or 0)
    out: dict[int, list[tuple[int, Box]]] = {}
    for t in tracks_of(rec):
        pad = track_pad(t.id not in covered, info.fps)
        for f, box in coverage(t, total, pad, info.width, info.height).items():
            out.setdefault(f, []).append((t.id, box))
    return out


def _size(info) -> tuple[int, int, float]:
    f = min(1.0, SIDE / max(info.width, info.height))
    w, h = max(2, round(info.width * f)), max(2, round(info.height * f))
    return w - w % 2, h - h % 2, f


def clip(original: bytes, rec: dict, names: Mapping[str, str], kind: str, covered: set[int],
         style: str = "blur", mask_scale: float = 1.3, threads: int = 1) -> bytes:
    """The held clip drawn for the page, as MP4 bytes. `kind` "annotated": every track outlined
    in its label's colour and tagged with its number and who it is; "preview": the tracks
    `covered` redacted (`style`, `mask_scale`) as a release would, nothing drawn."""
    import cv2
    from PIL import Image, ImageDraw

    from safeguard.review import render
    from safeguard.video.clip import frames, probe
    from safeguard.video.container import Writer
    from safeguard.video.process import UNLIMITED
    from safeguard.video.release import private_copy

    faces = rec.get("faces") or []
    with private_copy(original) as src, tempfile.TemporaryDirectory(prefix="safeguard-") as tmp:
        info = probe(src, UNLIMITED)
        where = _where(rec, info, covered)
        w, h, f = _size(info)
        out = Path(tmp) / "drawn.mp4"
        writer = Writer(out, w, h, info.fps, threads=threads)
        line = max(2, round(max(w, h) / 300))
        font = render._font(max(12, round(max(w, h) / 42)))
        try:
            for i, rgb in enumerate(frames(src, info, UNLIMITED)):
                here = where.get(i, ())
                if kind == "preview":
                    from safeguard.redact import redact

                    boxes = [b for n, b in here if n in covered]
                    if boxes:  # at full size, as the release does, then scaled for the screen
                        rgb = redact(rgb, boxes, style, mask_scale)
                small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
                if kind == "annotated" and here:
                    im = Image.fromarray(small)
                    draw = ImageDraw.Draw(im)
                    for n, box in here:
                        face = faces[n] if n < len(faces) else {}
                        colour = render.COLOURS.get(face.get("label"), render.COLOURS["unknown"])
                        xy = tuple(round(v * f) for v in box.as_list())
                        draw.rectangle(xy, outline=colour, width=line)
                        title, _ = render.face_label(face, names)
                        render._tag(draw, im.size, xy, [(f"{n + 1} {title}", font)], colour)
                    small = np.asarray(im)
                writer.write(small)
        finally:
            writer.close()
        return out.read_bytes()


def strips(original: bytes, rec: dict) -> list[bytes]:
    """One JPEG per track: its best frames' faces side by side (the frames listed in the record),
    each framed in its label's colour. One pass over the frames, keeping only the crops."""
    import cv2
    from PIL import Image

    from safeguard.review import render
    from safeguard.video.clip import frames, probe
    from safeguard.video.process import UNLIMITED
    from safeguard.video.release import private_copy

    tracks = rec.get("tracks") or []
    faces = rec.get("faces") or []
    wanted: dict[int, list[tuple[int, Box]]] = {}
    for n, t in enumerate(tracks):
        for b in t.get("best") or []:
            wanted.setdefault(int(b[0]), []).append((n, Box(*[int(v) for v in b[1:5]])))
    crops: dict[int, list[np.ndarray]] = {n: [] for n in range(len(tracks))}
    last = max(wanted, default=-1)
    with private_copy(original) as src:
        info = probe(src, UNLIMITED)
        for i, rgb in enumerate(frames(src, info, UNLIMITED)):
            if i > last:
                break
            for n, box in wanted.get(i, ()):
                side = round(max(box.width, box.height) * CROP_GROWTH)
                cx, cy = (box.x0 + box.x1) // 2, (box.y0 + box.y1) // 2
                c = Box(cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2)
                c = c.clip(rgb.shape[1], rgb.shape[0])
                if c.width < 2 or c.height < 2:
                    continue
                crop = rgb[c.y0:c.y1, c.x0:c.x1]
                scale = STRIP_HEIGHT / crop.shape[0]
                crops[n].append(cv2.resize(crop, (max(1, round(crop.shape[1] * scale)),
                                                  STRIP_HEIGHT), interpolation=cv2.INTER_AREA))
    out = []
    for n in range(len(tracks)):
        colour = render.COLOURS.get((faces[n] if n < len(faces) else {}).get("label"),
                                    render.COLOURS["unknown"])
        gap = np.full((STRIP_HEIGHT, 6, 3), colour, np.uint8)
        parts = [p for c in crops[n] for p in (c, gap)][:-1] or [gap]
        strip = np.concatenate(parts, axis=1)
        border = np.full((STRIP_HEIGHT + 12, strip.shape[1] + 12, 3), colour, np.uint8)
        border[6:-6, 6:-6] = strip
        out.append(render.jpeg(Image.fromarray(border)))
    return out

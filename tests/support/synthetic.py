"""Test photos made at test time from the bundled public-domain samples (samples/), so that tests
of the detector, the encoder and redaction run from the repository alone.

Only the samples' pixels are used (no other photo may be copied into the repository): their faces
are cut out with the real detector, scaled, turned, mirrored or degraded, and pasted onto a canvas
of noise or of a faceless part of a sample photo. Every helper returns the boxes where the faces
were put, so a test can check what the detector finds against where the faces really are.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from safeguard.faces import Box

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# The sample faces: each photo with one face, and the two people of assembly.jpg.
FACE_PHOTOS = ("references/ada-1.jpg", "references/ada-2.jpg", "references/ben-1.jpg",
               "photos/visit.jpg", "photos/assembly.jpg")


@cache
def _sample(rel: str) -> np.ndarray:
    from safeguard.images import load_image

    rgb = load_image(SAMPLES / rel).rgb
    rgb.setflags(write=False)
    return rgb


def sample(rel: str) -> np.ndarray:
    """A writable copy of a sample photo (`rel` under samples/, e.g. "photos/visit.jpg")."""
    return _sample(rel).copy()


@cache
def _faces() -> tuple[tuple[str, Box], ...]:
    from safeguard.detect import detect_faces

    out = []
    for rel in FACE_PHOTOS:
        found = sorted(detect_faces(_sample(rel)), key=lambda f: f.box.x0)
        out += [(rel, f.box) for f in found if f.score >= 0.5]
    return tuple(out)


def sample_faces(mirrored: bool = False) -> list[tuple[np.ndarray, Box]]:
    """Every face of the samples (six: five photos, two people in assembly.jpg), as (photo, box)
    found by the real detector; with `mirrored`, their mirror images follow (twelve in all)."""
    out = [(sample(rel), box) for rel, box in _faces()]
    if mirrored:
        for rgb, b in list(out):
            w = rgb.shape[1]
            out.append((np.ascontiguousarray(rgb[:, ::-1]), Box(w - b.x1, b.y0, w - b.x0, b.y1)))
    return out


def face_tile(rgb: np.ndarray, face: Box, face_width: int, context: float = 2.0
              ) -> tuple[np.ndarray, Box]:
    """The face with `context` times its size around it (clipped to the photo), scaled so the
    face is `face_width` px wide; returns the tile and the face's box in it."""
    half = context * max(face.width, face.height) / 2
    cx, cy = (face.x0 + face.x1) / 2, (face.y0 + face.y1) / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(rgb.shape[1], int(cx + half)), min(rgb.shape[0], int(cy + half))
    s = face_width / face.width
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    tile = cv2.resize(rgb[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=interp)
    box = Box(round((face.x0 - x0) * s), round((face.y0 - y0) * s),
              round((face.x1 - x0) * s), round((face.y1 - y0) * s))
    return np.ascontiguousarray(tile), box


def turned(tile: np.ndarray, box: Box, k: int) -> tuple[np.ndarray, Box]:
    """`tile` after np.rot90(tile, k) (k quarter turns counter-clockwise), and where `box` went."""
    for _ in range(k % 4):
        w = tile.shape[1]
        tile = np.ascontiguousarray(np.rot90(tile))
        box = Box(box.y0, w - box.x1, box.y1, w - box.x0)
    return tile, box


def place(canvas: np.ndarray, tile: np.ndarray, box: Box, x: int, y: int) -> Box:
    """Paste `tile` with its top-left corner at (x, y); returns `box` in canvas pixels."""
    canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return Box(box.x0 + x, box.y0 + y, box.x1 + x, box.y1 + y)


def noise_canvas(width: int, height: int, seed: int = 0, lo: int = 90, hi: int = 150) -> np.ndarray:
    """A plain grey canvas of uniform noise: no face, nothing face-like."""
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=(height, width, 3), dtype=np.uint8)


def faceless_scene(width: int, height: int) -> np.ndarray:
    """A real photo with no face in it, `width` x `height`: the part of visit.jpg left of the
    person (chandelier, curtain, wall, a table), mirrored into a wider scene and scaled."""
    rgb = _sample("photos/visit.jpg")
    strip = rgb[:, :200]  # the person's elbow reaches x ~ 230
    scene = np.hstack([strip, strip[:, ::-1]] * 3)
    return np.ascontiguousarray(
        cv2.resize(scene, (width, height), interpolation=cv2.INTER_CUBIC))


def poor_copy(tile: np.ndarray, factor: float) -> np.ndarray:
    """`tile` as a poor camera gives it: grey, with `factor` of its resolution, soft and flat."""
    h, w = tile.shape[:2]
    grey = cv2.cvtColor(cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    small = cv2.resize(grey, (max(1, round(w * factor)), max(1, round(h * factor))),
                       interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


def collage(width: int = 1986, height: int = 1545, cols: int = 7, rows: int = 4,
            widths: tuple[int, ...] = (50, 70, 90, 110), ground: tuple[int, int, int] | None = None
            ) -> tuple[np.ndarray, list[Box]]:
    """A `cols` x `rows` grid of the sample faces and their mirror images on a faceless scene
    (or on a plain `ground` colour),
    row r's faces `widths[r % len(widths)]` px wide, each centred in its cell (with an odd
    `cols`, the middle column sits on the photo's vertical centre line)."""
    if ground is None:
        canvas = faceless_scene(width, height)
    else:
        canvas = np.empty((height, width, 3), np.uint8)
        canvas[:] = ground
    faces = sample_faces(mirrored=True)
    cw, ch = width / cols, height / rows
    boxes = []
    for n in range(cols * rows):
        r, c = divmod(n, cols)
        rgb, face = faces[n % len(faces)]
        tile, box = face_tile(rgb, face, widths[r % len(widths)], context=1.8)
        th, tw = tile.shape[:2]
        tile = tile[: int(ch) - 4, : int(cw) - 4]
        x = max(0, int((c + 0.5) * cw - tw / 2))
        y = max(0, int((r + 0.5) * ch - min(th, int(ch) - 4) / 2))
        boxes.append(place(canvas, tile, box, x, y))
    return canvas, boxes


def photo_with_signs(photo: str, signs, font=None, align: str = "left") -> np.ndarray:
    """samples/photos/`photo` at 12 MP (4000x3000) with each sign (text, x, y, capital height px)
    on a panel reaching one capital height past its letters, dark on light and light on dark in
    turn. `font(size)`: the font for a size (default Pillow's built-in one). A sign of several
    lines ("Ada\nExample") has its lines aligned `align` ("left", "center", "right")."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.open(SAMPLES / "photos" / photo).convert("RGB").resize((4000, 3000))
    d = ImageDraw.Draw(im)
    for i, (words, x, y, cap) in enumerate(signs):
        size = int(cap / 0.73)
        f = font(size) if font else ImageFont.load_default(size=size)
        box = d.textbbox((x, y), words, font=f, align=align)
        dark = i % 2 == 0
        d.rectangle((box[0] - cap, box[1] - cap, box[2] + cap, box[3] + cap),
                    fill="white" if dark else (20, 20, 30))
        d.text((x, y), words, font=f, fill="black" if dark else "white", align=align)
    return np.asarray(im)

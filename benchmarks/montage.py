"""Shared by the accuracy and speed harnesses: the test data, the enrol/probe split, montages.

Identities with several photos are split into reference photos (enrolled) and probe photos
(placed into montages). Near-duplicates (the same photo resized, cropped or re-saved) stay on one
side of the split: see /work/shared/testdata/README.md. Labels with a single photo are impostors:
never enrolled, they stand for the unenrolled faces a school photo is full of.

Montages are built in memory and never written next to the code: most of these photos may not be
redistributed (only the White House ones are public domain).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(os.environ.get("SAFEGUARD_TESTDATA", ROOT.parent / "shared" / "testdata")).resolve()
IDS = TESTDATA / "identities"

# identity -> (reference photos to enrol, probe photos). 1 to 3 references per identity.
SPLIT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # obama2 and 32bit.png are one photo; obama.jpg, -480p, _small and the partial crops are
    # another: each group stays on one side (the duplicates of obama.jpg are left out of probes).
    "obama": (("fr__obama2.jpg",), ("fr__obama.jpg", "fr__obama1.jpg", "fr__obama3.jpg")),
    "biden": (("fr__biden2.jpg",), ("fr__biden.jpg",)),
    "alex_lacamoire": (
        ("fr__alex_lacamoire1.jpg",),
        ("fr__alex-lacamoire.png", "fr__alex_lacamoire_img1.jpg"),
    ),
    "kit_harington": (("fr__john1.jpeg", "fr__john2.jpeg"), ("fr__johnsnow_test1.jpg",)),
    "clapton": (("of__clapton-1.jpg",), ("of__clapton-2.jpg",)),
    "lennon": (("of__lennon-1.jpg",), ("of__lennon-2.jpg",)),
    "Rob_Lowe": (("if__Rob_Lowe_0001.jpg",), ("if__Rob_Lowe_0002.jpg",)),
    "rose_leslie": (("fr__rose_leslie_img1.jpg",), ("fr__rose_leslie_img2.jpg",)),
    "human_stock_a": (
        ("hu__stock-emotions-a-1.jpg", "hu__stock-emotions-a-2.jpg", "hu__stock-emotions-a-3.jpg"),
        tuple(f"hu__stock-emotions-a-{i}.jpg" for i in range(4, 9)),
    ),
    "inspireface_RD": (
        ("if__RD_d1.jpeg", "if__RD_d2.jpeg"),
        ("if__RD_d3.jpeg", "if__RD_d4.jpeg", "if__RD_d5.jpeg"),
    ),
}
IMPOSTORS = (
    "Mary_Katherine_Smart",
    "Nathalie_Baye",
    "Teresa_Williams",
    "Tom_Cruise",
    "Tom_Hanks",
    "adams",
    "carell",
    "lin_manuel_miranda",
)
# Two role assignments so every identity is probed both as restricted and as consenting. Obama and
# Biden (obama3.jpg and biden.jpg are crops of one photo) are always on opposite sides.
ROLES_A = ("obama", "alex_lacamoire", "clapton", "Rob_Lowe", "human_stock_a")


def have_testdata() -> bool:
    return (TESTDATA / "manifest.csv").exists()


@dataclass
class Source:
    identity: str
    name: str
    rgb: np.ndarray
    box: tuple[int, int, int, int]  # x0 y0 x1 y1 of the face in rgb


def load_source(identity: str, name: str):
    """The photo, upright, and its largest face (found by the product's detector)."""
    from safeguard.detect import detect_faces
    from safeguard.images import load_image

    rgb = load_image(IDS / identity / name).rgb
    faces = detect_faces(rgb)
    if not faces:
        raise RuntimeError(f"no face in source {identity}/{name}")
    b = max(faces, key=lambda f: f.box.area).box
    return Source(identity, name, rgb, (b.x0, b.y0, b.x1, b.y1))


def impostor_files() -> list[tuple[str, str]]:
    out = []
    for ident in IMPOSTORS:
        files = sorted(p.name for p in (IDS / ident).iterdir() if p.is_file())
        out.append((ident, files[0]))
    return out


@dataclass
class Placed:
    """One face placed into a montage: where it is (truth box) and what it is."""

    identity: str
    name: str
    kind: str  # "probe" | "impostor"
    size: int  # face width in px
    angle: int  # degrees the face was turned counter-clockwise in the pixels (0, 90, 180, 270)
    box: tuple[int, int, int, int]


def make_tile(src: Source, face_w: int, angle: int, context: float = 2.0):
    """A crop around the face, scaled so the face is `face_w` px wide and turned `angle` degrees
    counter-clockwise (np.rot90). Returns the tile and the face's box in it."""
    x0, y0, x1, y1 = src.box
    h, w = src.rgb.shape[:2]
    cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    half = context * max(bw, bh) / 2
    cx0, cy0 = max(0, int(cx - half)), max(0, int(cy - half))
    cx1, cy1 = min(w, int(cx + half)), min(h, int(cy + half))
    crop = src.rgb[cy0:cy1, cx0:cx1]
    s = face_w / bw
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    tile = cv2.resize(
        crop,
        (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
        interpolation=interp,
    )
    box = ((x0 - cx0) * s, (y0 - cy0) * s, (x1 - cx0) * s, (y1 - cy0) * s)
    for _ in range(angle // 90):
        tw = tile.shape[1]
        tile = np.rot90(tile)
        bx0, by0, bx1, by1 = box
        box = (by0, tw - bx1, by1, tw - bx0)  # (x, y) -> (y, W - x)
    return np.ascontiguousarray(tile), tuple(round(v) for v in box)


def background(width: int, height: int) -> np.ndarray:
    """A real faceless photo (a landscape from the test data) as the montage's ground."""
    from safeguard.images import load_image

    land = load_image(TESTDATA / "negatives" / "if__view.jpg").rgb
    return cv2.resize(land, (width, height), interpolation=cv2.INTER_CUBIC)


def pack(
    tiles: list[tuple[np.ndarray, tuple[int, int, int, int], object]],
    width: int = 4000,
    height: int = 3000,
    gap: int = 40,
    seed: int = 0,
):
    """Shelf-pack tiles (image, face box, tag) onto as many width x height canvases as needed.

    Returns [(canvas, [(box in canvas, tag), ...]), ...]."""
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(tiles)))
    ground = background(width, height)
    canvases: list[tuple[np.ndarray, list]] = []
    canvas, placed = ground.copy(), []
    x = y = gap
    row_h = 0
    for i in order:
        img, box, tag = tiles[i]
        th, tw = img.shape[:2]
        if x + tw + gap > width:
            x, y, row_h = gap, y + row_h + gap, 0
        if y + th + gap > height:
            canvases.append((canvas, placed))
            canvas, placed = ground.copy(), []
            x = y = gap
            row_h = 0
        canvas[y : y + th, x : x + tw] = img
        placed.append(((box[0] + x, box[1] + y, box[2] + x, box[3] + y), tag))
        x += tw + gap
        row_h = max(row_h, th)
    if placed:
        canvases.append((canvas, placed))
    return canvases

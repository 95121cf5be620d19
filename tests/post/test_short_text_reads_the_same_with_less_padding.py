"""The recogniser pads each region only to REC_MIN_WIDTH (safeguard.text), not to PP-OCR's 320 px:
short regions (class names, single words, most of what a busy photo holds) read in a fraction of
the time. What it reads must not change: the same photo read both ways gives the same text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from safeguard import text
from safeguard.shipped import path as shipped

WORDS = ["4O", "6B", "Year 4 Oak", "Ada Example", "EXIT", "Class 3", "Lovelace"]


def _photo() -> np.ndarray:
    im = Image.open(shipped("samples") / "photos" / "assembly.jpg").convert("RGB")
    im = im.resize((4000, 3000))
    d = ImageDraw.Draw(im)
    for i, words in enumerate(WORDS):
        cap = (28, 40, 64)[i % 3]
        f = ImageFont.truetype("DejaVuSans.ttf", int(cap / 0.73)) if _dejavu() else \
            ImageFont.load_default(size=int(cap / 0.73))
        x, y = 250 + (i % 3) * 1250, 300 + (i // 3) * 900
        box = d.textbbox((x, y), words, font=f)
        dark = i % 2 == 0
        d.rectangle((box[0] - cap, box[1] - cap, box[2] + cap, box[3] + cap),
                    fill="white" if dark else (20, 20, 30))
        d.text((x, y), words, font=f, fill="black" if dark else "white")
    return np.asarray(im)


def _dejavu() -> bool:
    try:
        ImageFont.truetype("DejaVuSans.ttf", 10)
        return True
    except OSError:
        return False


def _readings(rgb) -> list[tuple[tuple[int, int, int, int], str]]:
    return sorted(((r.box.x0, r.box.y0, r.box.x1, r.box.y1), r.text) for r in text.read_text(rgb))


@pytest.fixture
def fresh_engines(monkeypatch):
    monkeypatch.setattr(text, "_engines", {})


def test_short_regions_read_the_same_padded_less_as_padded_to_320(fresh_engines, monkeypatch):
    assert text.REC_MIN_WIDTH < 320
    rgb = _photo()
    ours = _readings(rgb)
    monkeypatch.setattr(text, "_engines", {})
    monkeypatch.setattr(text, "REC_MIN_WIDTH", 320)
    theirs = _readings(rgb)
    def fold(t: str) -> str:  # "4O" reads as "40" either way: the name matcher allows for it
        return " ".join(t.split()).replace("O", "0")

    read = {fold(t) for _, t in ours}
    assert {fold(w) for w in WORDS} <= read, read
    assert ours == theirs

"""The recogniser pads each region only to REC_MIN_WIDTH (safeguard.text), not to PP-OCR's 320 px:
short regions (class names, single words, most of what a busy photo holds) read in a fraction of
the time. What it reads must not change: the same photo read both ways gives the same text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageFont
from support.synthetic import photo_with_signs

from safeguard import text

pytestmark = pytest.mark.model  # reads text with the OCR models

WORDS = ["4O", "6B", "Year 4 Oak", "Ada Example", "EXIT", "Class 3", "Lovelace"]


def _photo() -> np.ndarray:
    signs = [(words, 250 + (i % 3) * 1250, 300 + (i // 3) * 900, (28, 40, 64)[i % 3])
             for i, words in enumerate(WORDS)]
    return photo_with_signs("assembly.jpg", signs, _font)


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


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

"""In a pool of workers the text detector runs a large input as two halves, each with context
past the split, to bound its memory (safeguard.text.in_halves): the same text is found and read,
across the split and on either side of it. The stitched probability map is not exactly the whole
image's (the detector's attention blocks pool over the whole input), but it differs in few pixels:
on the 39 photos of benchmarks/bench_text.py both cover the same names."""

import cv2
import numpy as np
from conftest import SAMPLES
from PIL import Image, ImageDraw, ImageFont

from safeguard import text, text_detector

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _scene(turn: int) -> np.ndarray:
    im = Image.open(SAMPLES / "photos" / "visit.jpg").convert("RGB").resize((4000, 3000))
    d = ImageDraw.Draw(im)
    for words, x, y, size in [("Ada Example", 1700, 1400, 60),    # across the split
                              ("Year 4 Oak", 300, 2500, 40), ("Sports Day", 3000, 300, 28)]:
        f = ImageFont.truetype(FONT, size)
        w = d.textlength(words, font=f)
        d.rectangle([x - 20, y - 20, x + w + 20, y + size * 1.5], fill="white")
        d.text((x, y), words, font=f, fill="black")
    return np.ascontiguousarray(np.rot90(np.asarray(im), k=turn // 90))


def test_halves_find_and_read_what_the_whole_image_gives(monkeypatch):
    sess = text_detector.session(1)
    for turn in (0, 90):  # split across the width, then across the height
        rgb = _scene(turn)
        h, w = rgb.shape[:2]
        scale = text.DET_SIDE / max(h, w)
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        assert small.shape[0] * small.shape[1] > text.HALVES_ABOVE
        whole = text._probability(sess, small, halves=False)
        halves = text._probability(sess, small, halves=True)
        assert whole.shape == halves.shape == (1, 1, *small.shape[:2])
        text_px = whole > 0.3
        assert np.count_nonzero(np.abs(whole - halves) > 0.3) < 0.05 * np.count_nonzero(text_px)
        read = {}
        for on in (False, True):
            monkeypatch.setattr(text, "_halves", on)
            read[on] = sorted(r.text.strip() for r in text.read_text(rgb))
        assert read[True] == read[False] == ["Ada Example", "Sports Day", "Year 4 Oak"], read

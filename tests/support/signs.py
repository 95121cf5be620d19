"""Photos with signs drawn on them, blurred through the CLI and read again afterwards: what the
tests of names in the picture share (how the signs are drawn is support.synthetic's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageFont

from support.helpers import json_lines, run_cli
from support.synthetic import photo_with_signs

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TESSERACT = shutil.which("tesseract")


def font(size: int):
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def signed_photo(path: Path, signs, align: str = "left") -> Path:
    """samples' visit.jpg at 12 MP with `signs` (text, x, y, capital height) drawn in DejaVu Sans,
    saved as a JPEG at `path`."""
    Image.fromarray(photo_with_signs("visit.jpg", signs, font, align)).save(path, "JPEG",
                                                                           quality=92)
    return path


def texts_in(path) -> str:
    """Everything safeguard's own reader reads in the photo at `path`, joined by spaces."""
    from safeguard.text import read_text

    return " ".join(r.text for r in read_text(np.asarray(Image.open(path).convert("RGB"))))


def tesseract_reads(path) -> str | None:
    """What Debian's tesseract, a reader independent of safeguard's, reads (None without it)."""
    if not TESSERACT:
        return None
    return subprocess.run([TESSERACT, str(path), "stdout"], capture_output=True, text=True,
                          timeout=300, check=True).stdout


def blur(home, src: Path, out: Path, channel: str = "website"):
    """`safeguard blur` of one photo as the test DSL: (click's result, the photo's JSON line)."""
    r = run_cli("--home", home.root, "blur", src, "--out", out, "--channel", channel, "--json",
                "--jobs", "1")
    [line] = json_lines(r.stdout)
    return r, line

"""Pictures for the DSL, drawn server-side: every face outlined and labelled, the redacted
preview, thumbnails. Everything here is DSL-only (labels carry pupil names and reasons).

Images are served as fresh JPEGs without metadata, scaled down for the screen.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from safeguard.faces import Box

SCREEN_SIDE = 1400
THUMB_SIDE = 480
COLOURS = {  # outline colours: red restricted, amber unknown, green cleared
    "restricted": (220, 38, 38),
    "unknown": (245, 158, 11),
    "cleared": (22, 163, 74),
}


def face_label(face: Mapping, names: Mapping[str, str]) -> tuple[str, str]:
    """(title, detail) for one face record: pupil name and reason for restricted faces,
    "unknown", "cleared" (with the name)."""
    label = face.get("label", "unknown")
    pupil = face.get("pupil")
    who = names.get(pupil, pupil) if pupil else None
    if label == "restricted":
        return (who or "restricted"), (face.get("reason") or "restricted")
    if label == "cleared":
        return "cleared", who or ""
    return "unknown", face.get("reason") or "matches no enrolled pupil"


def scale_to(rgb: np.ndarray, side: int) -> tuple[Image.Image, float]:
    im = Image.fromarray(rgb, "RGB")
    f = min(1.0, side / max(im.size))
    if f < 1.0:
        im = im.resize(
            (max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS
        )
    return im, f


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for path in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def annotate(
    rgb: np.ndarray, faces: list[Mapping], names: Mapping[str, str], side: int = SCREEN_SIDE
) -> Image.Image:
    """The photo scaled to `side` with every face outlined in its label's colour and tagged with
    its number, name (or "unknown" / "cleared") and, for restricted faces, the reason."""
    im, f = scale_to(rgb, side)
    draw = ImageDraw.Draw(im)
    width = max(2, round(max(im.size) / 300))
    big = _font(max(12, round(max(im.size) / 42)))
    small = _font(max(10, round(max(im.size) / 58)))
    for n, face in enumerate(faces, 1):
        x0, y0, x1, y1 = (round(v * f) for v in face["box"])
        colour = COLOURS.get(face.get("label"), COLOURS["unknown"])
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        title, detail = face_label(face, names)
        lines = [(f"{n} {title}", big)]
        if face.get("label") == "restricted" and detail:
            lines.append((detail, small))
        _tag(draw, im.size, (x0, y0, x1, y1), lines, colour)
    return im


def _tag(
    draw: ImageDraw.ImageDraw,
    size: tuple[int, int],
    box: tuple[int, int, int, int],
    lines: list,
    colour: tuple[int, int, int],
) -> None:
    """A filled label under the box (above it when there is no room below)."""
    pad = 3
    sizes = [draw.textbbox((0, 0), text, font=font) for text, font in lines]
    w = max(b[2] - b[0] for b in sizes) + 2 * pad
    h = sum(b[3] - b[1] + pad for b in sizes) + pad
    x = min(max(0, box[0]), max(0, size[0] - w))
    y = box[3] + 2 if box[3] + 2 + h <= size[1] else max(0, box[1] - h - 2)
    draw.rectangle((x, y, x + w, y + h), fill=colour)
    cy = y + pad
    for (text, font), b in zip(lines, sizes):
        draw.text((x + pad, cy - b[1]), text, fill=(255, 255, 255), font=font)
        cy += b[3] - b[1] + pad


def preview(
    rgb: np.ndarray,
    boxes: list[Box],
    redact_idx: Iterable[int],
    style: str,
    mask_scale: float,
    side: int = SCREEN_SIDE,
    text_boxes: list[Box] = (),
) -> Image.Image:
    """What a release would publish: the chosen faces redacted and text naming a pupil covered
    (at full resolution, exactly as the release does), then scaled for the screen."""
    from safeguard.redact import redact_chosen
    from safeguard.text import cover

    out = redact_chosen(rgb, boxes, redact_idx, style, mask_scale)
    if text_boxes:
        out = cover(out, list(text_boxes))
    return scale_to(out, side)[0]


def jpeg(im: Image.Image, quality: int = 85) -> bytes:
    """A fresh JPEG with no metadata."""
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, exif=b"", icc_profile=None)
    return buf.getvalue()


def data_uri(im: Image.Image, quality: int = 80) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg(im, quality)).decode("ascii")

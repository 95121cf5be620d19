"""The DSL's contact sheet: one thumbnail per hit, the matching face outlined."""


from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

from safeguard.index.search import Hit

# ---------------------------------------------------------------------------------------------
# The DSL's contact sheet


def render_contact_sheet(pupil_id: str, hits: list[Hit], tolerance: float, photos_searched: int,
                         unscanned: list[tuple[str, str]], thumb: int = 320) -> str:
    """A self-contained HTML page: one thumbnail per hit with the matching face outlined.

    Thumbnails are re-encoded from pixels (no EXIF, no GPS). A photo whose content changed since
    it was indexed, or that is gone, is listed without a thumbnail and says so."""
    from safeguard import shipped

    cards = []
    for h in hits:
        img, note = _thumbnail(h, thumb)
        faces = "; ".join(f"distance {f.distance:.3f}, box {f.box}" for f in h.faces)
        cards.append({"img": img, "note": note, "path": h.path, "faces": faces})
    return shipped.templates().get_template("published_photos.html.j2").render(
        pupil_id=pupil_id, cards=cards, tolerance=tolerance, photos_searched=photos_searched,
        unscanned=unscanned, thumb=thumb, when=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))


def _thumbnail(hit: Hit, size: int) -> tuple[str | None, str]:
    import io

    from PIL import Image, ImageDraw

    from safeguard.images import LoadError, decode_image, read_bytes

    try:
        data = read_bytes(Path(hit.path))
    except LoadError as e:
        return None, f"not readable now: {e}"
    note = ""
    if hit.sha256 and hashlib.sha256(data).hexdigest() != hit.sha256:
        note = "this file changed since it was indexed: run `safeguard index` again"
    try:
        rgb = decode_image(data).rgb
    except LoadError as e:
        return None, f"cannot be shown: {e}"
    im = Image.fromarray(rgb)
    scale = min(1.0, size / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(im)
    for f in hit.faces:
        x0, y0, x1, y1 = (round(v * scale) for v in f.box)
        for k in range(3):
            draw.rectangle([x0 - k, y0 - k, x1 + k, y1 + k], outline=(255, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode("ascii"), note

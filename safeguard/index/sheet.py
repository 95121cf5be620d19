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
    import html

    cards = []
    for h in hits:
        img, note = _thumbnail(h, thumb)
        faces = "; ".join(f"distance {f.distance:.3f}, box {f.box}" for f in h.faces)
        body = (f'<img src="data:image/jpeg;base64,{img}" alt="">' if img
                else f'<div class="missing">{html.escape(note)}</div>')
        cards.append(
            f'<figure>{body}<figcaption><code>{html.escape(h.path)}</code><br>'
            f'{html.escape(faces)}'
            + (f'<br><em>{html.escape(note)}</em>' if img and note else "")
            + "</figcaption></figure>")
    skipped = "".join(f"<li><code>{html.escape(p)}</code>: {html.escape(e)}</li>"
                      for p, e in unscanned)
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>DSL ONLY: published photos of pupil {html.escape(pupil_id)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#111}}
.dsl{{background:#b00020;color:#fff;padding:.8em 1em;font-weight:bold;border-radius:4px}}
.grid{{display:flex;flex-wrap:wrap;gap:1em}}
figure{{margin:0;width:{thumb}px}} figure img{{max-width:100%;border:1px solid #ccc}}
figcaption{{font-size:.8em}} figcaption code{{word-break:break-all}}
.missing{{width:{thumb}px;height:120px;background:#eee;display:flex;align-items:center;
justify-content:center;text-align:center}}
</style></head><body>
<p class="dsl">DSL ONLY. Safeguarding information: photos already published in which pupil
{html.escape(pupil_id)} appears. Do not share, forward or print; delete this file when done.</p>
<p>Made {when}. {len(hits)} photo(s) found among {photos_searched} indexed published photo(s)
(a face within {tolerance:.2f} of one of the pupil's stored encodings). Check each one: a match is
a likeness, not a proof.</p>
<div class="grid">{''.join(cards) or '<p>No photo found.</p>'}</div>
{f'<h2>Could not be scanned ({len(unscanned)})</h2><p>The pupil may be in these too; check them by hand.</p><ul>{skipped}</ul>' if unscanned else ''}
</body></html>
"""


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

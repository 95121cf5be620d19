"""A corpus made from the public-domain samples with metadata planted in every place a camera, a
phone or an editor puts it: EXIF with GPS, camera, dates, author and an embedded thumbnail of the
face; XMP; IPTC; an ICC profile; a JPEG comment; PNG text chunks and eXIf; WebP, TIFF and HEIC
containers; the same picture stored for each EXIF orientation 1 to 8; and broken files (cut
short, empty, not an image, a PNG named .jpg). tests/files/test_every_output_is_stripped.py runs
`safeguard blur` over it (and over the shared test data's real camera files when they are there).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from support.hostile_corpus import exif_orientation, stored_for_orientation
from support.stripped_checks import EXIFTOOL

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SECRET = "Ada Example"  # a pupil's name, planted everywhere text can go
XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>{SECRET}</dc:creator>'
    "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
)


def _exif(im: Image.Image, orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Safeguard Test Camera"  # Make
    exif[0x0110] = "Model 1"
    exif[0x0132] = "2026:11:30 10:00:00"  # DateTime
    exif[0x013B] = SECRET  # Artist
    exif[0x010E] = f"{SECRET} in 4O"  # ImageDescription
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (51.0, 30.0, 4.91), 3: "W", 4: (0.0, 8.0, 30.8)})
    return exif


def _thumbnail_jpeg(im: Image.Image) -> bytes:
    t = im.copy()
    t.thumbnail((160, 160))
    buf = io.BytesIO()
    t.save(buf, "JPEG")
    return buf.getvalue()


def build_planted(d: Path) -> dict[str, dict]:
    """Write the planted corpus into `d`; returns what each file should give, by name: its
    status (exported or rejected), whether GPS and EXIF were there to remove, and whether it is
    one of the broken files."""
    d.mkdir(parents=True, exist_ok=True)
    src = Image.open(SAMPLES / "photos" / "visit.jpg").convert("RGB")
    src.thumbnail((900, 900))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    # JPEG: EXIF (GPS, camera, author), XMP, ICC, a comment
    src.save(d / "camera.jpg", "JPEG", exif=_exif(src), xmp=XMP.encode(), icc_profile=icc,
             comment=SECRET.encode())
    # JPEG stored turned: the pixels lie on their side and Orientation 6 puts them upright
    src.transpose(Image.Transpose.ROTATE_90).save(d / "phone-turned.jpg", "JPEG",
                                                   exif=_exif(src, orientation=6))
    # PNG: text chunks and EXIF
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET)
    info.add_itxt("Description", f"{SECRET} at sports day", lang="en")
    src.save(d / "edited.png", "PNG", pnginfo=info, exif=_exif(src))
    src.save(d / "web.webp", "WEBP", exif=_exif(src), xmp=XMP.encode())
    src.save(d / "scan.tiff", "TIFF", exif=_exif(src))
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        src.save(d / "iphone.heic", "HEIF", exif=_exif(src).tobytes())
    except Exception:  # noqa: BLE001, S110 - no HEIC writer here: the other containers still run
        pass
    if EXIFTOOL:  # what Pillow cannot write: IPTC, and an EXIF thumbnail showing the face
        (d / "thumb.jpg").write_bytes(_thumbnail_jpeg(src))
        subprocess.run([EXIFTOOL, "-q", "-overwrite_original", f"-IPTC:By-line={SECRET}",
                        f"-IPTC:Caption-Abstract={SECRET} in 4O", "-ThumbnailImage<=" +
                        str(d / "thumb.jpg"), str(d / "camera.jpg")], check=True)
        (d / "thumb.jpg").unlink()
        # Pillow writes no GPS into a TIFF
        subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-GPSLatitude=51.5",
                        "-GPSLatitudeRef=N", "-GPSLongitude=0.14", "-GPSLongitudeRef=W",
                        str(d / "scan.tiff")], check=True)

    expect = {p.name: {"status": "exported", "gps": p.name != "scan.tiff" or bool(EXIFTOOL),
                       "exif": True} for p in d.iterdir()}
    # the same picture stored for each EXIF orientation: every output comes out upright
    upright = np.asarray(src.resize((src.width // 2, src.height // 2)))
    for k in range(1, 9):
        buf = io.BytesIO()
        Image.fromarray(stored_for_orientation(upright, k)).save(
            buf, "JPEG", quality=92, exif=exif_orientation(k))
        (d / f"orientation-{k}.jpg").write_bytes(buf.getvalue())
        expect[f"orientation-{k}.jpg"] = {"status": "exported", "gps": False, "exif": True}
    # broken files: rejected, but a PNG named .jpg is decoded by its content
    whole = (d / "camera.jpg").read_bytes()
    broken = {"cut-short.jpg": (whole[: len(whole) * 6 // 10], "rejected"),
              "empty.jpg": (b"", "rejected"),
              "not-an-image.png": (b"Ada Example, 4O\n", "rejected")}
    png = io.BytesIO()
    src.save(png, "PNG")
    broken["png-named.jpg"] = (png.getvalue(), "exported")
    for name, (data, status) in broken.items():
        (d / name).write_bytes(data)
        expect[name] = {"status": status, "gps": False, "exif": False, "broken": True}
    return expect


ORIENTATIONS = [f"orientation-{k}.jpg" for k in range(1, 9)]

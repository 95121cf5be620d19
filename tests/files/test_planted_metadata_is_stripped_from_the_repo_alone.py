"""Metadata stripping, checked from a fresh clone without the shared test data (issue 16): the
public-domain sample photos are written here with metadata planted in every place a camera, a
phone or an editor puts it (EXIF with GPS, camera, dates, author and an embedded thumbnail of the
face; XMP; IPTC; an ICC profile; a JPEG comment; PNG text chunks and eXIf; WebP, TIFF and HEIC
containers), then `safeguard blur` runs over them and every output is checked by our own container
walk, Pillow, exifread and (when installed) exiftool. Orientation is applied to the pixels.

The fuller real-camera corpus (maker notes, MPF previews, extended XMP) is
test_every_output_is_stripped.py, which needs the shared data.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin
from support.helpers import json_lines, new_home, run_cli
from support.stripped_checks import (
    EXIFTOOL,
    EXIFTOOL_MISSING,
    assert_clean_file,
    exiftool_leftovers,
)

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


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("planted")
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
    return d


@pytest.fixture(scope="module")
def run(planted, tmp_path_factory):
    root = tmp_path_factory.mktemp("planted-run")
    result = run_cli("--home", new_home(root / "home").root, "blur", planted, "--out",
                     root / "out", "--json", "--jobs", "1")
    return {"result": result, "lines": {Path(x["input"]).name: x for x in json_lines(result.stdout)},
            "out": root / "out"}


def test_every_planted_file_is_exported_and_reported(run, planted):
    assert sorted(run["lines"]) == sorted(p.name for p in planted.iterdir())
    for name, line in run["lines"].items():
        assert line["status"] == "exported", (name, line["error"])
        if name != "scan.tiff" or EXIFTOOL:  # (Pillow alone writes no GPS into a TIFF)
            assert "GPS position removed" in " ".join(line["metadata_removed"]), name


def test_every_output_passes_our_checks_pillow_and_exifread(run):
    outputs = sorted(run["out"].iterdir())
    assert len(outputs) == len(run["lines"])
    for path in outputs:
        assert_clean_file(path)
        assert SECRET.encode() not in path.read_bytes()


def test_every_output_is_clean_for_exiftool(run):
    if EXIFTOOL is None:
        pytest.skip(EXIFTOOL_MISSING)
    assert exiftool_leftovers(sorted(run["out"].iterdir())) == {}


def test_orientation_is_applied_to_the_pixels(run):
    upright = np.asarray(Image.open(run["lines"]["camera.jpg"]["output"]).convert("L"), np.int16)
    turned = np.asarray(Image.open(run["lines"]["phone-turned.jpg"]["output"]).convert("L"),
                        np.int16)
    assert turned.shape == upright.shape
    assert np.abs(turned - upright).mean() < 8  # the same picture, the right way up

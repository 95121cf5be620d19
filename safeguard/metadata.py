"""Metadata: say what a file carries, write a fresh file that carries nothing, prove it.

Stripping works as an allow-list: the output is re-encoded from pixels alone, then its container
is walked and every segment or chunk that is not on the allow-list fails verification. A file that
fails is never exported.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image


class StripError(Exception):
    """The output still carries something it must not, or does not decode as written."""


# ---------------------------------------------------------------------------------------------
# What the input carries (reported as "... removed")


def inventory(data: bytes) -> list[str]:
    """Human-readable list of the metadata kinds in `data`, e.g. ["GPS position", "XMP"]."""
    found: list[str] = []

    def add(item: str) -> None:
        if item not in found:
            found.append(item)

    for item in _exif_items(data) or _pillow_exif_items(data):
        add(item)
    if data[:2] == b"\xff\xd8":
        for item in _jpeg_items(data):
            add(item)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        for item in _png_items(data):
            add(item)
    else:
        for item in _pillow_items(data):
            add(item)
    return found


_EXIF_GROUPS = [
    ("GPS ", "GPS position"),
    ("Image Make", "camera make and model"),
    ("Image Model", "camera make and model"),
    ("EXIF BodySerialNumber", "camera serial number"),
    ("MakerNote", "maker notes"),
    ("EXIF MakerNote", "maker notes"),
    ("EXIF DateTimeOriginal", "date and time taken"),
    ("Image DateTime", "date and time taken"),
    ("Image Artist", "author and copyright"),
    ("Image Copyright", "author and copyright"),
    ("Image ImageDescription", "caption"),
    ("EXIF UserComment", "caption"),
    ("Image XPComment", "caption"),
    ("Image XPTitle", "caption"),
    ("JPEGThumbnail", "embedded thumbnail"),
    ("TIFFThumbnail", "embedded thumbnail"),
    ("Thumbnail ", "embedded thumbnail"),
    ("Image Orientation", "orientation tag (applied to the pixels)"),
]


def _exif_items(data: bytes) -> list[str]:
    try:
        import exifread

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import logging

            logging.getLogger("exifread").setLevel(logging.CRITICAL)
            tags = exifread.process_file(io.BytesIO(data), details=True)
    except Exception:  # noqa: BLE001 - exifread is a reporter here, not a gate
        return []
    items: list[str] = []
    other = 0
    for key in tags:
        for prefix, label in _EXIF_GROUPS:
            if key.startswith(prefix):
                if label not in items:
                    items.append(label)
                break
        else:
            other += 1
    if other or items:
        items.append("EXIF block")
    return items


def _pillow_exif_items(data: bytes) -> list[str]:
    """EXIF that exifread does not find (WebP, some HEIC), read through Pillow."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif = Image.open(io.BytesIO(data)).getexif()
    except Exception:  # noqa: BLE001
        return []
    if not len(exif):
        return []
    items = []
    if exif.get_ifd(0x8825):
        items.append("GPS position")
    if 0x010F in exif or 0x0110 in exif:
        items.append("camera make and model")
    if 0x013B in exif or 0x8298 in exif:
        items.append("author and copyright")
    if 0x010E in exif:
        items.append("caption")
    if 0x0132 in exif or exif.get_ifd(0x8769).get(0x9003):
        items.append("date and time taken")
    items.append("EXIF block")
    return items


def _jpeg_items(data: bytes) -> list[str]:
    items = []
    for marker, payload in _jpeg_segments(data, stop_at_sos=True):
        if marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/xap/1.0/"):
            items.append("XMP")
        elif marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/xmp/extension/"):
            items.append("XMP")
        elif marker == 0xE1 and payload.startswith(b"Exif\x00"):
            continue
        elif marker == 0xED:
            items.append("IPTC / Photoshop data")
        elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE"):
            items.append("colour profile (converted to sRGB)")
        elif marker == 0xE2 and payload.startswith(b"MPF"):
            items.append("extra embedded images (MPF)")
        elif marker == 0xFE:
            items.append("comment")
        elif 0xE1 <= marker <= 0xEF:
            items.append("other application data")
    return items


def _png_items(data: bytes) -> list[str]:
    items = []
    for ctype, body in _png_chunks(data):
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            items.append("XMP" if body.startswith(b"XML:com.adobe.xmp") else "text chunks")
        elif ctype == b"iCCP":
            items.append("colour profile (converted to sRGB)")
        elif ctype == b"tIME":
            items.append("date and time")
        elif ctype not in _PNG_ALLOWED | {b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"pHYs",
                                           b"sBIT", b"bKGD", b"eXIf"}:
            items.append("other chunks")
    return items


def _pillow_items(data: bytes) -> list[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            info = dict(im.info)
    except Exception:  # noqa: BLE001
        return []
    items = []
    if any(k in info for k in ("xmp", "XML:com.adobe.xmp")) or 700 in getattr(im, "tag_v2", {}):
        items.append("XMP")
    if "icc_profile" in info and info["icc_profile"]:
        items.append("colour profile (converted to sRGB)")
    if "comment" in info:
        items.append("comment")
    tags = getattr(im, "tag_v2", {})
    if 33723 in tags or 34377 in tags:
        items.append("IPTC / Photoshop data")
    return items


# ---------------------------------------------------------------------------------------------
# Writing a clean file


def encode_clean(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Encode pixels into a new file that carries no metadata at all."""
    im = Image.fromarray(rgb, "RGB")
    im.info.clear()
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality, optimize=True, exif=b"", icc_profile=None)
    elif fmt == "png":
        im.save(buf, "PNG", optimize=False, compress_level=6)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return buf.getvalue()


def verify_clean(data: bytes, fmt: str, size: tuple[int, int]) -> None:
    """Raise StripError unless `data` is a `fmt` file of `size` (w, h) carrying no metadata."""
    if fmt == "jpeg":
        _verify_jpeg_container(data)
    elif fmt == "png":
        _verify_png_container(data)
    else:
        raise StripError(f"cannot verify format {fmt}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            im.load()
    except Exception as e:  # noqa: BLE001
        raise StripError(f"output does not decode: {e}") from None
    if im.size != tuple(size):
        raise StripError(f"output is {im.size}, expected {size}")
    if len(im.getexif()):
        raise StripError("output carries EXIF")
    leftovers = set(im.info) - {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi",
                                "progressive", "progression", "adobe", "adobe_transform"}
    if leftovers:
        raise StripError(f"output carries {', '.join(sorted(leftovers))}")
    if _exif_items(data):
        raise StripError("output carries EXIF (exifread)")


_JPEG_ALLOWED = {0xD8, 0xE0, 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD, 0xDA, 0xD9}


def _jpeg_segments(data: bytes, stop_at_sos: bool = False):
    """Yield (marker, payload) for each JPEG segment; raises StripError on malformed structure."""
    if data[:2] != b"\xff\xd8":
        raise StripError("not a JPEG")
    i = 2
    n = len(data)
    while i < n:
        if data[i] != 0xFF:
            raise StripError(f"bad JPEG structure at byte {i}")
        while i < n and data[i] == 0xFF:
            i += 1
        if i >= n:
            raise StripError("JPEG ends inside a marker")
        marker = data[i]
        i += 1
        if marker == 0xD9:
            yield marker, b""
            if i != n:
                raise StripError("data after the end of the JPEG")
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            yield marker, b""
            continue
        if i + 2 > n:
            raise StripError("JPEG ends inside a segment")
        (length,) = struct.unpack(">H", data[i : i + 2])
        payload = data[i + 2 : i + length]
        yield marker, payload
        i += length
        if marker == 0xDA:
            if stop_at_sos:
                return
            # entropy-coded data: skip to the next marker that is not a stuffed 0xFF00 or RSTn
            while i < n - 1:
                if data[i] == 0xFF and data[i + 1] != 0x00 and not 0xD0 <= data[i + 1] <= 0xD7:
                    break
                i += 1
    raise StripError("JPEG has no end marker")


def _verify_jpeg_container(data: bytes) -> None:
    for marker, payload in _jpeg_segments(data):
        if 0xD0 <= marker <= 0xD7:
            continue
        if marker not in _JPEG_ALLOWED:
            raise StripError(f"JPEG segment 0x{marker:02X} is not allowed in output")
        if marker == 0xE0 and not payload.startswith(b"JFIF\x00"):
            raise StripError("APP0 segment is not a plain JFIF header")
        if marker == 0xE0 and len(payload) > 14:
            raise StripError("JFIF header carries a thumbnail")


_PNG_ALLOWED = {b"IHDR", b"IDAT", b"IEND"}


def _png_chunks(data: bytes):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise StripError("not a PNG")
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        ctype = data[i + 4 : i + 8]
        yield ctype, data[i + 8 : i + 8 + length]
        i += 12 + length
        if ctype == b"IEND":
            if i != len(data):
                raise StripError("data after the end of the PNG")
            return
    raise StripError("PNG has no IEND chunk")


def _verify_png_container(data: bytes) -> None:
    for ctype, _ in _png_chunks(data):
        if ctype not in _PNG_ALLOWED:
            raise StripError(f"PNG chunk {ctype.decode('latin-1')} is not allowed in output")

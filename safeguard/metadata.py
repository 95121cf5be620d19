"""Metadata: say what a file carries, write a fresh file that carries nothing, prove it.

Stripping works as an allow-list: the output is re-encoded from pixels alone, then its container
is walked and every segment or chunk that is not on the allow-list fails verification. A file that
fails is never exported.
"""

from __future__ import annotations

import html
import io
import re
import struct
import warnings
import zlib

import numpy as np
from PIL import Image

from safeguard.config import Config


class StripError(Exception):
    """The output still carries something it must not, or does not decode as written."""


# ---------------------------------------------------------------------------------------------
# What the input carries (reported as "... removed")


def inventory(data: bytes) -> list[str]:
    """Human-readable list of the metadata kinds in `data`, e.g. ["GPS position", "XMP"]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's notes on odd tags are not for users
        return _inventory(data)


def _inventory(data: bytes) -> list[str]:
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
    try:
        for _ in _jpeg_segments(data):
            pass
    except StripError as e:
        items.append("data after the end of the image" if "after the end" in str(e)
                     else "malformed segments")
    try:
        items = _jpeg_header_items(data) + items
    except StripError:
        pass
    return items


def _jpeg_header_items(data: bytes) -> list[str]:
    items = []
    for marker, payload in _jpeg_segments(data, stop_at_sos=True):
        if marker == 0xE1 and payload.startswith(
            (b"http://ns.adobe.com/xap/1.0/", b"http://ns.adobe.com/xmp/extension/")
        ):
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
    items: list[str] = []
    try:
        _png_body_items(data, items)
    except StripError as e:
        items.append("data after the end of the image" if "after the end" in str(e)
                     else "malformed chunks")
    return items


def _png_body_items(data: bytes, items: list[str]) -> None:
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
    if info.get("icc_profile"):
        items.append("colour profile (converted to sRGB)")
    if "comment" in info:
        items.append("comment")
    if info.get("thumbnails"):  # HEIF
        items.append("embedded thumbnail")
    if info.get("depth_images") or info.get("aux"):  # HEIF depth maps, alpha/HDR planes
        items.append("auxiliary images (depth maps)")
    tags = getattr(im, "tag_v2", {})
    if 33723 in tags or 34377 in tags:
        items.append("IPTC / Photoshop data")
    return items


# ---------------------------------------------------------------------------------------------
# Caption-like text (screened for pupils' names; never exported: the output carries no metadata)

# EXIF IFD0 text fields: DocumentName, ImageDescription, XPTitle, XPComment, XPKeywords, XPSubject
_EXIF_TEXT_TAGS = (0x010D, 0x010E, 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F)
_XP_TAGS = {0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F}  # UTF-16LE bytes (Windows Explorer's fields)
_MAX_TEXT = 1 << 20  # decompressed PNG text is read up to 1 MB per chunk, then cut off


def caption_text(data: bytes) -> list[str]:
    """The caption-like text `data` carries, one string per field, for screening only.

    Read: EXIF descriptions and Windows XP title/comment/keywords/subject, the EXIF user comment,
    IPTC record 2 (caption, headline, object name, keywords, ...), every text value in XMP (so
    dc:title, dc:description and face-region names such as mwg-rs:Name), JPEG and GIF comments,
    and PNG tEXt/zTXt/iTXt chunks. Never raises: a field that cannot be read is skipped.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's notes on odd tags are not for users
        texts = _caption_texts(data)
    out: list[str] = []
    for t in texts:
        t = " ".join(t.replace("\x00", " ").split())
        if t and t not in out:
            out.append(t)
    return out


def _caption_texts(data: bytes) -> list[str]:
    im = _safely(_open_quietly, data)
    texts: list[str] = []
    if im is not None:
        for reader in (_exif_texts, _iptc_texts, _comment_texts):
            texts += _safely(reader, im) or []
    for packet in _safely(_xmp_packets, data, im) or []:
        texts += _safely(_xmp_texts, packet) or []
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        texts += _safely(_png_texts, data) or []
    return texts


def _safely(fn, *args):
    """fn(*args), or None when it raises: screening reads what it can and skips the rest."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - a field that cannot be read is skipped
        return None


def _open_quietly(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.open(io.BytesIO(data))


def _decode_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value).decode("latin-1")
    if isinstance(value, (list, tuple)):
        return " ".join(_decode_text(v) for v in value)
    return ""


def _exif_texts(im: Image.Image) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exif = im.getexif()
    out = []
    for tag in _EXIF_TEXT_TAGS:
        value = exif.get(tag)
        if value is None:
            continue
        if tag in _XP_TAGS and isinstance(value, (bytes, bytearray, tuple)):
            out.append(bytes(value).decode("utf-16-le", "replace"))
        else:
            out.append(_decode_text(value))
    comment = exif.get_ifd(0x8769).get(0x9286)  # UserComment: 8-byte charset, then the text
    if isinstance(comment, (bytes, bytearray)):
        head, body = bytes(comment[:8]), bytes(comment[8:])
        if head.startswith(b"UNICODE"):
            le = body.decode("utf-16-le", "replace")
            be = body.decode("utf-16-be", "replace")
            out += [le, be]
        else:
            out.append(_decode_text(body))
    elif isinstance(comment, str):
        out.append(comment)
    return out


def _iptc_texts(im: Image.Image) -> list[str]:
    from PIL import IptcImagePlugin

    info = IptcImagePlugin.getiptcinfo(im) or {}
    # record 2 is the application record; dataset 0 is only its version number
    return [_decode_text(v) for (record, ds), v in info.items() if record == 2 and ds != 0]


def _comment_texts(im: Image.Image) -> list[str]:
    out = []
    for marker, payload in getattr(im, "applist", []):
        if marker == "COM":
            out.append(_decode_text(payload))
    if "comment" in im.info:
        out.append(_decode_text(im.info["comment"]))
    return out


def _xmp_packets(data: bytes, im: Image.Image | None) -> list[bytes]:
    packets = []
    if data[:2] == b"\xff\xd8":
        try:
            for marker, payload in _jpeg_segments(data, stop_at_sos=True):
                if marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
                    packets.append(payload[29:])
                elif marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/xmp/extension/"):
                    packets.append(payload[35 + 40:])  # GUID(32) + full length + offset
        except StripError:
            pass
    if im is not None:
        for key in ("xmp", "XML:com.adobe.xmp"):
            value = im.info.get(key)
            if value:
                packets.append(value if isinstance(value, bytes) else str(value).encode())
        tag = getattr(im, "tag_v2", None)
        if tag is not None and 700 in tag:
            packets.append(bytes(tag[700]) if not isinstance(tag[700], str) else tag[700].encode())
    return packets


_XMP_NODE = re.compile(rb">([^<>]+)<")
_XMP_ATTR = re.compile(rb"""([\w.-]+:[\w.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _xmp_texts(packet: bytes) -> list[str]:
    """Every element text and attribute value of an XMP packet (regexes, not an XML parser:
    the packet is untrusted and only read for screening)."""
    packet = packet[: 4 * _MAX_TEXT]
    out = []
    for m in _XMP_NODE.finditer(packet):
        out.append(html.unescape(_decode_text(m.group(1))))
    for m in _XMP_ATTR.finditer(packet):
        name = m.group(1)
        if name.startswith((b"xmlns:", b"rdf:", b"xml:", b"x:")):
            continue
        out.append(html.unescape(_decode_text(m.group(2) or m.group(3) or b"")))
    return [t for t in out if t.strip()]


def _png_texts(data: bytes) -> list[str]:
    out = []
    try:
        for ctype, body in _png_chunks(data):
            if ctype == b"tEXt":
                key, _, value = body.partition(b"\x00")
                out.append(value.decode("latin-1"))
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                out.append(_inflate(rest[1:]).decode("latin-1"))
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed, rest = rest[:1] == b"\x01", rest[2:]
                _, _, rest = rest.partition(b"\x00")  # language tag
                _, _, text = rest.partition(b"\x00")  # translated keyword
                text = _inflate(text) if compressed else text
                if key == b"XML:com.adobe.xmp":
                    out += _xmp_texts(text)
                else:
                    out.append(text.decode("utf-8", "replace"))
    except StripError:
        pass
    return out


def _inflate(data: bytes) -> bytes:
    """zlib-decompress at most _MAX_TEXT bytes (a text chunk may be a zip bomb)."""
    try:
        return zlib.decompressobj().decompress(data, _MAX_TEXT)
    except zlib.error:
        return b""


# ---------------------------------------------------------------------------------------------
# Writing a clean file


def encode_clean(rgb: np.ndarray, fmt: str = Config.output_format,
                 quality: int = Config.jpeg_quality) -> bytes:
    """Encode pixels into a new file that carries no metadata at all."""
    im = Image.fromarray(rgb, "RGB")
    im.info.clear()
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality, exif=b"", icc_profile=None)
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
            if im.size != tuple(size):
                raise StripError(f"output is {im.size}, expected {size}")
            if fmt == "jpeg":
                # Decoded at an eighth of its size: every byte of the stream is still read and
                # entropy-decoded (a truncated or damaged stream fails as at full size), only the
                # inverse DCT is smaller. 15 ms for a 12 MP copy instead of 57.
                im.draft(im.mode, (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            im.load()
    except StripError:
        raise
    except Exception as e:  # noqa: BLE001
        raise StripError(f"output does not decode: {e}") from None
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
            while True:
                i = data.find(b"\xff", i)
                if i < 0 or i >= n - 1:
                    i = n
                    break
                nxt = data[i + 1]
                if nxt != 0x00 and nxt != 0xFF and not 0xD0 <= nxt <= 0xD7:
                    break
                i += 1 if nxt == 0xFF else 2
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

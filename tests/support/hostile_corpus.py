"""Broken and hostile files, made at test time (no committed binaries).

`build_corpus(directory)` writes every case into `directory` and returns what each one must
become: a verified, stripped export or a rejection whose one-line reason contains `reason`.
The small builders (`pattern`, `jpeg`, `png`, `insert_segment`, `tiff_exif`, ...) are shared with
the fuzz target, which mutates their output.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
FACE_PHOTO = REPO / "samples" / "references" / "ben-1.jpg"

# An enrolled pupil in the demo home (tests/conftest.py): her full name must never be exported.
PUPIL = "Ada Example"


@dataclass
class Case:
    name: str | bytes  # file name inside the corpus folder (bytes: not valid UTF-8)
    expect: str  # "exported" | "rejected"
    reason: str = ""  # for rejections: a substring of the one-line reason
    note: str = ""
    flag: str = ""  # a substring that must appear in the outcome's flags
    tags: set[str] = field(default_factory=set)

    @property
    def fs_name(self) -> str:
        return os.fsdecode(self.name)


# ---------------------------------------------------------------------------------------------
# Pixels and containers


def pattern(w: int = 240, h: int = 160) -> np.ndarray:
    """A smooth, asymmetric, faceless picture: any wrong rotation or mirror shows in the pixels."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[..., 0] = (x / max(w - 1, 1) * 255).astype(np.uint8)
    rgb[..., 1] = (y / max(h - 1, 1) * 255).astype(np.uint8)
    rgb[..., 2] = ((x + 2 * y) / (w + 2 * h) * 255).astype(np.uint8)
    rgb[h // 8 : h // 3, w // 10 : w // 3] = (250, 30, 30)  # a red block near the top left
    rgb[h // 2 : h - h // 6, w - w // 5 : w - w // 12] = (20, 20, 200)  # a blue one lower right
    return rgb


def face_rgb(size: int = 160) -> np.ndarray:
    """A real face (bundled public-domain reference photo): the 'different picture'."""
    im = Image.open(FACE_PHOTO).convert("RGB")
    im.thumbnail((size, size))
    return np.asarray(im)


def jpeg(rgb: np.ndarray, quality: int = 95, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def segment(marker: int, payload: bytes) -> bytes:
    assert len(payload) + 2 <= 0xFFFF, "JPEG segment too long"
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def insert_segment(data: bytes, marker: int, payload: bytes, after_app0: bool = True) -> bytes:
    """Insert one marker segment right after SOI (and after a JFIF APP0 when there is one)."""
    assert data[:2] == b"\xff\xd8"
    pos = 2
    if after_app0 and data[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:pos] + segment(marker, payload) + data[pos:]


def drop_segments(data: bytes, marker: int) -> bytes:
    """Remove every header segment with `marker` (before the first SOS)."""
    out = bytearray(data[:2])
    i = 2
    while i < len(data):
        m = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if m == 0xDA:
            out += data[i:]
            break
        if m != marker:
            out += data[i : i + 2 + length]
        i += 2 + length
    return bytes(out)


def xmp_packet(**fields: str) -> bytes:
    body = "".join(
        f"<{k}><rdf:Alt><rdf:li xml:lang='x-default'>{v}</rdf:li></rdf:Alt></{k}>"
        for k, v in fields.items()
    )
    return (
        "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>"
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
        "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        "<rdf:Description rdf:about='' xmlns:dc='http://purl.org/dc/elements/1.1/' "
        "xmlns:tiff='http://ns.adobe.com/tiff/1.0/'>"
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
    ).encode()


def xmp_app1(packet: bytes) -> bytes:
    return b"http://ns.adobe.com/xap/1.0/\x00" + packet


def iptc_app13(caption: str) -> bytes:
    text = caption.encode()
    iptc = b"\x1c\x02\x00\x00\x02\x00\x04" + b"\x1c\x02\x78" + struct.pack(">H", len(text)) + text
    if len(iptc) % 2:
        iptc += b"\x00"
    return b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png(
    width: int,
    height: int,
    bit_depth: int,
    color_type: int,
    rows: np.ndarray,
    before_idat: list[tuple[bytes, bytes]] = (),
    after_iend: bytes = b"",
) -> bytes:
    """A hand-written PNG (Pillow cannot write 16-bit colour): `rows` is H x (W*channels) of
    uint8 or big-endian-ready uint16 samples."""
    raw = rows.astype(">u2").tobytes() if bit_depth == 16 else rows.astype(np.uint8).tobytes()
    stride = len(raw) // height
    scan = b"".join(b"\x00" + raw[r * stride : (r + 1) * stride] for r in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    for ctype, body in before_idat:
        out += png_chunk(ctype, body)
    return out + png_chunk(b"IDAT", zlib.compress(scan, 9)) + png_chunk(b"IEND", b"") + after_iend


def png_insert_chunk(data: bytes, ctype: bytes, body: bytes) -> bytes:
    """Insert a chunk right after IHDR."""
    end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    return data[:end] + png_chunk(ctype, body) + data[end:]


# A minimal little-endian TIFF/EXIF writer, so the EXIF block can hold what Pillow will not write:
# an IFD1 thumbnail, a 60 KB maker note, GPS.
_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}


def _ifd_size(entries: list) -> int:
    size = 2 + 12 * len(entries) + 4
    for _, typ, value in entries:
        n = len(_pack_value(typ, value))
        if n > 4:
            size += n + (n & 1)
    return size


def _pack_value(typ: int, value) -> bytes:
    if typ in (1, 7):
        return bytes(value)
    if typ == 2:
        return value.encode("latin-1") + b"\x00"
    if typ == 3:
        return struct.pack(f"<{len(value)}H", *value)
    if typ == 4:
        return struct.pack(f"<{len(value)}I", *value)
    if typ == 5:
        return b"".join(struct.pack("<II", a, b) for a, b in value)
    raise ValueError(typ)


def _ifd_bytes(entries: list, offset: int, next_ifd: int) -> bytes:
    entries = sorted(entries, key=lambda e: e[0])
    head = struct.pack("<H", len(entries))
    data = b""
    data_at = offset + 2 + 12 * len(entries) + 4
    for tag, typ, value in entries:
        packed = _pack_value(typ, value)
        count = len(packed) // _TYPES[typ]
        if len(packed) <= 4:
            head += struct.pack("<HHI", tag, typ, count) + packed.ljust(4, b"\x00")
        else:
            head += struct.pack("<HHII", tag, typ, count, data_at + len(data))
            data += packed + (b"\x00" if len(packed) & 1 else b"")
    return head + struct.pack("<I", next_ifd) + data


def tiff_exif(ifd0: list, exif_ifd: list = (), gps_ifd: list = (), thumbnail: bytes = b"") -> bytes:
    """EXIF TIFF structure: IFD0 (+ Exif and GPS sub-IFDs) and IFD1 with a JPEG thumbnail."""
    ifd0, exif_ifd, gps_ifd = list(ifd0), list(exif_ifd), list(gps_ifd)
    if exif_ifd:
        ifd0.append((0x8769, 4, [0]))
    if gps_ifd:
        ifd0.append((0x8825, 4, [0]))
    ifd1 = [(0x0103, 3, [6]), (0x0201, 4, [0]), (0x0202, 4, [len(thumbnail)])] if thumbnail else []
    o0 = 8
    o_exif = o0 + _ifd_size(ifd0)
    o_gps = o_exif + (_ifd_size(exif_ifd) if exif_ifd else 0)
    o1 = o_gps + (_ifd_size(gps_ifd) if gps_ifd else 0)
    o_thumb = o1 + (_ifd_size(ifd1) if ifd1 else 0)
    ifd0 = [(t, y, [o_exif] if t == 0x8769 else [o_gps] if t == 0x8825 else v) for t, y, v in ifd0]
    ifd1 = [(t, y, [o_thumb] if t == 0x0201 else v) for t, y, v in ifd1]
    out = b"II*\x00" + struct.pack("<I", o0)
    out += _ifd_bytes(ifd0, o0, o1 if ifd1 else 0)
    if exif_ifd:
        out += _ifd_bytes(exif_ifd, o_exif, 0)
    if gps_ifd:
        out += _ifd_bytes(gps_ifd, o_gps, 0)
    if ifd1:
        out += _ifd_bytes(ifd1, o1, 0) + thumbnail
    return out


def exif_orientation(k: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = k
    return exif.tobytes()


# Stored pixels for orientation k: the inverse of what a viewer does, written with numpy so the
# test does not trust Pillow's own transpose table.
_STORE = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, 1),  # a viewer turns it 90 degrees clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda a: np.rot90(a, -1),  # a viewer turns it 90 degrees anticlockwise
}


def stored_for_orientation(upright: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(_STORE[k](upright))


def jpeg_with_declared_size(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF claims `width` x `height` (scan data far too short)."""
    data = bytearray(jpeg(pattern(64, 48), quality=80))
    i = 2
    while True:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length


def gif_bomb(width: int = 65535, height: int = 65535) -> bytes:
    """A GIF whose logical screen is `width` x `height` with one 1x1 frame: about 40 bytes."""
    out = b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00"
    out += b"\x00\x00\x00\xff\xff\xff"  # 2-colour global palette
    out += b"," + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00"
    out += b"\x02\x02\x44\x01\x00"  # LZW min size 2, one tiny block
    return out + b";"


# ---------------------------------------------------------------------------------------------
# The corpus


def build_corpus(d: Path, outside: Path) -> list[Case]:
    """Write every case into `d`; `outside` is a folder that is not under `d` (link targets)."""
    d.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    base = pattern()
    base_jpeg = jpeg(base)
    base_png = encode(Image.fromarray(base), "PNG")
    cases: list[Case] = []

    def put(case: Case, data: bytes) -> None:
        path = os.path.join(os.fsencode(d), os.fsencode(case.name))
        with open(path, "wb") as f:
            f.write(data)
        cases.append(case)

    # -- not images, or broken ones
    put(Case("zero-bytes.jpg", "rejected", "empty file"), b"")
    put(
        Case("truncated.jpg", "rejected", "truncated", "JPEG cut at 60 %"),
        base_jpeg[: len(base_jpeg) * 6 // 10],
    )
    progressive = jpeg(base, progressive=True)
    put(
        Case("truncated-progressive.jpg", "rejected", "truncated"),
        progressive[: len(progressive) * 6 // 10],
    )
    put(
        Case("truncated.png", "rejected", "truncated", "PNG cut inside IDAT"),
        base_png[: len(base_png) * 6 // 10],
    )
    put(
        Case("headers-only.jpg", "rejected", "", "JPEG cut right after the header"), base_jpeg[:700]
    )
    put(Case("text.jpg", "rejected", "not a recognised image"), b"just some text\n" * 20)
    put(
        Case("page.jpg", "rejected", "not a recognised image"),
        b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
    )
    put(
        Case(
            "postscript.jpg",
            "rejected",
            "not a recognised image",
            "EPS would run Ghostscript if opened: never identified at all",
        ),
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
    )
    put(
        Case("broken-png-crc.png", "rejected", "", "IHDR with a bad CRC"),
        base_png[:29] + b"\x00\x00\x00\x00" + base_png[33:],
    )
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("secret.txt", "Ada Example, 4B, medical note")
        z.writestr("inner.jpg", base_jpeg)
    put(Case("zip-renamed.jpg", "rejected", "not a recognised image"), zbuf.getvalue())

    # -- polyglots and trailers: the clean re-encode drops whatever follows the image
    put(
        Case("polyglot-zip.jpg", "exported", note="JPEG with a ZIP appended", tags={"trailer"}),
        base_jpeg + zbuf.getvalue(),
    )
    put(
        Case("trailer-after-iend.png", "exported", tags={"trailer"}),
        base_png + b"<?php system($_GET['c']); ?>" + zbuf.getvalue(),
    )
    put(Case("jpeg-named.png", "exported", note="content decides the format"), base_jpeg)

    # -- size limits (decided from the header, before any pixel is decoded)
    put(
        Case("declared-30000x30000.jpg", "rejected", "too large"),
        jpeg_with_declared_size(30000, 30000),
    )
    put(
        Case("declared-65000x65000.jpg", "rejected", "too large"),
        jpeg_with_declared_size(65000, 65000),
    )
    bomb = Image.new("1", (12000, 10000), 0)  # 120 MP of zeros: about 15 KB as PNG
    put(
        Case("bomb-120mp.png", "rejected", "too large", "decompression bomb"),
        encode(bomb, "PNG", optimize=True),
    )
    put(
        Case("bomb-screen.gif", "rejected", "too large", "65535x65535 GIF screen, 1 px frame"),
        gif_bomb(),
    )
    ztxt = b"Comment\x00\x00" + zlib.compress(b"A" * (64 * 1024 * 1024), 9)
    put(
        Case("ztxt-bomb.png", "rejected", "zip bomb guard", "64 MB of text in a 64 KB zTXt chunk"),
        png_insert_chunk(base_png, b"zTXt", ztxt),
    )
    put(Case("one-pixel.png", "exported"), encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"))
    put(Case("one-pixel.jpg", "exported"), jpeg(np.full((1, 1, 3), 128, np.uint8)))

    # -- colour: CMYK (Adobe-inverted and plain), 16-bit, palette and alpha
    cmyk = Image.fromarray(base).convert("CMYK")
    adobe = encode(cmyk, "JPEG", quality=95)  # Pillow writes inverted CMYK plus Adobe APP14
    assert b"Adobe" in adobe
    put(Case("cmyk-adobe.jpg", "exported", tags={"like-base"}), adobe)
    inverted = Image.fromarray(255 - np.asarray(cmyk), "CMYK")
    put(
        Case(
            "cmyk-plain.jpg",
            "exported",
            note="CMYK without APP14: stored plain",
            tags={"like-base"},
        ),
        drop_segments(encode(inverted, "JPEG", quality=95), 0xEE),
    )
    h, w = base.shape[:2]
    alpha = np.full((h, w), 65535, np.uint16)
    alpha[:, : w // 4] = 0  # left quarter fully transparent: must come out white
    rgba16 = np.dstack([base.astype(np.uint16) * 257, alpha]).reshape(h, w * 4)
    put(
        Case("rgba-16bit.png", "exported", tags={"like-base", "white-left"}),
        png(w, h, 16, 6, rgba16),
    )
    put(
        Case("rgb-16bit.png", "exported", tags={"like-base"}),
        png(w, h, 16, 2, (base.astype(np.uint16) * 257).reshape(h, w * 3)),
    )
    gray16 = (np.mgrid[0:h, 0:w][1] * (65535 // (w - 1))).astype(np.uint16)
    put(Case("gray-16bit.png", "exported"), png(w, h, 16, 0, gray16))
    put(
        Case("gray-16bit-trns.png", "exported", tags={"white-left"}),
        png(
            w,
            h,
            16,
            0,
            np.where(np.arange(w) < w // 4, 0, gray16 | 1),
            before_idat=[(b"tRNS", struct.pack(">H", 0))],
        ),
    )
    put(
        Case("gray-alpha-16bit.png", "exported", tags={"white-left"}),
        png(w, h, 16, 4, np.dstack([gray16, alpha]).reshape(h, w * 2)),
    )
    pal = Image.fromarray(base).quantize(16)
    pal_arr = np.asarray(pal).copy()
    pal_arr[:, : w // 4] = 15
    pal_t = Image.fromarray(pal_arr, "P")
    pal_t.putpalette(pal.getpalette())
    put(
        Case("palette-transparent.png", "exported", tags={"white-left"}),
        encode(pal_t, "PNG", transparency=15),
    )
    la = Image.fromarray(
        np.dstack([np.asarray(Image.fromarray(base).convert("L")), (alpha >> 8).astype(np.uint8)]),
        "LA",
    )
    put(Case("gray-alpha.png", "exported", tags={"white-left"}), encode(la, "PNG"))
    put(Case("bilevel.tif", "exported"), encode(Image.fromarray(base).convert("1"), "TIFF"))

    # -- more than one picture in a file
    frames = [Image.fromarray(np.roll(base, 40 * i, axis=1)) for i in range(3)]
    put(
        Case("animated.gif", "rejected", "multi-frame image (3 frames)"),
        encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
    )
    put(
        Case("animated.png", "rejected", "multi-frame image (3 frames)", "APNG"),
        encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100),
    )
    put(
        Case("animated.webp", "rejected", "multi-frame image (3 frames)"),
        encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100),
    )
    put(
        Case("multipage.tif", "rejected", "multi-frame image (2 frames)"),
        encode(frames[0], "TIFF", save_all=True, append_images=frames[1:2]),
    )
    put(Case("single-frame.gif", "exported"), encode(frames[0], "GIF", comment=b"Ada Example"))

    # -- metadata of every kind, and a second picture hiding inside
    thumb = jpeg(face_rgb(120), quality=80)
    big_exif = b"Exif\x00\x00" + tiff_exif(
        ifd0=[
            (0x010F, 2, "Safeguard Test Cam"),
            (0x0110, 2, "Model 7"),
            (0x0112, 3, [1]),
            (0x010E, 2, "sports day, year 4"),
        ],
        exif_ifd=[
            (0x927C, 7, b"MAKERNOTE" + os.urandom(58_000)),
            (0x9003, 2, "2024:06:01 10:00:00"),
        ],
        gps_ifd=[
            (0x0001, 2, "N"),
            (0x0002, 5, [(51, 1), (30, 1), (0, 1)]),
            (0x0003, 2, "W"),
            (0x0004, 5, [(0, 1), (8, 1), (0, 1)]),
        ],
        thumbnail=thumb,
    )
    assert 60_000 <= len(big_exif) <= 65_533, len(big_exif)
    mpo = encode(
        Image.fromarray(base),
        "MPO",
        save_all=True,
        quality=95,
        append_images=[Image.fromarray(face_rgb(200))],
    )
    loaded = insert_segment(mpo, 0xE1, big_exif)
    loaded = insert_segment(loaded, 0xE1, xmp_app1(xmp_packet(**{"dc:creator": "A Teacher"})))
    loaded = insert_segment(loaded, 0xED, iptc_app13("year 4"))
    loaded = insert_segment(loaded, 0xFE, b"comment: taken by a teacher")
    put(
        Case(
            "exif60k-mpf-thumbnail.jpg",
            "exported",
            note="60 KB EXIF with GPS, maker note and a face thumbnail; MPF second image",
            tags={"like-base", "hidden-pictures"},
        ),
        loaded,
    )
    tif_exif = Image.Exif()
    tif_exif[0x010E] = "caption"
    tif_exif[0x013B] = "A Teacher"
    put(Case("with-exif.tif", "exported"), encode(Image.fromarray(base), "TIFF", exif=tif_exif))
    put(
        Case("with-exif-xmp.webp", "exported"),
        encode(
            Image.fromarray(base),
            "WEBP",
            exif=tif_exif.tobytes(),
            xmp=xmp_packet(**{"dc:title": "a title"}),
        ),
    )

    import pillow_heif

    pillow_heif.register_heif_opener()
    heic_exif = Image.Exif()
    heic_exif[0x010F] = "Phone"
    heic_exif.get_ifd(0x8825)[1] = "N"
    put(
        Case("with-metadata.heic", "exported", tags={"like-base"}),
        encode(
            Image.fromarray(base),
            "HEIF",
            quality=95,
            exif=heic_exif.tobytes(),
            xmp=xmp_packet(**{"dc:title": "a title"}),
        ),
    )
    put(
        Case("plain.heic", "exported", tags={"like-base"}),
        encode(Image.fromarray(base), "HEIF", quality=95),
    )
    put(
        Case("rotated-6.heic", "exported", note="HEIC with EXIF orientation 6", tags={"upright"}),
        encode(
            Image.fromarray(stored_for_orientation(base, 6)),
            "HEIF",
            quality=95,
            exif=exif_orientation(6),
        ),
    )

    put(
        Case("with-thumbnail.heic", "exported", tags={"like-base"}),
        encode(Image.fromarray(base), "HEIF", quality=95, thumbnails=[64]),
    )
    put(
        Case("burst.heic", "rejected", "multi-frame image (2 frames)", "two top-level images"),
        encode(Image.fromarray(base), "HEIF", save_all=True, append_images=[frames[1]]),
    )

    # -- orientation: every output must be upright
    for k in range(1, 9):
        put(
            Case(f"orientation-{k}.jpg", "exported", tags={"upright"}),
            jpeg(stored_for_orientation(base, k), exif=exif_orientation(k)),
        )

    # -- captions holding an enrolled pupil's full name: exported without them, and flagged
    cap = f"{PUPIL} at sports day"
    flag = "caption contained a pupil's name"
    desc = Image.Exif()
    desc[0x010E] = cap
    put(Case("caption-exif.jpg", "exported", flag=flag), jpeg(base, exif=desc.tobytes()))
    xp = Image.Exif()
    xp[0x9C9B] = "Example, Ada".encode("utf-16-le") + b"\x00\x00"
    put(Case("caption-xptitle.jpg", "exported", flag=flag), jpeg(base, exif=xp.tobytes()))
    put(
        Case("caption-xmp.jpg", "exported", flag=flag),
        insert_segment(base_jpeg, 0xE1, xmp_app1(xmp_packet(**{"dc:title": cap}))),
    )
    put(
        Case("caption-iptc.jpg", "exported", flag=flag),
        insert_segment(base_jpeg, 0xED, iptc_app13(cap)),
    )
    put(
        Case("caption-comment.jpg", "exported", flag=flag),
        insert_segment(base_jpeg, 0xFE, cap.encode()),
    )
    put(
        Case("caption-text.png", "exported", flag=flag),
        png_insert_chunk(base_png, b"tEXt", b"Description\x00" + cap.encode()),
    )
    put(
        Case("caption-itxt.png", "exported", flag=flag),
        png_insert_chunk(
            base_png, b"iTXt", b"Title\x00\x01\x00en\x00\x00" + zlib.compress(cap.encode())
        ),
    )
    put(
        Case("caption-xmp.heic", "exported", flag=flag),
        encode(Image.fromarray(base), "HEIF", xmp=xmp_packet(**{"dc:description": cap})),
    )
    put(
        Case(
            "caption-other-name.jpg",
            "exported",
            note="a name that is not enrolled: no flag",
            tags={"no-flag"},
        ),
        insert_segment(base_jpeg, 0xFE, b"Grace Hopper at sports day"),
    )

    # -- hostile names
    name_flag = "file name contained a pupil's name"
    put(Case(f"{PUPIL} sports day.jpg", "exported", flag=name_flag, tags={"pupil-name"}), base_jpeg)
    put(Case("example_ADA-2024.jpg", "exported", flag=name_flag, tags={"pupil-name"}), base_jpeg)
    put(Case("$(rm -rf x);|&.jpg", "exported"), base_jpeg)
    put(Case('it\'s "quoted" `cmd`.jpg', "exported"), base_jpeg)
    put(Case("new\nline.jpg", "exported"), base_jpeg)
    put(Case("-rf --help.jpg", "exported"), base_jpeg)
    put(Case(b"\xff\xfe.jpg", "exported", note="not UTF-8"), base_jpeg)
    put(Case("Zoë café ünïcode.jpg", "exported"), base_jpeg)

    # -- things that are not regular files
    target = outside / "outside.jpg"
    target.write_bytes(base_jpeg)
    os.symlink(target, d / "link-outside.jpg")
    cases.append(Case("link-outside.jpg", "rejected", "symbolic link: not followed"))
    (outside / "album").mkdir(exist_ok=True)
    (outside / "album" / "inside.jpg").write_bytes(base_jpeg)
    os.symlink(outside / "album", d / "linked-album")
    cases.append(Case("linked-album", "rejected", "symbolic link: not followed"))
    os.symlink(d / "does-not-exist.jpg", d / "dangling.jpg")
    cases.append(Case("dangling.jpg", "rejected", "symbolic link: not followed"))
    os.mkfifo(d / "fifo.jpg")
    cases.append(Case("fifo.jpg", "rejected", "not a regular file", "would block a reader"))
    return cases

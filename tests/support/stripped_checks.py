"""Independent checks that an exported file carries no metadata.

Written apart from safeguard/metadata.py on purpose (its own marker and chunk walks), and backed
by two outside readers: exifread and exiftool. A test that trusts only the code under test proves
nothing about it.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from PIL import Image

EXIFTOOL = shutil.which("exiftool")
EXIFTOOL_MISSING = "exiftool not installed (Debian: libimage-exiftool-perl); exiftool check skipped"

# JPEG markers a clean file may hold: SOI, JFIF APP0, DQT, SOF0/1/2, DHT, DRI, SOS, RST0-7, EOI.
_JPEG_OK = {0xD8, 0xE0, 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD, 0xDA, 0xD9, *range(0xD0, 0xD8)}
_PNG_OK = {b"IHDR", b"IDAT", b"IEND"}

# What exiftool may report about a clean file: the file system, the container's own geometry.
_EXIFTOOL_OK = {
    "ExifTool": {"ExifToolVersion"},
    "File": {
        "FileType",
        "FileTypeExtension",
        "MIMEType",
        "ImageWidth",
        "ImageHeight",
        "EncodingProcess",
        "BitsPerSample",
        "ColorComponents",
        "YCbCrSubSampling",
    },
    "JFIF": {"JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"},
    "PNG": {
        "ImageWidth",
        "ImageHeight",
        "BitDepth",
        "ColorType",
        "Compression",
        "Filter",
        "Interlace",
    },
    "Composite": {"ImageSize", "Megapixels"},
}


def jpeg_markers(data: bytes) -> list[int]:
    """Every marker in a JPEG, walking segment lengths and skipping entropy-coded data."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers = [0xD8]
    i = 2
    while True:
        assert data[i] == 0xFF, f"no marker at byte {i}"
        while data[i] == 0xFF:
            i += 1
        m = data[i]
        i += 1
        markers.append(m)
        if m == 0xD9:
            assert i == len(data), f"{len(data) - i} bytes after the end of the JPEG"
            return markers
        if 0xD0 <= m <= 0xD7:
            continue
        (length,) = struct.unpack(">H", data[i : i + 2])
        if m == 0xE0:
            payload = data[i + 2 : i + length]
            assert payload[:5] == b"JFIF\x00", "APP0 that is not JFIF"
            assert payload[12:14] == b"\x00\x00", "JFIF thumbnail"
        i += length
        if m == 0xDA:  # entropy-coded data runs to the next marker that is not FF00
            while not (data[i] == 0xFF and data[i + 1] != 0x00):
                i += 1
            while 0xD0 <= data[i + 1] <= 0xD7:  # restart markers inside the scan
                markers.append(data[i + 1])
                i += 2
                while not (data[i] == 0xFF and data[i + 1] != 0x00):
                    i += 1


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    types = []
    i = 8
    while True:
        (length,) = struct.unpack(">I", data[i : i + 4])
        ctype = data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length : i + 12 + length])
        assert crc == zlib.crc32(ctype + body), f"bad CRC in {ctype!r}"
        types.append(ctype)
        i += 12 + length
        if ctype == b"IEND":
            assert i == len(data), f"{len(data) - i} bytes after IEND"
            return types


def assert_container_clean(data: bytes) -> None:
    """Only allowed segments/chunks, one image, nothing appended."""
    if data[:2] == b"\xff\xd8":
        markers = jpeg_markers(data)
        bad = sorted({m for m in markers if m not in _JPEG_OK})
        assert not bad, "JPEG segments not allowed: " + ", ".join(f"0x{m:02X}" for m in bad)
        assert markers.count(0xD8) == 1 and markers.count(0xD9) == 1
        assert data.count(b"\xff\xd8") == 1, "a second JPEG inside the output"
    else:
        bad = sorted({c for c in png_chunks(data) if c not in _PNG_OK})
        assert not bad, f"PNG chunks not allowed: {bad}"


def assert_pillow_and_exifread_clean(data: bytes) -> None:
    im = Image.open(io.BytesIO(data))
    assert getattr(im, "n_frames", 1) == 1, "more than one frame"
    assert not len(im.getexif()), "Pillow reads EXIF"
    assert not set(im.info) - {
        "jfif",
        "jfif_version",
        "jfif_unit",
        "jfif_density",
        "dpi",
        "progressive",
        "progression",
    }, f"Pillow reads {im.info.keys()}"
    import exifread

    logging.getLogger("exifread").setLevel(logging.CRITICAL)
    tags = exifread.process_file(io.BytesIO(data), details=True)
    assert not tags, f"exifread reads {sorted(tags)[:8]}"


def exiftool_leftovers(paths: list[Path]) -> dict[str, list[str]]:
    """{path: ["Group:Tag", ...]} of everything exiftool reports beyond the allow-list (and any
    warning or error it raises). One exiftool run for all files."""
    if not paths:
        return {}
    out = subprocess.run(
        [
            EXIFTOOL,
            "-j",
            "-a",
            "-u",
            "-G1",
            "-s",
            "-charset",
            "filename=utf8",
            "--",
            *map(str, paths),
        ],
        capture_output=True,
        check=False,
        timeout=120,
    )
    records = json.loads(out.stdout.decode("utf-8", "replace") or "[]")
    result: dict[str, list[str]] = {}
    by_name = {r.get("System:FileName") or r.get("SourceFile"): r for r in records}
    for p in paths:
        rec = by_name.get(p.name)
        if rec is None:
            result[str(p)] = ["exiftool did not read the file"]
            continue
        left = []
        for key in rec:
            if key == "SourceFile" or ":" not in key:
                continue
            group, tag = key.split(":", 1)
            if group == "System":
                continue
            if tag not in _EXIFTOOL_OK.get(group, set()):
                left.append(f"{key}={str(rec[key])[:60]}")
        if left:
            result[str(p)] = left
    return result


def assert_clean_file(path: Path) -> None:
    data = path.read_bytes()
    assert_container_clean(data)
    assert_pillow_and_exifread_clean(data)

"""Fuzz the load-and-strip path: decode_image -> encode_clean -> verify_clean.

Seeds are small real files carrying real metadata (the EXIF, IPTC, XMP and ICC segments of the
bundled samples/photos/visit.jpg, grafted onto small pixels) and PNGs with text, XMP, eXIf and iCCP
chunks. Hypothesis mutates them (bit flips, overwrites, truncations, inserted APPn segments and PNG
chunks, appended data) and checks that:
- loading fails only with LoadError, with a one-line reason;
- whatever loads is written out clean: verify_clean passes, and the independent marker/chunk walk,
  Pillow and exifread find nothing but pixels;
- the inventory and caption readers never raise on what they are given.
Bounded for CI: about 300 examples in all, a few seconds.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from support import hostile_corpus as hc
from support.stripped_checks import assert_container_clean, assert_pillow_and_exifread_clean

from safeguard.images import LoadError, decode_image
from safeguard.metadata import caption_text, encode_clean, inventory, verify_clean

pytestmark = [pytest.mark.model, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "photos" / "visit.jpg"
MAX_PIXELS = 4_000_000  # fuzzed headers may claim any size; keep CI memory small

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written into the repository; failures print a reproduce blob
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _real_segments() -> list[tuple[int, bytes]]:
    """The metadata segments of a real photo (EXIF, IPTC, XMP, ICC), in file order."""
    data = SAMPLE.read_bytes()
    out, i = [], 2
    while data[i + 1] != 0xDA:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xE1 <= marker <= 0xED:
            out.append((marker, data[i + 4 : i + 2 + length]))
        i += 2 + length
    return out


def _seeds() -> list[bytes]:
    real = Image.open(SAMPLE).convert("RGB")
    real.thumbnail((72, 72))
    small = np.asarray(real)
    segments = _real_segments()
    seeds = []
    for progressive in (False, True):
        data = hc.jpeg(small, quality=80, progressive=progressive)
        for marker, payload in reversed(segments):
            data = hc.insert_segment(data, marker, payload)
        seeds.append(hc.insert_segment(data, 0xFE, b"Ada Example, sports day"))
    exif = next(p for m, p in segments if p.startswith(b"Exif\x00\x00"))
    icc = next(p for m, p in segments if p.startswith(b"ICC_PROFILE"))[14:]
    xmp = next(p for m, p in segments if p.startswith(b"http://ns.adobe.com/xap/1.0/\x00"))[29:]
    png = hc.encode(Image.fromarray(hc.pattern(48, 32)).convert("RGBA"), "PNG")
    for ctype, body in [
        (b"tEXt", b"Description\x00Ada Example"),
        (b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp),
        (b"eXIf", exif[6:]),
        (b"iCCP", b"icc\x00\x00" + zlib.compress(icc)),
    ]:
        png = hc.png_insert_chunk(png, ctype, body)
    seeds.append(png)
    palette = hc.encode(Image.fromarray(hc.pattern(40, 30)).quantize(8), "PNG", transparency=0)
    seeds.append(hc.png_insert_chunk(palette, b"tIME", b"\x07\xe8\x06\x01\x0a\x00\x00"))
    return seeds


SEEDS = _seeds()

_position = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_payload = st.binary(max_size=300)
_ops = st.one_of(
    st.tuples(st.just("flip"), _position, st.integers(0, 7)),
    st.tuples(st.just("overwrite"), _position, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("truncate"), _position),
    st.tuples(st.just("segment"), st.sampled_from([*range(0xE0, 0xF0), 0xFE]), _payload),
    st.tuples(
        st.just("chunk"),
        st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"tIME", b"acTL", b"prVt"]),
        _payload,
    ),
    st.tuples(st.just("append"), _payload),
)


def _mutate(data: bytes, ops) -> bytes:
    for op in ops:
        kind = op[0]
        n = len(data)
        if kind == "flip" and n:
            i = min(int(op[1] * n), n - 1)
            data = data[:i] + bytes([data[i] ^ (1 << op[2])]) + data[i + 1 :]
        elif kind == "overwrite" and n:
            i = min(int(op[1] * n), n - 1)
            data = data[:i] + op[2] + data[i + len(op[2]) :]
        elif kind == "truncate":
            data = data[: int(op[1] * n)]
        elif kind == "segment" and data[:2] == b"\xff\xd8":
            data = hc.insert_segment(data, op[1], op[2])
        elif kind == "chunk" and data[:8] == b"\x89PNG\r\n\x1a\n" and n > 33:
            data = hc.png_insert_chunk(data, op[1], op[2])
        elif kind == "append":
            data = data + op[1]
    return data


def _check_load_and_strip(data: bytes) -> None:
    assert isinstance(inventory(data), list)
    assert all(isinstance(t, str) for t in caption_text(data))
    try:
        image = decode_image(data, max_pixels=MAX_PIXELS)
    except LoadError as e:
        assert str(e) and "\n" not in str(e) and len(str(e)) < 200
        event(f"rejected: {str(e)[:40]}")
        return
    event("loaded and exported")
    assert image.rgb.dtype == np.uint8 and image.rgb.shape[2] == 3
    for fmt in ("jpeg", "png"):
        clean = encode_clean(image.rgb, fmt)
        verify_clean(clean, fmt, (image.width, image.height))  # raises StripError if not clean
        assert_container_clean(clean)
        assert_pillow_and_exifread_clean(clean)
        assert Image.open(io.BytesIO(clean)).size == (image.width, image.height)


def test_seeds_load_and_carry_metadata():
    """The fuzzer starts from files that really carry metadata and really decode."""
    for seed in SEEDS:
        decode_image(seed)
        assert inventory(seed), "seed without metadata"
    assert any("GPS" in " ".join(inventory(s)) or "XMP" in inventory(s) for s in SEEDS)


@FUZZ
@given(seed=st.sampled_from(SEEDS), ops=st.lists(_ops, min_size=1, max_size=4))
def test_mutated_files_are_rejected_or_exported_clean(seed, ops):
    _check_load_and_strip(_mutate(seed, ops))


@settings(FUZZ, max_examples=100)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_are_rejected_or_exported_clean(data):
    _check_load_and_strip(data)

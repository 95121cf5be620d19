"""Load photos safely (formats, limits, orientation) and write them atomically.

Everything the pipeline sees is an upright RGB uint8 array; every way a file can be wrong ends in
`LoadError` with a one-line reason that is safe to show to comms staff.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat as _stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFile

from consent_db.storage import fsync_dir
from safeguard.config import Config

try:  # HEIC/HEIF support (iPhone photos)
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pillow_heif = None

# Formats Pillow may identify that we accept. Anything else is refused, not guessed.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "TIFF", "HEIF", "AVIF", "BMP", "GIF"}
# The only Pillow plugins ever asked to identify a file (MPO comes through the JPEG plugin). The
# others (EPS runs Ghostscript, and dozens of rarely used parsers) never see untrusted bytes.
_OPEN_WITH = ("JPEG", "PNG", "WEBP", "TIFF", "HEIF", "AVIF", "BMP", "GIF")
# Files larger than this are refused from fstat, before reading (config.max_file_bytes: a
# 100-megapixel photo stored uncompressed; a photo is a few MB, a RAW-size TIFF tens).
MAX_FILE_BYTES = Config.max_file_bytes


class LoadError(Exception):
    """The file cannot be turned into a trustworthy upright image. The message is one line."""


@dataclass
class LoadedImage:
    rgb: np.ndarray  # H x W x 3 uint8, upright (EXIF orientation applied)
    format: str  # what the bytes really are (Pillow's format name), not what the name says
    orientation: int  # the EXIF orientation tag that was applied (1 when none)
    data: bytes  # the original file's bytes, read once

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a file once, refusing links, non-files and oversize files, with one-line errors.

    The checks are made on the opened descriptor (O_NOFOLLOW, O_NONBLOCK, then fstat), so a file
    swapped for a link or a FIFO between the folder walk and the read is refused, never followed
    or waited on."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise LoadError("file vanished before it could be read") from None
    except OSError as e:
        raise LoadError(f"cannot read file: {e.strerror}") from None
    if _stat.S_ISLNK(st.st_mode):
        raise LoadError("symbolic link: not followed")
    if not _stat.S_ISREG(st.st_mode):
        raise LoadError("not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise LoadError("file vanished before it could be read") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LoadError("symbolic link: not followed") from None
        raise LoadError(f"cannot read file: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not _stat.S_ISREG(st.st_mode):
                raise LoadError("not a regular file")
            if st.st_size > max_bytes:
                raise LoadError(f"file too large ({st.st_size // (1024 * 1024)} MB)")
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise LoadError(f"cannot read file: {e.strerror or e}") from None
    if len(data) == 0:
        raise LoadError("empty file")
    if len(data) > max_bytes:
        raise LoadError("file too large")
    return data


def load_image(path: str | os.PathLike[str], max_pixels: int = Config.max_pixels) -> LoadedImage:
    return decode_image(read_bytes(Path(path)), max_pixels=max_pixels)


# Picture formats recognised by their first bytes but not read: said by name, with what to do.
UNSUPPORTED = (
    ((b"\xff\x0a", b"\x00\x00\x00\x0cJXL "), "JPEG XL"),
    ((b"\x00\x00\x00\x0cjP  ",), "JPEG 2000"),
    ((b"8BPS",), "Photoshop"),
)


def _unsupported(data: bytes) -> str:
    for magics, name in UNSUPPORTED:
        if data.startswith(magics):
            return f" ({name}, which safeguard does not read: export it as JPEG or PNG)"
    return ""


# A progressive JPEG is decoded once per scan: cameras and encoders write about 10 (libjpeg's
# default script), mozjpeg up to ~15. Thousands, which a hostile file can carry, take minutes.
MAX_JPEG_SCANS = 100


def jpeg_scans(data: bytes) -> int:
    """How many scans (SOS segments) the main image of a JPEG has, from its markers alone: the
    header segments are walked by their lengths (a thumbnail inside APP1 is skipped), then every
    SOS marker up to the image's EOI is counted (in entropy-coded data 0xFF is always followed by
    0x00 or a restart marker, so FF DA there is always a scan)."""
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return 0
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # the first scan of the main image
            end = data.find(b"\xff\xd9", pos)
            return data.count(b"\xff\xda", pos, end if end != -1 else n)
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return 0


def decode_image(data: bytes, max_pixels: int = Config.max_pixels) -> LoadedImage:
    """Decode bytes to an upright RGB array, or raise LoadError.

    Refuses: unknown formats, truncated data, images over `max_pixels` (checked from the header
    before any pixel is decoded: the decompression-bomb guard), and animations or multi-page files
    (every frame would need checking; we reject them rather than publish unchecked frames).
    """
    # Both are process-wide Pillow settings: set for this decode and put back afterwards, so a
    # caller's limit never leaks into other code, and another library's choice never leaks in
    # (face_recognition sets LOAD_TRUNCATED_IMAGES = True on import, which would let a truncated
    # file decode as a half-grey picture).
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, False
    try:
        return _decode(data, max_pixels)
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _decode(data: bytes, max_pixels: int) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's chatter about odd tags; not for users
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_OPEN_WITH)
            fmt = im.format or "unknown"
            if fmt not in ACCEPTED_FORMATS:
                raise LoadError(f"unsupported image format ({fmt})")
            w, h = im.size
            if w < 1 or h < 1:
                raise LoadError("image has no pixels")
            if fmt in ("JPEG", "MPO"):
                scans = jpeg_scans(data)
                if scans > MAX_JPEG_SCANS:
                    raise LoadError(f"JPEG with {scans} scans (at most {MAX_JPEG_SCANS}): it would "
                                    "take minutes to decode; save it again as a normal JPEG")
            if w * h > max_pixels:
                raise LoadError(f"image too large ({w}x{h} pixels; limit {_mp(max_pixels)})")
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and fmt != "MPO":
                # MPO: a JPEG with extra preview/depth images after the main one; only the main
                # image is used and the rest is never written out.
                raise LoadError(f"multi-frame image ({frames} frames): export the frames separately")
            orientation = _orientation(im)
            im.load()
            if im.mode == "CMYK" and fmt in ("JPEG", "MPO") and "adobe" not in im.info:
                # Pillow reads every CMYK JPEG as Adobe-inverted; without an APP14 Adobe segment
                # the samples are plain CMYK (libjpeg's convention), so undo the inversion.
                im = Image.fromarray(255 - np.asarray(im), "CMYK")
            rgb_im = _to_rgb(im)
            upright = _apply_orientation(rgb_im, orientation)
            arr = _pixels(upright)
    except LoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard fires inside Image.open, before we see the size; its message holds
        # the pixel count.
        m = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{_mp(int(m.group(1)))}; " if m else ""
        raise LoadError(f"image too large ({size}limit {_mp(max_pixels)})") from None
    except Image.UnidentifiedImageError:
        raise LoadError("not a recognised image" + _unsupported(data)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "truncated" in msg.lower():
            raise LoadError("image data truncated") from None
        if "decompressed data too large" in msg.lower():  # a zip bomb in a PNG text/ICC chunk
            raise LoadError("oversized compressed metadata (zip bomb guard)") from None
        raise LoadError(f"cannot decode image: {msg[:120]}") from None
    except MemoryError:
        raise LoadError("image too large to decode in memory") from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise LoadError("cannot decode image: unexpected pixel layout")
    return LoadedImage(rgb=np.ascontiguousarray(arr), format=fmt, orientation=orientation, data=data)


def _pixels(im: Image.Image) -> np.ndarray:
    """The pixels of a decoded image as an H x W x C uint8 array. An RGB image's are packed in
    one piece: numpy's conversion (Pillow's `tobytes`) packs them in 64 KB pieces and joins
    them, 50 ms for a 12 MP photo against 27 here. Anything else, or a Pillow whose encoder API
    differs, goes the usual way."""
    if im.mode == "RGB" and im.width and im.height:
        try:
            encoder = Image._getencoder("RGB", "raw", "RGB")
            try:
                encoder.setimage(im.im, (0, 0, *im.size))
                _, status, data = encoder.encode(im.width * im.height * 3)
            finally:
                encoder.cleanup()
            if status == 1 and len(data) == im.width * im.height * 3:
                return np.frombuffer(data, np.uint8).reshape(im.height, im.width, 3)
        except Exception:  # noqa: BLE001, S110 - Pillow's internals: its public way below
            pass
    return np.asarray(im, dtype=np.uint8)


def _mp(pixels: int) -> str:
    return f"{pixels // 1_000_000} MP" if pixels >= 1_000_000 else f"{pixels / 1e6:.2f} MP"


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        value = int(value)
    except Exception:  # noqa: BLE001 - a broken EXIF block means "no usable orientation"
        return 1
    return value if value in range(1, 9) else 1


_TRANSPOSE = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}


def _apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    for op in _TRANSPOSE.get(orientation, []):
        im = im.transpose(op)
    return im


_SRGB = None


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB: ICC-managed sources to sRGB, alpha onto white, 16-bit scaled.

    Transparent pixels become white: what is scanned is exactly what is exported, so a picture
    hidden under alpha 0 is neither scanned nor published."""
    global _SRGB
    icc = im.info.get("icc_profile")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        grey = Image.fromarray(np.clip(a * (255.0 / hi), 0, 255).astype(np.uint8), "L")
        key = im.info.get("transparency")
        if isinstance(key, int):  # 16-bit grey PNG with a tRNS key: that value is transparent
            alpha = Image.fromarray(np.where(a == key, 0, 255).astype(np.uint8), "L")
            grey = Image.merge("LA", (grey, alpha))
        im = grey
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    elif im.mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("LA", "PA", "La"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "RGBa"):
        bg = Image.new("RGB", im.size, (255, 255, 255))
        rgba = im.convert("RGBA")
        bg.paste(rgba, mask=rgba.getchannel("A"))
        im = bg
    elif icc and im.mode in ("RGB", "CMYK"):
        try:
            if _SRGB is None:
                _SRGB = ImageCms.createProfile("sRGB")
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            im = ImageCms.profileToProfile(im, src, _SRGB, outputMode="RGB")
        except Exception:  # noqa: BLE001 - a bad profile falls back to a plain conversion
            im = im.convert("RGB")
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im


def write_atomic(data: bytes, directory: Path, name: str, *, tmp_prefix: str = ".safeguard-",
                 mode: int = 0o644) -> Path:
    """Write `data` into `directory` under `name` (or `stem-2.ext`, ... if taken) atomically:
    the one writer of new, published files (the blur pass, a release, the watcher's ready copy).

    The bytes go to a hidden temp file (`tmp_prefix`...) that is fsynced, then hard-linked to the
    final name, which fails rather than overwrites if the name exists. On a share without hard
    links the temp file is renamed onto a name not yet taken instead. No partial file ever carries
    a real name. (Files replaced in place, owner-only, use consent_db.storage.atomic_write_bytes.)
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        stem, ext = os.path.splitext(name)
        n = 1
        while True:
            final = directory / (name if n == 1 else f"{stem}-{n}{ext}")
            try:
                os.link(tmp, final)
                break
            except FileExistsError:
                n += 1
            except OSError as e:  # shares without hard links: rename onto a name not yet taken
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                if os.path.lexists(final):
                    n += 1
                    continue
                os.rename(tmp, final)
                break
        fsync_dir(directory)
        return final
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass

"""Writing a clip afresh and proving that nothing but the picture (and the sound, when kept) is
in it.

The output is always H.264 in an MP4 (what YouTube, Instagram and Facebook take from a school),
encoded by x264 from the redacted pixels: nothing of the input's container is copied, so its
dates, place (`©xyz`, `com.apple.quicktime.location.ISO6709`), make, model, software, chapters,
subtitle, data and timecode streams and cover art cannot follow. The muxer runs bit-exact (no
"encoder" tag) and every header time is zero.

The written file is then walked box by box against an allow-list (`ALLOWED`): a box that is not
on it, a header with a date, or a stream that should not be there refuses the file.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from safeguard.metadata import StripError

CODEC = "libx264"
# x264's own settings: "veryfast" keeps encoding a 1080p frame near 10 ms of a core; CRF 20 is
# visually lossless for phone clips, so a second generation loses little.
X264_OPTIONS = {"crf": "20", "preset": "veryfast"}

# MP4 boxes that may stand, by parent ("" is the file's top level). Only these boxes hold other
# boxes; everything inside `stsd` (the codec's own configuration) is the codec's.
ALLOWED: dict[str, frozenset[str]] = {
    "": frozenset({"ftyp", "free", "mdat", "moov"}),
    "moov": frozenset({"mvhd", "trak", "udta"}),
    # FFmpeg's MP4 muxer always writes an iTunes-style metadata box; it must be empty.
    "udta": frozenset({"meta"}),
    "meta": frozenset({"hdlr", "ilst"}),
    "ilst": frozenset(),
    "trak": frozenset({"tkhd", "edts", "mdia"}),
    "edts": frozenset({"elst"}),
    "mdia": frozenset({"mdhd", "hdlr", "minf"}),
    "minf": frozenset({"vmhd", "smhd", "dinf", "stbl"}),
    "dinf": frozenset({"dref"}),
    "stbl": frozenset({"stsd", "stts", "stss", "ctts", "stsc", "stsz", "stco", "co64", "sgpd",
                       "sbgp", "sdtp", "cslg"}),
}
# Boxes with a creation and a modification time, each of which must be zero.
DATED = frozenset({"mvhd", "tkhd", "mdhd"})
HANDLERS = frozenset({b"vide", b"soun"})
META_HANDLER = b"mdir"  # the handler of the (empty) metadata box
FULL_BOXES = frozenset({"meta"})  # boxes whose children follow a version and flags


class Writer:
    """Encode upright RGB frames of one size into a fresh MP4 at `path`."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, threads: int = 1):
        import av

        self.width, self.height = width - width % 2, height - height % 2  # 4:2:0 needs even sizes
        self._c = av.open(str(path), mode="w", format="mp4",
                          options={"movflags": "+faststart"},
                          container_options={"fflags": "+bitexact"})
        self._v = self._c.add_stream(CODEC, rate=fps, options=dict(X264_OPTIONS))
        self._v.width, self._v.height = self.width, self.height
        self._v.pix_fmt = "yuv420p"
        self._v.codec_context.flags |= av.codec.context.Flags.bitexact
        self._v.codec_context.thread_count = max(1, threads)
        self._v.metadata.clear() if hasattr(self._v.metadata, "clear") else None
        self._audio = None
        self._fps = fps
        self.frames = 0

    def add_audio_from(self, source: Path) -> None:
        """Keep the sound: decoded from `source` and encoded afresh as AAC, after the frames.
        Always encoded again, never copied, even from AAC: a copied stream would carry the
        input's own bitstream, whose data elements can hold anything; decoded samples carry
        only sound. No longer than the picture: a clip whose sound runs on past its last frame
        would carry what the picture's checks never saw. Called before the first frame: the
        stream is declared now, before the container's header is written."""
        import av

        with av.open(str(source), metadata_errors="ignore") as src:
            if not src.streams.audio:
                return
            rate = src.streams.audio[0].codec_context.sample_rate or 48000
        self._a = self._c.add_stream("aac", rate=rate)
        self._a.codec_context.flags |= av.codec.context.Flags.bitexact
        self._audio = source

    def write(self, rgb: np.ndarray) -> None:
        import av

        if rgb.shape[0] != self.height or rgb.shape[1] != self.width:
            rgb = np.ascontiguousarray(rgb[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        for packet in self._v.encode(frame):
            self._c.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._v.encode():
            self._c.mux(packet)
        if self._audio is not None:
            self._mux_audio(self._audio)
        self._c.close()

    def _mux_audio(self, source: Path) -> None:
        import av

        with av.open(str(source), metadata_errors="ignore") as src:
            if not src.streams.audio:
                return
            out = self._a
            rate = out.codec_context.sample_rate
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
            most = int(self.frames / float(self._fps) * rate)  # samples as long as the picture
            done = 0
            for frame in src.decode(audio=0):
                frame.pts = None
                for f in resampler.resample(frame):
                    if done >= most:
                        break
                    if done + f.samples > most:  # the last piece, cut to the picture's end
                        keep = f.to_ndarray()[:, :most - done]
                        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(keep),
                                                       format="fltp", layout="stereo")
                        f.sample_rate = rate
                    done += f.samples
                    for packet in out.encode(f):
                        self._c.mux(packet)
                if done >= most:
                    break
            for packet in out.encode():
                self._c.mux(packet)


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, payload end) of each box in data[start:end]."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise StripError("damaged MP4 box")
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:
            if end - pos < 16:
                raise StripError("damaged MP4 box")
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise StripError("damaged MP4 box")
        yield kind.decode("latin-1"), pos + head, pos + size
        pos += size


def _times_zero(kind: str, payload: bytes) -> bool:
    version = payload[0]
    if version == 1:
        created, modified = struct.unpack(">QQ", payload[4:20])
    else:
        created, modified = struct.unpack(">II", payload[4:12])
    return created == 0 and modified == 0


def verify_container(path: Path, audio: bool, frames: int, size: tuple[int, int]) -> None:
    """Refuse (StripError) a written clip holding anything beyond the allow-list, a dated
    header, a stream other than one video (and one audio when `audio`), another picture size
    or fewer frames than were written."""
    import av

    data = Path(path).read_bytes() if Path(path).stat().st_size < 64 * 1024**2 else None
    if data is None:  # a long clip: read only the boxes' headers, not the media
        _verify_large(path)
    else:
        _walk(data, 0, len(data), "")
    with av.open(str(path), metadata_errors="ignore") as c:
        kinds = sorted(s.type for s in c.streams)
        want = ["audio", "video"] if audio else ["video"]
        if kinds != want:
            raise StripError(f"unexpected streams in the written clip: {kinds}")
        v = c.streams.video[0]
        if (v.codec_context.width, v.codec_context.height) != size:
            raise StripError("the written clip has another picture size")
        if v.frames and v.frames != frames:
            raise StripError(f"the written clip holds {v.frames} frames, not {frames}")
        if set(c.metadata) - {"major_brand", "minor_version", "compatible_brands"}:
            raise StripError("the written clip carries metadata")


def _walk(data: bytes, start: int, end: int, parent: str) -> None:
    allowed = ALLOWED[parent]
    for kind, a, b in _boxes(data, start, end):
        if kind not in allowed:
            raise StripError(f"box {kind!r} in {parent or 'the file'} is not allowed")
        if kind in DATED and not _times_zero(kind, data[a:b]):
            raise StripError(f"{kind} carries a date")
        if kind == "hdlr":
            handler = data[a + 8:a + 12]
            if handler not in ((META_HANDLER,) if parent == "meta" else HANDLERS):
                raise StripError("a stream that is neither picture nor sound")
        if kind in ALLOWED:
            _walk(data, a + (4 if kind in FULL_BOXES else 0), b, kind)


def _verify_large(path: Path) -> None:
    """The allow-list for a file too large to read whole: the top level read by headers, `moov`
    (a few MB at most) read whole."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        pos = 0
        while pos < size:
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                raise StripError("damaged MP4 box")
            n, kind = struct.unpack(">I4s", head[:8])
            kind = kind.decode("latin-1")
            if n == 1:
                n = struct.unpack(">Q", head[8:16])[0]
            elif n == 0:
                n = size - pos
            if n < 8 or pos + n > size:
                raise StripError("damaged MP4 box")
            if kind not in ALLOWED[""]:
                raise StripError(f"box {kind!r} in the file is not allowed")
            if kind == "moov":
                fh.seek(pos)
                moov = fh.read(n)
                _walk(moov, 0, len(moov), "")
            pos += n

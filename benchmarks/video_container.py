"""What a written clip's container still holds, by exiftool and ffprobe, beyond an allow-list of
structural tags: what benchmarks/bench_video.py reports as metadata left."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

# exiftool tags that describe the container's structure or the picture, never its subject,
# origin, place or time (dates are allowed only as all zeros). Groups System, File and ExifTool
# describe the file on this disk and exiftool itself, not the clip.
ALLOWED_TAGS = frozenset({
    "MajorBrand", "MinorVersion", "CompatibleBrands", "MovieHeaderVersion", "TimeScale",
    "Duration", "PreferredRate", "PreferredVolume", "MatrixStructure", "PreviewTime",
    "PreviewDuration", "PosterTime", "SelectionTime", "SelectionDuration", "CurrentTime",
    "NextTrackID", "HandlerType", "HandlerVendorID", "HandlerDescription", "MediaDataSize",
    "MediaDataOffset", "TrackHeaderVersion", "TrackID", "TrackDuration", "TrackLayer",
    "TrackVolume", "ImageWidth", "ImageHeight", "MediaHeaderVersion", "MediaTimeScale",
    "MediaDuration", "MediaLanguageCode", "GraphicsMode", "OpColor", "CompressorID",
    "SourceImageWidth", "SourceImageHeight", "XResolution", "YResolution", "BitDepth",
    "BufferSize", "MaxBitrate", "AverageBitrate", "VideoFrameRate", "ImageSize", "Megapixels",
    "AvgBitrate",
})
# Allowed only as zero: a date, or a turn a player would apply.
ZERO_ONLY = frozenset({"Rotation", "CreateDate", "ModifyDate", "TrackCreateDate", "TrackModifyDate",
                        "MediaCreateDate", "MediaModifyDate"})
IGNORED_GROUPS = ("[System]", "[File]", "[ExifTool]")
FORMAT_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands"})
STREAM_TAGS = frozenset({"language", "handler_name", "vendor_id"})


def exiftool_left(path: Path) -> list[str]:
    """exiftool lines beyond the allow-list (None when exiftool is missing)."""
    if not shutil.which("exiftool"):
        return ["exiftool not installed"]
    out = subprocess.run(["exiftool", "-a", "-G1", "-s", str(path)], capture_output=True,
                         text=True, check=True).stdout
    left = []
    for line in out.splitlines():
        if line.startswith(IGNORED_GROUPS) or ":" not in line:
            continue
        head, value = line.split(":", 1)
        tag, value = head.split()[-1], value.strip()
        if tag in ALLOWED_TAGS:
            continue
        if tag in ZERO_ONLY and set(value) <= set("0: "):
            continue
        left.append(line.strip())
    return left


def ffprobe_left(path: Path) -> list[str]:
    if not shutil.which("ffprobe"):
        return ["ffprobe not installed"]
    p = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of",
         "json", str(path)], capture_output=True, text=True, check=True).stdout)
    left = [f"format tag {k}={v}" for k, v in p["format"].get("tags", {}).items()
            if k not in FORMAT_TAGS]
    kinds = [s["codec_type"] for s in p["streams"]]
    if kinds != ["video"]:
        left.append(f"streams {kinds}")
    for s in p["streams"]:
        left += [f"{s['codec_type']} stream tag {k}={v}" for k, v in s.get("tags", {}).items()
                 if k not in STREAM_TAGS]
        left += [f"{s['codec_type']} side data {d.get('side_data_type')}"
                 for d in s.get("side_data_list", []) if d.get("rotation")]
    left += [f"chapter {c.get('id')}" for c in p.get("chapters", [])]
    return left



"""Small helpers for tests that check outcomes on real images."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
from click.testing import CliRunner


def run_cli(*args: str, input: str | None = None):
    """Run the real CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from safeguard.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def faces_and_encodings(path: Path):
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces
    from safeguard.images import load_image

    rgb = load_image(path).rgb
    faces = detect_faces(rgb)
    return rgb, faces, encode_faces(rgb, faces)


def region_encoding(rgb: np.ndarray, box: list[int]):
    """Detect and encode what is left inside `box` (grown a little) of an output image.

    Returns None when no face is found there any more, else the encoding of the best face."""
    from safeguard.detect import detect_faces
    from safeguard.faces import Box
    from safeguard.identify import encode_faces

    h, w = rgb.shape[:2]
    b = Box(*box).scaled(1.6, w, h)
    crop = np.ascontiguousarray(rgb[b.y0 : b.y1, b.x0 : b.x1])
    faces = detect_faces(crop)
    if not faces:
        return None
    return encode_faces(crop, faces[:1])[0]


def min_distance(enc, refs) -> float:
    return float(np.min(np.linalg.norm(np.asarray(refs) - enc, axis=1)))


def exiftool_groups(path: Path) -> set[str] | None:
    """Metadata groups exiftool finds in `path` (None when exiftool is not installed)."""
    exe = shutil.which("exiftool")
    if exe is None:
        return None
    out = subprocess.run([exe, "-a", "-G1", "-s", str(path)], capture_output=True, text=True,
                         check=True).stdout
    groups = set()
    for line in out.splitlines():
        if line.startswith("["):
            groups.add(line[1 : line.index("]")])
    return groups


# Groups that only describe the file and its pixels, never its subject or origin.
HARMLESS_GROUPS = {"ExifTool", "System", "File", "JFIF", "Composite", "PNG"}

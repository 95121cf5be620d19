"""Redaction strength: is a redacted face still found, or still recognised?

    .venv/bin/python benchmarks/bench_redaction.py [--out benchmarks/out]

For every probe photo of the identities with several photos (the same split as
bench_identify.py), faces are redacted by safeguard.redact in each style (blur, pixelate, solid)
at the configured mask scale, both at native size (one photo each, faces 100-730 px wide, plus a
close-up filling a 4000x3000 frame) and in montages at 40, 80, 160 and 320 px. Then, on the
redacted image:

- detection is run again, with the product's detector and with a more sensitive one (threshold
  0.1): a box on a redacted face counts as "still detected";
- the face is encoded again at its original place (same box and landmarks, the strongest position
  for an attacker with the original geometry) and compared with that person's enrolled references:
  within `restrict_tolerance` counts as "still matching".

Target: 0 and 0 for every style. Writes redaction.md and redaction.json to --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from montage import SPLIT, TESTDATA, have_testdata, load_source, make_tile, pack

from safeguard.config import Config
from safeguard.detect import DetectorConfig, detect_faces
from safeguard.faces import Box
from safeguard.identify import encode_faces
from safeguard.redact import STYLES, on_face, redact, redact_checked

SIZES = (40, 80, 160, 320)
SENSITIVE = DetectorConfig(threshold=0.1, verify_score=0.0)


def cases() -> list[tuple[str, np.ndarray, list[str]]]:
    """(name, image, identity per truth face order unknown) - faces come from detection."""
    out = []
    tiles = []
    for ident, (_, probes) in SPLIT.items():
        for name in probes:
            src = load_source(ident, name)
            out.append((f"{ident}/{name} native", src.rgb, ident))
            for size in SIZES:
                img, box = make_tile(src, size, 0)
                tiles.append((img, box, ident))
    for i, (canvas, placed) in enumerate(pack(tiles, seed=1)):
        out.append((f"montage {i + 1} ({len(placed)} faces, 40-320 px)", canvas, placed))
    src = load_source("obama", "fr__obama.jpg")
    b = Box(*src.box).scaled(1.3, src.rgb.shape[1], src.rgb.shape[0])
    crop = src.rgb[b.y0 : b.y1, b.x0 : b.x1]
    out.append(("obama close-up filling 4000x3000", cv2.resize(crop, (4000, 3000)), "obama"))
    return out


def group_photos() -> list[tuple[str, np.ndarray]]:
    """The test data's group photos (real scenes, many small faces; most of their people are
    not enrolled, so only detection is measured on them)."""
    from safeguard.images import load_image

    return [(p.name, load_image(p).rgb) for p in sorted((TESTDATA / "groups").glob("*.jpg"))]


def group_strength(style: str, mask_scale: float, photos: list) -> dict:
    """Every detected face of the group photos redacted by `redact_checked` in `style`: how many
    the product's detector (and the sensitive one) still finds, and how many the check redacted
    a second time (larger, or solid)."""
    r = {"faces": 0, "still_detected": 0, "still_detected_sensitive": 0, "redacted_again": 0,
         "seconds_check": 0.0, "examples": []}
    for name, rgb, faces in photos:
        if not faces:
            continue
        boxes = [f.box for f in faces]
        plain = redact(rgb, boxes, style, mask_scale)
        t = time.process_time()
        red = redact_checked(rgb, boxes, style, mask_scale)
        r["seconds_check"] += time.process_time() - t
        again = detect_faces(red)
        again_s = detect_faces(red, SENSITIVE)
        h, w = rgb.shape[:2]
        for b in boxes:
            hit = [g for g in again if on_face(g.box, b, mask_scale, w, h)]
            hit_s = [g for g in again_s if on_face(g.box, b, mask_scale, w, h)]
            r["faces"] += 1
            r["still_detected"] += bool(hit)
            r["still_detected_sensitive"] += bool(hit_s)
            inner = b.clip(w, h)
            r["redacted_again"] += not np.array_equal(
                plain[inner.y0 : inner.y1, inner.x0 : inner.x1],
                red[inner.y0 : inner.y1, inner.x0 : inner.x1],
            )
            if hit:
                r["examples"].append(f"{name}: {b.width}px, score {hit[0].score:.2f}")
    r["seconds_check"] = round(r["seconds_check"], 2)
    return r


def identity_of(face, who) -> str | None:
    """Which identity a detected face is: a single-person photo's, or the placed face it is."""
    if isinstance(who, str):
        return who
    best, ident = 0.0, None
    for box, tag in who:
        iou = face.box.iou(Box(*box))
        if iou > best:
            best, ident = iou, tag
    return ident if best >= 0.3 else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args(argv)
    if not have_testdata():
        print(f"SKIP: no test data at {TESTDATA} (set SAFEGUARD_TESTDATA)")
        return 0
    t0 = time.perf_counter()
    cfg = Config()
    from bench_identify import enrol_references

    refs, _ = enrol_references()
    data = cases()
    # Detect and encode the originals once.
    originals = []
    for name, rgb, who in data:
        faces = detect_faces(rgb)
        faces = [f for f in faces if identity_of(f, who) in refs]
        enc = encode_faces(rgb, faces)
        originals.append((name, rgb, who, faces, enc))
    groups = [(name, rgb, detect_faces(rgb)) for name, rgb in group_photos()]
    results, group_results = {}, {}
    for style in STYLES:
        g = group_results[style] = group_strength(style, cfg.mask_scale, groups)
        print(
            f"{style}, group photos: {g['faces']} faces, still detected {g['still_detected']} "
            f"(sensitive {g['still_detected_sensitive']}), redacted again {g['redacted_again']}",
            flush=True,
        )
        r = {
            "faces": 0,
            "still_detected": 0,
            "still_detected_sensitive": 0,
            "still_matching": 0,
            "nearest_is_own": 0,
            "min_distance_after": None,
            "median_distance_before": None,
            "examples": [],
        }
        before, after = [], []
        for name, rgb, who, faces, enc in originals:
            if not faces:
                continue
            red = redact_checked(rgb, [f.box for f in faces], style, cfg.mask_scale)
            again = detect_faces(red)
            again_s = detect_faces(red, SENSITIVE)
            enc2 = encode_faces(red, faces)
            for f, e1, e2 in zip(faces, enc, enc2):
                ident = identity_of(f, who)
                h, w = rgb.shape[:2]
                hit = [g for g in again if on_face(g.box, f.box, cfg.mask_scale, w, h)]
                hit_s = [g for g in again_s if on_face(g.box, f.box, cfg.mask_scale, w, h)]
                d_before = float(np.min(np.linalg.norm(refs[ident] - e1, axis=1)))
                d_after = float(np.min(np.linalg.norm(refs[ident] - e2, axis=1)))
                before.append(d_before)
                after.append(d_after)
                r["faces"] += 1
                r["still_detected"] += bool(hit)
                r["still_detected_sensitive"] += bool(hit_s)
                r["still_matching"] += d_after <= cfg.restrict_tolerance
                # Is the redacted face still closer to its own person than to everyone else?
                # By chance that happens for 1 in len(refs) faces.
                others = min(
                    float(np.min(np.linalg.norm(v - e2, axis=1)))
                    for k, v in refs.items()
                    if k != ident
                )
                r["nearest_is_own"] += d_after < others
                if hit or d_after <= cfg.restrict_tolerance or hit_s:
                    r["examples"].append(
                        f"{name}: {f.box.width}px, detected {len(hit)} (sensitive {len(hit_s)}), "
                        f"distance {d_before:.2f} -> {d_after:.2f}"
                    )
        r["min_distance_after"] = round(min(after), 3) if after else None
        r["median_distance_after"] = round(float(np.median(after)), 3) if after else None
        r["median_distance_before"] = round(float(np.median(before)), 3) if before else None
        results[style] = r
        print(
            f"{style}: {r['faces']} faces, still detected {r['still_detected']} "
            f"(sensitive {r['still_detected_sensitive']}), still matching "
            f"{r['still_matching']}, min distance after {r['min_distance_after']}",
            flush=True,
        )

    md = [
        "## Redaction strength",
        "",
        (
            f"Measured {dt.date.today().isoformat()}. Every detected face of the probe photos redacted "
            f"at mask_scale {cfg.mask_scale}: native size (faces 100-730 px), a close-up filling "
            f"4000x3000, and montages at {', '.join(map(str, SIZES))} px. Then detection again "
            "(product detector; sensitive = threshold 0.1, no verification) and encoding again at "
            "the original box and landmarks, compared with the person's enrolled references "
            f"(still matching = within restrict_tolerance {cfg.restrict_tolerance}). Target 0 / 0. "
            "A redacted face's encoding is generic: about 0.6-0.8 from everyone, so the column "
            "'nearest is own' shows whether any identity survives (chance level given)."
        ),
        "",
        (
            "| style | faces | still detected | still detected (sensitive) | still matching | "
            "nearest enrolled person is still the own one | distance to own refs before "
            "(median) | after (median / min) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for style, r in results.items():
        md.append(
            f"| {style} | {r['faces']} | {r['still_detected']} | "
            f"{r['still_detected_sensitive']} | {r['still_matching']} | "
            f"{r['nearest_is_own']} (chance: {r['faces'] / len(refs):.0f}) | "
            f"{r['median_distance_before']} | {r['median_distance_after']} / "
            f"{r['min_distance_after']} |"
        )
    md.append("")
    for style, r in results.items():
        if r["examples"]:
            md.append(f"- {style}: " + "; ".join(r["examples"][:12]))
    md += [
        "",
        (
            f"The test data's {len(groups)} group photos (real scenes, faces down to 10 px; their "
            "people are not enrolled, so detection only): every detected face redacted the same "
            "way and the photo searched again. 'Redacted again' counts faces the check covered a "
            "second time (larger, then solid): safe, but the photo looks less even. CPU seconds "
            "of `redact_checked` over all of them."
        ),
        "",
        (
            "| style | faces | still detected | still detected (sensitive) | redacted again | "
            "check CPU s |"
        ),
        "|---|---:|---:|---:|---:|---:|",
    ]
    for style, g in group_results.items():
        md.append(
            f"| {style} | {g['faces']} | {g['still_detected']} | "
            f"{g['still_detected_sensitive']} | {g['redacted_again']} | {g['seconds_check']} |"
        )
    md.append("")
    for style, g in group_results.items():
        if g["examples"]:
            md.append(f"- {style}, still detected: " + "; ".join(g["examples"][:12]))
    md.append("")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "redaction.md").write_text("\n".join(md) + "\n")
    (args.out / "redaction.json").write_text(
        json.dumps(
            {
                "measured": dt.date.today().isoformat(),
                "mask_scale": cfg.mask_scale,
                "styles": results,
                "group_photos": group_results,
                "seconds": round(time.perf_counter() - t0, 1),
            },
            indent=1,
        )
    )
    print(f"wrote {args.out / 'redaction.md'} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

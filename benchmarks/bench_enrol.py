"""A whole school's photo export enrolled in one command: `safeguard pupils enrol --folder DIR`.

    .venv/bin/python benchmarks/bench_enrol.py [--out benchmarks/out] [--pupils 560]

Makes a home with `--pupils` pupils (biometric consent recorded), and an MIS-style export of one
portrait per pupil (`DIR/<pupil_id>.jpg`), then runs the CLI once, as a data manager would, with
`--json`, and reads its one object per pupil and its summary. Reports wall time, time a pupil,
the CLI process's peak memory, how many were enrolled and why any were refused.

The portraits: the shared test data holds portraits of a few dozen adults, not hundreds of
children (real children's photos cannot be shipped or shared). Each pupil's photo is one of them,
cropped, scaled, mirrored, lit and compressed differently, so every file is a new decode, detection
and encoding, but many pupils share a face. The run therefore passes `--allow-lookalike`, and the
lookalike check turns into warnings (counted here: they are what the check is for, the same face
under two ids). What this measures is the one-command path at school scale (time, memory, one
line a pupil, the store's all-or-nothing write per pupil); how often the lookalike check refuses
real children is measured on the children's encodings in bench_school.py.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from bench_speed import run
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(os.environ.get("SAFEGUARD_TESTDATA", ROOT.parent / "shared" / "testdata"))


def portraits() -> list[Path]:
    """Portraits to draw pupils' photos from: the shared identities (one face each), else the
    repository's own reference photos."""
    found = sorted(p for p in (TESTDATA / "identities").rglob("*")
                   if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    return found or sorted((ROOT / "samples" / "references").glob("*.jpg"))


def variant(src: Path, rng: np.random.Generator) -> bytes:
    """One pupil's photo: the portrait cropped, scaled, maybe mirrored, lit and compressed."""
    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
    w, h = im.size
    keep = rng.uniform(0.85, 1.0)
    cw, ch = int(w * keep), int(h * keep)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    im = im.crop((x, y, x + cw, y + ch))
    side = rng.uniform(0.8, 1.2)
    im = im.resize((max(1, int(cw * side)), max(1, int(ch * side))), Image.LANCZOS)
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.85, 1.15))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(rng.integers(75, 95)))
    return buf.getvalue()


PASSWORD = "bench-only password, not a secret"


def seed_home(root: Path, n: int) -> None:
    from consent_db import ConsentStore
    from safeguard.home import Home

    home = Home(root).ensure()
    store = ConsentStore.open(home, create=True)
    store.add_staff("bench-data", "data", PASSWORD, actor="bench")
    with store.batch():
        for i in range(n):
            store.add_pupil(f"P{i:04d}", f"Pupil {i}", year=f"Y{i % 7 + 1}",
                            consents={"social": i % 5 != 0, "website": True},
                            biometric_consent=True, actor="bench")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--pupils", type=int, default=560)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    sources = portraits()
    rng = np.random.default_rng(560)
    with tempfile.TemporaryDirectory(prefix="bench_enrol_") as tmp:
        tmp = Path(tmp)
        seed_home(tmp / "home", a.pupils)
        export = tmp / "export"
        export.mkdir()
        for i in range(a.pupils):
            (export / f"P{i:04d}.jpg").write_bytes(variant(sources[i % len(sources)], rng))
        cmd = [sys.executable, "-m", "safeguard.cli", "--home", str(tmp / "home"), "pupils",
               "enrol", "--folder", str(export), "--allow-lookalike", "--json"]
        env = dict(os.environ, SAFEGUARD_USER="bench-data", SAFEGUARD_PASSWORD=PASSWORD)
        done = run(cmd, env=env)  # wall time, and memory summed over the CLI and its workers
        wall, peak_mb, stdout = done["seconds"], done["peak_pss_mb"], done["stdout"]
        rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if not rows or not rows[-1].get("summary"):
        print(done["stderr"][-2000:], file=sys.stderr)
        return 1
    *pupils, summary = rows
    reasons = Counter()
    for r in pupils:
        for why in r.get("refused", []):
            reasons[why.split(": ", 1)[-1].split(" (")[0]] += 1
    warned = sum(1 for r in pupils if any("looks like pupil" in w for w in r.get("warnings", [])))
    result = {
        "pupils": a.pupils, "portraits": len(sources), "exit": done["rc"],
        "lines": len(pupils), "enrolled": summary["enrolled"], "refused": summary["refused"],
        "encodings": summary["encodings"], "lookalike_warnings": warned,
        "refusal_reasons": dict(reasons.most_common()), "seconds": round(wall, 1),
        "s_per_pupil": round(wall / a.pupils, 3), "peak_mb": round(peak_mb),
    }
    (a.out / "enrol.json").write_text(json.dumps(result, indent=1))
    why = "; ".join(f"{k}: {v}" for k, v in reasons.most_common()) or "none"
    md = [
        "## A school's photo export in one command (bench_enrol.py)",
        "",
        (f"`safeguard pupils enrol --folder DIR --allow-lookalike --json` on {a.pupils} pupils, "
         f"one photo each, made from {len(sources)} portraits of the shared test data (cropped, "
         "scaled, mirrored, lit and compressed differently; many pupils share a face, so the "
         "lookalike check warns instead of refusing: how often it refuses real children is in "
         "the school table above). Memory is summed over the command and its workers (PSS)."),
        "",
        ("| pupils | one line each | enrolled | refused | lookalike warnings | wall | a pupil | "
         "peak memory | exit |"),
        "|---|---|---|---|---|---|---|---|---|",
        (f"| {a.pupils} | {len(pupils)} | {summary['enrolled']} | {summary['refused']} | "
         f"{warned} | {wall:.0f} s | {wall / a.pupils:.2f} s | {peak_mb:.0f} MB | {done['rc']} |"),
        "",
        f"Refusals by reason: {why}.",
    ]
    (a.out / "enrol.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

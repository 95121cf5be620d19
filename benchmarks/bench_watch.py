"""The watched folder, measured with a real `safeguard watch` process.

1. Latency: from the moment a photo without faces is complete in the inbox (renamed in from a
   .part name) to the moment its ready copy exists. The watcher is started and warmed first;
   photos are dropped one at a time. Includes the settle time (two looks `--settle` apart).
2. Throughput: 12 MP group photos (4000x3000 canvases tiled from the shared test data's group
   photos, or the bundled samples) dropped all at once into a running watcher with `--jobs 2`;
   photos per minute from the drop to the last outcome. Also the CPU seconds the watcher and its
   workers spent per photo, which does not depend on what else the machine is doing.

    .venv/bin/python benchmarks/bench_watch.py [--latency N] [--group N] [--settle S] [--json]

The home is a demo home (two enrolled pupils) built in a temp folder.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "testdata"


def faceless_photo(seed: int) -> bytes:
    """A real photo without faces when the shared data is there (a landscape), made unique by a
    one-pixel-row change; otherwise a synthetic one. 1080x641 either way."""
    from PIL import Image

    src = SHARED / "negatives" / "if__view.jpg"
    if src.exists():
        rgb = np.asarray(Image.open(src).convert("RGB")).copy()
    else:
        y, x = np.mgrid[0:641, 0:1080]
        rgb = np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)
    rgb[0, :, :] = seed % 256
    rgb[1, :, 0] = (seed // 256) % 256
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def group_canvases(n: int) -> list[bytes]:
    """n different 4000x3000 JPEGs, each four group photos in a 2x2 grid."""
    from PIL import Image, ImageOps

    srcs = sorted((SHARED / "groups").glob("*.jpg")) if (SHARED / "groups").is_dir() else []
    srcs = srcs or sorted((REPO / "samples" / "photos").glob("*.jpg"))
    tiles = [ImageOps.fit(ImageOps.exif_transpose(Image.open(p)).convert("RGB"), (2000, 1500))
             for p in srcs]
    out = []
    for i in range(n):
        canvas = Image.new("RGB", (4000, 3000))
        for k in range(4):
            canvas.paste(tiles[(i * 4 + k) % len(tiles)], ((k % 2) * 2000, (k // 2) * 1500))
        canvas.putpixel((0, 0), (i % 256, 0, 0))
        buf = io.BytesIO()
        canvas.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


PASSWORD = secrets.token_urlsafe(18)  # the bench home's comms account, this run only


def build_home(root: Path):
    """A home like the demo's: Ada (no consent for social) and Ben enrolled from the samples,
    and a comms account the watcher signs in as."""
    import datetime as dt

    from consent_db import ConsentStore
    from safeguard.detect import detect_faces
    from safeguard.home import Home
    from safeguard.identify import encode_faces
    from safeguard.images import load_image

    home = Home(root).ensure()
    store = ConsentStore.open(home, create=True)
    store.add_staff("bench-comms", "comms", PASSWORD, actor="bench")
    store.add_pupil("P001", "Ada Example", consents={"social": False, "website": True},
                    biometric_consent=True, actor="bench")
    store.add_pupil("P002", "Ben Example", consents={"social": True, "website": True},
                    biometric_consent=True, actor="bench")
    for pid, who in (("P001", "ada"), ("P002", "ben")):
        enc = []
        for p in sorted((REPO / "samples" / "references").glob(f"{who}-*.jpg")):
            rgb = load_image(p).rgb
            enc.append(encode_faces(rgb, detect_faces(rgb))[0])
        store.enrol(pid, enc, [dt.date.today()] * len(enc), actor="bench")
    return home


def start(home: Path, inbox: Path, ready: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "safeguard.cli", "--home", str(home), "watch", str(inbox),
           "--ready", str(ready), *args]
    env = dict(os.environ, SAFEGUARD_USER="bench-comms", SAFEGUARD_PASSWORD=PASSWORD)
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and every live process below it."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(d.name)], cpu[int(d.name)] = int(f[1]), int(f[11]) + int(f[12])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - tree
        tree |= frontier
    return sum(cpu.get(p, 0) for p in tree) / tick


def outcomes(inbox: Path) -> int:
    p = inbox / "_safeguard-status.txt"
    return len(p.read_text().splitlines()) if p.exists() else 0


def wait(pred, timeout: float, step: float = 0.005) -> float:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return time.monotonic()
        time.sleep(step)
    raise TimeoutError


def bench_latency(home: Path, tmp: Path, n: int, settle: float) -> dict:
    inbox, ready = tmp / "lat-inbox", tmp / "lat-ready"
    inbox.mkdir()
    proc = start(home, inbox, ready, "--settle", str(settle), "--jobs", "2")
    try:
        warm = faceless_photo(10_000)
        (inbox / "warm.jpg").write_bytes(warm)
        wait(lambda: (ready / "warm.jpg").exists(), 120)
        times = []
        for i in range(n):
            data = faceless_photo(i)
            part = inbox / f"p{i}.jpg.part"
            part.write_bytes(data)
            os.rename(part, inbox / f"p{i}.jpg")
            t0 = time.monotonic()
            t1 = wait(lambda i=i: (ready / f"p{i}.jpg").exists(), 120)
            times.append(t1 - t0)
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return {"photos": n, "settle_s": settle, "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3), "max_s": round(max(times), 3)}


def bench_groups(home: Path, tmp: Path, n: int, settle: float) -> dict:
    inbox, ready = tmp / "grp-inbox", tmp / "grp-ready"
    inbox.mkdir()
    canvases = group_canvases(n)
    proc = start(home, inbox, ready, "--settle", str(settle), "--jobs", "2")
    try:
        (inbox / "warm.jpg").write_bytes(faceless_photo(20_000))
        wait(lambda: outcomes(inbox) == 1, 120)
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        for i, data in enumerate(canvases):
            part = inbox / f"group{i:02d}.jpg.part"
            part.write_bytes(data)
            os.rename(part, inbox / f"group{i:02d}.jpg")
        t1 = wait(lambda: outcomes(inbox) == n + 1, 3600, 0.05)
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    wall = t1 - t0
    return {"photos": n, "size": "4000x3000", "jobs": 2, "wall_s": round(wall, 1),
            "photos_per_minute": round(n * 60 / wall, 1),
            "cpu_s_per_photo": round(cpu / n, 2),
            "photos_per_minute_if_2_idle_cores": round(2 * 60 / (cpu / n), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=int, default=10, help="faceless photos, one at a time")
    ap.add_argument("--group", type=int, default=8, help="12 MP group photos, all at once")
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        home = build_home(tmp / "home").root
        load0 = os.getloadavg()[0]
        res = {"cores": os.cpu_count(), "load_before": round(load0, 2)}
        if a.latency:
            res["latency"] = bench_latency(home, tmp, a.latency, a.settle)
        if a.group:
            res["groups"] = bench_groups(home, tmp, a.group, a.settle)
        res["load_after"] = round(os.getloadavg()[0], 2)
    if a.json:
        print(json.dumps(res))
        return
    print(f"{res['cores']} cores, load average {res['load_before']} before, "
          f"{res['load_after']} after")
    if "latency" in res:
        lat = res["latency"]
        print(f"latency, stable file to ready copy (no faces, 1080x641, settle {lat['settle_s']} s):"
              f" median {lat['median_s']} s, min {lat['min_s']} s, max {lat['max_s']} s "
              f"over {lat['photos']}")
    if "groups" in res:
        g = res["groups"]
        print(f"12 MP group photos, --jobs 2: {g['photos']} in {g['wall_s']} s = "
              f"{g['photos_per_minute']} photos/min; {g['cpu_s_per_photo']} CPU s per photo "
              f"(= {g['photos_per_minute_if_2_idle_cores']} photos/min on 2 idle cores)")


if __name__ == "__main__":
    main()

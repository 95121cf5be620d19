"""Memory for a long clip: the peak resident size of `process_clip` on 1080p clips of growing
length, and how the resident size moves over each run (flat when frames are streamed).

    nice .venv/bin/python benchmarks/bench_video_memory.py [--seconds 30,120] [--out benchmarks/out]

Each clip is made at run time from the repository's own `samples/photos/assembly.jpg` (a camera
panning slowly over it with hand shake, 1920x1080, 30 fps, H.264 with AAC sound and a phone's tags,
as tests/support/clips.py writes them) and goes through `process_clip` in a child process of its
own (a Job with threads=2, as `blur` makes it, models loaded in it), into an output folder: every
face is unknown (an empty consent store) and so blurred, the clip is written, its container
checked and its frames searched again: the three passes a clip exported by `blur` takes. The
child's VmRSS and VmHWM (peak) are read from /proc twice a second.

Writes video_memory.json and video_memory.md to --out and prints the table: the peak, and the
resident size at a quarter, half, three quarters and the end of the run; if the peak does not
grow with the clip's length, it is the figure for any length up to the 10-minute limit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the clip generator is the tests' own

FPS = 30
SIZE = (1920, 1080)
PHOTO = ROOT / "samples" / "photos" / "assembly.jpg"


def make_clip(seconds: int, path: Path) -> Path:
    from support.clips import Motion, camera_frames, write_phone_clip

    from safeguard.images import load_image

    if path.exists():
        return path
    photo = load_image(PHOTO).rgb
    n = seconds * FPS
    tmp = path.with_suffix(".part.mp4")
    write_phone_clip(tmp, camera_frames(photo, SIZE, n, Motion(pan=0.3, shake=1.5, centre=0.4)),
                     FPS)
    os.replace(tmp, path)
    return path


def make_home(home_dir: Path):
    from consent_db import ConsentStore
    from safeguard.home import Home

    if (home_dir / "config.toml").exists():
        return Home(home_dir)
    home = Home(home_dir).ensure()
    (home_dir / "config.toml").write_text("spot_check_rate = 0.0\n")
    ConsentStore.open(home, create=True)
    return home


def child(clip: Path, home_dir: Path, out_dir: Path, result: Path) -> int:
    """One clip through process_clip in this process, as `blur` would with two threads."""
    from dataclasses import replace

    from safeguard.config import Config
    from safeguard.home import Home
    from safeguard.pipeline import Job, store_inputs
    from safeguard.video.process import process_clip

    cfg = replace(Config(), spot_check_rate=0.0)
    home = Home(home_dir)
    inputs = store_inputs(home, cfg, "social")
    job = Job(config=cfg.with_overrides(unknown="redact"), channel="social",
              **{**inputs.job_fields(), "spot_key": None}, out_dir=out_dir,
              held_dir=home.held_dir, threads=2)
    oc = process_clip(clip, job)
    result.write_text(json.dumps({"status": oc.status, "error": oc.error, "frames": oc.frames,
                                  "tracks": len(oc.tracks), "seconds": oc.seconds}))
    return 0


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_sampled(cmd: list[str]) -> dict:
    """Run `cmd`; its wall time, peak resident size (VmHWM) and resident size over time."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    timeline: list[tuple[float, float]] = []
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = _status_kb(proc.pid, "VmRSS")
            peak[0] = max(peak[0], _status_kb(proc.pid, "VmHWM"))
            if rss:
                timeline.append((round(time.perf_counter() - start, 1), round(rss / 1024, 1)))
            done.wait(0.5)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out = proc.stdout.read()
    done.set()
    watcher.join()
    proc.wait()
    return {"wall": time.perf_counter() - start, "peak_mb": peak[0] / 1024,
            "timeline": timeline, "rc": proc.returncode,
            "log": out.decode(errors="replace")[-2000:]}


def at(timeline: list, share: float) -> float:
    if not timeline:
        return 0.0
    end = timeline[-1][0]
    return next((mb for t, mb in timeline if t >= share * end), timeline[-1][1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", default="30,120")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--child", nargs=4, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(*args.child)
    work = args.out / "video_memory"
    work.mkdir(parents=True, exist_ok=True)
    home = make_home(work / "home")
    rows = []
    for seconds in [int(s) for s in args.seconds.split(",")]:
        made = time.perf_counter()
        clip = make_clip(seconds, work / f"pan-{seconds}s-1080p.mp4")
        print(f"{clip.name}: {clip.stat().st_size / 1e6:.0f} MB, made in "
              f"{time.perf_counter() - made:.0f} s", flush=True)
        ready = work / f"ready-{seconds}"
        ready.mkdir(exist_ok=True)
        for old in ready.iterdir():
            old.unlink()
        result = work / f"result-{seconds}.json"
        load = os.getloadavg()[0]
        run = run_sampled([sys.executable, __file__, "--child", str(clip), str(home.root),
                           str(ready), str(result)])
        if run["rc"] != 0 or not result.exists():
            print(run["log"], file=sys.stderr)
            return 1
        res = json.loads(result.read_text())
        tl = run["timeline"]
        row = {"seconds": seconds, "status": res["status"], "error": res["error"],
               "frames": res["frames"], "tracks": res["tracks"], "wall": round(run["wall"], 1),
               "load_start": load, "load_end": os.getloadavg()[0],
               "peak_mb": round(run["peak_mb"]),
               "rss_mb": [at(tl, s) for s in (0.25, 0.5, 0.75, 1.0)], "timeline": tl}
        rows.append(row)
        print(f"{seconds:>4} s: {row['status']}, {row['frames']} frames, {row['tracks']} tracks, "
              f"{row['wall']:.0f} s wall, peak {row['peak_mb']} MB, resident at 1/4, 1/2, 3/4, "
              f"end: {row['rss_mb']} MB (load {load:.1f}-{row['load_end']:.1f})", flush=True)
    (args.out / "video_memory.json").write_text(json.dumps(rows, indent=1))
    lines = [("| clip (1080p, 30 fps) | outcome | wall s | peak MB | resident MB at 1/4, 1/2, "
              "3/4, end | load |"), "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seconds']} s ({r['frames']} frames) | {r['status']} "
                     f"({r['tracks']} tracks) | {r['wall']:.0f} | {r['peak_mb']} | "
                     f"{', '.join(f'{m:.0f}' for m in r['rss_mb'])} | "
                     f"{r['load_start']:.1f}-{r['load_end']:.1f} |")
    (args.out / "video_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

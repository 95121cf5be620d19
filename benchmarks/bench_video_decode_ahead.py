"""Decoding a clip's frames ahead on a thread of their own (safeguard.video.clip.PREFETCH_FRAMES)
against decoding them in the thread that detects: the same clip, the same process, alternately.

    nice .venv/bin/python benchmarks/bench_video_decode_ahead.py [--seconds 4] [--rounds 2]

A 1080p 30 fps clip made from `samples/photos/assembly.jpg` (bench_video_memory's clip) goes
through `process_clip` as `blur` would (threads=2, an output folder, an empty store: every face
blurred), once to load the models (not counted), then `--rounds` times each way, alternating, so
that a change in the machine's load falls on both alike. Prints wall and CPU seconds (this
process, every thread) per run and the ratio of the medians. On a machine shared with other work
the figures move with its load: compare only within one run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    from dataclasses import replace

    from bench_video_memory import make_clip, make_home

    from safeguard.config import Config
    from safeguard.pipeline import Job, store_inputs
    from safeguard.video import clip as clip_module
    from safeguard.video.process import process_clip

    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args(argv)
    work = args.out / "video_memory"
    work.mkdir(parents=True, exist_ok=True)
    home = make_home(work / "home")
    clip = make_clip(args.seconds, work / f"pan-{args.seconds}s-1080p.mp4")
    cfg = replace(Config(), spot_check_rate=0.0)
    inputs = store_inputs(home, cfg, "social")
    depth = clip_module.PREFETCH_FRAMES or 4

    def run(ahead: int) -> tuple[float, float]:
        clip_module.PREFETCH_FRAMES = ahead
        with tempfile.TemporaryDirectory(dir=work) as out:
            job = Job(config=cfg.with_overrides(unknown="redact"), channel="social",
                      **{**inputs.job_fields(), "spot_key": None}, out_dir=Path(out),
                      held_dir=home.held_dir, threads=2)
            cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            oc = process_clip(clip, job)
            wall = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        assert oc.status == "exported", oc.public()
        return wall, (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)

    run(depth)  # the models load
    times: dict[int, list[tuple[float, float]]] = {0: [], depth: []}
    for _ in range(args.rounds):
        for ahead in (0, depth):
            times[ahead].append(run(ahead))
            wall, cpu = times[ahead][-1]
            print(f"decode ahead {ahead}: {wall:.1f} s wall, {cpu:.1f} s CPU "
                  f"({wall / args.seconds:.2f} s per second of clip)", flush=True)
    inline = statistics.median(w for w, _ in times[0])
    aheadw = statistics.median(w for w, _ in times[depth])
    print(f"median wall: inline {inline:.1f} s, ahead {aheadw:.1f} s: ahead takes "
          f"{aheadw / inline:.2f}x the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

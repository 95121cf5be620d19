"""Speed of this checkout against an earlier commit's, like for like, on bench_speed's photos.

    git worktree add /tmp/then COMMIT && ln -s "$PWD/.venv" /tmp/then/.venv
    (cd /tmp/then && PYTHONPATH=/tmp/then .venv/bin/python benchmarks/bench_speed.py \\
        --out /tmp/then-out --tools safeguard --repeat 1)    # the home it uses, in its format
    .venv/bin/python benchmarks/bench_speed.py --tools safeguard --repeat 1  # this one's
    .venv/bin/python benchmarks/bench_against_commit.py --then /tmp/then \\
        --then-home /tmp/then-out/speed/home [--repeat 5]

`blur --jobs 2` of the earlier code (run from its worktree on this environment's packages), of
this checkout, and face_recognition's CLI, in alternating turns on the same 8 photos of
benchmarks/out/speed, with nothing sampled meanwhile (bench_speed.run: reading memory slows the
command measured). Prints each run and the ratios of the minimums: each code to
face_recognition's CLI, and now to then.

A worktree outside this one's parent folder does not find the test data beside it: set
SAFEGUARD_TESTDATA for both bench_speed runs (without it bench_speed.py only says SKIP).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import BENCH_PASSWORD, BENCH_USER, VENV_BIN


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--then", type=Path, required=True, help="the earlier commit's worktree")
    ap.add_argument("--then-home", type=Path, required=True, help="a home in its format")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    speed = args.out / "speed"
    photos, known, home = speed / "photos", speed / "known", speed / "home"
    n = len(list(photos.glob("*.jpg")))
    if not n:
        raise SystemExit(f"no photos in {photos}: run bench_speed.py first")
    work = Path(tempfile.mkdtemp(prefix="bench-against-"))
    signed = dict(os.environ, SAFEGUARD_USER=BENCH_USER, SAFEGUARD_PASSWORD=BENCH_PASSWORD)
    then_env = dict(signed, PYTHONPATH=str(args.then.resolve()),
                    SAFEGUARD_CACHE=str(work / "then-cache"))  # its own derived models
    blur = ["blur", "--jobs", "2", "--json", "-o"]
    tools = {
        "then": ([str(VENV_BIN / "safeguard"), "--home", str(args.then_home), *blur,
                  str(work / "then"), str(photos)], then_env, work / "then"),
        "now": ([str(VENV_BIN / "safeguard"), "--home", str(home), *blur, str(work / "now"),
                 str(photos)], signed, work / "now"),
        "face_recognition": ([str(VENV_BIN / "face_recognition"), "--cpus", "2", str(known),
                              str(photos)], dict(os.environ), None),
    }
    times: dict[str, list[float]] = {k: [] for k in tools}
    # one untimed run of the earlier code first: it makes its derived models once
    subprocess.run(tools["then"][0], env=then_env, capture_output=True, cwd=work, check=False)
    for r in range(args.repeat):
        for name, (cmd, env, out) in tools.items():
            if out is not None:
                shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            # run from a neutral folder: the earlier code's workers must not import this one's
            done = subprocess.run(cmd, env=env, capture_output=True, cwd=work, check=False)
            times[name].append((time.perf_counter() - t) / n)
            print(f"run {r + 1} {name}: {times[name][-1]:.3f} s/photo, rc {done.returncode}",
                  flush=True)
    for name, v in times.items():
        print(f"{name}: min {min(v):.3f}, median {statistics.median(v):.3f} s/photo")
    fr = min(times["face_recognition"])
    print(f"then / face_recognition {min(times['then']) / fr:.3f}; now / face_recognition "
          f"{min(times['now']) / fr:.3f}; now / then {min(times['now']) / min(times['then']):.3f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

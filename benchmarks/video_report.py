"""The figures, the table and the failures of benchmarks/bench_video.py, and where the camera put
each face of the source photo in a frame (the ground truth the written clips are judged against).
"""

from __future__ import annotations

import datetime as dt
import os
import platform

import numpy as np
from support.clips import camera_matrices


def moved(face, m: np.ndarray):
    """`face` of the source photo where frame matrix `m` puts it."""
    from safeguard.faces import Box, Face

    (x0, y0), (x1, y1) = (m @ [face.box.x0, face.box.y0, 1]), (m @ [face.box.x1, face.box.y1, 1])
    lm = [tuple(m @ [x, y, 1]) for x, y in face.landmarks]
    return Face(Box(round(x0), round(y0), round(x1), round(y1)), 1.0, lm, face.angle)


def inside(box, w: int, h: int) -> float:
    c = box.clip(w, h)
    return max(0, c.width) * max(0, c.height) / max(1, box.width * box.height)


def lies_on(found, true, w: int, h: int) -> bool:
    from safeguard.redact import on_face

    t = true.clip(w, h)
    return found.iou(t) >= 0.3 or on_face(found, t, 1.0, w, h) or found.holds_centre_of(t)


def whole_frames(clip: dict, fi: int) -> int:
    """In how many frames of the clip face `fi` of the source photo is wholly in the picture."""
    w, h = clip["spec"].size
    return sum(inside(moved(clip["faces"][fi], m).box, w, h) >= 1.0 - 1e-9
               for m in camera_matrices((clip["photo_h"], clip["photo_w"]), clip["spec"].size,
                                        clip["frames"], clip["motion"], seed=7))


def face_tracks(clip: dict, tracks: list[dict]) -> list[str]:
    """For each face of the source photo, the tracks whose detections lie on it and in how many
    frames, with their decisions: which face a track was (the outcome alone does not say)."""
    from safeguard.faces import Box

    mats = list(camera_matrices((clip["photo_h"], clip["photo_w"]), clip["spec"].size,
                                clip["frames"], clip["motion"], seed=7))
    w, h = clip["spec"].size
    out = []
    for fi, (face, role) in enumerate(zip(clip["faces"], clip["roles"])):
        on: dict[int, list[int]] = {}
        for t in tracks:
            for f, b in t["hits"]:
                true = moved(face, mats[f]).box
                if inside(true, w, h) > 0 and lies_on(Box(*b), true, w, h):
                    on.setdefault(t["id"], []).append(f)
        by_id = {t["id"]: t for t in tracks}
        parts = [f"track {tid} {t['label']}/{t['action']}"
                 + (f" as {t['pupil']} at {t['distance']:.3f}" if t["pupil"] else "")
                 + f" ({len(fs)} detections, frames {fs[0]}-{fs[-1]})"
                 for tid, fs in on.items() for t in [by_id[tid]]]
        pupil = clip["pupils"][fi] if fi < len(clip.get("pupils", [])) else None
        shown = sum(inside(moved(face, m).box, w, h) > 0 for m in mats)
        out.append(f"face {fi} ({role}{', ' + pupil if pupil else ''}, in {shown} frames): "
                   + ("; ".join(parts) or ("no track" if shown else "never in the picture")))
    return out


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


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def summarise(clips: list[dict], load_start, seconds: float, clip_seconds: float, fps: int,
              load_end) -> dict:
    """The table, the figures and every failure against the targets, with its frames."""
    rows, out_clips, failures = [], [], []
    tot = {"judged": 0, "detectable": 0, "matchable": 0, "whole": 0, "kept": 0, "exif": 0, "probe": 0,
               "strangers": 0, "strangers_seen": 0,
           "sg_wall": 0.0, "sg_cpu": 0.0, "de_wall": 0.0, "de_cpu": 0.0, "clip_s": 0.0, "de_clip_s": 0.0}
    peak_sg = peak_de = 0.0
    register, notes = [], []
    for clip in clips:
        spec, oc = clip["spec"], clip["outcome"] or {}
        sg, de = clip["sg"], clip.get("deface")
        secs = clip["frames"] / fps
        judged = clip.get("judged", {"faces": []})
        fr = [f for f in judged["faces"] if f["role"] in ("restricted", "register")]
        fc = [f for f in judged["faces"] if f["role"] == "consenting"]
        fs = [f for f in judged["faces"] if f["role"] == "stranger"]
        tot["strangers"] += sum(f["judged"] for f in fs)
        tot["strangers_seen"] += sum(len(f["detectable"]) for f in fs)
        strangers_seen = [f"{spec.name}: stranger face {f['face']} detectable in "
                          f"{len(f['detectable'])} of {f['judged']} frames: "
                          f"{spans(f['detectable'])}" for f in fs if f["detectable"]]
        notes += strangers_seen
        c = {k: sum(len(f[k]) if isinstance(f[k], list) else f[k] for f in fr)
             for k in ("judged", "detectable", "matchable")}
        whole, kept = sum(f["whole"] for f in fc), sum(f["kept"] for f in fc)
        if oc.get("status") != "exported" and not spec.register:  # nothing published: none kept
            whole = sum(whole_frames(clip, fi) for fi, r in enumerate(clip["roles"])
                        if r == "consenting")
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
                               "tree_peak_mb": round(sg["tree_peak_mb"]),
                               "in_process_s": round(oc.get("seconds") or 0, 2),
                               "load": round(sg["load"], 1), "tracks": tracks},
                 "deface": ({k: (round(v, 2) if isinstance(v, float) else v)
                             for k, v in de.items() if k != "log"} if de else None),
                 "judged": judged, "container": cont,
                 "faces_to_tracks": face_tracks(clip, oc.get("tracks", []))}
        out_clips.append(entry)
        peak_sg = max(peak_sg, sg["tree_peak_mb"])
        if de:
            peak_de = max(peak_de, de["tree_peak_mb"])
        if de and not spec.register:  # a held clip is not written: timed, not counted
            tot["de_wall"] += de["wall"]
            tot["de_cpu"] += de["cpu"]
            tot["de_clip_s"] += secs
        if not spec.register:
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
                                f"faces count as not kept; its faces and safeguard's tracks: "
                                + " | ".join(face_tracks(clip, oc.get("tracks", []))))
            failures += clip_failures(clip, fr, fc, exif, probe)
        de_s = f"{de['wall'] / secs:.1f} ({de['cpu'] / secs:.1f})" if de else "-"
        ratio = f"{sg['wall'] / de['wall']:.2f}" if de and de["wall"] else "-"
        rows.append(
            f"| {spec.name} | {spec.photo} | {spec.codec}{', rot 90' if spec.rotation else ''} "
            f"| {counts} | {oc.get('status')} ({len(tracks)} tracks) | "
            + (f"{c['detectable']} / {c['matchable']} of {c['judged']} | {kept}/{whole} | "
               f"{len(exif)} / {len(probe)}" if not spec.register else "held expected | - | -")
            + f" | {sg['wall'] / secs:.1f} ({sg['cpu'] / secs:.1f}) | {de_s} | {ratio} | "
            f"{sg['tree_peak_mb']:.0f} / {de['tree_peak_mb'] if de else 0:.0f} |")
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
    today = dt.date.today().isoformat()
    conditions = (f"{os.cpu_count()} cores ({platform.machine()}), shared with other work: load "
                  f"average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end")
    md = [
        "## Video clips (bench_video.py)",
        "",
        (f"Measured {today}; {conditions}. {len(clips)} clips of {clip_seconds} s at {fps} fps made "
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
        "deface s per s (CPU) | time ratio | peak MB safeguard / deface (process tree) |"),
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
    md += [(f"Strangers (faces not enrolled, redacted under `--unknown redact`): detectable in "
           f"{tot['strangers_seen']} of {tot['strangers']} frames showing at least a quarter of "
           "them (not a target of the clips' issue; listed below when not 0)."), ""]
    if failures:
        md += ["Failures:", "", *[f"- {f}" for f in failures], ""]
    if notes:
        md += ["Notes:", "", *[f"- {n}" for n in notes], ""]
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
               "register": register, "strangers_face_frames": tot["strangers"],
               "strangers_detectable": tot["strangers_seen"]}
    js = {"measured": today, "conditions": conditions, "seconds": round(seconds),
          "load": [list(load_start), list(load_end)],
          "figures": figures, "targets": targets, "failures": failures, "notes": notes,
          "clips": out_clips}
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
                box = moved(clip["faces"][f["face"]], mats[first]).box
                near = tracks_near(tracks, box, first) or ["no track of safeguard's near it"]
                out.append(f"{name}: restricted face {f['face']} ({f['pupil']}, source box "
                           f"{f['source_box']}) {kind} in {len(f[kind])} of {f['judged']} frames: "
                           f"{spans(f[kind])}; at frame {first} it is at {box.as_list()}: "
                           f"{'; '.join(near)}")
    for f in fc:
        if f["whole"] and f["kept"] < 0.9 * f["whole"]:
            first = f["missed"][0]
            box = moved(clip["faces"][f["face"]], mats[first]).box
            near = tracks_near(tracks, box, first) or ["no track of safeguard's near it"]
            out.append(f"{name}: consenting face {f['face']} ({f['pupil']}) kept in {f['kept']} "
                       f"of {f['whole']} frames; missed {spans(f['missed'])}; at frame {first} it "
                       f"is at {box.as_list()}: {'; '.join(near)}")
    out += [f"{name}: exiftool: {line}" for line in exif]
    out += [f"{name}: ffprobe: {line}" for line in probe]
    return out

"""Run every benchmark and write one report.

    .venv/bin/python benchmarks/run_all.py [--skip detect,store] [--full]

Runs, each in its own process (so one's memory and threads do not colour the next):
bench_detect.py (--quick unless --full), bench_identify.py --detectors, bench_school.py (children
at school scale, from ../shared/children), bench_references.py (more references per pupil, the
same children), bench_redaction.py, bench_speed.py, bench_store.py and
bench_text.py (names and class names in the picture), bench_caption.py (names and class
names in captions), bench_enrol.py (a school's photo export
enrolled in one command) and bench_video.py (phone clips, against deface), then writes

- benchmarks/out/report.md: the summary and every section, with the trade-off plot;
- benchmarks/REPORT.md: the same, to commit as the latest measured report (with the date), and
  benchmarks/identify_tradeoff.png beside it. `safeguard dpia` quotes its summary.

About 25-35 minutes on 2 cores (the video clips take 10-20 of them). Logs of each run are in benchmarks/out/logs/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def run_step(name: str, args: list[str], out: Path) -> tuple[int, float]:
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with open(logs / f"{name}.log", "w") as log:
        rc = subprocess.call(
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    secs = time.perf_counter() - t
    print(f"{name}: exit {rc} in {secs:.0f} s (log: {logs / (name + '.log')})", flush=True)
    return rc, secs


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _ok(flag: bool) -> str:
    return "met" if flag else "**not met**"


def detect_groups(detect_md: str) -> str | None:
    """The default detector's row for the group photos in bench_detect.py's table."""
    for line in detect_md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 4 and cells[0] == "default" and cells[1].startswith("groups"):
            return f"{cells[2]} (recall {cells[3]}, {cells[4]} extra boxes)"
    return None


def summary(out: Path, detect_md: str | None) -> tuple[list[str], dict]:
    from safeguard.config import Config

    Config()
    ident = _load(out / "identify.json")
    red = _load(out / "redaction.json")
    speed = _load(out / "speed.json")
    school = _load(out / "school.json")
    figures: dict = {}
    lines = []
    if detect_md:
        g = detect_groups(detect_md)
        if g:
            lines.append(
                f"- Detection, group photos of the test data (hand counts): {g}; "
                "target recall >= 0.99."
            )
    if ident:
        d = ident["detection"]
        recall = d["found"] / max(1, d["placed"])
        figures["montage_recall"] = round(recall, 4)
        lines.append(
            f"- Detection, montages (true boxes known): {d['found']}/{d['placed']} "
            f"(recall {recall:.3f}; target 1.0: {_ok(recall >= 1.0)}), {d['extra']} "
            "extra boxes."
        )
        cur = ident["current"]
        figures.update(
            leaks=cur["leaks"],
            restricted=cur["restricted"],
            needless_rate=round(cur["needless_rate"], 4),
            impostors_cleared=cur["impostor_cleared"],
            strangers_cleared=cur.get("strangers_cleared"),
        )
        dense = cur.get("dense")
        if dense:
            figures.update(
                fuller_needless_rate=round(dense["needless_rate"], 4),
                fuller_strangers_clearable=dense["strangers_clearable"],
                fuller_impostors_cleared=dense["impostor_cleared"],
            )
        distinct = (
            f", distinct matches up to {cur['distinct_tolerance']} with margin "
            f"{cur['distinct_margin']}"
            if "distinct_tolerance" in cur
            else ""
        )
        lines.append(
            f"- Identification at the live settings (clear_tolerance {cur['clear_tolerance']}, "
            f"clear_margin {cur['clear_margin']}{distinct}, restrict_tolerance "
            f"{cur['restrict_tolerance']}, unknown {cur['unknown']}): leaks {cur['leaks']} of "
            f"{cur['restricted']} restricted faces (target 0: {_ok(cur['leaks'] == 0)}; detector "
            f"misses {cur['leak_missed']}), needless redactions {cur['needless']} of "
            f"{cur['consenting']} consenting faces = {cur['needless_rate']:.1%} (target <= 5%: "
            f"{_ok(cur['needless_rate'] <= 0.05)}), impostors cleared {cur['impostor_cleared']}, "
            f"strangers from the group photos cleared {cur.get('strangers_cleared', '-')} of "
            f"{cur.get('strangers', '-')}."
        )
        if dense:
            lines.append(
                f"- The same in a fuller gallery (every stranger face from the group photos that "
                f"would pass the enrolment checks enrolled as one more consenting pupil, each "
                f"stranger compared with all of them but the same person's faces): leaks "
                f"{dense['leaks']}, needless {dense['needless_rate']:.1%}, impostors cleared "
                f"{dense['impostor_cleared']}, strangers clearable "
                f"{dense['strangers_clearable']}."
            )
    if school:
        lines += school_lines(school, figures)
    if red:
        parts = []
        worst = 0
        for style, r in red["styles"].items():
            parts.append(
                f"{style} {r['still_detected']} detected / {r['still_matching']} "
                f"matching of {r['faces']}"
            )
            worst = max(worst, r["still_detected"], r["still_matching"])
        figures["redaction_worst"] = worst
        lines.append(f"- Redaction strength: {'; '.join(parts)} (target 0: {_ok(worst == 0)}).")
        groups = red.get("group_photos") or {}
        if groups:
            lines.append(
                "- Redaction on the group photos (detection only): "
                + "; ".join(
                    f"{style} {g['still_detected']} of {g['faces']} still detected, "
                    f"{g['redacted_again']} redacted a second time"
                    for style, g in groups.items()
                )
                + "."
            )
    if speed:
        t = speed["tools"]
        sg = t.get("safeguard")
        if sg:
            found = sg["found"] / speed["faces"]
            figures.update(
                s_per_photo=round(sg["s_per_photo_min"], 2),
                faces_found=round(found, 4),
                peak_mb=round(sg["peak_pss_mb"]),
            )
            parts = [
                (
                    f"safeguard {sg['s_per_photo_min']:.2f} s/photo, {found:.1%} of faces "
                    f"(target >= 98%: {_ok(found >= 0.98)}), peak {sg['peak_pss_mb']:.0f} MB "
                    f"(target <= 1536: {_ok(sg['peak_pss_mb'] <= 1536)})"
                )
            ]
            r = speed["ratios"]
            if "vs_face_recognition" in r:
                fr = t["face_recognition"]
                parts.append(
                    f"face_recognition CLI {fr['s_per_photo_min']:.2f} s/photo, "
                    f"{fr['found'] / speed['faces']:.0%} of faces: ratio "
                    f"{r['vs_face_recognition']:.2f} (target <= 0.6: "
                    f"{_ok(r['vs_face_recognition'] <= 0.6)})"
                )
                figures["ratio_face_recognition"] = round(r["vs_face_recognition"], 3)
            if "vs_deface" in r:
                de = t["deface"]
                parts.append(
                    f"deface {de['s_per_photo_min']:.2f} s/photo, peak "
                    f"{de['peak_pss_mb']:.0f} MB: ratio {r['vs_deface']:.2f} (target "
                    f"<= 0.4: {_ok(r['vs_deface'] <= 0.4)})"
                )
                figures["ratio_deface"] = round(r["vs_deface"], 3)
            stages = speed.get("stages", [])
            text_cpu = next((cpu for name, _wall, cpu in stages  # the mean over the photos
                             if name.startswith("read text, mean")), None)
            if text_cpu is None:  # an older run: the profile photo's
                text_cpu = next((cpu for name, _wall, cpu in stages
                                 if name.startswith("read text")), None)
            if text_cpu is not None:
                figures["text_cpu_s"] = round(text_cpu, 3)
                parts.append(f"reading the text of a photo {text_cpu:.3f} CPU-s (one core, mean "
                             f"over the distinct photos; target <= 0.3: {_ok(text_cpu <= 0.3)})")
            lines.append("- Speed, 12 MP photos with 24 faces, 2 cores: " + "; ".join(parts) + ".")
    text = _load(out / "text.json")
    if text:
        n, o = text["naming"], text["other"]
        figures["text"] = {"naming_covered": round(text["naming_covered"] / n, 4),
                           "other_covered": round(text["other_covered"] / o, 4),
                           "read_after": text["naming_read_after_ours"]
                           + text["naming_read_after_tesseract"]}
        lines.append(
            f"- Text in the picture (bench_text.py, {text['photos']} photos at 12 MP, turned): "
            f"names and class names covered {text['naming_covered']}/{n} (target >= 95%: "
            f"{_ok(text['naming_covered'] >= 0.95 * n)}), still read afterwards by safeguard "
            f"{text['naming_read_after_ours']} and by tesseract "
            + (str(text["naming_read_after_tesseract"]) if text["tesseract"] else "(not installed)")
            + f"; text naming nobody covered {text['other_covered']}/{o} (target <= 5%: "
            f"{_ok(text['other_covered'] <= 0.05 * o)}); {text['cpu_s_per_photo']} CPU s per "
            "photo.")
    cap = _load(out / "caption.json")
    if cap:
        n, o = cap["naming"], cap["nobody"]
        figures["caption"] = {"names_found": round(cap["naming_flagged"] / n, 4),
                              "false_flags": round(cap["nobody_flagged"] / o, 4),
                              "cli_leaks": len(cap.get("cli_leaks", []))}
        lines.append(
            f"- Captions (bench_caption.py, {cap['captions']} generated for a school of "
            f"{cap['pupils']}): full names and class names found {cap['naming_flagged']}/{n} "
            f"(target >= 98%: {_ok(cap['naming_flagged'] >= 0.98 * n)}); captions naming nobody "
            f"flagged {cap['nobody_flagged']}/{o} (target <= 2%: "
            f"{_ok(cap['nobody_flagged'] <= 0.02 * o)}); `safeguard caption` output naming a "
            f"register or a pupil: {len(cap.get('cli_leaks', []))} of {cap.get('cli_runs', 0)} "
            "runs.")
    enrol = _load(out / "enrol.json")
    if enrol:
        figures["enrol"] = {k: enrol[k] for k in ("pupils", "enrolled", "s_per_pupil", "peak_mb")}
        lines.append(
            f"- Enrolment of a whole photo export in one command (bench_enrol.py): "
            f"{enrol['pupils']} pupils, one line each, {enrol['enrolled']} enrolled, "
            f"{enrol['refused']} refused by the reference checks, in {enrol['seconds'] / 60:.1f} "
            f"min ({enrol['s_per_pupil']:.2f} s a pupil), peak {enrol['peak_mb']} MB (target: 560 "
            f"in one command: {_ok(enrol['pupils'] >= 560 and enrol['lines'] == enrol['pupils'])})."
        )
    video = _load(out / "video.json")
    if video:
        lines.append(video_line(video, figures))
    return lines, figures


def video_line(video: dict, figures: dict) -> str:
    """The clips' figures against their targets (bench_video.py)."""
    f, t = video["figures"], video["targets"]
    figures["video"] = {k: f[k] for k in ("restricted_detectable", "restricted_matchable",
                                          "consenting_kept_rate", "metadata_left_exiftool",
                                          "metadata_left_ffprobe", "safeguard_s_per_s",
                                          "deface_s_per_s", "ratio_wall", "safeguard_peak_mb")}
    held = ", ".join(f"{r['clip']} {r['status']}" for r in f["register"]) or "-"
    deface = (f"deface {f['deface_s_per_s']:.1f}: ratio {f['ratio_wall']:.2f} (target <= 0.5: "
              f"{_ok(t['time_half_of_deface'])})" if f.get("ratio_wall") else "deface not run")
    return (
        f"- Video clips (bench_video.py, {len(video['clips'])} phone clips of 1080p from the group "
        f"photos): restricted faces detectable {f['restricted_detectable']} / matchable "
        f"{f['restricted_matchable']} of {f['restricted_face_frames']} face-frames (target 0: "
        f"{_ok(t['restricted_detectable_or_matchable_0'])}); consenting faces kept "
        f"{f['consenting_kept']}/{f['consenting_whole_frames']} frames (target >= 90%: "
        f"{_ok(t['consenting_kept_90'])}); metadata left beyond the allow-list "
        f"{f['metadata_left_exiftool']} (exiftool) / {f['metadata_left_ffprobe']} (ffprobe) "
        f"(target 0: {_ok(t['metadata_left_0'])}); register clip: {held}; seconds per second of "
        f"clip: safeguard {f['safeguard_s_per_s']:.1f}, {deface}; peak "
        f"{f['safeguard_peak_mb']} MB."
    )


def school_lines(school: dict, figures: dict) -> list[str]:
    """The school-scale figures at the live default: the largest child school, its class
    roster, and the adults' school of the same size."""
    def pick(group: str, roster: bool) -> dict | None:
        rows = [r for r in school["results"] if r["group"] == group
                and r["design"].startswith("live default") and bool(r["roster"]) == roster]
        return max(rows, key=lambda r: r["enrolled_per_school"]) if rows else None

    def rate(r: dict, a: str, b: str) -> float:
        return r[a] / r[b] if r[b] else 0.0

    out = []
    for group, roster in (("child", False), ("child", True), ("adult", False)):
        r = pick(group, roster)
        if r is None:
            continue
        key = f"school_{group}{'_roster' if roster else ''}"
        figures[key] = {
            "strangers_cleared": round(rate(r, "strangers_cleared", "strangers"), 5),
            "restricted_shown": r["restricted_shown"],
            "consenting_kept": round(rate(r, "consenting_kept", "consenting"), 4),
            "lookalike_refusals": round(rate(r, "lookalikes", "enrolled"), 5),
        }
        f = figures[key]
        who = "children" if group == "child" else "adults (the same people grown up)"
        where = f"a class roster of {r['roster']}" if roster else "school-wide"
        goal = ""
        if group == "child":
            target = 0.75 if roster else 0.5
            goal = (f" (targets: strangers <= 0.3%: {_ok(f['strangers_cleared'] <= 0.003)}; "
                    f"restricted 0: {_ok(r['restricted_shown'] == 0)}; kept >= {target:.0%}: "
                    f"{_ok(f['consenting_kept'] >= target)})")
        out.append(
            f"- School scale, {who}, {r['enrolled_per_school']} enrolled, {where} "
            f"(bench_school.py, {r['draws']} draws; tolerance {r['tolerance_min']:.3f}-"
            f"{r['tolerance_max']:.3f}): strangers cleared {r['strangers_cleared']} of "
            f"{r['strangers']} ({f['strangers_cleared']:.2%}), restricted shown "
            f"{r['restricted_shown']} of {r['restricted']}, consenting kept {r['consenting_kept']} "
            f"of {r['consenting']} ({f['consenting_kept']:.1%}), lookalike refusals "
            f"{f['lookalike_refusals']:.2%}{goal}."
        )
    if school.get("closest"):
        out.append("- School scale, children, how close the designs came (bench_school.py): "
                   + "; ".join(c.rstrip(".") for c in school["closest"]) + ".")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument(
        "--skip", default="",
        help="comma-separated: detect,identify,school,references,redaction,speed,store,text,"
             "caption,enrol,video"
    )
    ap.add_argument("--full", action="store_true", help="bench_detect.py with every config")
    ap.add_argument(
        "--no-commit-copy",
        action="store_true",
        help="do not write benchmarks/REPORT.md (only out/report.md)",
    )
    args = ap.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    skip = {s for s in args.skip.split(",") if s}
    t0 = time.perf_counter()
    steps = {
        "detect": ["benchmarks/bench_detect.py", "--out", str(out / "detect.md"), "--repeat", "1"]
        + ([] if args.full else ["--quick"]),
        "identify": ["benchmarks/bench_identify.py", "--out", str(out), "--detectors"],
        "school": ["benchmarks/bench_school.py", "--out", str(out)],
        "references": ["benchmarks/bench_references.py", "--out", str(out)],
        "redaction": ["benchmarks/bench_redaction.py", "--out", str(out)],
        "speed": ["benchmarks/bench_speed.py", "--out", str(out)],
        "store": ["benchmarks/bench_store.py", "--repeat", "3"],
        "text": ["benchmarks/bench_text.py", "--out", str(out)],
        "caption": ["benchmarks/bench_caption.py", "--out", str(out)],
        "enrol": ["benchmarks/bench_enrol.py", "--out", str(out)],
        "video": ["benchmarks/bench_video.py", "--out", str(out)],
    }
    status = {}
    for name, cmd in steps.items():
        if name in skip:
            continue
        status[name] = run_step(name, cmd, out)

    from safeguard.config import Config
    from safeguard.dpia import TUNED

    def section(name: str) -> str:
        p = out / name
        return p.read_text().strip() if p.exists() else ""

    detect_md = section("detect.md")
    lines, figures = summary(out, detect_md or None)
    store_log = out / "logs" / "store.log"
    load = os.getloadavg()
    today = dt.date.today().isoformat()
    cfg = Config().as_dict()
    marker = {
        "measured": today,
        # the settings `safeguard dpia` compares with the live ones: one list for both
        "config": {k: cfg[k] for k in TUNED if k in cfg},
        "figures": figures,
    }
    md = [
        "# Benchmark report",
        "",
        f"<!-- safeguard-benchmark {json.dumps(marker)} -->",
        "",
        (
            f"Measured {today} on {os.cpu_count()} cores ({platform.machine()}, "
            f"{platform.python_implementation()} {platform.python_version()}), CPU only; load "
            f"average at the end {load[0]:.1f} (the machine was shared: timings are noisy, minimums "
            f"are reported). Run with `.venv/bin/python benchmarks/run_all.py` "
            + (f"({(time.perf_counter() - t0) / 60:.0f} min)" if status else
               "(rebuilt from the steps' last outputs in benchmarks/out)")
            + (f"; {', '.join(sorted(skip))}: their outputs from an earlier full run in "
               "benchmarks/out, the same day" if status and skip else "")
            + "; what each part measures: docs/benchmarks.md."
        ),
        "",
        "## Summary",
        "",
        *lines,
        "",
    ]
    failed = [f"{k} (exit {rc})" for k, (rc, _) in status.items() if rc != 0]
    if failed:
        md += [f"Steps that failed: {', '.join(failed)} (see benchmarks/out/logs/).", ""]
    for name in ("identify.md", "school.md", "references.md", "enrol.md", "redaction.md", "speed.md", "text.md",
                 "caption.md", "video.md"):
        text = section(name)
        if text:
            md += [text, ""]
    if detect_md:
        md += [re.sub(r"^# ", "## ", detect_md, count=1, flags=re.MULTILINE), ""]
    if store_log.exists():
        md += [
            "## Consent store at trust scale (bench_store.py)",
            "",
            "```",
            store_log.read_text().strip(),
            "```",
            "",
        ]
    text = "\n".join(md) + "\n"
    (out / "report.md").write_text(text)
    print(f"wrote {out / 'report.md'}")
    if not args.no_commit_copy:
        (BENCH / "REPORT.md").write_text(text)
        png = out / "identify_tradeoff.png"
        if png.exists():
            shutil.copy(png, BENCH / "identify_tradeoff.png")
        print(f"wrote {BENCH / 'REPORT.md'}")
    print(f"all done in {(time.perf_counter() - t0) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

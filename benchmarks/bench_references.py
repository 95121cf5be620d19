"""More references per pupil at school scale: do strangers stay uncleared as references accumulate?

    nice .venv/bin/python benchmarks/bench_references.py [--out benchmarks/out] [--draws 40]

Data: ../shared/children (SAFEGUARD_CHILDREN to point elsewhere), as bench_school.py reads it:
dlib encodings of childhood photos of 516 people (no images; nothing but counts is written).
Decisions by the live rule (policy.decide_face) with the tolerance calibrated to each gallery as it
is (calibration.calibrate: every clearing reference is a stranger's chance), distances from the
product's own matcher (identify.distances_per_pupil).

1. Schools with 1, 2 and 3 references per pupil. A school of 430 enrolled children (the rest never
   enrolled: every childhood photo of theirs is a stranger's face); about one in ten pupils with
   two or more photos restricted. Each pupil's photos in a random order: the first is the
   enrolment portrait; a pupil gets up to k references from their first photos, always keeping
   one photo back as a probe. The extra references come either
   - from enrolment portraits: refused (and so left out) when enrolment's lookalike check would
     refuse them; or
   - from the DSL confirming the pupil's face in a class photo: the photo is first decided against
     the gallery as it is; a face already cleared needs no confirmation, one that was not is
     confirmed, and refused (left out) when it lies within the lookalike tolerance of another
     pupil or repeats a reference (safeguard.references.refusal, without the quality checks,
     which need the image).
   Kept is counted school-wide (each consenting pupil's photo k + 1, or their last: the photo the
   enrolment design keeps back), for the pupils with three or more photos on their third, and
   with four or more on their fourth (the same probe whatever k, so the rows compare). Restricted pupils are probed with every photo of
   theirs that is no reference.
2. A simulated term: the same school, one enrolment portrait each; at each event some pupils are
   photographed (their next unused photo) with some never-enrolled children, five faces a photo;
   every consenting face left blurred is confirmed by the DSL and joins the references (or is
   refused) before the next event.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_school import (
    RESTRICTED_SHARE,
    SUSPECT_PAIR,
    children_dir,
    load,
    lookalike_refusals,
    pct,
    rate,
)

from consent_db.matrix import MatchMatrix
from safeguard.calibration import (
    apply,
    calibrate,
    lookalike_tolerance,
    spread_of,
)
from safeguard.config import Config
from safeguard.enrolment import DUPLICATE_DISTANCE, lookalikes
from safeguard.identify import distances_per_pupil
from safeguard.policy import decide_face

ROOT = Path(__file__).resolve().parent.parent
ENROLLED = 430
EVENTS = 8
PUPILS_AN_EVENT = 40
STRANGERS_AN_EVENT = 10
FACES_A_PHOTO = 5


@dataclass
class School:
    pupils: list[np.ndarray]  # per enrolled pupil: their face rows, in a random order
    restricted: np.ndarray  # (P,) bool
    strangers: np.ndarray  # face rows of children never enrolled


def draw(person, age, rng, n_enrolled=ENROLLED) -> School:
    idx = np.flatnonzero(age == "child")
    people = rng.permutation(np.unique(person[idx]))
    faces = [rng.permutation(idx[person[idx] == p]) for p in people]
    pupils, strangers = faces[:n_enrolled], faces[n_enrolled:]
    restricted = np.zeros(len(pupils), bool)
    several = np.array([i for i, f in enumerate(pupils) if len(f) > 1])
    restricted[rng.choice(several, max(1, round(RESTRICTED_SHARE * len(several))),
                          replace=False)] = True
    return School(pupils, restricted, np.concatenate(strangers))


def matrix(enc, refs: list[list[int]], restricted) -> MatchMatrix:
    rows = [(p, f) for p, fs in enumerate(refs) for f in fs]
    g = np.ascontiguousarray(enc[[f for _, f in rows]])
    n = len(refs)
    return MatchMatrix(
        encodings=g, sq_norms=np.einsum("ij,ij->i", g, g),
        row_pupil=np.array([p for p, _ in rows], np.int32),
        pupil_ids=[f"S{i:04d}" for i in range(n)], restricted=restricted,
        on_register=restricted.copy(), reasons=["r"] * n, groups=[() for _ in range(n)])


class Gallery:
    """The school's references and the decision rule calibrated to them as they are."""

    def __init__(self, enc, refs, restricted, cfg):
        self.enc, self.refs, self.restricted, self.cfg = enc, refs, restricted, cfg
        self.refresh()

    def refresh(self):
        self.m = matrix(self.enc, self.refs, self.restricted)
        self.cal = calibrate(self.m, self.cfg)
        self.live = apply(self.cfg, self.cal)
        self.look = lookalike_tolerance(len(self.refs) - 1, spread_of(self.m), self.cfg)

    def decide(self, faces) -> list:
        d = distances_per_pupil(self.enc[np.asarray(faces, int)], self.m)
        return [decide_face(row, self.restricted, self.restricted, self.m.pupil_ids,
                            self.m.reasons, self.live, "redact") for row in d]

    def cleared_as(self, face, pupil) -> bool:
        [d] = self.decide([face])
        return d.label == "cleared" and d.pupil == self.m.pupil_ids[pupil]

    def refusal(self, pupil, face) -> str | None:
        """safeguard.references.refusal without the quality checks (no image here)."""
        e = self.enc[face]
        own = self.enc[self.refs[pupil]]
        if len(own) and float(np.min(np.linalg.norm(own - e, axis=1))) < DUPLICATE_DISTANCE:
            return "repeat"
        return "lookalike" if lookalikes(e, self.m, self.m.pupil_ids[pupil], self.look) else None


def with_references(enc, school: School, k: int, source: str, cfg, rng):
    """The gallery with up to `k` references a pupil (one photo always kept back), the extra ones
    from `source` ("enrolment" or "confirmation"), added pupil by pupil in a random order."""
    refs = [[int(f[0])] for f in school.pupils]
    g = Gallery(enc, refs, school.restricted, cfg)
    tried = refused = skipped = 0
    for step in range(1, k):
        for p in rng.permutation(len(refs)):
            faces = school.pupils[p]
            if len(faces) <= step + 1:  # keep at least one photo back as a probe
                continue
            face = int(faces[step])
            if source == "confirmation" and not school.restricted[p] and g.cleared_as(face, p):
                skipped += 1  # cleared already: nothing for the DSL to confirm
                continue
            tried += 1
            if g.refusal(p, face):
                refused += 1
                continue
            refs[p].append(face)
        g.refresh()
    return g, {"tried": tried, "refused": refused, "cleared_already": skipped}


def suspect(d) -> bool:
    """Cleared closer than two different children of the shared set lie, bar one pair that is
    almost surely one child under two ids (bench_school.SUSPECT_PAIR)."""
    return d.label == "cleared" and d.distance is not None and d.distance < SUSPECT_PAIR


def score(g: Gallery, school: School, k: int) -> dict:
    t = defaultdict(int)
    probes, kinds = [], []
    for p, faces in enumerate(school.pupils):
        spare = [int(f) for f in faces if int(f) not in set(g.refs[p])]
        if not spare:
            continue
        if school.restricted[p]:
            probes += [(p, f) for f in spare]
            kinds += ["restricted"] * len(spare)
            continue
        probe = int(faces[min(k, len(faces) - 1)])  # the same photo whatever the source
        if probe in spare:
            probes.append((p, probe))
            kinds.append("school")
        for n, col in ((3, "third"), (4, "fourth")):
            if k < n and len(faces) >= n and int(faces[n - 1]) in spare:
                probes.append((p, int(faces[n - 1])))
                kinds.append(col)
    decisions = g.decide([f for _, f in probes])
    for (p, _f), kind, d in zip(probes, kinds, decisions, strict=True):
        t[kind] += 1
        if kind == "restricted":
            t["restricted_shown"] += d.label == "cleared"
            t["restricted_shown_suspect_pair"] += suspect(d)
        else:
            t[f"{kind}_kept"] += d.label == "cleared" and d.pupil == g.m.pupil_ids[p]
            t["kept_as_other"] += d.label == "cleared" and d.pupil != g.m.pupil_ids[p]
    for d in g.decide(school.strangers):
        t["strangers"] += 1
        t["strangers_cleared"] += d.label == "cleared"
        t["strangers_cleared_suspect_pair"] += suspect(d)
    t["rows"] = len(g.m.encodings)
    t["tolerance"] = g.cal.clear_tolerance
    return t


def references_table(enc, person, age, cfg, draws) -> list[dict]:
    designs = [(1, "enrolment"), (2, "enrolment"), (2, "confirmation"), (3, "enrolment"),
               (3, "confirmation")]
    out = []
    for k, source in designs:
        total, extra, tols = defaultdict(int), defaultdict(int), []
        for i in range(draws):
            rng = np.random.default_rng(1000 + i)
            school = draw(person, age, rng)
            g, added = with_references(enc, school, k, source, cfg, rng)
            for key, v in score(g, school, k).items():
                if key == "tolerance":
                    tols.append(v)
                else:
                    total[key] += v
            for key, v in added.items():
                extra[key] += v
            if k == 1:
                first = np.array([int(f[0]) for f in school.pupils])
                spread = spread_of(g.m)
                total["lookalikes"] += lookalike_refusals(
                    enc, first, lambda n, s=spread: lookalike_tolerance(n, s, cfg))
                total["enrolled"] += len(first)
        out.append({"references": k, "source": source, **total, **extra,
                    "tolerance_min": min(tols), "tolerance_max": max(tols), "draws": draws})
        print(json.dumps(out[-1]), flush=True)
    return out


def term(enc, person, age, cfg, draws) -> list[dict]:
    """Per event, summed over the draws: faces, kept, strangers cleared, restricted shown,
    confirmations (tried, refused), photos, references and tolerance."""
    keys = ("photos", "tolerance", "references", "strangers", "strangers_cleared", "restricted",
            "restricted_shown", "consenting", "kept", "kept_as_other", "confirmations", "refused",
            "kept_without", "suspect")
    events = [dict.fromkeys(keys, 0.0) for _ in range(EVENTS)]
    for i in range(draws):
        rng = np.random.default_rng(2000 + i)
        school = draw(person, age, rng)
        g = Gallery(enc, [[int(f[0])] for f in school.pupils], school.restricted, cfg)
        g0 = Gallery(enc, [[int(f[0])] for f in school.pupils], school.restricted, cfg)
        next_photo = [1] * len(school.pupils)
        strangers = list(rng.permutation(school.strangers))
        for e in range(EVENTS):
            ready = [p for p, f in enumerate(school.pupils) if next_photo[p] < len(f)]
            chosen = rng.choice(ready, min(PUPILS_AN_EVENT, len(ready)), replace=False)
            faces = [(int(p), int(school.pupils[p][next_photo[p]])) for p in chosen]
            for p, _ in faces:
                next_photo[p] += 1
            visitors = [(-1, int(strangers.pop())) for _ in range(min(STRANGERS_AN_EVENT,
                                                                      len(strangers)))]
            ev = events[e]
            shown = faces + visitors
            ev["photos"] += -(-len(shown) // FACES_A_PHOTO)
            ev["tolerance"] += g.cal.clear_tolerance / draws
            ev["references"] += len(g.m.encodings) / draws
            confirm = []
            before = g0.decide([f for _, f in shown])  # had nothing been confirmed
            for (p, f), d, d0 in zip(shown, g.decide([f for _, f in shown]), before,
                                     strict=True):
                if p < 0:
                    ev["strangers"] += 1
                    ev["strangers_cleared"] += d.label == "cleared"
                    ev["suspect"] += suspect(d)
                elif school.restricted[p]:
                    ev["restricted"] += 1
                    ev["restricted_shown"] += d.label == "cleared"
                    ev["suspect"] += suspect(d)
                else:
                    ev["consenting"] += 1
                    kept = d.label == "cleared" and d.pupil == g.m.pupil_ids[p]
                    ev["kept"] += kept
                    ev["kept_without"] += d0.label == "cleared" and d0.pupil == d.pupil == \
                        g.m.pupil_ids[p]
                    ev["kept_as_other"] += d.label == "cleared" and not kept
                    if d.label != "cleared":
                        confirm.append((p, f))
            for p, f in confirm:  # the DSL confirms each blurred consenting face
                ev["confirmations"] += 1
                if g.refusal(p, f):
                    ev["refused"] += 1
                else:
                    g.refs[p].append(f)
            g.refresh()
    return [{"event": n + 1, **ev} for n, ev in enumerate(events)]


def pair(n: int, what: str = "") -> str:
    return f" ({n}{' ' + what if what else ''} through the suspect pair)" if n else ""


def report(table, events, draws, when) -> str:
    lines = [
        f"## More references per pupil (bench_references.py, {when})",
        "",
        (f"Schools of {ENROLLED} enrolled children from ../shared/children (the development "
         f"set), {draws} draws each, counts summed; every childhood photo of the "
         "children never enrolled is a stranger's face; about one in ten pupils with two or more "
         "photos restricted. Tolerance calibrated to each gallery as it is (each clearing "
         "reference a stranger's chance)."),
        "",
        ("| references a pupil | extra ones from | tolerance | strangers cleared | restricted "
         "shown | kept school-wide | kept third photos (3+ photos) | kept fourth photos (4+ "
         "photos) | cleared as another pupil | extra references refused | lookalike refusals at "
         "enrolment |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        tol = (f"{r['tolerance_min']:.3f}" if r["tolerance_min"] == r["tolerance_max"]
               else f"{r['tolerance_min']:.3f}-{r['tolerance_max']:.3f}")
        third = pct(r.get("third_kept", 0), r["third"]) if r.get("third") else "-"
        extra = "-" if r["references"] == 1 else (
            f"{pct(r['refused'], r['tried'])}"
            + (f"; {r['cleared_already']} already cleared, not confirmed"
               if r["source"] == "confirmation" else ""))
        look = pct(r["lookalikes"], r["enrolled"]) if r.get("enrolled") else "-"
        lines.append(
            f"| {r['references']} | {'-' if r['references'] == 1 else r['source']} | {tol} | "
            f"{pct(r.get('strangers_cleared', 0), r['strangers'])}"
            f"{pair(r.get('strangers_cleared_suspect_pair', 0))} | "
            f"{pct(r.get('restricted_shown', 0), r['restricted'])}"
            f"{pair(r.get('restricted_shown_suspect_pair', 0))} | "
            f"{pct(r.get('school_kept', 0), r['school'])} | {third} | "
            f"{pct(r.get('fourth_kept', 0), r['fourth'])} | {r.get('kept_as_other', 0)} | "
            f"{extra} | {look} |")
    lines += [
        "",
        (f"A simulated term: the same school, one enrolment portrait each; {EVENTS} events, "
         f"each photographing {PUPILS_AN_EVENT} pupils (their next unused childhood photo) and "
         f"{STRANGERS_AN_EVENT} never-enrolled children, {FACES_A_PHOTO} faces a photo; each "
         "consenting face left blurred is confirmed by the DSL and joins the pupil's references "
         "(unless refused) before the next event. Summed over the draws:"),
        "",
        ("| event | references (mean) | tolerance (mean) | consenting kept | kept had nothing been "
         "confirmed | strangers cleared | restricted shown | cleared as another pupil | "
         "DSL confirmations per 100 photos | refused |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ev in events:
        lines.append(
            f"| {ev['event']} | {ev['references']:.0f} | {ev['tolerance']:.3f} | "
            f"{pct(int(ev['kept']), int(ev['consenting']))} | "
            f"{pct(int(ev['kept_without']), int(ev['consenting']))} | "
            f"{pct(int(ev['strangers_cleared']), int(ev['strangers']))} | "
            f"{pct(int(ev['restricted_shown']), int(ev['restricted']))} | "
            f"{int(ev['kept_as_other'])}{pair(int(ev.get('suspect', 0)), 'strangers or restricted')} | "
            f"{100 * rate(ev['confirmations'], ev['photos']):.0f} | "
            f"{pct(int(ev['refused']), int(ev['confirmations']))} |")
    lines += [
        "",
        (f"The suspect pair: two ids of the shared set {SUSPECT_PAIR} apart or less (p0724/p0203, "
         "0.206; every other pair of different ids is at least 0.304 apart), almost surely one "
         "child under two ids; clears through it are counted above and named apart "
         "(bench_school.py does the same)."),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import datetime as dt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--report-only", action="store_true",
                    help="Write the report again from OUT/references.json.")
    args = ap.parse_args(argv)
    if args.report_only:
        saved = json.loads((args.out / "references.json").read_text())
        md = report(saved["references"], saved["term"], saved["draws"], saved["measured"])
        (args.out / "references.md").write_text(md)
        print(md)
        return 0
    folder = children_dir()
    if not (folder / "encodings.npy").exists():
        print(f"no children's encodings at {folder}: set SAFEGUARD_CHILDREN")
        return 2
    enc, person, age, _ita = load(folder)
    cfg = Config()
    table = references_table(enc, person, age, cfg, args.draws)
    events = term(enc, person, age, cfg, args.draws)
    when = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "references.json").write_text(json.dumps(
        {"measured": when, "draws": args.draws, "references": table, "term": events}, indent=1))
    md = report(table, events, args.draws, when)
    (args.out / "references.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Identification accuracy on montages: leaks and needless redactions across tolerances.

    .venv/bin/python benchmarks/bench_identify.py [--out benchmarks/out] [--reuse]
    .venv/bin/python benchmarks/bench_identify.py --detect-only [--seed N]   # detection only

From the identities with several photos in the shared test data, 1-3 reference photos per person
are enrolled (through the product's enrolment checks) and the others are placed into 4000x3000
montages at several sizes (40 to 320 px wide) and turns (90, 180, 270 degrees in the pixels), with
impostors (people with one photo, never enrolled) among them. Each montage goes through the
product's own detect -> encode -> match path once; then every tolerance setting is decided from
the same distances (policy.decide_face), under two role assignments so that every person is
probed both as a restricted pupil and as a consenting one.

Per placed face (truth box known):
- leak: a restricted face that ends unredacted: missed by the detector, kept by the decision, or
  covered by a redaction mask over less than 90% of its box;
- needless redaction: a consenting face that ends redacted;
- impostor faces follow the unknown-face policy and are reported apart; an impostor *cleared* as
  a consenting pupil would be published whatever the policy, so it counts against a setting.

Writes identify.md, identify.json and identify_tradeoff.png to --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import pickle
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from montage import (
    IDS,
    ROLES_A,
    SPLIT,
    TESTDATA,
    Placed,
    have_testdata,
    impostor_files,
    load_source,
    make_tile,
    pack,
)

from safeguard.config import Config
from safeguard.faces import Box

# (face width px, counter-clockwise turn) for every probe and impostor photo.
VARIANTS = (
    (40, 0),
    (56, 0),
    (80, 0),
    (120, 0),
    (200, 0),
    (320, 0),
    (64, 90),
    (160, 180),
    (120, 270),
)
COVER = 0.9  # share of a face's box a redaction mask must cover to count as redacted

CLEAR_TOLS = tuple(round(x, 3) for x in np.arange(0.30, 0.601, 0.025))
MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2)
RESTRICT_TOLS = (0.5, 0.55, 0.6, 0.65, 0.7)
POLICIES = ("redact", "keep")
# --mirror: encode probes and strangers as the mean of each chip and its mirror image
MIRROR = False

# Bumped when the enrolment checks behind Measured.stranger_enrollable change (2: seen from the
# front; 3: eye span 0.2, a much smaller background face ignored, weak boxes on the face not counted)
ENROL_CHECKS = 3

# Group photos in which one person appears more than once: the centre (x, y, original pixels) of
# each of their faces, checked by eye. dlib's bald_guys.jpg is a collage of 24 portraits of four
# actors; every other face of the group photos is taken to be a different person. In the fuller
# gallery a stranger is compared with no face of the same person: clearing someone as themselves
# is a true match, not a stranger cleared.
SAME_PERSON = {
    "groups/dl__bald_guys.jpg": {
        "a": [(152, 153), (637, 176), (388, 290), (140, 451), (646, 508), (150, 1372)],
        "b": [(393, 97), (956, 176), (393, 517), (959, 477), (145, 766), (500, 911)],
        "c": [(1594, 242), (1883, 484), (1694, 746), (1169, 1383), (1512, 1393), (1868, 1383)],
        "d": [(861, 895), (1149, 841), (127, 1048), (1188, 1138), (459, 1322), (856, 1312)],
    }
}


# ----------------------------------------------------------------------------------------------
# Measuring (the expensive part: detection and encoding, once)


@dataclass
class Measured:
    identities: list[str]
    truth: list[Placed] = field(default_factory=list)
    # per detection: montage index, box, distances to every identity (closest reference)
    det_montage: list[int] = field(default_factory=list)
    det_box: list[tuple[int, int, int, int]] = field(default_factory=list)
    det_score: list[float] = field(default_factory=list)  # the detector's score per detection
    det_dist: list[np.ndarray] = field(default_factory=list)
    truth_montage: list[int] = field(default_factory=list)
    enrol_refused: list[str] = field(default_factory=list)
    n_refs: dict[str, int] = field(default_factory=dict)
    montages: int = 0
    # faces of the group photos that name none of the enrolled people: many more strangers
    stranger_dist: list[np.ndarray] = field(default_factory=list)
    stranger_src: list[str] = field(default_factory=list)
    stranger_width: list[int] = field(default_factory=list)
    # encodings, for the fuller gallery (enrollable strangers as more pupils: `gallery`)
    det_enc: list[np.ndarray] = field(default_factory=list)
    stranger_enc: list[np.ndarray] = field(default_factory=list)
    # would the stranger face pass the product's enrolment checks (enrolment.reference_problem:
    # size, seen from the front, sharpness)?
    stranger_enrollable: list[bool] = field(default_factory=list)
    # who each stranger face is (`stranger_person`): faces of one person share a label
    stranger_person: list[str] = field(default_factory=list)
    seconds_detect: float = 0.0
    seconds_encode: float = 0.0
    mirror: bool = False  # measured with --mirror
    enrol_checks: int = ENROL_CHECKS  # which enrolment checks stranger_enrollable applied
    # every probe photo that passes the enrolment checks, as a reference (`more_references`):
    # identity -> [(photo, encoding)]. Enrolment jitters at random, so it is measured once, here.
    probe_refs: dict[str, list[tuple[str, np.ndarray]]] | None = None
    # the enrolled references themselves and whose each is, for the clearing tolerance the
    # pipeline calibrates to the gallery (safeguard.calibration)
    ref_enc: np.ndarray | None = None
    ref_owner: np.ndarray | None = None


def enrol_probes() -> dict[str, list[tuple[str, np.ndarray]]]:
    """Each identity's probe photos that pass the enrolment checks, enrolled as references."""
    from safeguard.enrolment import check_photos

    out = {}
    for ident, (_, probes) in SPLIT.items():
        checks = check_photos([IDS / ident / n for n in probes], np.zeros((0, 128), np.float32))
        out[ident] = [(c.path.name, c.encoding) for c in checks if c.ok]
    return out


def enrol_references() -> tuple[dict[str, np.ndarray], list[str]]:
    """Each identity's reference encodings, through the product's enrolment checks."""
    from safeguard.enrolment import check_photos

    refs, refused = {}, []
    for ident, (enrol, _) in SPLIT.items():
        checks = check_photos([IDS / ident / n for n in enrol], np.zeros((0, 128), np.float32))
        good = [c.encoding for c in checks if c.ok]
        refused += [f"{ident}/{c.path.name}: {c.reason}" for c in checks if not c.ok]
        if good:
            refs[ident] = np.stack(good).astype(np.float32)
    return refs, refused


def build_montages(seed: int = 0) -> list:
    tiles = []
    sources = [(i, n, "probe") for i, (_, probes) in SPLIT.items() for n in probes]
    sources += [(i, n, "impostor") for i, n in impostor_files()]
    for ident, name, kind in sources:
        src = load_source(ident, name)
        for size, angle in VARIANTS:
            img, box = make_tile(src, size, angle)
            tiles.append((img, box, (ident, name, kind, size, angle)))
    return pack(tiles, seed=seed)


def _detect_montage(m: Measured, mi: int, canvas: np.ndarray, placed: list) -> list:
    """Record montage `mi`'s placed faces in `m` and return the product detector's faces on it."""
    from safeguard.detect import detect_faces

    for box, (ident, name, kind, size, angle) in placed:
        m.truth.append(Placed(ident, name, kind, size, angle, box))
        m.truth_montage.append(mi)
    t = time.perf_counter()
    faces = detect_faces(canvas)
    m.seconds_detect += time.perf_counter() - t
    return faces


def measure(seed: int = 0) -> Measured:
    from safeguard.identify import encode_faces

    refs, refused = enrol_references()
    idents = list(refs)
    m = Measured(idents, enrol_refused=refused, n_refs={k: len(v) for k, v in refs.items()})
    m.probe_refs = enrol_probes()
    m.mirror = MIRROR
    montages = build_montages(seed)
    m.montages = len(montages)
    all_refs = np.concatenate([refs[i] for i in idents])
    owner = np.concatenate([np.full(len(refs[i]), k) for k, i in enumerate(idents)])
    m.ref_enc, m.ref_owner = all_refs, owner
    for mi, (canvas, placed) in enumerate(montages):
        faces = _detect_montage(m, mi, canvas, placed)
        t = time.perf_counter()
        enc = encode_faces(canvas, faces, mirror=MIRROR)
        m.seconds_encode += time.perf_counter() - t
        d = np.linalg.norm(enc[:, None, :] - all_refs[None, :, :], axis=2)
        per = np.full((len(faces), len(idents)), np.inf, np.float32)
        for k in range(len(idents)):
            per[:, k] = d[:, owner == k].min(axis=1) if len(faces) else per[:, k]
        for f, row, e in zip(faces, per, enc):
            m.det_enc.append(e)
            m.det_montage.append(mi)
            m.det_box.append((f.box.x0, f.box.y0, f.box.x1, f.box.y1))
            m.det_score.append(float(f.score))
            m.det_dist.append(row)
        print(
            f"montage {mi + 1}/{len(montages)}: {len(placed)} faces placed, {len(faces)} detected",
            flush=True,
        )
    t = time.perf_counter()
    for path, row, width, e, ok, who in strangers(refs, idents):
        m.stranger_dist.append(row)
        m.stranger_src.append(path)
        m.stranger_width.append(width)
        m.stranger_enc.append(e)
        m.stranger_enrollable.append(ok)
        m.stranger_person.append(who)
    print(
        f"{len(m.stranger_dist)} stranger faces from the group photos "
        f"({time.perf_counter() - t:.0f} s)",
        flush=True,
    )
    return m


def detect_only(seed: int = 0) -> dict:
    """Detection on the montages alone (no enrolment, encoding or sweep): about a minute."""
    m = Measured([])
    montages = build_montages(seed)
    m.montages = len(montages)
    for mi, (canvas, placed) in enumerate(montages):
        faces = _detect_montage(m, mi, canvas, placed)
        for f in faces:
            m.det_montage.append(mi)
            m.det_box.append((f.box.x0, f.box.y0, f.box.x1, f.box.y1))
    det = detection_summary(m, link(m, Config().mask_scale))
    det["seconds_detect"] = m.seconds_detect
    return det


def stranger_person(path: str, k: int, box: Box) -> str:
    """A label for the person in face `k` of group photo `path`: the same for every face of one
    person (SAME_PERSON), different for everyone else."""
    for who, centres in SAME_PERSON.get(path, {}).items():
        if any(box.x0 <= x < box.x1 and box.y0 <= y < box.y1 for x, y in centres):
            return f"{path}#{who}"
    return f"{path}#{k}"


def strangers(refs: dict[str, np.ndarray], idents: list[str]):
    """(photo, distances to every identity, face width, encoding, would it pass the enrolment
    checks, person label) for each face of the group photos whose manifest names none of the
    enrolled people."""
    import csv

    from safeguard.detect import detect_faces
    from safeguard.enrolment import reference_problem
    from safeguard.identify import encode_faces
    from safeguard.images import load_image

    with open(TESTDATA / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("groups/")]
    for r in rows:
        named = {x.strip() for x in r["identity"].split(";") if x.strip()}
        if named & set(SPLIT) or r["n_faces"] == "":
            continue
        rgb = load_image(TESTDATA / r["path"]).rgb
        faces = detect_faces(rgb)
        enc = encode_faces(rgb, faces, mirror=MIRROR)
        for k, (face, e) in enumerate(zip(faces, enc)):
            row = [np.min(np.linalg.norm(refs[i] - e, axis=1)) for i in idents]
            ok = reference_problem(rgb, face) is None
            who = stranger_person(r["path"], k, face.box)
            yield r["path"], np.array(row, np.float32), face.box.width, e, ok, who


def detector_variants(seed: int = 0) -> list[str]:
    """Recall on the same montages for detector settings worth comparing, and their cost."""
    from safeguard.detect import DetectorConfig, detect_faces

    variants = {
        "default": DetectorConfig(),
        "rotated passes at 640 and 1280": DetectorConfig(rotated_sizes=(640, 1280)),
        "rotated passes at 640 and 1600": DetectorConfig(rotated_sizes=(640, 1600)),
        "no rotated passes": DetectorConfig(rotations=()),
        "no second look": DetectorConfig(second_look_from=0),
        "rotated passes at 1024": DetectorConfig(rotated_sizes=(1024,)),
    }
    montages = build_montages(seed)
    lines = [
        "| detector setting | found / placed | missed (variant) | extra | s / montage |",
        "|---|---:|---|---:|---:|",
    ]
    for name, cfg in variants.items():
        found = placed = extra = 0
        secs = 0.0
        missed: dict[str, int] = {}
        for canvas, tags in montages:
            t = time.perf_counter()
            faces = detect_faces(canvas, cfg)
            secs += time.perf_counter() - t
            used = set()
            for box, (_, _, _, size, angle) in tags:
                tb = Box(*box)
                hit = [j for j, f in enumerate(faces) if f.box.iou(tb) >= 0.3]
                used.update(hit)
                placed += 1
                found += bool(hit)
                if not hit:
                    key = f"{size}px rot{angle}"
                    missed[key] = missed.get(key, 0) + 1
            extra += len(faces) - len(used)
        miss = ", ".join(f"{k}: {v}" for k, v in sorted(missed.items())) or "none"
        lines.append(
            f"| {name} | {found}/{placed} | {miss} | {extra} | {secs / len(montages):.2f} |"
        )
        print(lines[-1], flush=True)
    return lines


# ----------------------------------------------------------------------------------------------
# Matching detections to placed faces (config-independent)


def _cover(truth: Box, region: Box) -> float:
    return truth.intersection(region) / max(1, truth.area)


@dataclass
class Links:
    """For each placed face, the detections that redact it when they are redacted."""

    covers: list[list[int]]  # detections whose mask covers >= COVER of the face
    matched: list[list[int]]  # detections that are this face (IoU or centres inside each other)
    extra: list[int]  # detections that are no placed face


def _by_montage(m: Measured) -> dict[int, list[int]]:
    """The detections' indices, montage by montage."""
    by_montage: dict[int, list[int]] = {}
    for j, mi in enumerate(m.det_montage):
        by_montage.setdefault(mi, []).append(j)
    return by_montage


def link(m: Measured, mask_scale: float) -> Links:
    by_montage = _by_montage(m)
    covers, matched, used = [], [], set()
    for t, mi in zip(m.truth, m.truth_montage):
        tb = Box(*t.box)
        cov, mat = [], []
        for j in by_montage.get(mi, []):
            db = Box(*m.det_box[j])
            same = tb.iou(db) >= 0.3 or (tb.holds_centre_of(db) and db.holds_centre_of(tb))
            if same:
                mat.append(j)
                used.add(j)
                if _cover(tb, db.scaled(mask_scale, 10**6, 10**6)) >= COVER:
                    cov.append(j)
        covers.append(cov)
        matched.append(mat)
    extra = [j for j in range(len(m.det_box)) if j not in used]
    return Links(covers, matched, extra)


# ----------------------------------------------------------------------------------------------
# Deciding (cheap: every setting from the same distances)


def assignments(idents: list[str]) -> list[np.ndarray]:
    a = np.array([i in ROLES_A for i in idents])
    return [a, ~a]


_GALLERIES: dict = {}


def _pupil_source(m: Measured, pupil: str) -> str:
    if pupil.startswith("stranger"):
        return f"a face of {m.stranger_src[int(pupil[8:])]}"
    return pupil


def gallery(m: Measured, dense: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Distances from every detection and every stranger face to every enrolled pupil, and the
    pupils' ids. With `dense`, a fuller gallery: every stranger face from the group photos that
    would pass the enrolment checks (size, seen from the front, sharpness) is enrolled as one
    more consenting pupil, and each stranger is compared with all of them but the faces of the
    same person (SAME_PERSON). The montages' ten identities cannot show what a fuller store does
    to a stranger's nearest and second-nearest pupil."""
    key = (id(m), dense)
    if key not in _GALLERIES:
        ids = list(m.identities)
        det = np.stack(m.det_dist) if m.det_dist else np.zeros((0, len(ids)), np.float32)
        strange = (
            np.stack(m.stranger_dist) if m.stranger_dist else np.zeros((0, len(ids)), np.float32)
        )
        members = [k for k, ok in enumerate(m.stranger_enrollable) if ok] if dense else []
        if members and m.det_enc:
            enc_s = np.stack(m.stranger_enc)
            enc_g = enc_s[members]
            enc_d = np.stack(m.det_enc)
            det = np.hstack([det, np.linalg.norm(enc_d[:, None] - enc_g[None], axis=2)])
            sg = np.linalg.norm(enc_s[:, None] - enc_g[None], axis=2)
            # not compared with itself, nor with another photo of the same person
            who = np.array(m.stranger_person)
            sg[who[:, None] == who[members][None]] = np.inf
            strange = np.hstack([strange, sg])
            ids += [f"stranger{k}" for k in members]
        _GALLERIES[key] = (det.astype(np.float32), strange.astype(np.float32), ids)
    return _GALLERIES[key]


def calibrated(m: Measured, cfg: Config, consenting: int, dense: bool) -> Config:
    """`cfg` with the clearing tolerance the pipeline would calibrate for this gallery with
    `consenting` pupils who may clear a face (safeguard.calibration): the spread of the enrolled
    references, and in the fuller gallery of the enrolled stranger faces too."""
    from safeguard.calibration import apply, calibration_for, spread_or_prior

    enc, owner = m.ref_enc, m.ref_owner
    if dense:
        members = [k for k, ok in enumerate(m.stranger_enrollable) if ok]
        if members:
            # faces of one person (SAME_PERSON, `stranger_person`) are one pupil's references,
            # not two pupils who look alike
            people = sorted({m.stranger_person[k] for k in members})
            enc = np.concatenate([enc, np.stack([m.stranger_enc[k] for k in members])])
            owner = np.concatenate([owner, [len(m.identities) + people.index(m.stranger_person[k])
                                            for k in members]])
    return apply(cfg, calibration_for(cfg, consenting, spread_or_prior(enc, owner)))


def evaluate(m: Measured, links: Links, cfg: Config, unknown: str, dense: bool = False) -> dict:
    from safeguard.policy import decide_face

    idents = m.identities
    dist, strange, ids = gallery(m, dense)
    extra = len(ids) - len(idents)
    configured = cfg
    reg = np.zeros(len(ids), bool)
    out = {
        "restricted": 0,
        "leaks": 0,
        "leak_missed": 0,
        "leak_kept": 0,
        "leak_partial": 0,
        "consenting": 0,
        "needless": 0,
        "impostors": 0,
        "impostor_redacted": 0,
        "impostor_cleared": 0,
        "strangers": 0,
        "strangers_cleared": 0,
        "leak_faces": [],
        "needless_faces": [],
    }
    # Role-independent: in a school most enrolled pupils consent, so a stranger the rules would
    # clear were every enrolled person consenting is "clearable" by some setting of the roles.
    everyone = np.zeros(len(ids), bool)
    widths = getattr(m, "stranger_width", [])
    cfg = calibrated(m, configured, len(ids), dense)
    out["clear_tolerance_live"] = cfg.clear_tolerance
    clearable = [
        k
        for k, (row, w) in enumerate(zip(strange, widths))
        if decide_face(row, everyone, reg, ids, ids, cfg, "redact", face_width=w).label == "cleared"
    ]
    out["strangers_clearable"] = len(clearable)
    srcs = getattr(m, "stranger_src", [])
    out["clearable_faces"] = [
        f"{srcs[k]} ~ {_pupil_source(m, ids[int(np.argmin(strange[k]))])}" for k in clearable
    ]
    for restricted in assignments(idents):
        restricted = np.concatenate([restricted, np.zeros(extra, bool)])
        cfg = calibrated(m, configured, int((~restricted).sum()), dense)
        out["clear_tolerance_live"] = min(out["clear_tolerance_live"], cfg.clear_tolerance)
        actions = [
            decide_face(row, restricted, reg, ids, ids, cfg, unknown, face_width=b[2] - b[0])
            for row, b in zip(dist, m.det_box)
        ]
        actions = _as_whole_photos(m, actions)
        for row, width in zip(strange, widths):
            out["strangers"] += 1
            d = decide_face(row, restricted, reg, ids, ids, cfg, unknown, face_width=width)
            out["strangers_cleared"] += d.label == "cleared"
        for t, cov, mat in zip(m.truth, links.covers, links.matched):
            redacted = any(actions[j].action in ("redact", "hold") for j in cov)
            if t.kind == "impostor":
                out["impostors"] += 1
                out["impostor_redacted"] += redacted
                out["impostor_cleared"] += any(actions[j].label == "cleared" for j in mat)
                continue
            is_restricted = bool(restricted[idents.index(t.identity)])
            tag = f"{t.identity}/{t.name} {t.size}px rot{t.angle}"
            if is_restricted:
                out["restricted"] += 1
                if not redacted:
                    out["leaks"] += 1
                    out["leak_faces"].append(tag)
                    if not mat:
                        out["leak_missed"] += 1
                    elif any(actions[j].action in ("redact", "hold") for j in mat):
                        out["leak_partial"] += 1
                    else:
                        out["leak_kept"] += 1
            else:
                out["consenting"] += 1
                if any(actions[j].action in ("redact", "hold") for j in mat):
                    out["needless"] += 1
                    out["needless_faces"].append(tag)
    out["needless_rate"] = out["needless"] / max(1, out["consenting"])
    return out


def more_references(m: Measured, links: Links, cfg: Config) -> tuple[Measured, dict[str, int]]:
    """`m` as if every person's other probe photos were enrolled too: each identity's references
    become its reference photos plus every probe photo that passes the enrolment checks, except
    that a probe face is never compared with its own photo. Measures what more reference photos
    per pupil would do (the issue's montages keep 1-3); nothing else changes."""
    extra = m.probe_refs or {}
    idents = m.identities
    # which placed face (identity, photo) each detection is, if any
    owner_of: dict[int, tuple[str, str]] = {}
    for t, mat in zip(m.truth, links.matched):
        for j in mat:
            owner_of[j] = (t.identity, t.name)

    def widened(enc: np.ndarray, row: np.ndarray, own: tuple[str, str] | None) -> np.ndarray:
        row = row.copy()
        for k, ident in enumerate(idents):
            others = [e for name, e in extra.get(ident, []) if own != (ident, name)]
            if others:
                row[k] = min(row[k], float(np.min(np.linalg.norm(np.stack(others) - enc, axis=1))))
        return row

    det = [widened(e, r, owner_of.get(j)) for j, (e, r) in enumerate(zip(m.det_enc, m.det_dist))]
    strange = [widened(e, r, None) for e, r in zip(m.stranger_enc, m.stranger_dist)]
    n_refs = {i: m.n_refs.get(i, 0) + len(extra.get(i, [])) for i in idents}
    more = [(k, e) for k, ident in enumerate(idents) for _name, e in extra.get(ident, [])]
    ref_enc, ref_owner = m.ref_enc, m.ref_owner
    if more and ref_enc is not None:  # the calibration sees the wider gallery too
        ref_enc = np.concatenate([ref_enc, np.stack([e for _, e in more])])
        ref_owner = np.concatenate([ref_owner, [k for k, _ in more]])
    return replace(m, det_dist=det, stranger_dist=strange, n_refs=n_refs, ref_enc=ref_enc,
                   ref_owner=ref_owner), n_refs


def _as_whole_photos(m: Measured, actions: list) -> list:
    """The decisions as the pipeline makes them for a whole photo: a weak box on a cleared face
    follows that face (policy.follow_cleared_faces), montage by montage."""
    from safeguard.policy import follow_cleared_faces

    out = list(actions)
    for idx in _by_montage(m).values():
        decided = follow_cleared_faces(
            [Box(*m.det_box[j]) for j in idx], [m.det_score[j] for j in idx], [out[j] for j in idx]
        )
        for j, d in zip(idx, decided):
            out[j] = d
    return out


def sweep(m: Measured, links: Links, base: Config) -> list[dict]:
    rows = []
    for ct, mg, rt, pol in itertools.product(CLEAR_TOLS, MARGINS, RESTRICT_TOLS, POLICIES):
        if ct > rt:
            continue
        # the classic rule alone: the distinct rule off (it clears nothing the classic one does
        # not when distinct_tolerance = clear_tolerance and distinct_margin >= clear_margin)
        cfg = replace(
            base,
            clear_tolerance=ct,
            clear_margin=mg,
            restrict_tolerance=rt,
            unknown=pol,
            distinct_tolerance=ct,
            distinct_margin=max(mg, base.distinct_margin),
            small_face=0,
        )
        r = evaluate(m, links, cfg, pol)
        rows.append(
            {
                "clear_tolerance": ct,
                "clear_margin": mg,
                "restrict_tolerance": rt,
                "unknown": pol,
                **{k: v for k, v in r.items() if not k.endswith("_faces")},
            }
        )
    return rows


NEEDLESS_TARGET = 0.05
DISTINCT_TOLS = (0.525, 0.55, 0.575, 0.6)
DISTINCT_MARGINS = (0.1, 0.12, 0.15, 0.2, 0.25)


SMALL_FACES = (40, 48, 56)
SMALL_TOLS = (0.4, 0.42, 0.45)


def distinct_settings(base: Config) -> list[dict]:
    """The distinct-match settings swept on top of `base` (first: no reach beyond
    clear_tolerance)."""
    pairs = [(base.clear_tolerance, base.distinct_margin)]
    pairs += itertools.product(DISTINCT_TOLS, DISTINCT_MARGINS)
    return [
        {"distinct_tolerance": t, "distinct_margin": max(mg, base.clear_margin)}
        for t, mg in pairs
        if base.clear_tolerance <= t <= base.restrict_tolerance
    ]


def small_settings(base: Config) -> list[dict]:
    """The small-face settings swept on top of `base` (first: off)."""
    pairs = [(0, base.clear_tolerance)] + list(itertools.product(SMALL_FACES, SMALL_TOLS))
    return [{"small_face": f, "small_face_tolerance": t} for f, t in pairs]


def extra_sweep(m: Measured, links: Links, base: Config, settings: list[dict]) -> list[dict]:
    """Each setting (Config fields changed from `base`) scored on the montages' gallery and on
    the fuller one (`gallery`)."""
    rows = []
    for setting in settings:
        cfg = replace(base, **setting)
        r = evaluate(m, links, cfg, base.unknown)
        d = evaluate(m, links, cfg, base.unknown, dense=True)
        rows.append(
            {
                **setting,
                **{k: v for k, v in r.items() if not k.endswith("_faces")},
                "dense": {k: v for k, v in d.items() if not k.endswith("_faces")},
            }
        )
    return rows


def choose_extra(rows: list[dict], base: Config, safest) -> dict:
    """As `choose`: the least harm (leaks, impostors cleared, strangers clearable, in both
    galleries), then needless redaction within NEEDLESS_TARGET, else the fewest; ties keep the live
    default, then the safest (`safest(row)` sorts the safest first)."""

    def harm(r: dict) -> int:
        return sum(
            x["leaks"] + x["impostor_cleared"] + x["strangers_clearable"] for x in (r, r["dense"])
        )

    def tie(r: dict) -> tuple:
        return not _is_live(r, base), *safest(r)

    least = min(harm(r) for r in rows)
    cand = [r for r in rows if harm(r) == least]
    ok = [r for r in cand if r["needless_rate"] <= NEEDLESS_TARGET]
    if ok:
        return min(ok, key=tie)
    return min(cand, key=lambda r: (r["needless"], *tie(r)))


def _is_live(r: dict, base: Config) -> bool:
    """Is the row's own setting (its Config fields) the live one?"""
    return all(r[k] == getattr(base, k) for k in r if k in Config.__dataclass_fields__)


def extra_table(rows: list[dict], base: Config, chosen: dict, keys: tuple[str, str]) -> list[str]:
    """`extra_sweep` rows as a markdown table; the first row is the rule off."""
    cols = (
        "leaks | needless | impostors cleared | strangers clearable | fuller gallery: leaks | "
        "needless | impostors cleared | strangers clearable |"
    )
    out = [
        f"| {keys[0]} | {keys[1]} | {cols}",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(rows):
        d = r["dense"]
        out.append(
            f"| {r[keys[0]]} | {r[keys[1]]} | {r['leaks']} | "
            f"{r['needless']} ({r['needless_rate']:.1%}) | {r['impostor_cleared']} | "
            f"{r['strangers_clearable']} | {d['leaks']} | {d['needless']} "
            f"({d['needless_rate']:.1%}) | {d['impostor_cleared']} | {d['strangers_clearable']} |"
            + (" off" if i == 0 else "")
            + (" live" if _is_live(r, base) else "")
            + (" chosen" if r is chosen else "")
        )
    return out


def choose(rows: list[dict], unknown: str, base: Config) -> dict:
    """The issue's rule: fewest leaks first, counting as leaks an impostor cleared or a stranger
    within the clearing tolerance of any enrolled person (at school scale most enrolled pupils
    consent); then needless redaction within NEEDLESS_TARGET, else the fewest. Ties go to the
    live defaults (what the data does not decide stays as it is), then to the safest setting
    (narrowest clearing, widest margin, widest restricted net)."""
    cand = [r for r in rows if r["unknown"] == unknown]

    def harm(r: dict) -> tuple[int, int]:
        return r["leaks"], r["impostor_cleared"] + r["strangers_clearable"]

    def tie(r: dict) -> tuple:
        changed = sum(
            r[k] != getattr(base, k)
            for k in ("clear_tolerance", "clear_margin", "restrict_tolerance")
        )
        return changed, r["clear_tolerance"], -r["clear_margin"], -r["restrict_tolerance"]

    least = min(harm(r) for r in cand)
    cand = [r for r in cand if harm(r) == least]
    ok = [r for r in cand if r["needless_rate"] <= NEEDLESS_TARGET]
    if ok:
        return min(ok, key=tie)
    return min(cand, key=lambda r: (r["needless"], *tie(r)))


# ----------------------------------------------------------------------------------------------
# Detection on the montages, distances, breakdowns


def detection_summary(m: Measured, links: Links) -> dict:
    found = sum(bool(x) for x in links.matched)
    per: dict[str, list[int]] = {}
    for t, mat in zip(m.truth, links.matched):
        key = f"{t.size}px rot{t.angle}"
        per.setdefault(key, [0, 0])
        per[key][0] += bool(mat)
        per[key][1] += 1
    missed = [
        f"{t.identity}/{t.name} {t.size}px rot{t.angle}"
        for t, mat in zip(m.truth, links.matched)
        if not mat
    ]
    return {
        "placed": len(m.truth),
        "found": found,
        "extra": len(links.extra),
        "detections": len(m.det_box),
        "per_variant": per,
        "missed": missed,
    }


def own_and_other(m: Measured, links: Links) -> tuple[list[float], list[float], list[int]]:
    """Distance of each detected probe face to its own identity and to the nearest other one."""
    own, other, sizes = [], [], []
    for t, mat in zip(m.truth, links.matched):
        if not mat:
            continue
        row = m.det_dist[mat[0]]
        if t.kind == "impostor":
            other.append(float(np.min(row)))
            continue
        k = m.identities.index(t.identity)
        own.append(float(row[k]))
        sizes.append(t.size)
        other.append(float(np.min(np.delete(row, k))))
    return own, other, sizes


def all_other_pairs(m: Measured, links: Links) -> list[float]:
    """Distance of every detected placed face to every identity that is not its own."""
    out = []
    for t, mat in zip(m.truth, links.matched):
        if mat:
            row = m.det_dist[mat[0]]
            out += [float(d) for k, d in enumerate(row) if m.identities[k] != t.identity]
    return out


def by_size(m: Measured, links: Links, cfg: Config, unknown: str) -> list[str]:
    lines = [
        "| face width | restricted | leaks | consenting | needless | impostors redacted |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sorted({s for s, _ in VARIANTS}):
        sub = Measured(m.identities)
        sub_links = Links([], [], [])
        for t, mi, cov, mat in zip(m.truth, m.truth_montage, links.covers, links.matched):
            if t.size == size:
                sub.truth.append(t)
                sub.truth_montage.append(mi)
                sub_links.covers.append(cov)
                sub_links.matched.append(mat)
        sub.det_dist, sub.det_box, sub.det_montage = m.det_dist, m.det_box, m.det_montage
        sub.det_score = m.det_score
        sub.ref_enc, sub.ref_owner = m.ref_enc, m.ref_owner
        r = evaluate(sub, sub_links, cfg, unknown)
        lines.append(
            f"| {size} px | {r['restricted']} | {r['leaks']} | {r['consenting']} | "
            f"{r['needless']} ({r['needless_rate']:.0%}) | "
            f"{r['impostor_redacted']}/{r['impostors']} |"
        )
    return lines


# ----------------------------------------------------------------------------------------------
# Plot


def plot(
    rows: list[dict], m: Measured, links: Links, chosen: dict, current: dict, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    own, other, _ = own_and_other(m, links)
    ax = axes[0]
    bins = np.linspace(0, 1.1, 45)
    ax.hist(own, bins=bins, alpha=0.6, label="to own references (same person)")
    ax.hist(other, bins=bins, alpha=0.6, label="to nearest other person / impostor")
    strange = [float(np.min(r)) for r in getattr(m, "stranger_dist", [])]
    if strange:
        ax.hist(strange, bins=bins, alpha=0.6, label="strangers (group photos) to nearest enrolled")
    ax.axvline(current["clear_tolerance"], color="g", ls="--", label="clear_tolerance (live)")
    if current.get("distinct_tolerance", 0) > current["clear_tolerance"]:
        ax.axvline(
            current["distinct_tolerance"], color="g", ls=":", label="distinct_tolerance (live)"
        )
    ax.axvline(current["restrict_tolerance"], color="r", ls="--", label="restrict_tolerance (live)")
    ax.set_xlabel("face distance")
    ax.set_ylabel("detected montage faces")
    ax.set_title("Distances (all sizes and turns)")
    ax.legend(fontsize=7)

    # unknown = redact: the clearing tolerance trades needless redaction against clearing the
    # wrong person (a restricted pupil or a stranger), one line per margin.
    ax = axes[1]
    rt = chosen["restrict_tolerance"]
    for mg in MARGINS:
        sel = sorted(
            (
                r
                for r in rows
                if r["unknown"] == "redact"
                and r["clear_margin"] == mg
                and r["restrict_tolerance"] == rt
            ),
            key=lambda r: r["clear_tolerance"],
        )
        x = [100 * r["needless_rate"] for r in sel]
        y = [r["leaks"] + r["impostor_cleared"] + r["strangers_clearable"] for r in sel]
        ax.plot(x, y, marker="o", ms=3, label=f"clear_margin {mg}")
        for r, xi, yi in zip(sel, x, y):
            if mg == chosen["clear_margin"] and r["clear_tolerance"] in (0.4, 0.45, 0.5, 0.55, 0.6):
                ax.annotate(
                    f"{r['clear_tolerance']}",
                    (xi, yi),
                    fontsize=7,
                    xytext=(2, 4),
                    textcoords="offset points",
                )
    for r, name, style in ((current, "current default", "ks"), (chosen, "chosen", "g*")):
        if r["unknown"] == "redact":
            y = r["leaks"] + r["impostor_cleared"] + r["strangers_clearable"]
            ax.plot(100 * r["needless_rate"], y, style, ms=11, label=name)
    ax.axvline(5, color="grey", ls=":", lw=1)
    ax.set_xlabel("needless redaction of consenting faces (%)")
    ax.set_ylabel("leaks + impostors cleared + strangers clearable")
    ax.set_title(f"unknown = redact: clear_tolerance swept (labels), restrict {rt}", fontsize=9)
    ax.legend(fontsize=7)

    # unknown = keep: everything unrecognised is published, so the restricted net decides.
    ax = axes[2]
    ct, mg = chosen["clear_tolerance"], chosen["clear_margin"]
    sel = sorted(
        (
            r
            for r in rows
            if r["unknown"] == "keep"
            and r["clear_margin"] == mg
            and r["clear_tolerance"] == min(ct, r["restrict_tolerance"])
        ),
        key=lambda r: r["restrict_tolerance"],
    )
    x = [100 * r["needless_rate"] for r in sel]
    y = [r["leaks"] for r in sel]
    ax.plot(x, y, marker="o", label=f"clear {ct}, margin {mg}")
    for r, xi, yi in zip(sel, x, y):
        ax.annotate(
            f"rt {r['restrict_tolerance']}",
            (xi, yi),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.axvline(5, color="grey", ls=":", lw=1)
    ax.set_xlabel("needless redaction of consenting faces (%)")
    ax.set_ylabel("leaks (restricted faces published unredacted)")
    ax.set_title("unknown = keep: restrict_tolerance swept", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the detections and encodings of the last run (out/identify.pkl)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--mirror",
        action="store_true",
        help="an alternative measured, not used: each probe and stranger face encoded as the "
        "mean of its chip and the chip's mirror image (use another --out)",
    )
    ap.add_argument(
        "--detectors",
        action="store_true",
        help="also compare detector settings on the same montages",
    )
    ap.add_argument(
        "--detect-only",
        action="store_true",
        help="only detection on the montages: recall, extra boxes, misses (writes nothing)",
    )
    args = ap.parse_args(argv)
    global MIRROR
    MIRROR = args.mirror
    if not have_testdata():
        print(f"SKIP: no test data at {TESTDATA} (set SAFEGUARD_TESTDATA)")
        return 0
    if args.detect_only:
        det = detect_only(args.seed)
        print(
            f"montage detection: {det['found']}/{det['placed']} placed faces found "
            f"(recall {det['found'] / det['placed']:.3f}), {det['extra']} extra boxes, "
            f"detect {det['seconds_detect']:.1f} s"
        )
        print("missed: " + (", ".join(det["missed"]) or "none"))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "identify.pkl"
    t0 = time.perf_counter()
    m = pickle.loads(cache.read_bytes()) if args.reuse and cache.exists() else None
    if m is not None and len(getattr(m, "stranger_person", [])) != len(m.stranger_src):
        print("the cache predates the strangers' person labels: measuring again", flush=True)
        m = None
    if m is not None and getattr(m, "probe_refs", None) is None:
        print("the cache predates the probe photos' enrolment: measuring again", flush=True)
        m = None
    if m is not None and len(getattr(m, "det_score", [])) != len(m.det_box):
        print("the cache predates the detections' scores: measuring again", flush=True)
        m = None
    if m is not None and getattr(m, "enrol_checks", 1) != ENROL_CHECKS:
        print("the cache predates the enrolment checks in use: measuring again", flush=True)
        m = None
    if m is not None and getattr(m, "ref_enc", None) is None:
        print("the cache predates the stored references: measuring again", flush=True)
        m = None
    if m is not None and getattr(m, "mirror", False) != MIRROR:
        print("the cache was measured with other encodings: measuring again", flush=True)
        m = None
    if m is None:
        m = measure(args.seed)
        cache.write_bytes(pickle.dumps(m))
    base = Config()
    links = link(m, base.mask_scale)
    rows = sweep(m, links, base)

    def cfg_of(r: dict) -> Config:
        """The setting a row was measured at (classic rows: the distinct rule off)."""
        return replace(
            base,
            clear_tolerance=r["clear_tolerance"],
            clear_margin=r["clear_margin"],
            restrict_tolerance=r["restrict_tolerance"],
            unknown=r["unknown"],
            distinct_tolerance=r.get("distinct_tolerance", r["clear_tolerance"]),
            distinct_margin=r.get("distinct_margin", max(r["clear_margin"], base.distinct_margin)),
            small_face=r.get("small_face", 0),
            small_face_tolerance=r.get("small_face_tolerance", base.small_face_tolerance),
        )

    def row_of(cfg: Config) -> dict:
        keys = ("clear_tolerance", "clear_margin", "restrict_tolerance", "unknown")
        r = evaluate(m, links, cfg, cfg.unknown)
        d = evaluate(m, links, cfg, cfg.unknown, dense=True)
        return {
            **{k: getattr(cfg, k) for k in keys},
            "distinct_tolerance": cfg.distinct_tolerance,
            "distinct_margin": cfg.distinct_margin,
            "small_face": cfg.small_face,
            "small_face_tolerance": cfg.small_face_tolerance,
            **{k: v for k, v in r.items() if not k.endswith("_faces")},
            "dense": {k: v for k, v in d.items() if not k.endswith("_faces")},
        }

    current = row_of(base)  # the live setting, distinct rule included
    chosen = {pol: choose(rows, pol, base) for pol in POLICIES}
    # on top of the live classic setting (kept narrower than the sweep's choice: docs/benchmarks.md)
    drows = extra_sweep(m, links, base, distinct_settings(base))
    dchosen = choose_extra(drows, base, lambda r: (r["distinct_tolerance"], -r["distinct_margin"]))
    srows = extra_sweep(m, links, base, small_settings(base))
    schosen = choose_extra(srows, base, lambda r: (-r["small_face"], r["small_face_tolerance"]))
    det = detection_summary(m, links)
    plot(rows, m, links, chosen[base.unknown], current, args.out / "identify_tradeoff.png")

    full_current = evaluate(m, links, base, base.unknown)
    dense_current = evaluate(m, links, base, base.unknown, dense=True)
    wide_m, wide_refs = more_references(m, links, base)
    wide = evaluate(wide_m, links, base, base.unknown)
    wide_dense = evaluate(wide_m, links, base, base.unknown, dense=True)
    floor = chosen[base.unknown]["leaks"]
    zero = [
        r
        for r in rows
        if r["unknown"] == base.unknown
        and r["leaks"] == floor
        and r["impostor_cleared"] + r["strangers_clearable"] == 0
    ]
    headroom = max(
        (
            r["clear_tolerance"]
            for r in zero
            if r["clear_margin"] == chosen[base.unknown]["clear_margin"]
            and r["restrict_tolerance"] == chosen[base.unknown]["restrict_tolerance"]
        ),
        default=None,
    )
    own, _, _ = own_and_other(m, links)
    other_all = all_other_pairs(m, links)
    strange = [float(np.min(r)) for r in getattr(m, "stranger_dist", [])]
    n_probe = sum(t.kind == "probe" for t in m.truth)
    n_imp = len(m.truth) - n_probe

    def line(r: dict) -> str:
        return (
            f"| {r['unknown']} | {r['clear_tolerance']} | {r['clear_margin']} | "
            f"{r['restrict_tolerance']} | {r['leaks']} / {r['restricted']} "
            f"(missed {r['leak_missed']}, kept {r['leak_kept']}, partly covered "
            f"{r['leak_partial']}) | {r['needless']} / {r['consenting']} "
            f"({r['needless_rate']:.1%}) | {r['impostor_redacted']} / {r['impostors']} | "
            f"{r['impostor_cleared']} | {r['strangers_cleared']} / {r['strangers']} | "
            f"{r['strangers_clearable']} |"
        )

    head = (
        "| unknown | clear_tolerance | clear_margin | restrict_tolerance | leaks | "
        "needless redactions | impostors redacted | impostors cleared | strangers cleared | "
        "strangers clearable |"
    )
    sep = "|---|---:|---:|---:|---|---|---:|---:|---:|---:|"
    md = [
        "## Identification (montages)" + (" with mirrored encodings (--mirror)" if MIRROR else ""),
        "",
        f"Measured {dt.date.today().isoformat()}. {len(SPLIT)} identities enrolled with "
        f"{sum(m.n_refs.values())} reference photos (1-3 each, through the enrolment checks"
        + (f"; refused: {', '.join(m.enrol_refused)}" if m.enrol_refused else "")
        + "); "
        f"{n_probe} probe faces and {n_imp} impostor faces placed in {m.montages} montages of "
        f"4000x3000 at widths {sorted({s for s, _ in VARIANTS})} px, some turned 90/180/270 "
        "degrees. Each face is counted under two role assignments (every person once restricted, "
        "once consenting). A leak is a restricted face left unredacted (detector miss included); "
        f"a redaction counts only if the mask covers >= {COVER:.0%} of the face.",
        "",
        (
            f"Detection on the montages: {det['found']}/{det['placed']} placed faces found "
            f"(recall {det['found'] / max(1, det['placed']):.3f}), {det['extra']} extra boxes. "
            f"Detect {m.seconds_detect:.1f} s, encode {m.seconds_encode:.1f} s for "
            f"{det['detections']} faces."
        ),
        "",
        head,
        sep,
        line(current)
        + f" current default (with distinct matches up to {base.distinct_tolerance}, margin "
        f"{base.distinct_margin}: see below)",
    ]
    for pol in POLICIES:
        md.append(line(chosen[pol]) + f" best with unknown={pol} (classic rule alone)")
    md += [
        "",
        (
            "Chosen rule (the issue's): fewest leaks first, where an impostor cleared or a "
            "stranger face within clear_tolerance of *any* enrolled person (strangers clearable: "
            "in a school most enrolled pupils consent) counts as a leak; then needless redaction "
            f"<= {NEEDLESS_TARGET:.0%}, else the fewest; ties keep the live default, then the "
            f"safest. With unknown={base.unknown}, margin {chosen[base.unknown]['clear_margin']} "
            f"and restrict_tolerance {chosen[base.unknown]['restrict_tolerance']}, "
            f"clear_tolerance up to {headroom} gives {floor} leaks (the detector misses below: "
            "no tolerance can redact a face that was not found) and no impostor or stranger "
            "cleared or clearable."
        ),
        "",
        (
            f"Distances: same person (probe to own references) median {np.median(own):.3f}, 95th "
            f"percentile {np.quantile(own, 0.95):.3f}, max {max(own):.3f}; different people "
            f"(every other pair, {len(other_all)} pairs) min {min(other_all):.3f}; "
            f"{len(strange)} stranger faces from the group photos (people who are in no montage) "
            f"to the nearest enrolled person: min {min(strange, default=float('nan')):.3f}, "
            f"{sum(x <= 0.6 for x in strange)} within 0.6. These montages "
            "hold few people: they cannot show how often a stranger falls within the clearing "
            "tolerance of one of hundreds of consenting pupils (see docs/benchmarks.md)."
        ),
        "",
        "### Distinct matches",
        "",
        (
            "A face beyond clear_tolerance but within distinct_tolerance of a consenting pupil is "
            "cleared when every other enrolled pupil is at least distinct_margin further away "
            "(safeguard/policy.py). Measured on top of the live classic setting, on the "
            "montages' ten identities and on a fuller gallery in which each of the "
            f"{sum(m.stranger_enrollable)} stranger faces from the group photos that would pass "
            "the enrolment checks (at least 80 px wide, seen from the front, sharp) is enrolled "
            "as one more consenting pupil, and each stranger is compared with all of them but "
            "the faces of the same person. A fuller gallery brings a stranger's second-nearest pupil closer, "
            "so the rule grows stricter with the store's size."
        ),
        "",
        *extra_table(drows, base, dchosen, ("distinct_tolerance", "distinct_margin")),
        "",
        (
            "Chosen by the same rule (least harm in either gallery, then needless <= "
            f"{NEEDLESS_TARGET:.0%}, then the live default, then the safest): distinct_tolerance "
            f"{dchosen['distinct_tolerance']}, distinct_margin {dchosen['distinct_margin']}. "
            "Strangers clearable at the live setting in the fuller gallery: "
            + ("; ".join(dense_current["clearable_faces"]) or "none")
            + "."
        ),
        "",
        "### Small faces",
        "",
        (
            "Faces narrower than small_face are cleared by the classic rule only within "
            "small_face_tolerance (the distinct rule is unchanged): small faces give generic "
            "encodings that lie near many people. On top of the live setting, both galleries as "
            "above (small_face 0: off)."
        ),
        "",
        *extra_table(srows, base, schosen, ("small_face", "small_face_tolerance")),
        "",
        (
            f"Chosen by the same rule: small_face {schosen['small_face']}, small_face_tolerance "
            f"{schosen['small_face_tolerance']}."
        ),
        "",
        f"### By face width (current default, unknown={base.unknown})",
        "",
        *by_size(m, links, base, base.unknown),
        "",
    ]
    if cfg_of(chosen[base.unknown]) != base:
        md += [
            f"### By face width (chosen classic setting alone, unknown={base.unknown})",
            "",
            *by_size(m, links, cfg_of(chosen[base.unknown]), base.unknown),
            "",
        ]
    md += [
        "### More reference photos per pupil (a measured alternative, not the issue's setting)",
        "",
        (
            "The same montages and the same live setting, with each person's other probe photos "
            "that pass the enrolment checks enrolled as references too; a probe face is never "
            "compared with its own photo. References per person: "
            + ", ".join(f"{i} {m.n_refs.get(i, 0)} -> {wide_refs[i]}" for i in m.identities)
            + "."
        ),
        "",
        (
            "| references | leaks | needless | impostors cleared | strangers cleared | "
            "strangers clearable | fuller gallery: needless | strangers clearable |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {label} | {r['leaks']} / {r['restricted']} | {r['needless']} / "
            f"{r['consenting']} ({r['needless_rate']:.1%}) | {r['impostor_cleared']} | "
            f"{r['strangers_cleared']} / {r['strangers']} | {r['strangers_clearable']} | "
            f"{d['needless_rate']:.1%} | {d['strangers_clearable']} |"
            for label, r, d in (
                (f"as enrolled ({sum(m.n_refs.values())})", full_current, dense_current),
                (f"every photo of the person ({sum(wide_refs.values())})", wide, wide_dense),
            )
        ],
        "",
        (
            "Needless redactions with every photo enrolled: "
            f"{', '.join(sorted(set(wide['needless_faces']))) or 'none'}. Strangers clearable: "
            + ("; ".join(wide_dense["clearable_faces"]) or "none")
            + "."
        ),
        "",
        "### Detection by variant",
        "",
        "| variant | found / placed |",
        "|---|---:|",
        *[
            f"| {k} | {v[0]}/{v[1]} |"
            for k, v in sorted(
                det["per_variant"].items(), key=lambda kv: (int(kv[0].split("px")[0]), kv[0])
            )
        ],
        "",
        f"Missed by the detector: {', '.join(det['missed']) or 'none'}.",
        "",
        f"Leaks with the current default: {', '.join(full_current['leak_faces']) or 'none'}.",
        "",
        (
            f"Needless redactions with the current default: "
            f"{', '.join(sorted(set(full_current['needless_faces']))) or 'none'}."
        ),
        "",
        "![trade-off](identify_tradeoff.png)",
        "",
    ]
    if args.detectors:
        md += [
            "### Detector settings on the same montages",
            "",
            (
                "Found = a box with IoU >= 0.3 on the placed face. Seconds: one thread, the machine "
                "shared."
            ),
            "",
            *detector_variants(args.seed),
            "",
        ]
    (args.out / "identify.md").write_text("\n".join(md) + "\n")
    summary = {
        "measured": dt.date.today().isoformat(),
        "detection": {k: v for k, v in det.items() if k != "per_variant"},
        "current": current,
        "chosen": chosen,
        "distinct_sweep": drows,
        "distinct_chosen": dchosen,
        "small_sweep": srows,
        "small_chosen": schosen,
        "zero_leak_clear_tolerance_max": headroom,
        "more_references": {
            "references": wide_refs,
            **{k: v for k, v in wide.items() if not k.endswith("_faces")},
            "dense": {k: v for k, v in wide_dense.items() if not k.endswith("_faces")},
        },
        "sweep": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (args.out / "identify.json").write_text(json.dumps(summary, indent=1, default=float))
    print("\n".join(md[:14]))
    print(f"wrote {args.out / 'identify.md'} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

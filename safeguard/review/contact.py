"""The DSL contact sheet: one self-contained HTML page (thumbnails embedded) showing every photo
of a batch with its faces outlined and labelled, names and reasons included. A DSL document."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from safeguard.config import Config
from safeguard.review import render

TEMPLATES = Path(__file__).parent / "templates"


def _card(outcome, names: Mapping[str, str], config: Config, view=None) -> dict:
    from safeguard.images import LoadError, decode_image, read_bytes

    faces = [
        {
            "box": f.box.as_list(),
            "label": f.label,
            "action": f.action,
            "pupil": f.decision.pupil,
            "reason": f.decision.reason,
        }
        for f in outcome.faces
    ]
    if view is not None:  # the faces as the reader's account may see them (safeguard.door)
        faces = [view(f) for f in faces]
    card = {
        "file": outcome.input.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
        "status": outcome.status,
        "error": outcome.error,
        "flags": outcome.flags + (["spot check: chosen at random, nothing in it needs the DSL"]
                                  if getattr(outcome, "spot_check", False) else []),
        "faces": [],
        "thumb": None,
    }
    for n, f in enumerate(faces, 1):
        title, detail = render.face_label(f, names)
        card["faces"].append(
            {"n": n, "label": f["label"], "action": f["action"], "title": title, "detail": detail}
        )
    if outcome.status != "rejected":
        try:
            rgb = decode_image(read_bytes(Path(outcome.input)), config.max_pixels).rgb
            card["thumb"] = render.data_uri(render.annotate(rgb, faces, names, render.THUMB_SIDE))
        except (LoadError, OSError, MemoryError):
            card["error"] = "could not be drawn again (changed since the analysis?)"
    return card


def contact_sheet(
    outcomes: list, names: Mapping[str, str], channel: str, user: str, config: Config,
    view=None,
) -> str:
    """The HTML text of the contact sheet for `outcomes` (pipeline Outcomes, scan mode).
    `view(face) -> face`: what the reader may see of each face (a DSL scoped to an academy sees
    another academy's pupil as just that: safeguard.door.Door.face_view)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )
    cards = [_card(o, names, config, view) for o in outcomes]
    counts = {s: sum(c["status"] == s for c in cards) for s in ("exported", "held", "rejected")}
    return env.get_template("report.html").render(
        cards=cards,
        counts=counts,
        channel=channel,
        user=user,
        made=dt.datetime.now(dt.UTC).strftime("%d %b %Y %H:%M UTC"),
    )

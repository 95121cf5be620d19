"""Words for the review pages: what a DSL, a senior leader or an inspector reads instead of
distances, character offsets and audit codes. Pure functions over plain data; the pages keep the
figures behind a "show the figure" or "show the record" that the reader opens when they ask.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

# A face distance at or under the clearing tolerance is as close as the faces of one person
# usually are; up to the restricting tolerance it is close enough that the product treats it as
# that person out of doubt; past it, nobody enrolled is near. The settings' defaults (0.5, 0.6)
# stand in when a page has no settings at hand.
STRONG, POSSIBLE = 0.5, 0.6


def match_strength(distance: float | None, strong: float = STRONG,
                   possible: float = POSSIBLE) -> str:
    """"strong match", "possible match" or "no close match" for a face distance (the smaller,
    the more alike); "" when there is none."""
    if distance is None:
        return ""
    if distance <= strong:
        return "strong match"
    if distance <= possible:
        return "possible match"
    return "no close match"


def figure(distance: float | None) -> str:
    """The distance itself, for the reader who opens "show the figure"."""
    return "" if distance is None else f"face distance {distance:.2f} (0 is identical)"


def quoted_findings(parts: Sequence[tuple[str, str | None]]) -> list[str]:
    """What was found in a caption, quoting the words: ['"Ada Example" (a full name)'], from
    (text, what was found or None) parts (safeguard.review.signoff.caption_parts)."""
    out = []
    for text, what in parts:
        if what:
            item = f"\u201c{text.strip()}\u201d ({what})"
            if item not in out:
                out.append(item)
    return out


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# ---------------------------------------------------------------------------------------------
# The audit log as sentences

# What each kind of entry is, for the filter's choices and the CSV: (code, words), in the order
# offered. Codes not listed here still show, as "did <code>".
ACTIONS: dict[str, str] = {
    "held.release": "released a held photo",
    "held.reject": "rejected a held photo",
    "held.release_failed": "a release that failed",
    "approval.submitted": "sent a post for sign-off",
    "approval.approved": "approved a post",
    "approval.declined": "declined a post",
    "takedown.closed": "closed a takedown list",
    "takedown.taken_down": "marked a published photo taken down",
    "takedown.not_ours": "marked a published photo not ours",
    "index.find": "searched the published photos",
    "report.contact_sheet": "made a contact sheet",
    "pupil.add": "added a pupil",
    "pupil.update": "changed a pupil's record",
    "pupil.erase": "erased a pupil",
    "consent.grant": "recorded consent",
    "consent.refuse": "recorded a refusal",
    "consent.withdraw": "recorded a withdrawal",
    "register.add": "put a pupil on a register",
    "register.remove": "took a pupil off a register",
    "biometric.notify": "recorded a biometric notice",
    "biometric.consent": "recorded biometric consent",
    "biometric.object": "recorded a biometric objection",
    "biometric.withdraw": "recorded a biometric withdrawal",
    "encodings.enrol": "enrolled reference photos",
    "encodings.destroy": "destroyed face encodings",
    "audit.export": "exported the audit log",
    "settings.accept": "accepted the settings",
    "batch.relaxed": "ran a batch less strict than the settings",
    "staff.add": "added a staff account",
    "staff.change": "changed a staff account",
    "staff.remove": "removed a staff account",
    "staff.unlock": "unlocked a staff account",
    "staff.login": "signed in",
    "staff.login_failed": "a failed sign-in",
    "staff.throttled": "sign-ins made to wait",
}
SIGN_INS = frozenset({"staff.login"})  # hidden unless asked for: most of a day's entries


def person(user: str | None, people: Mapping[str, str]) -> str:
    """An account as the page names it: its display name where one is set."""
    if not user:
        return "someone"
    shown = people.get(user)
    return f"{shown} ({user})" if shown and shown != user else user


def pupil_words(pupil: str | None, names: Mapping[str, str]) -> str:
    if not pupil:
        return ""
    name = names.get(pupil)
    return f"{name} ({pupil})" if name else pupil


def _faces(details: Mapping) -> tuple[int, int]:
    faces = details.get("faces") or []
    covered = sum(1 for f in faces if isinstance(f, Mapping) and f.get("redacted"))
    return covered, len(faces) - covered


def _because(details: Mapping, key: str = "reason") -> str:
    why = details.get(key)
    return f": \u201c{why}\u201d" if why else ""


def audit_sentence(entry: Mapping[str, Any], names: Mapping[str, str],
                   people: Mapping[str, str] | None = None) -> str:
    """One audit entry as a sentence: "dsl1 released photo 20261207-... with 2 faces blurred"."""
    people = people or {}
    d = entry.get("details") or {}
    if not isinstance(d, Mapping):
        d = {}
    who = person(entry.get("actor"), people)
    code = str(entry.get("action") or "")
    subject = entry.get("subject")
    pupil = pupil_words(subject, names)
    photo = d.get("held_id") or "?"
    ch = f" for {d['channel']}" if d.get("channel") else ""
    if code == "held.release":
        covered, shown = _faces(d)
        if d.get("decision") == "unredacted":
            how = " unredacted, every face visible"
        elif covered or shown:
            how = f" with {plural(covered, 'face')} blurred"
            how += f" and {plural(shown, 'face')} left visible" if shown else ""
        else:
            how = ""
        spot = " (a spot check)" if d.get("spot_check") else ""
        return f"{who} released photo {photo}{ch}{how}{spot}{_because(d)}"
    if code == "held.reject":
        return f"{who} rejected photo {photo}{ch}; the original was destroyed{_because(d)}"
    if code == "held.release_failed":
        return f"{who} tried to release photo {photo}, but it could not be written"
    if code.startswith("approval."):
        post = d.get("post") or "?"
        n = d.get("photos")
        photos = f" ({plural(int(n), 'photo')})" if isinstance(n, int) else ""
        verb = {"approval.submitted": "sent post {p}{ch} for sign-off",
                "approval.approved": "approved post {p}{ch}",
                "approval.declined": "declined post {p}{ch}"}.get(code, code + " {p}")
        return f"{who} {verb.format(p=post, ch=ch)}{photos}{_because(d)}"
    if code.startswith("takedown."):
        about = f" for {pupil}" if pupil else ""
        if code == "takedown.closed":
            n = d.get("photos")
            photos = f" ({plural(int(n), 'photo')})" if isinstance(n, int) else ""
            note = _because(d, "note")
            return f"{who} closed the takedown list{about}{photos}{note}"
        where = d.get("photo") or "a published photo"
        done = "as taken down" if code == "takedown.taken_down" else "as not ours"
        return f"{who} marked {where}{about} {done}{_because(d, 'note')}"
    if code == "index.find":
        n = d.get("hits")
        found = f": {plural(int(n), 'photo')} found" if isinstance(n, int) else ""
        return f"{who} searched the published photos for {pupil or 'a pupil'}{found}"
    if code == "report.contact_sheet":
        n = d.get("photos")
        return f"{who} made a contact sheet of {plural(int(n or 0), 'photo')}{ch}"
    if code == "pupil.add":
        return f"{who} added pupil {pupil}"
    if code == "pupil.update":
        fields = d.get("fields")
        what = f" ({', '.join(map(str, fields))})" if isinstance(fields, list) and fields else ""
        return f"{who} changed {pupil}'s record{what}"
    if code == "pupil.erase":
        return f"{who} erased {pupil}'s record{_because(d)}"
    if code.startswith("consent."):
        kind = {"consent.grant": "consent", "consent.refuse": "a refusal",
                "consent.withdraw": "a withdrawal of consent"}.get(code, code)
        return f"{who} recorded {kind}{ch} for {pupil}"
    if code in ("register.add", "register.remove"):
        reg = _register(d.get("register"))
        if code == "register.add":
            return f"{who} put {pupil} on {reg}"
        return f"{who} took {pupil} off {reg}"
    if code.startswith("biometric."):
        kind = code.split(".", 1)[1]
        return f"{who} recorded biometric {kind} for {pupil}"
    if code == "encodings.enrol":
        return f"{who} enrolled {plural(int(d.get('count') or 0), 'reference photo')} of {pupil}"
    if code == "encodings.destroy":
        return (f"{who} destroyed {plural(int(d.get('count') or 0), 'face encoding')} of "
                f"{pupil}{_because(d)}")
    if code == "audit.export":
        n = d.get("rows")
        return f"{who} downloaded {plural(int(n or 0), 'audit entry', 'audit entries')} as a spreadsheet"
    if code == "settings.accept":
        changed = d.get("changed")
        what = f" (changed: {', '.join(map(str, changed))})" if changed else ""
        return f"{who} accepted the settings{what}"
    if code == "batch.relaxed":
        what = ", ".join(f"{k} {v}" for k, v in d.items())
        return f"{who} ran a batch less strict than the settings ({what})"
    if code in ("staff.add", "staff.change"):
        verb = "added" if code == "staff.add" else "changed"
        role = f" as {d['role']}" if d.get("role") else ""
        return f"{who} {verb} the staff account {subject or '?'}{role}"
    if code == "staff.remove":
        return f"{who} removed the staff account {subject or '?'}"
    if code == "staff.unlock":
        return f"{who} unlocked the staff account {subject or '?'}"
    if code == "staff.login":
        return f"{who} signed in{_source(d)}"
    if code == "staff.login_failed":
        return f"a sign-in as {entry.get('actor') or '?'} failed{_source(d)}"
    if code == "staff.throttled":
        return f"sign-ins as {entry.get('actor') or '?'} were made to wait{_source(d)}"
    about = f" about {pupil}" if pupil else ""
    return f"{who} did {code or 'something'}{about}"


def _register(key: Any) -> str:
    """A register by its name in words ("the CP register", "the looked-after register")."""
    from consent_db.store import REGISTERS

    if not key:
        return "a protected register"
    name = REGISTERS.get(str(key), str(key))
    return f"the {name}" if name.endswith("register") else f"the {name} register"


def _source(d: Mapping) -> str:
    src = str(d.get("source") or "")
    if src.startswith("web:"):
        return f" on the review page (from {src[4:]})"
    if src.startswith("uid:") or src == "local":
        return " at the command line"
    return f" ({src})" if src else ""


def when(ts: str | None) -> str:
    """An entry's time as "7 Dec 2026 22:41" (UTC)."""
    try:
        t = dt.datetime.fromisoformat(str(ts))
    except ValueError:
        return str(ts or "")
    return f"{t.day} {t:%b %Y %H:%M}"


def record_text(entry: Mapping[str, Any]) -> str:
    """The entry as stored, for the reader who opens "show the record"."""
    return json.dumps(dict(entry), ensure_ascii=False, indent=1, sort_keys=True)

"""The biometric consent ledger (Protection of Freedoms Act 2012, ss.26-27), as pure rules.

A ledger is a plain dict kept on the pupil record:

    {"events": [ {"kind": "notified" | "consent" | "objection" | "withdrawal",
                  "party": "parent" | "child", "who": str, "date": "YYYY-MM-DD",
                  "evidence": str | None, "form": "written" | "verbal" | "behaviour" | None,
                  "note": str | None}, ... ],          # in the order they were recorded
     "destroyed": [ {"date": ..., "count": int, "reason": str}, ... ]}

Rules (`status()`):
- processing needs the written consent of at least one parent (s.27(1)); parents should each be
  notified (s.26) and the ledger records when, but notification alone allows nothing;
- any parent's objection stops processing; it stands until that same parent later gives written
  consent;
- the child's own objection, at any age and in any form (said, written or shown by behaviour),
  stops processing and overrides every parental consent (s.26(5)); no later parental consent
  lifts it;
- a withdrawal (by anyone) stops processing until a new written consent is recorded after it.
Encodings may exist only while `status().allowed`; the store destroys them as soon as it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("notified", "consent", "objection", "withdrawal")
PARTIES = ("parent", "child")
FORMS = ("written", "verbal", "behaviour")


@dataclass(frozen=True)
class BiometricStatus:
    allowed: bool
    reason: str  # why not, or what allows it


def new_ledger() -> dict:
    return {"events": [], "destroyed": []}


def event(
    kind: str,
    *,
    who: str,
    date: str,
    party: str = "parent",
    evidence: str | None = None,
    form: str | None = None,
    note: str | None = None,
) -> dict:
    if kind not in KINDS:
        raise ValueError(f"unknown ledger event {kind!r}")
    if party not in PARTIES:
        raise ValueError(f"party must be parent or child, not {party!r}")
    if form is not None and form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}")
    if kind == "consent" and party != "parent":
        raise ValueError("biometric consent is given by a parent (s.27); the child can object")
    if not who.strip():
        raise ValueError("say who (the parent's name, or 'child')")
    return {
        "kind": kind,
        "party": party,
        "who": who.strip(),
        "date": date,
        "evidence": evidence,
        "form": form,
        "note": note,
    }


def status(ledger: dict | None) -> BiometricStatus:
    events = (ledger or {}).get("events", [])
    consenting: dict[str, dict] = {}  # parent (lower-cased) -> their standing consent
    objecting: dict[str, dict] = {}  # parent -> their standing objection
    child_objection: dict | None = None
    last_withdrawal: dict | None = None
    for e in events:
        who = e["who"].casefold()
        if e["party"] == "child":
            if e["kind"] in ("objection", "withdrawal"):
                child_objection = child_objection or e
            continue
        if e["kind"] == "consent":
            consenting[who] = e
            objecting.pop(who, None)
            last_withdrawal = None
        elif e["kind"] == "objection":
            objecting[who] = e
            consenting.pop(who, None)
        elif e["kind"] == "withdrawal":
            consenting.clear()
            last_withdrawal = e
    if child_objection is not None:
        return BiometricStatus(
            False,
            f"the child objected on {child_objection['date']}"
            f" ({child_objection.get('form') or 'unspecified form'})",
        )
    if objecting:
        e = next(iter(objecting.values()))
        return BiometricStatus(False, f"{e['who']} objected on {e['date']}")
    if last_withdrawal is not None and not consenting:
        return BiometricStatus(False, f"consent withdrawn on {last_withdrawal['date']}")
    if not consenting:
        return BiometricStatus(False, "no written parental consent recorded")
    e = next(iter(consenting.values()))
    return BiometricStatus(True, f"written consent from {e['who']} on {e['date']}")


def notified(ledger: dict | None) -> list[dict]:
    return [e for e in (ledger or {}).get("events", []) if e["kind"] == "notified"]

"""CSV import of pupils and consents: every row checked first, then all applied in one
transaction, or nothing. Column format: docs/store.md ("CSV import").

Columns (header names, any order; unknown columns are ignored and reported):
    pupil_id (required), name (required for new pupils), academy, year, leaving_date,
    or instead of name, an MIS export's first-name and surname columns, legal and preferred
    ("Legal First Name", "Legal Surname", "Preferred Forename", ...: consent_db.mis_names),
    consent_<channel> = yes | no | withdrawn | (blank: no change), for each configured channel,
    consent_by, consent_date, consent_expires, consent_evidence   (apply to the row's consents),
    registers = cp;lac;adopted;court-order;other                 (added, never removed),
    groups = 4O;choir;u11-football   (class, clubs, teams: replaces the pupil's groups;
                                      blank: no change; "-": no groups),
    biometric_consent_by, biometric_consent_date, biometric_consent_evidence.
Dates: YYYY-MM-DD or DD/MM/YYYY (UK exports).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING

from consent_db.mis_names import full_name, name_columns
from consent_db.records import cannot_add
from consent_db.store import REGISTERS, StoreError, clean_groups

if TYPE_CHECKING:
    from consent_db.store import ConsentStore

_YES = {"yes", "y", "true", "1", "granted", "given", "consent given"}
_NO = {"no", "n", "false", "0", "refused", "declined", "consent refused"}
_WITHDRAWN = {"withdrawn", "withdraw"}
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # always fullmatch
BASE = (
    "pupil_id",
    "name",
    "academy",
    "year",
    "leaving_date",
    "consent_by",
    "consent_date",
    "consent_expires",
    "consent_evidence",
    "registers",
    "groups",
    "biometric_consent_by",
    "biometric_consent_date",
    "biometric_consent_evidence",
)


class CsvImportError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def _date(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


def parse(
    path: Path,
    channels: tuple[str, ...],
    renames: dict[str, str] | None = None,
) -> tuple[list[dict], list[str]]:
    """(rows, notes); raises CsvImportError listing every bad row by line number."""
    renames = renames or {}
    problems, notes, rows = [], [], []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="cp1252")  # older SIMS exports
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = [renames.get(h.strip(), h.strip()) for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    if "pupil_id" not in header:
        raise CsvImportError(["line 1: no pupil_id column (use --map THEIR_COLUMN=pupil_id)"])
    names, name_problems = name_columns(header)
    problems += name_problems
    if names and "name" in header:
        problems.append(f"line 1: a name column and {', '.join(map(repr, names.values()))}: "
                        "give the name one way")
    known = set(BASE) | {f"consent_{c}" for c in channels} | set(names.values())
    unknown_consent = [h for h in header if h.startswith("consent_") and h not in known]
    if unknown_consent:
        problems.append(
            f"line 1: unknown channel column(s) {', '.join(unknown_consent)};"
            f" channels: {', '.join(channels)}"
        )
    ignored = [h for h in header if h not in known and h not in unknown_consent]
    if ignored:
        notes.append(f"ignored column(s): {', '.join(ignored)}")
    seen: dict[str, int] = {}
    for rec in reader:
        line = reader.line_num
        r = {k: (v or "").strip() for k, v in rec.items() if k is not None}
        errs = []
        pid = r.get("pupil_id", "")
        if not _ID_RE.fullmatch(pid):
            errs.append(f"pupil_id {pid!r} is missing or invalid")
        elif pid in seen:
            errs.append(f"pupil_id {pid} repeats line {seen[pid]}")
        else:
            seen[pid] = line
        row: dict = {"line": line, "pupil_id": pid, "consents": {}, "registers": []}
        for k in ("name", "academy", "year"):
            row[k] = r.get(k) or None
        if names:
            try:
                row["name"] = full_name(*(r.get(names[role], "") if role in names else ""
                                          for role in ("first", "last", "preferred_first",
                                                       "preferred_last")))
            except ValueError as e:
                errs.append(f"name: {e}")
        row["groups"] = None
        raw_groups = r.get("groups", "")
        if raw_groups:
            try:
                row["groups"] = [] if raw_groups == "-" else clean_groups(raw_groups.split(";"))
            except StoreError as e:
                errs.append(f"groups: {e}")
        for k in ("leaving_date", "consent_date", "consent_expires", "biometric_consent_date"):
            try:
                row[k] = _date(r.get(k, ""))
            except ValueError as e:
                errs.append(f"{k}: {e}")
        for k in (
            "consent_by",
            "consent_evidence",
            "biometric_consent_by",
            "biometric_consent_evidence",
        ):
            row[k] = r.get(k) or None
        for ch in channels:
            v = r.get(f"consent_{ch}", "").lower()
            if not v:
                continue
            if v in _YES:
                row["consents"][ch] = "granted"
            elif v in _NO:
                row["consents"][ch] = "refused"
            elif v in _WITHDRAWN:
                row["consents"][ch] = "withdrawn"
            else:
                errs.append(f"consent_{ch}: {v!r} is not yes, no or withdrawn")
        if row["consents"] and not row["consent_by"]:
            errs.append("consent given or refused but consent_by (who) is empty")
        for reg in filter(None, (x.strip().lower() for x in r.get("registers", "").split(";"))):
            if reg not in REGISTERS:
                errs.append(f"registers: unknown register {reg!r}")
            else:
                row["registers"].append(reg)
        if row["biometric_consent_evidence"] and not row["biometric_consent_by"]:
            errs.append("biometric_consent_evidence without biometric_consent_by")
        if errs:
            problems.append(f"line {line}: " + "; ".join(errs))
        rows.append(row)
    if problems:
        raise CsvImportError(problems)
    return rows, notes


def import_csv(
    store: ConsentStore,
    path: Path,
    *,
    dry_run: bool = False,
    renames: dict[str, str] | None = None,
    actor: str,
    today: dt.date | None = None,
    registers_allowed: bool = True,
) -> dict:
    """Check every row, then apply all of them in one transaction (or none). With
    `registers_allowed` False (a data manager, not a DSL), a row with anything in its registers
    column is a bad row, whoever the pupil: the answer must not depend on whether a pupil is
    already on a register (or a data manager could ask the import, with --dry-run, who is).
    Returns {"changes": [{"line", "pupil", "what": [...]}], "unchanged": n, "notes": [...],
    "searches": [...]}: `searches` lists the applied changes after which the published photos
    must be searched (safeguard.after_change does it)."""
    day = today or dt.date.today()
    rows, notes = parse(Path(path), store.channels, renames)
    current = {p["id"]: p for p in store.pupils()}
    problems = []
    reinstated = []
    for row in rows:
        pid = row["pupil_id"]
        if pid not in current:
            why = _refusal(store, pid, registers_allowed)
            if why:
                problems.append(f"line {row['line']}: {why}")
                continue
            if registers_allowed and store.tombstone(pid):
                reinstated.append(pid)
        if pid not in current and not row["name"]:
            problems.append(f"line {row['line']}: new pupil {pid} needs a name")
        if not registers_allowed and row["registers"]:
            problems.append(f"line {row['line']}: registers: only a DSL may record a protected "
                            "register (leave the column empty)")
    if problems:
        raise CsvImportError(problems)
    notes += [f"{pid} was on a protected register when it was erased: record the register "
              "again if it still applies" for pid in reinstated]
    plan = [(row, _diff(row, current.get(row["pupil_id"]), day)) for row in rows]
    # The name each changed pupil will have, as it will be stored: a dry run shows it, so a name
    # cut to a first name (or a surname in the first-name column) is seen before it is stored.
    changes = [
        {"line": row["line"], "pupil": row["pupil_id"], "what": what,
         "name": row["name"] or (current.get(row["pupil_id"]) or {}).get("name")}
        for row, what in plan if what
    ]
    report = {
        "changes": changes,
        "unchanged": len(rows) - len(changes),
        "notes": notes,
        "dry_run": dry_run,
        "searches": [],
    }
    if dry_run or not changes:
        return report
    searches: list[dict] = []
    with store.batch():
        for row, what in plan:
            if what:
                searches += _apply(store, row, current.get(row["pupil_id"]), actor,
                                   reinstate=registers_allowed)
    report["searches"] = searches
    return report


def _refusal(store, pupil_id: str, registers_allowed: bool) -> str | None:
    """Why this account may not add `pupil_id`, in the one wording that never says why (the id
    is another academy's, or was erased from a register): safeguard.door decides when the store
    comes through it; a bare store refuses register tombstones to a non-DSL."""
    check = getattr(store, "refusal_to_add", None)
    if check is not None:
        return check(pupil_id)
    return cannot_add(pupil_id) if not registers_allowed and store.tombstone(pupil_id) else None


def _diff(row: dict, p: dict | None, day: dt.date) -> list[str]:
    what = []
    if p is None:
        what.append("add")
        p = {"consents": {}, "registers": [], "biometric": {"events": []}}
    else:
        for k in ("name", "academy", "year", "leaving_date"):
            if row[k] is not None and row[k] != p.get(k):
                what.append(f"{k} {p.get(k)!r} -> {row[k]!r}")
    if row["groups"] is not None and row["groups"] != (p.get("groups") or []):
        what.append(f"groups {';'.join(p.get('groups') or []) or '-'} -> "
                    f"{';'.join(row['groups']) or '-'}")
    for ch, state in row["consents"].items():
        if not _same_consent(p["consents"].get(ch) or {}, state, row):
            cur = p["consents"].get(ch) or {}
            what.append(f"consent {ch}: {cur.get('state', 'none')} -> {state}")
    have = {r["register"] for r in p.get("registers") or ()}
    for reg in row["registers"]:
        if reg not in have:
            what.append("register added (DSL only)")
    if row["biometric_consent_by"]:
        who = row["biometric_consent_by"].casefold()
        if not any(
            e["kind"] == "consent" and e["who"].casefold() == who for e in p["biometric"]["events"]
        ):
            what.append("biometric consent recorded")
    return what


def _same_consent(cur: dict, state: str, row: dict) -> bool:
    """Whether the store already holds what the row says (expiry matters only for a grant)."""
    if cur.get("state") != state:
        return False
    if state == "withdrawn":
        return True
    if state == "granted" and cur.get("expires") != row["consent_expires"]:
        return False
    return not row["consent_date"] or cur.get("date") == row["consent_date"]


def _apply(store: ConsentStore, row: dict, p: dict | None, actor: str,
           reinstate: bool = False) -> list[dict]:
    """Apply one row; returns the changes after which published photos must be searched
    ({"pupil", "why": "withdrawn" | "refused" | "register", "channel"})."""
    pid = row["pupil_id"]
    searches: list[dict] = []
    if p is None:
        store.add_pupil(
            pid,
            row["name"],
            academy=row["academy"],
            year=row["year"],
            leaving_date=row["leaving_date"],
            groups=row["groups"] or (),
            actor=actor,
            reinstate=reinstate,
        )
        p = store.get_pupil(pid)
    else:
        store.update_pupil(
            pid,
            name=row["name"],
            academy=row["academy"],
            year=row["year"],
            leaving_date=row["leaving_date"],
            groups=row["groups"],
            actor=actor,
        )
    for ch, state in row["consents"].items():
        cur = p["consents"].get(ch) or {}
        if state == "withdrawn":
            if cur.get("state") != "withdrawn":
                store.withdraw_consent(
                    pid, ch, by=row["consent_by"] or "import", date=row["consent_date"], actor=actor
                )
                searches.append({"pupil": pid, "why": "withdrawn", "channel": ch})
            continue
        unchanged = (
            cur.get("state") == state
            and cur.get("expires") == row["consent_expires"]
            and (not row["consent_date"] or cur.get("date") == row["consent_date"])
        )
        if unchanged:
            continue
        if state == "granted":
            store.grant_consent(
                pid,
                ch,
                given_by=row["consent_by"],
                date=row["consent_date"],
                evidence=row["consent_evidence"],
                expires=row["consent_expires"],
                actor=actor,
            )
        else:
            store.refuse_consent(
                pid,
                ch,
                given_by=row["consent_by"],
                date=row["consent_date"],
                evidence=row["consent_evidence"],
                actor=actor,
            )
            if cur.get("state") == "granted":
                searches.append({"pupil": pid, "why": "refused", "channel": ch})
    have = {r["register"] for r in p.get("registers") or ()}
    for reg in row["registers"]:
        if reg not in have:
            store.add_register(pid, reg, actor=actor)
            searches.append({"pupil": pid, "why": "register", "channel": None})
    if row["biometric_consent_by"]:
        who = row["biometric_consent_by"].casefold()
        if not any(
            e["kind"] == "consent" and e["who"].casefold() == who for e in p["biometric"]["events"]
        ):
            store.biometric_consent(
                pid,
                row["biometric_consent_by"],
                date=row["biometric_consent_date"],
                evidence=row["biometric_consent_evidence"],
                actor=actor,
            )
    return searches

"""The audit page for the DSL: the log as sentences, filtered by person, pupil, action and date,
sign-ins hidden unless asked for, and the same rows as a CSV for a governor or an inspector.
The record as stored is behind "show the record" on each row. Every read goes through the
session's door (its audit role and academy scope); an export is itself audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from safeguard.review import words

MAX_ROWS = 1000


@dataclass(frozen=True)
class Filters:
    person: str = ""
    pupil: str = ""
    action: str = ""
    since: str = ""
    until: str = ""
    sign_ins: bool = False
    error: str | None = None

    @classmethod
    def of(cls, q: Mapping[str, str]) -> Filters:
        """The filters from a query string, each cut to a sane length; bad dates are dropped
        with a message."""
        def get(k: str) -> str:
            return str(q.get(k) or "").strip()[:64]

        since, until, error = get("since"), get("until"), None
        try:
            for d in (since, until):
                if d:
                    dt.date.fromisoformat(d)
        except ValueError:
            since, until, error = "", "", "dates are YYYY-MM-DD"
        return cls(get("person"), get("pupil"), get("action"), since, until,
                   q.get("signins") in ("1", "on"), error)

    def query(self) -> str:
        from urllib.parse import urlencode

        pairs = [(k, v) for k, v in (("person", self.person), ("pupil", self.pupil),
                                     ("action", self.action), ("since", self.since),
                                     ("until", self.until)) if v]
        if self.sign_ins:
            pairs.append(("signins", "1"))
        return urlencode(pairs)


def pupil_ids(text: str, names: Mapping[str, str]) -> set[str] | None:
    """The pupils a typed pupil filter means: an id exactly, else every pupil whose name holds
    the text (case ignored); None for no filter."""
    if not text:
        return None
    if text in names:
        return {text}
    low = text.casefold()
    return {pid for pid, name in names.items() if low in str(name).casefold()} or {text}


def rows(entries: list[dict], f: Filters, names: Mapping[str, str],
         people: Mapping[str, str]) -> list[dict]:
    """The entries that pass the filters, newest first, as rows for the page and the CSV."""
    wanted = pupil_ids(f.pupil, names)
    out = []
    for e in reversed(entries):
        code = e.get("action") or ""
        if code in words.SIGN_INS and not f.sign_ins and f.action != code:
            continue
        if f.action and code != f.action:
            continue
        if f.person and e.get("actor") != f.person:
            continue
        if wanted is not None and e.get("subject") not in wanted:
            continue
        out.append({
            "when": words.when(e.get("ts")),
            "ts": e.get("ts") or "",
            "who": words.person(e.get("actor"), people),
            "sentence": words.audit_sentence(e, names, people),
            "pupil": e.get("subject") if e.get("subject") in names else "",
            "name": names.get(e.get("subject") or "", ""),
            "action": code,
            "record": words.record_text(e),
        })
        if len(out) >= MAX_ROWS:
            break
    return out


def _cell(v: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    s = str(v if v is not None else "")
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def as_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["When (UTC)", "Who", "What happened", "Pupil", "Pupil id", "Action"])
    for r in table:
        w.writerow([_cell(x) for x in (r["ts"][:19].replace("T", " "), r["who"], r["sentence"],
                                       r["name"], r["pupil"], r["action"])])
    return buf.getvalue()


def routes(door_of: Callable[[Any], Any], reviewer: Callable[[Request], Any],
           page: Callable[..., Response], to_login: Callable[[], Response]) -> list[Route]:
    """`reviewer(request)`: the signed-in DSL session or None; `door_of(session)`: its door."""

    def gather(s: Any, f: Filters) -> tuple[list[dict], list[str], dict]:
        door = door_of(s)
        pupil = f.pupil if f.pupil and f.pupil in door.names() else None
        entries = door.audit.entries(pupil, f.since or None, f.until or None)
        names = door.names()
        people = door.people()  # display names of accounts, where one is set
        actors = sorted({e.get("actor") for e in entries if e.get("actor")
                         and (e.get("action") not in words.SIGN_INS or f.sign_ins)})
        return rows(entries, f, names, people), actors, names

    async def audit_page(request: Request) -> Response:
        s = reviewer(request)
        if s is None:
            return to_login()
        f = Filters.of(request.query_params)
        table, actors, names = await run_in_threadpool(gather, s, f)
        return page(request, s, "audit.html", rows=table, f=f, actors=actors,
                    actions=words.ACTIONS, pupils=sorted(names.values()), error=f.error,
                    max_rows=MAX_ROWS)

    async def audit_csv(request: Request) -> Response:
        s = reviewer(request)
        if s is None:
            return Response("sign in first", 401, media_type="text/plain")
        f = Filters.of(request.query_params)
        table, _, _ = await run_in_threadpool(gather, s, f)
        # who took the log away, and how much of it: the export names pupils
        await run_in_threadpool(door_of(s).audit.append, s.reviewer.user, "audit.export", None,
                                {"rows": len(table), "filters": f.query()})
        day = dt.date.today().isoformat()
        return Response(as_csv(table), media_type="text/csv; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="safeguard-audit-{day}.csv"'})

    return [
        Route("/audit", audit_page, methods=["GET"]),
        Route("/audit.csv", audit_csv, methods=["GET"]),
    ]

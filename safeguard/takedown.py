"""The DSL's takedown list: published photos in which a pupil was found after their consent was
withdrawn or they were put on a protected register. DSL-only.

Each item is one search: HOME/takedown/<id>.json (folder 0700, file 0600, written atomically)
holding the pupil's id (never a name), the trigger ("consent withdrawn: website", "protected
register added"), when, and the hits: path and content hash of each published photo, the face's
box and its distance to the pupil's closest stored encoding. The photos themselves stay where they
are published; the item says where to take them down.

    add(home, pupil_id, reason, hits, ...) -> id
    ids(home) / list_items(home, open_only=False) / get(home, id)
    close(home, id, by, note)          the DSL has dealt with it
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from pathlib import Path
from typing import Any

from safeguard.exitcodes import SafeguardError

ID_RE = re.compile(r"[0-9]{8}-[0-9a-f]{12}")  # always fullmatch


class TakedownError(SafeguardError):
    pass


def folder(home: Any) -> Path:
    return Path(home.root) / "takedown"


def _write(home: Any, item: dict) -> None:
    """Sealed with the file key (safeguard.sealed): an item names a pupil and their photos."""
    from safeguard import sealed

    item_id = item["id"]
    sealed.write_json(folder(home) / f"{item_id}.json", item, sealed.home_key(home.root),
                      f"takedown/{item_id}")


def add(home: Any, pupil_id: str, reason: str, hits: list[dict], *, photos_searched: int = 0,
        unscanned: list[dict] | None = None, tolerance: float | None = None,
        problem: str | None = None, detail: str | None = None) -> str:
    """Record one search's hits for the DSL; returns the new item's id. `problem`: the search
    was not done (why, in `detail`): the DSL checks the published photos by hand."""
    d = folder(home)
    old = os.umask(0o077)
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    finally:
        os.umask(old)
    item_id = f"{dt.date.today():%Y%m%d}-{secrets.token_hex(6)}"
    item = {
        "id": item_id,
        "pupil": pupil_id,
        "reason": reason,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "state": "open",
        "tolerance": tolerance,
        "photos_searched": photos_searched,
        "hits": hits,
        # files in the index that could not be scanned: the pupil may be in them too
        "unscanned": unscanned or [],
        "problem": problem,
        "detail": detail,
    }
    _write(home, item)
    return item_id


def ids(home: Any) -> list[str]:
    """Every item's id, newest first."""
    d = folder(home)
    if not d.is_dir():
        return []
    return sorted((p.stem for p in d.glob("*.json") if ID_RE.fullmatch(p.stem)), reverse=True)


def get(home: Any, item_id: str) -> dict:
    """One item; ids that are not exactly our format are refused (no path a request can steer)."""
    if not isinstance(item_id, str) or not ID_RE.fullmatch(item_id):
        raise TakedownError("no such takedown item")
    from safeguard import sealed

    try:
        return sealed.read_json(folder(home) / f"{item_id}.json", sealed.home_key(home.root),
                                f"takedown/{item_id}")
    except FileNotFoundError:
        raise TakedownError("no such takedown item") from None
    except sealed.SealedError as e:
        raise TakedownError(f"takedown item {item_id} cannot be opened: {e}") from None


def list_items(home: Any, open_only: bool = False) -> list[dict]:
    out = []
    for i in ids(home):
        try:
            item = get(home, i)
        except (TakedownError, OSError, ValueError):
            continue
        if not open_only or item.get("state") == "open":
            out.append(item)
    return out


def close(home: Any, item_id: str, by: str, note: str | None = None, audit: Any = None) -> dict:
    """Mark an item dealt with (the photos were taken down, or the DSL decided otherwise); with
    `audit` (the store's audit log), record who closed it: the one place the entry is written,
    for the CLI and the review page alike."""
    item = get(home, item_id)
    item.update(state="closed", closed_by=by, note=note,
                closed=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    _write(home, item)
    if audit is not None:
        audit.append(by, "takedown.closed", item.get("pupil"),
                     {"item": item_id, "photos": len(item.get("hits", [])), "note": note})
    return item


# What the DSL found when they looked at one published photo of an item: it was taken down, or
# it is not ours to take down (not the pupil, or not a photo the school published).
MARKS = ("taken_down", "not_ours")


def mark(home: Any, item_id: str, n: int, state: str, by: str, note: str | None = None,
         audit: Any = None) -> dict:
    """Mark the item's photo `n` (0-based, in `hits`) as `state` (one of MARKS), with who and
    when; with `audit`, recorded there ("takedown.taken_down" / "takedown.not_ours", the pupil
    as subject). Once every photo of an open item is marked and nothing in it is left to check
    by hand, the item closes as `close` does."""
    if state not in MARKS:
        raise TakedownError(f"mark a photo {' or '.join(MARKS)}")
    item = get(home, item_id)
    hits = item.get("hits") or []
    if not isinstance(n, int) or not 0 <= n < len(hits):
        raise TakedownError("no such photo on this takedown list")
    hit = hits[n]
    hit.update(state=state, marked_by=by, note=note or None,
               marked=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    _write(home, item)
    if audit is not None:
        audit.append(by, f"takedown.{state}", item.get("pupil"),
                     {"item": item_id, "photo": Path(str(hit.get("path", ""))).name,
                      "sha256": hit.get("sha256"), "note": note or None})
    done = all(h.get("state") in MARKS for h in hits)
    if done and item.get("state") == "open" and not item.get("unscanned") \
            and not item.get("problem"):
        item = close(home, item_id, by, "every photo marked", audit=audit)
    return item

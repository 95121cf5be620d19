"""What follows a change to a pupil's consents or registers, whoever made it and however.

A change that means published photos of a pupil must come down (photo consent withdrawn, or a
consent that was given now refused, or a protected register added) is followed by a search of the
published-photo index, and the hits go on the DSL's takedown list (safeguard.index
.on_consent_change). Every way of making such a change calls `search_published` from here: the
CLI's `consent withdraw|refuse` and `register add`, and `pupils import` (a CSV row that
withdraws consent or adds a register), so none of them can forget it.

The store change is already committed when the search runs: a search that cannot run (no index,
a broken archive) never undoes it, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

REGISTER_ADDED = "protected register added"
# On the DSL's takedown list when the search could not run over the whole index: never "0 found".
NOT_SEARCHED = "archive index incomplete: search not done"


def withdrawn(channel: str) -> str:
    return f"consent withdrawn: {channel}"


def refused(channel: str) -> str:
    return f"consent refused: {channel}"


@dataclass(frozen=True)
class SearchNote:
    pupil_id: str
    reason: str
    message: str | None  # what to tell the person who made the change (None: no index)
    warning: bool = False  # the search could not run
    takedown_item: str | None = None


def needs_search(before: str | None, after: str) -> bool:
    """Does a photo consent going from `before` to `after` mean published photos must come
    down? Withdrawn, or refused after it was granted."""
    return after == "withdrawn" and before != "withdrawn" or (
        after == "refused" and before == "granted")


def search_published(home, pupil_id: str, reason: str) -> SearchNote:
    """Search what has been published for `pupil_id` and list the hits for takedown. A search
    that cannot read the whole index puts NOT_SEARCHED on the DSL's takedown list in place of
    hits: the DSL must check the published photos by hand."""
    from safeguard import takedown
    from safeguard.index import IndexProblem, on_consent_change
    from safeguard.sealed import SealedError

    try:
        result = on_consent_change(home, pupil_id, reason)
    except IndexProblem as e:
        try:
            item = takedown.add(home, pupil_id, reason, [], problem=NOT_SEARCHED, detail=str(e))
            listed = f"; on the DSL's takedown list ({item})"
        except (OSError, SealedError) as why:
            item, listed = None, f"; and it could not be put on the DSL's list ({why}): tell the DSL"
        return SearchNote(pupil_id, reason, f"warning: {NOT_SEARCHED} ({e}){listed}",
                          warning=True, takedown_item=item)
    if result is None:
        return SearchNote(pupil_id, reason, None)
    return SearchNote(pupil_id, reason, result.message, takedown_item=result.item_id)


def search_all(home, changes: Iterable[tuple[str, str]]) -> list[SearchNote]:
    """`search_published` for each (pupil_id, reason), once per pupil and reason."""
    seen: set[tuple[str, str]] = set()
    notes = []
    for pid, reason in changes:
        if (pid, reason) not in seen:
            seen.add((pid, reason))
            notes.append(search_published(home, pid, reason))
    return notes

"""Academy scoping in a multi-academy trust, as rules: a DSL, data manager or senior leader (slt)
whose account carries an academy sees and changes only that academy's pupils, and what is about
them: audit entries, held photos, takedown lists, search hits, posts for sign-off
(safeguard.approvals). Trust-wide accounts (no academy) see all.

The rules live here; safeguard.door applies them in every method of the one door to the data, so
that no command or page applies them by itself (or forgets to).
"""

from __future__ import annotations

SCOPED_ROLES = frozenset({"dsl", "data", "slt"})


def academy_of(who) -> str | None:
    """The academy an account is scoped to, or None (trust-wide, or a role not scoped)."""
    if who is None or getattr(who, "role", None) not in SCOPED_ROLES:
        return None
    return getattr(who, "academy", None) or None


def academy_of_submitter(who) -> str | None:
    """The academy a post made by `who` belongs to: their account's academy, whatever the role
    (comms staff of one academy post for that academy); None for a trust-wide account."""
    return (getattr(who, "academy", None) or None) if who is not None else None


def in_scope(pupil: dict | None, academy: str | None) -> bool:
    if pupil is None:
        return False
    return academy is None or (pupil.get("academy") or None) == academy


def held_in_scope(record: dict, academy: str | None, store) -> bool:
    """May an account scoped to `academy` see this held photo? Trust-wide: always. Scoped: when
    the photo's matched pupils are all of that academy (a photo with no matched pupil, held for
    unknown faces, is for trust-wide DSLs)."""
    if academy is None:
        return True
    pupils = {f.get("pupil") for f in record.get("faces") or [] if f.get("pupil")}
    if not pupils:
        return False
    return all(in_scope(store.get_pupil(p), academy) for p in pupils)

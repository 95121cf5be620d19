"""A post's caption, checked against the store (safeguard.naming does the matching)."""

from __future__ import annotations

from safeguard.naming import Finding, check_text, people


def store_names(store) -> tuple[list, list[str]]:
    """(people, groups) of an open consent store: every pupil's full name and every group."""
    pupils = store.pupils()
    groups = sorted({g for p in pupils for g in p.get("groups") or []})
    return people((p["id"], p.get("name", "")) for p in pupils), groups


def check_caption(text: str, store) -> list[Finding]:
    """Everything in `text` that identifies a child (names, classes, personal details)."""
    persons, groups = store_names(store)
    return check_text(text or "", persons, groups, details=True)

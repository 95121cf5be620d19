"""A post's caption, checked against the store (safeguard.naming does the matching)."""

from __future__ import annotations

from safeguard.naming import Finding, check_text, people, school_names


def store_names(store) -> tuple[list, tuple[str, ...]]:
    """(people, groups) of an open consent store: every pupil's full name and every group."""
    names, groups = school_names(store.pupils())
    return people(names), groups


def check_caption(text: str, store) -> list[Finding]:
    """Everything in `text` that identifies a child (names, classes, personal details)."""
    persons, groups = store_names(store)
    return check_text(text or "", persons, groups, details=True)

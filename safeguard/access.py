"""Who may do what: the roles' table, below the CLI and the review app (which both ask it).

Need to know: comms staff learn that a face was restricted, never why or who; names, consents and
enrolment are for the data manager and the DSL; registers, held photos, the audit log and the
published-photo search are for the DSL alone; staff accounts for the admin.
"""

from __future__ import annotations

ADMIN, DSL, SLT, DATA, COMMS = "admin", "dsl", "slt", "data", "comms"

# action -> roles allowed
ALLOWED: dict[str, frozenset[str]] = {
    "photos": frozenset({COMMS, DATA, DSL, SLT, ADMIN}),  # blur, scan, watch: redacted copies
    "approvals": frozenset({DSL, SLT}),  # sign off posts (safeguard/approvals.py)
    "pupils.read": frozenset({DATA, DSL}),  # names, consents, enrolment (no registers)
    "pupils.write": frozenset({DATA, DSL}),  # add, update, consent, biometric, enrol, import
    "pupils.erase": frozenset({DATA, DSL}),
    "registers": frozenset({DSL}),  # see, add or remove a protected register
    "held": frozenset({DSL}),  # held photos, review, takedowns, contact sheets
    "confirm": frozenset({DSL}),  # confirm a face as a pupil's: it joins their references
    "audit": frozenset({DSL}),
    "audit.verify": frozenset({DSL, ADMIN}),  # the chain's integrity, no entries shown
    "find": frozenset({DSL}),  # search the published archive for a pupil
    "index": frozenset({DSL, ADMIN}),  # index the published archive (no names)
    "staff": frozenset({ADMIN}),
    "dpia": frozenset({ADMIN, DSL}),
    "settings": frozenset({ADMIN, DSL}),  # accept config.toml (safeguard.accepted_settings)
}

# Actions that check, publish or release photos: they run only on the settings an admin or the
# DSL accepted (safeguard.accepted_settings), checked where every sign-in for them goes through
# (safeguard.commands.signin), so a command added for them cannot leave the check out.
NEED_ACCEPTED_SETTINGS = frozenset({"photos", "approvals", "held"})


class Refused(Exception):
    """The signed-in account's role may not do this; the message says which role may."""


def roles_for(action: str) -> str:
    """The roles allowed to do `action`, for messages: "data or dsl"."""
    return " or ".join(sorted(ALLOWED[action]))


def may(role: str, action: str) -> bool:
    """Whether `role` may do `action`: e.g. may(role, "registers") decides whether a view of a
    pupil shows their registers at all."""
    return role in ALLOWED[action]


def check(role: str, action: str) -> None:
    if role not in ALLOWED[action]:
        raise Refused(f"the {role} role may not do this ({action}): it needs {roles_for(action)}")


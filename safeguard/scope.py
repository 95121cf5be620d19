"""Academy scoping in a multi-academy trust: a DSL or data manager whose account carries an
academy sees and changes only that academy's pupils, audit entries and held photos, and a DSL
or senior leader (slt) only that academy's posts for sign-off (safeguard.approvals); trust-wide
accounts (no academy) see all.

`scoped(store, who)` gives the store as that account may use it. Every method that reads or
changes one pupil refuses a pupil of another academy exactly as it refuses a pupil that does not
exist ("no pupil P001"), so a scoped account cannot even learn that the id is taken elsewhere by
asking. Lists are filtered. A new pupil is put in the account's academy.
"""

from __future__ import annotations

from consent_db.errors import StoreError

# ConsentStore methods whose first argument is the pupil they read or change.
PUPIL_METHODS = frozenset({
    "update_pupil", "grant_consent", "refuse_consent", "withdraw_consent", "consent_for",
    "add_register", "remove_register", "biometric_status", "biometric_notify",
    "biometric_consent", "biometric_object", "biometric_withdraw", "enrol", "pupil_encodings",
    "remove_encodings", "erase", "export",
})
SCOPED_ROLES = frozenset({"dsl", "data", "slt"})


def academy_of(who) -> str | None:
    """The academy an account is scoped to, or None (trust-wide, or a role not scoped)."""
    if who is None or getattr(who, "role", None) not in SCOPED_ROLES:
        return None
    return getattr(who, "academy", None) or None


def scoped(store, who):
    """`store` as `who` may use it: itself for trust-wide accounts."""
    academy = academy_of(who)
    return store if academy is None else ScopedStore(store, academy)


def academy_of_submitter(who) -> str | None:
    """The academy a post made by `who` belongs to: their account's academy, whatever the role
    (comms staff of one academy post for that academy); None for a trust-wide account."""
    return (getattr(who, "academy", None) or None) if who is not None else None


def in_scope(pupil: dict | None, academy: str | None) -> bool:
    if pupil is None:
        return False
    return academy is None or (pupil.get("academy") or None) == academy


class _ScopedAudit:
    def __init__(self, audit, visible) -> None:
        self._audit, self._visible = audit, visible

    def entries(self, pupil=None, since=None, until=None) -> list[dict]:
        ids = self._visible()
        return [e for e in self._audit.entries(pupil, since, until) if e.get("subject") in ids]

    def __getattr__(self, name):
        return getattr(self._audit, name)


class ScopedStore:
    def __init__(self, store, academy: str) -> None:
        self._store = store
        self.academy = academy
        self.audit = _ScopedAudit(store.audit, lambda: {p["id"] for p in self.pupils()})

    def _check(self, pupil_id: str) -> None:
        if not in_scope(self._store.get_pupil(pupil_id), self.academy):
            raise StoreError(f"no pupil {pupil_id}")

    def get_pupil(self, pupil_id: str) -> dict | None:
        p = self._store.get_pupil(pupil_id)
        return p if in_scope(p, self.academy) else None

    def pupils(self) -> list[dict]:
        return [p for p in self._store.pupils() if in_scope(p, self.academy)]

    def list_pupils(self, **filters) -> list[dict]:
        return [p for p in self._store.list_pupils(**filters) if in_scope(p, self.academy)]

    def add_pupil(self, pupil_id: str, name: str, *, academy: str | None = None, **kw):
        if academy not in (None, self.academy):
            raise StoreError(f"your account is scoped to {self.academy}: it cannot add pupils "
                             f"to {academy}")
        return self._store.add_pupil(pupil_id, name, academy=self.academy, **kw)

    def update_pupil(self, pupil_id: str, *, academy: str | None = None, **kw):
        self._check(pupil_id)
        if academy not in (None, self.academy):
            raise StoreError(f"your account is scoped to {self.academy}: it cannot move pupils "
                             f"to {academy}")
        return self._store.update_pupil(pupil_id, **kw)

    def purge(self, **kw):
        raise StoreError("purging leavers covers the whole trust: a trust-wide account runs it")

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if name in PUPIL_METHODS:
            def checked(pupil_id, *args, **kwargs):
                self._check(pupil_id)
                return attr(pupil_id, *args, **kwargs)

            return checked
        return attr


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

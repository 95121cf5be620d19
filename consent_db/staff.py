"""Staff accounts and their roles: admin (staff accounts, settings), dsl (everything about
pupils including registers, held photos, review, takedowns, find, audit), data (pupils, consents,
enrolment, import; no registers, no held photos), comms (the blur pass and the watched folder;
no names, consents or reasons). What each role may do is safeguard.access's table; an account
may be scoped to one academy of a trust.

Passwords are argon2id hashes (argon2-cffi). Five consecutive failures lock the account for 15
minutes; the counter and the lock live in the store, so they hold across processes (the CLI, the
review app). Every login, failure and lock goes into the audit log (no passwords, no hashes).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tinydb import Query

from consent_db.errors import StoreError

ROLES = ("admin", "dsl", "slt", "data", "comms")
MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD = 10
_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # always fullmatch
_ph = PasswordHasher()


# verify against this when the user does not exist, so timing does not tell who has an account
@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown (same time as a wrong password); made
    on first use, not at import: argon2 takes 0.25 s and every command imports this module."""
    return _ph.hash("not a password of anyone")


S = Query()


@dataclass(frozen=True)
class Staff:
    user: str
    role: str
    academy: str | None = None  # None: trust-wide

    @property
    def is_dsl(self) -> bool:
        return self.role == "dsl"


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


class StaffAccounts:
    """The staff table, as the store hands it over: `table` (TinyDB table "staff") and `change`
    (the store's transaction: a context manager yielding an object with `log(actor, action,
    subject, **details)`, writing the audit entry with the change). The store's only seam to
    staff accounts; nothing here reaches into the store."""

    def __init__(self, table, change: Callable) -> None:
        self._table = table
        self._change = change

    def any(self) -> bool:
        return bool(self._table.all())

    def add(self, user: str, role: str, password: str, *, actor: str,
            academy: str | None = None) -> Staff:
        if not _USER_RE.fullmatch(user or ""):
            raise StoreError(f"user name {user!r}: letters, digits, '.', '_', '@' or '-'")
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise StoreError(f"the password must have at least {MIN_PASSWORD} characters")
        hashed = _ph.hash(password)
        with self._change() as t:
            if self._table.contains(S.user == user):
                raise StoreError(f"staff account {user} already exists")
            self._table.insert(
                {
                    "user": user,
                    "role": role,
                    "academy": academy or None,
                    "hash": hashed,
                    "failures": 0,
                    "locked_until": None,
                    "created": _now(None).isoformat(timespec="seconds"),
                }
            )
            t.log(actor, "staff.add", user, role=role, academy=academy or None)
        return Staff(user, role, academy or None)

    def list(self) -> list[dict]:
        out = [
            {
                "user": d["user"],
                "role": d["role"],
                "academy": d.get("academy"),
                "created": d.get("created"),
                "locked_until": d.get("locked_until"),
            }
            for d in self._table.all()
        ]
        return sorted(out, key=lambda d: d["user"])

    def remove(self, user: str, *, actor: str) -> None:
        with self._change() as t:
            if not self._table.remove(S.user == user):
                raise StoreError(f"no staff account {user}")
            t.log(actor, "staff.remove", user)

    def verify(self, user: str, password: str, now: dt.datetime | None = None,
               max_failures: int = MAX_FAILURES) -> Staff | None:
        """The account if `password` is right and the account is not locked; otherwise None.

        Exactly one argon2 verification runs, outside the store's lock (it takes a quarter of a
        second; other writers must not wait on it), against the account's hash, or a dummy one
        for an unknown user: an unknown user, a wrong password and a locked account take the same
        time. The outcome is then recorded under the lock: `max_failures` consecutive failures
        lock the account for LOCKOUT (the review page passes a higher number and throttles each
        client itself, so a stranger at the login page cannot lock the DSL out)."""
        now = _now(now)
        doc = self._table.get(S.user == user) if user else None
        try:
            _ph.verify(doc["hash"] if doc is not None else _dummy_hash(), password)
            matched = doc is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            matched = False
        with self._change() as t:
            doc = self._table.get(S.user == user) if user else None  # fresh, under the lock
            if doc is None:
                t.log(user or "?", "staff.login_failed", user or None, reason="no such account")
                return None
            locked = doc.get("locked_until")
            if locked and now < dt.datetime.fromisoformat(locked):
                t.log(user, "staff.login_refused", user, reason="locked", until=locked)
                return None
            if not matched:
                failures = int(doc.get("failures", 0)) + 1
                update: dict = {"failures": failures}
                if failures >= max_failures:
                    until = (now + LOCKOUT).isoformat(timespec="seconds")
                    update = {"failures": 0, "locked_until": until}
                    t.log(user, "staff.locked", user, failures=failures, until=until)
                else:
                    t.log(user, "staff.login_failed", user, failures=failures)
                self._table.update(update, doc_ids=[doc.doc_id])
                return None
            update = {"failures": 0, "locked_until": None}
            if _ph.check_needs_rehash(doc["hash"]):
                update["hash"] = _ph.hash(password)
            self._table.update(update, doc_ids=[doc.doc_id])
            t.log(user, "staff.login", user)
            return Staff(doc["user"], doc["role"], doc.get("academy"))

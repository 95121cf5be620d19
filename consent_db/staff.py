"""Staff accounts and their roles: admin (staff accounts, settings), dsl (everything about
pupils including registers, held photos, review, takedowns, find, audit), data (pupils, consents,
enrolment, import; no registers, no held photos), comms (the blur pass and the watched folder;
no names, consents or reasons). What each role may do is safeguard.access's table; an account
may be scoped to one academy of a trust.

Passwords are argon2id hashes (argon2-cffi). A wrong password never locks the account: it slows
down the source it came from (consent_db.throttle), so nobody can keep the DSL out by typing
the DSL's name. Every login, failure at the command line and the review page, and every source
made to wait goes into the audit log (no passwords, no hashes), and only once the user name has
been checked: a name that cannot be an account's (too long, odd characters) is refused before
anything is written.

Each account carries a `stamp`, new at creation and with every change to it: a web session
remembers the stamp it signed in with and ends at its next request once the account is removed,
re-made or given another role or academy (`ConsentStore.staff_stamp`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tinydb import Query

from consent_db import throttle as rules
from consent_db.errors import StoreError

ROLES = ("admin", "dsl", "slt", "data", "comms")
MIN_PASSWORD = 10
MAX_USER = 64
_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # always fullmatch
_ph = PasswordHasher()


MAX_DISPLAY_NAME = 64


def clean_display_name(name: str | None) -> str | None:
    """A display name ("Jo Lead") as stored: whitespace collapsed, no control or bidi
    characters, at most MAX_DISPLAY_NAME; None or "" for none. StoreError otherwise."""
    import unicodedata

    if name is None:
        return None
    text = " ".join(str(name).split())
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in text):
        raise StoreError("a display name cannot hold control characters")
    if len(text) > MAX_DISPLAY_NAME:
        raise StoreError(f"a display name has at most {MAX_DISPLAY_NAME} characters")
    return text or None


# verify against this when the user does not exist, so timing does not tell who has an account
@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown (same time as a wrong password); made
    on first use, not at import: argon2 takes 0.25 s and every command imports this module."""
    return _ph.hash("not a password of anyone")


S = Query()
T = Query()


def valid_user_name(user: object) -> bool:
    """Could `user` be an account's name? Checked before a name goes anywhere (the audit log, a
    message, a log line): letters, digits, '.', '_', '@' and '-', at most MAX_USER."""
    return isinstance(user, str) and bool(_USER_RE.fullmatch(user))


class Throttled(StoreError):
    """Too many failed sign-ins from this source: `wait` seconds before the next try."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"too many failed sign-ins from here: try again in {int(wait) + 1} s")
        self.wait = wait


def account_stamp(doc: dict) -> str:
    """What a session checks on every request: changes when the account is re-made (its random
    stamp) or its role or academy changes."""
    body = f"{doc.get('user')}\0{doc.get('stamp', '')}\0{doc.get('role')}\0{doc.get('academy')}"
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _ts(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value).timestamp() if value else None


@dataclass(frozen=True)
class Staff:
    user: str
    role: str
    academy: str | None = None  # None: trust-wide
    stamp: str = ""  # account_stamp at sign-in (a web session ends when it changes)

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

    def __init__(self, table, change: Callable, throttle_table=None,
                 audit: Callable | None = None) -> None:
        self._table = table
        self._change = change
        self._sources = throttle_table  # the command line's sources (OS users), persisted
        self._audit = audit  # () -> the store's AuditLog: entries that change nothing else

    def any(self) -> bool:
        return bool(self._table.all())

    def add(self, user: str, role: str, password: str, *, actor: str,
            academy: str | None = None, display_name: str | None = None) -> Staff:
        shown_as = clean_display_name(display_name)
        if not valid_user_name(user):
            raise StoreError(f"user name {user!r}: letters, digits, '.', '_', '@' or '-', "
                             f"at most {MAX_USER}")
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
                    "stamp": secrets.token_hex(8),
                    "created": _now(None).isoformat(timespec="seconds"),
                    **({"display_name": shown_as} if shown_as else {}),
                }
            )
            t.log(actor, "staff.add", user, role=role, academy=academy or None,
                  **({"display_name": shown_as} if shown_as else {}))
        return Staff(user, role, academy or None)

    def list(self) -> list[dict]:
        out = [
            {
                "user": d["user"],
                "role": d["role"],
                "academy": d.get("academy"),
                "created": d.get("created"),
                "display_name": d.get("display_name"),
            }
            for d in self._table.all()
        ]
        return sorted(out, key=lambda d: d["user"])

    def display_names(self) -> dict[str, str]:
        """{user: display name} of the accounts that have one (how pages name them)."""
        return {d["user"]: d["display_name"] for d in self._table.all() if d.get("display_name")}

    def change(self, user: str, *, actor: str, role: str | None = None,
               academy: str | None = None, trust_wide: bool = False,
               display_name: str | None = None) -> Staff:
        """Give `user` another role or academy (`trust_wide`: no academy). A new stamp ends the
        account's web sessions at their next request: they were signed in as the old role. A
        new display name alone (`display_name`; "" removes it) changes no access: no new
        stamp."""
        shown_as = clean_display_name(display_name)
        if role is not None and role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}")
        with self._change() as t:
            doc = self._table.get(S.user == user)
            if doc is None:
                raise StoreError(f"no staff account {user}")
            update: dict = {}
            if role is not None or academy or trust_wide:
                update["stamp"] = secrets.token_hex(8)
            if display_name is not None:
                update["display_name"] = shown_as
            if role is not None:
                update["role"] = role
            if trust_wide:
                update["academy"] = None
            elif academy:
                update["academy"] = academy
            self._table.update(update, doc_ids=[doc.doc_id])
            doc = {**doc, **update}
            t.log(actor, "staff.change", user, role=doc["role"], academy=doc.get("academy"),
                  **({"display_name": shown_as} if display_name is not None else {}))
        return Staff(doc["user"], doc["role"], doc.get("academy"), account_stamp(doc))

    def remove(self, user: str, *, actor: str) -> None:
        with self._change() as t:
            if not self._table.remove(S.user == user):
                raise StoreError(f"no staff account {user}")
            t.log(actor, "staff.remove", user)

    def stamps(self) -> dict[str, str]:
        """{user: account_stamp} of every account."""
        return {d["user"]: account_stamp(d) for d in self._table.all()}

    def unlock(self, user: str, *, actor: str, now: dt.datetime | None = None) -> int:
        """Clear every source made to wait by failures against `user` (an admin's decision,
        audited): the command line's persisted sources now, the review app's and the service's
        at their next try (they compare with the account's `unlocked`). Returns how many
        persisted sources were cleared."""
        when = _now(now).isoformat(timespec="microseconds")
        with self._change() as t:
            doc = self._table.get(S.user == user)
            if doc is None:
                raise StoreError(f"no staff account {user}")
            self._table.update({"unlocked": when, "failures": 0, "locked_until": None},
                               doc_ids=[doc.doc_id])
            cleared = self._sources.remove(T.user == user) if self._sources is not None else []
            t.log(actor, "staff.unlock", user, sources=len(cleared))
        return len(cleared)

    def verify(self, user: str, password: str, *, source: str = "local", throttle=None,
               audit_failures: bool = True, now: dt.datetime | None = None) -> Staff | None:
        """The account if `password` is right; None otherwise. Raises Throttled while `source`
        must wait (nothing checked, nothing written).

        `source` names where the try comes from ("uid:1001", "web:192.0.2.7"); `throttle` is
        the door's in-memory consent_db.throttle.Throttle, or None to keep the source's count in
        the store (the command line). `audit_failures=False` (the photo service) writes nothing
        for a failure but the one that makes the source wait.

        A name that cannot be an account's is refused first, with nothing written. Exactly one
        argon2 verification runs, outside the store's lock (it takes a quarter of a second;
        other writers must not wait on it), against the account's hash or a dummy one for an
        unknown user: an unknown user and a wrong password take the same time."""
        if not valid_user_name(user) or not isinstance(password, str):
            return None
        ts = _now(now).timestamp()
        doc = self._table.get(S.user == user)
        cleared = _ts(doc.get("unlocked")) if doc is not None else None
        if throttle is not None:  # this try is counted now, in one step with the look
            wait, counted = throttle.begin(source, user, ts, cleared)
        else:
            wait = rules.wait(self._persisted(source), ts, cleared)
        if wait > 0:
            raise Throttled(wait)
        try:
            _ph.verify(doc["hash"] if doc is not None else _dummy_hash(), password)
            matched = doc is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            matched = False
        if matched:
            with self._change() as t:
                doc = self._table.get(S.user == user)  # fresh, under the lock
                if doc is None:  # removed meanwhile
                    return None
                update: dict = {"failures": 0, "locked_until": None}
                if "stamp" not in doc:
                    update["stamp"] = secrets.token_hex(8)
                if _ph.check_needs_rehash(doc["hash"]):
                    update["hash"] = _ph.hash(password)
                self._table.update(update, doc_ids=[doc.doc_id])
                doc = {**doc, **update}
                if throttle is not None:
                    throttle.put(source, None)
                elif self._sources is not None:
                    self._sources.remove(T.source == source)
                t.log(user, "staff.login", user, source=source)
                return Staff(doc["user"], doc["role"], doc.get("academy"), account_stamp(doc))
        if throttle is not None:
            new = counted
            if audit_failures or rules.starts_waiting(new):
                # the entry alone: a guess at a door that counts in memory does not rewrite the
                # whole store (on a machine at load 6 with 20,000 pupils, the same cost as an
                # unaudited guess, where a store rewrite took it from 0.25 s to 0.7 s)
                if self._audit is not None:
                    self._log_failure(_Entries(self._audit()), user, doc is not None, source, new,
                                      audit_failures)
                else:
                    with self._change() as t:
                        self._log_failure(t, user, doc is not None, source, new, audit_failures)
            return None
        with self._change() as t:
            fresh = self._persisted(source)  # under the lock: concurrent processes add up
            new = rules.after_failure(fresh, user, ts, cleared)
            if self._sources is not None:
                self._sources.upsert({"source": source, "failures": new.failures,
                                      "last": new.last, "user": user}, T.source == source)
            self._log_failure(t, user, doc is not None, source, new)
        return None

    def _persisted(self, source: str) -> rules.Record | None:
        if self._sources is None:
            return None
        d = self._sources.get(T.source == source)
        return None if d is None else rules.Record(int(d["failures"]), float(d["last"]),
                                                    str(d.get("user", "")))

    @staticmethod
    def _log_failure(t, user: str, known: bool, source: str, rec: rules.Record,
                     each: bool = True) -> None:
        """The failure (when every failure is audited at this door), and the source starting
        to wait (always: once per run of failures)."""
        if each:
            t.log(user, "staff.login_failed", user if known else None, source=source,
                  failures=rec.failures, **({} if known else {"reason": "no such account"}))
        if rules.starts_waiting(rec):
            t.log(user, "staff.throttled", user if known else None, source=source,
                  failures=rec.failures, wait=rules.delay(rec.failures))


class _Entries:
    """Audit entries written on their own, in the shape of a store transaction's `log`."""

    def __init__(self, audit) -> None:
        self._audit = audit

    def log(self, actor: str, action: str, subject: str | None, **details) -> None:
        self._audit.append(actor, action, subject, details)

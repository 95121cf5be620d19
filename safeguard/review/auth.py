"""Who may review: staff accounts live in the consent store (consent_db.staff: argon2 hashes,
five failures lock an account for 15 minutes, every login in the audit log). This module only
signs staff in through it, keeps web sessions and CSRF tokens, and checks the role.

Only the DSL role reviews held images: an admin manages staff accounts but does not see who is
on a protected register (need to know). A senior leader (role slt) signs in only to sign off
posts (safeguard.review.signoff), and sees nothing else.

Web sessions are random server-side ids (32 bytes from `secrets`) held in this process's memory:
the cookie carries nothing else, a restart signs everyone out, and a session ends after
`IDLE` without a request or `LIFETIME` in all.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

REVIEW_ROLE = "dsl"
SIGN_IN_ROLES = (REVIEW_ROLE, "slt")  # slt: the sign-off pages only
IDLE = 30 * 60
LIFETIME = 8 * 60 * 60
COOKIE = "safeguard_review"
MAX_SESSIONS = 1000  # beyond this, the oldest sessions are dropped (a flood of login-page visits)


class AuthError(Exception):
    """Sign-in refused; the message is one line and does not say which part was wrong."""


@dataclass(frozen=True)
class Reviewer:
    user: str
    role: str
    academy: str | None = None  # scoped to one academy of a trust (safeguard.scope); None: all


# The review page counts failures toward the account's lock only at this many (the CLI at 5):
# a stranger who can reach the login page must not be able to lock the DSL out. Each client is
# throttled instead (Throttle), so one source gets a few tries a minute at most.
WEB_MAX_FAILURES = 50


def sign_in(store: Any, user: str, password: str) -> Reviewer:
    """The reviewer if the password is right, the account not locked, and the role is dsl (or
    slt, for sign-off only)."""
    user = (user or "").strip()
    if not user or not password:
        raise AuthError("enter your user name and password")
    staff = store.verify_staff(user, password, max_failures=WEB_MAX_FAILURES)
    if staff is None:
        raise AuthError(
            "wrong user name or password, or the account is locked "
            "(5 failed attempts lock it for 15 minutes)"
        )
    if staff.role not in SIGN_IN_ROLES:
        raise AuthError(
            f"{staff.user} has the {staff.role} role: only the dsl role may review held images "
            "(and the slt role sign off posts)"
        )
    return Reviewer(staff.user, staff.role, staff.academy)


@dataclass
class Session:
    id: str
    csrf: str
    reviewer: Reviewer | None = None
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)
    flash: str | None = None


class Throttle:
    """Failed sign-ins per client (its address): after FREE failures in a row, each further
    attempt must wait twice as long as the one before (1 s, 2 s, 4 s ... up to MAX_WAIT), and is
    answered at once without a password check until then. A success clears the client. Memory is
    bounded: beyond MAX_CLIENTS the clients seen longest ago are forgotten."""

    FREE = 3
    MAX_WAIT = 300.0
    MAX_CLIENTS = 10_000

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._fails: dict[str, tuple[int, float]] = {}  # client -> (failures, last failure)

    def wait(self, client: str) -> float:
        """Seconds before `client` may try again (0: now)."""
        with self._lock:
            n, last = self._fails.get(client, (0, 0.0))
            if n < self.FREE:
                return 0.0
            delay = min(2.0 ** (n - self.FREE), self.MAX_WAIT)
            return max(0.0, last + delay - self._clock())

    def failed(self, client: str) -> None:
        with self._lock:
            n, _ = self._fails.pop(client, (0, 0.0))
            self._fails[client] = (n + 1, self._clock())
            while len(self._fails) > self.MAX_CLIENTS:
                self._fails.pop(next(iter(self._fails)))

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)


class Sessions:
    """In-memory sessions, safe across the server's threads."""

    def __init__(self, idle: float = IDLE, lifetime: float = LIFETIME) -> None:
        self.idle, self.lifetime = idle, lifetime
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, reviewer: Reviewer | None = None) -> Session:
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), reviewer)
        with self._lock:
            self._expire()
            if len(self._by_id) >= MAX_SESSIONS:
                # anonymous (login-page) sessions go first, then the least recently used
                victims = sorted(
                    self._by_id.values(), key=lambda v: (v.reviewer is not None, v.seen)
                )
                for v in victims[: len(self._by_id) - MAX_SESSIONS + 1]:
                    del self._by_id[v.id]
            self._by_id[s.id] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 100:
            return None
        with self._lock:
            s = self._by_id.get(sid)
            now = time.monotonic()
            if s is None:
                return None
            if now - s.seen > self.idle or now - s.created > self.lifetime:
                del self._by_id[sid]
                return None
            s.seen = now
            return s

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid, s in list(self._by_id.items()):
            if now - s.seen > self.idle or now - s.created > self.lifetime:
                del self._by_id[sid]


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return bool(session and token and secrets.compare_digest(session.csrf, str(token)))

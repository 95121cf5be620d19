"""Who may review: staff accounts live in the consent store (consent_db.staff: argon2 hashes,
every login in the audit log). Wrong passwords slow down the client they came from (its own
address: proxy headers are believed only from the proxies named in `review_trusted_proxies`),
never lock the account (consent_db.throttle). This module only signs staff in through it, keeps
web sessions and CSRF tokens, and checks the role.

Only the DSL role reviews held images: an admin manages staff accounts but does not see who is
on a protected register (need to know). A senior leader (role slt) signs in only to sign off
posts (safeguard.review.signoff), and sees nothing else.

Web sessions are random server-side ids (32 bytes from `secrets`) held in this process's memory:
the cookie carries nothing else, a restart signs everyone out, and a session ends after
`IDLE` without a request or `LIFETIME` in all, and at once when its account is removed or its
role or academy changes (the account's stamp is checked on every request).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from consent_db.throttle import Throttle  # the review app's per-client throttle

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
    stamp: str = ""  # the account's stamp at sign-in: the session ends when it changes


def sign_in(store: Any, user: str, password: str, *, source: str,
            throttle: Throttle | None = None) -> Reviewer:
    """The reviewer if the password is right and the role is dsl (or slt, for sign-off only).
    Raises TooManyTries while `source` (the client) must wait after failures."""
    from consent_db.staff import Throttled

    user = (user or "").strip()
    if not user or not password:
        raise AuthError("enter your user name and password")
    try:
        staff = store.verify_staff(user, password, source=source, throttle=throttle)
    except Throttled as e:
        raise TooManyTries(e.wait) from None
    if staff is None:
        raise AuthError("wrong user name or password")
    if staff.role not in SIGN_IN_ROLES:
        raise AuthError(
            f"{staff.user} has the {staff.role} role: only the dsl role may review held images "
            "(and the slt role sign off posts)"
        )
    return Reviewer(staff.user, staff.role, staff.academy, staff.stamp)


class TooManyTries(AuthError):
    def __init__(self, wait: float) -> None:
        super().__init__(f"too many failed sign-ins from this computer: try again in "
                         f"{int(wait) + 1} s")
        self.wait = wait


@dataclass
class Session:
    id: str
    csrf: str
    reviewer: Reviewer | None = None
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)
    flash: str | None = None


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

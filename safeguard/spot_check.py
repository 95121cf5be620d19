"""Spot checks: a random share of the photos that would be exported is held for the DSL anyway.

Comms staff know whom they photographed. If a photo were held only when a pupil on a register is
in it, a photo of one child, held, would tell them that child is on one. A spot check gives a
hold a cause that has nothing to do with the child, and comms staff see it exactly as any other
hold; the DSL sees "spot check" on the review page and releases it in one click.

The draw must be random to comms staff, and must not change when they ask again:
- A fresh draw per run would let anyone scan one photo again and again until the spot check shows
  itself as the hold that comes and goes. So every draw is keyed with a secret derived from the
  store's key (made by the operating system's CSPRNG; comms staff working through the service
  never hold it): HMAC-SHA256(key, subject), read as a number in [0, 1), below the rate.
- A register child's photos are all held, every one. Were each photo drawn on its own, a comms
  member who photographs one child three times (or saves one photo three times over) would see
  three holds for a register child and almost never for another. So a photo showing a pupil who
  is restricted but not on a register (their face, or their name in the picture) is drawn per
  pupil and per week (`PERIOD_DAYS`): a pupil drawn this week has every photo held this week,
  like a register child; one not drawn has none. More photos of the child in the same week then
  tell nothing more; only more weeks do (benchmarks/bench_hold_inference.py measures how much).
- Any other photo (nobody restricted recognised in it) is drawn once by its content (SHA-256).
Without a key (a Job built by hand, as some tests do) each draw comes fresh from `secrets`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path

LABEL = "spot check"  # what the DSL sees; comms staff never see it
PERIOD_DAYS = 7  # a pupil drawn is drawn for a week (Monday to Sunday)
_SCALE = 2**64


def key_for(home_root: Path) -> bytes:
    """The spot checks' key of the home at `home_root`: derived from the store's key (never the
    key itself), so it lives and dies with the store. safeguard.sealed.SealedError without it."""
    from safeguard.sealed import home_key

    return hmac.new(home_key(Path(home_root)), b"safeguard spot checks v1", hashlib.sha256).digest()


def drawn(rate: float, subject: str | None, key: bytes | None) -> bool:
    """Is `subject` drawn at `rate` (0..1)? The same subject and key draw the same every time;
    without a key or a subject, a fresh draw from `secrets`."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    if key is None or not subject:
        value = secrets.randbits(64)
    else:
        mac = hmac.new(key, subject.encode("utf-8", "replace"), hashlib.sha256).digest()
        value = int.from_bytes(mac[:8], "big")
    return value < rate * _SCALE


def period(day: dt.date) -> str:
    """The week `day` falls in, as the draw names it ("2026-W49")."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def photo_drawn(rate: float, key: bytes | None, photo_sha256: str | None,
                restricted_pupils: Iterable[str], day: dt.date | None = None) -> bool:
    """Is this photo spot-checked? `restricted_pupils`: the pupils recognised in it (by face or by
    name) who are restricted but not on a register. Any of them drawn for the week holds it;
    with none, the photo is drawn by its content."""
    pupils = sorted(set(restricted_pupils))
    if not pupils:
        return drawn(rate, f"photo:{photo_sha256}" if photo_sha256 else None, key)
    week = period(day or dt.date.today())
    return any(drawn(rate, f"pupil:{p}:{week}", key) for p in pupils)

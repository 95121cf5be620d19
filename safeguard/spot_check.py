"""Spot checks: a random share of the photos that would be exported is held for the DSL anyway.

Comms staff know whom they photographed. If a photo were held only when a pupil on a register is
in it, a photo of one child, held, would tell them that child is on one. A spot check gives a
hold a cause that has nothing to do with the child, and comms staff see it exactly as any other
hold; the DSL sees "spot check" on the review page and releases it in one click.

The draw must be random to comms staff, and the same each time the same photo is submitted: a
fresh draw per run would let anyone scan one photo again and again until the spot check shows
itself as the one that comes and goes. So a photo is drawn once, by its content (its SHA-256),
keyed with a secret derived from the store's key (made with the operating system's CSPRNG, which
comms staff working through the service never hold). Without that key (a Job built by hand, as a
test does) each draw comes fresh from `secrets`.

What a spot check cannot hide, measured by benchmarks/bench_hold_inference.py and stated in
docs/threat-model.md: every photo of a register child is held, other photos only at the spot
check rate and the other causes' rate, so many photos of one child still say something.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

LABEL = "spot check"  # what the DSL sees; comms staff never see it
_SCALE = 2**64


def key_for(home_root: Path) -> bytes:
    """The spot checks' key of the home at `home_root`: derived from the store's key (never the
    key itself), so it lives and dies with the store. safeguard.sealed.SealedError without it."""
    from safeguard.sealed import home_key

    return hmac.new(home_key(Path(home_root)), b"safeguard spot checks v1", hashlib.sha256).digest()


def drawn(rate: float, photo_sha256: str | None, key: bytes | None) -> bool:
    """Is the photo with this content hash spot-checked at `rate` (0..1)?

    Keyed: HMAC-SHA256(key, hash), read as a number in [0, 1), below `rate`; the same photo is
    drawn the same every time. Without a key or a hash: a fresh draw from `secrets`."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    if key is None or not photo_sha256:
        value = secrets.randbits(64)
    else:
        mac = hmac.new(key, photo_sha256.encode("ascii", "replace"), hashlib.sha256).digest()
        value = int.from_bytes(mac[:8], "big")
    return value < rate * _SCALE

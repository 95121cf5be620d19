"""A held clip is sealed from its file a megabyte at a time (never read into memory whole), in the
same sealed format as any held original: it reads back exactly, and moved or altered it does not
open."""

from __future__ import annotations

import os

import pytest

from safeguard import sealed
from safeguard.held import HeldError, HeldQueue

KEY = bytes(range(32))


def test_a_file_sealed_in_pieces_reads_back_as_the_file(tmp_path):
    clip = tmp_path / "clip.mp4"
    data = os.urandom(3 * (1 << 20) + 12345)  # more than one piece, and a part of one
    clip.write_bytes(data)
    queue = HeldQueue(tmp_path / "held", key=KEY)
    held_id = queue.hold_file(clip, {"input": "clip.mp4", "kind": "video"})
    assert queue.original(held_id) == data
    assert queue.record(held_id)["kind"] == "video"
    stored = queue.path(held_id) / "original"
    assert sealed.is_sealed(stored) and data[:4096] not in stored.read_bytes()
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in queue.path(held_id).iterdir() if p.name.startswith(".")] == []


def test_a_file_sealed_in_pieces_does_not_open_altered_or_moved(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"a clip" * 1000)
    out = tmp_path / "sealed"
    sealed.write_from(out, clip, KEY, "held/x/original", chunk=1000)
    assert sealed.read(out, KEY, "held/x/original") == clip.read_bytes()
    with pytest.raises(sealed.SealedError):
        sealed.read(out, KEY, "held/y/original")
    raw = bytearray(out.read_bytes())
    raw[-40] ^= 1
    out.write_bytes(bytes(raw))
    with pytest.raises((sealed.SealedError, HeldError)):
        sealed.read(out, KEY, "held/x/original")

"""The claim/commit steps of the watched folder, each checked as a crash would leave it: every
step can be repeated without losing the photo or making a second copy."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from support.helpers import new_home
from support.watch_helpers import faceless_jpeg

from safeguard.held import HeldQueue
from safeguard.watch import (
    claim_file,
    hold,
    load_claim,
    publish,
    read_outcome,
    record_outcome,
    reject,
    release,
    release_back,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture
def area(tmp_path):
    inbox, processing = tmp_path / "inbox", tmp_path / "home" / "processing"
    inbox.mkdir()
    processing.mkdir(parents=True)
    return inbox, processing


def test_a_claim_moves_the_file_atomically_and_records_its_content(area):
    inbox, processing = area
    data = faceless_jpeg(1)
    (inbox / "a.jpg").write_bytes(data)
    ino = (inbox / "a.jpg").stat().st_ino
    claim = claim_file(inbox, "a.jpg", processing)
    assert not (inbox / "a.jpg").exists()
    assert claim.input.read_bytes() == data and claim.input.stat().st_ino == ino  # renamed
    import hashlib

    assert claim.sha256 == hashlib.sha256(data).hexdigest()
    assert json.loads((claim.dir / "claim.json").read_text())["rel"] == "a.jpg"
    assert claim_file(inbox, "gone.jpg", processing) is None
    assert [d.name for d in processing.iterdir()] == [claim.id]  # nothing left for "gone"


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem")
def test_an_inbox_on_another_filesystem_is_copied_then_removed(tmp_path):
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        inbox = Path(shm)
        if os.stat(inbox).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the same filesystem here")
        data = faceless_jpeg(2)
        (inbox / "b.jpg").write_bytes(data)
        claim = claim_file(inbox, "b.jpg", tmp_path)
        assert claim.input.read_bytes() == data
        assert not (inbox / "b.jpg").exists()
        assert not list(claim.input.parent.glob(".partial-*"))
        # Giving it back across filesystems is refused: it stays claimed (and is resumed).
        assert release_back(claim, inbox) is False
        assert claim.input.exists()


def test_what_a_crash_leaves_is_read_back_or_cleared(area):
    _, processing = area
    # Crashed before the rename: an empty claim folder; the photo never left the inbox.
    (processing / "20250101T000000000000-aaaaaa" / "in").mkdir(parents=True)
    # Crashed during a cross-filesystem copy: only a partial copy.
    part = processing / "20250101T000000000001-bbbbbb" / "in"
    part.mkdir(parents=True)
    (part / ".partial-x.jpg").write_bytes(b"half")
    # Crashed after the rename, before claim.json.
    moved = processing / "20250101T000000000002-cccccc" / "in"
    moved.mkdir(parents=True)
    (moved / "y.jpg").write_bytes(faceless_jpeg(3))
    assert load_claim(processing / "20250101T000000000000-aaaaaa") is None
    assert load_claim(processing / "20250101T000000000001-bbbbbb") is None
    claim = load_claim(processing / "20250101T000000000002-cccccc")
    assert claim is not None and claim.rel == "y.jpg" and claim.sha256
    assert sorted(d.name for d in processing.iterdir()) == ["20250101T000000000002-cccccc"]
    assert read_outcome(claim) is None  # not decided: it is processed again


def test_publishing_twice_leaves_one_copy(tmp_path):
    staged = tmp_path / "out" / "photo.jpg"
    staged.parent.mkdir()
    staged.write_bytes(b"clean bytes")
    ready = tmp_path / "ready"
    first = publish(staged, ready, "t")
    again = publish(staged, ready, "t")  # the commit repeated after a crash
    assert first == again == ready / "photo.jpg"
    other = tmp_path / "out2" / "photo.jpg"
    other.parent.mkdir()
    other.write_bytes(b"another photo with the same name")
    assert publish(other, ready, "t") == ready / "photo-2.jpg"
    assert publish(staged, ready, "t") == ready / "photo.jpg"
    assert sorted(p.name for p in ready.iterdir()) == ["photo-2.jpg", "photo.jpg"]  # no temps


def test_rejecting_and_holding_twice_leaves_one_record(area, tmp_path):
    inbox, processing = area
    (inbox / "c.jpg").write_bytes(b"not a photo")
    claim = claim_file(inbox, "c.jpg", processing)
    rejected = tmp_path / "home" / "rejected"
    assert reject(claim, "not a recognised image", rejected, {}) == claim.id
    assert reject(claim, "not a recognised image", rejected, {}) == claim.id
    [entry] = [d for d in rejected.iterdir()]
    assert (entry / "original").read_bytes() == b"not a photo"
    assert json.loads((entry / "reason.json").read_text())["reason"] == "not a recognised image"

    (inbox / "d.jpg").write_bytes(faceless_jpeg(4))
    claim = claim_file(inbox, "d.jpg", processing)
    held = new_home(tmp_path / "home").held_dir  # held photos are sealed with the home's key
    first = hold(claim, {"faces": []}, held, recovering=False)
    assert hold(claim, {"faces": []}, held, recovering=True) == first  # found, not held again
    assert HeldQueue(held).ids() == [first]
    assert HeldQueue(held).original(first) == (claim.input).read_bytes()


def test_release_is_last_and_atomic(area):
    inbox, processing = area
    (inbox / "e.jpg").write_bytes(faceless_jpeg(5))
    claim = claim_file(inbox, "e.jpg", processing)
    record_outcome(claim, {"status": "exported", "staged": "e.jpg"})
    assert read_outcome(claim)["status"] == "exported"
    release(claim)
    assert list(processing.iterdir()) == []


def test_an_unfinished_claim_can_be_given_back(area):
    inbox, processing = area
    data = faceless_jpeg(6)
    (inbox / "sub").mkdir()
    (inbox / "sub" / "f.jpg").write_bytes(data)
    claim = claim_file(inbox, "sub/f.jpg", processing)
    assert release_back(claim, inbox)
    assert (inbox / "sub" / "f.jpg").read_bytes() == data
    assert list(processing.iterdir()) == []
    # If the name was taken meanwhile, the claim stays (nothing is overwritten).
    claim = claim_file(inbox, "sub/f.jpg", processing)
    (inbox / "sub" / "f.jpg").write_bytes(b"new")
    assert not release_back(claim, inbox)
    assert claim.input.read_bytes() == data
    shutil.rmtree(claim.dir)

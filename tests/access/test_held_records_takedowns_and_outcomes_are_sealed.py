"""Held originals, their records (`held/<id>/record.json`: pupil id, register), the
takedown list and the watcher's decided outcomes are sealed with a key derived from the store's
key (safeguard/sealed.py). A copy of the home without the key reveals none of them; a sealed file
moved to another item does not open; with the key the DSL's tools read them as before."""

from __future__ import annotations

import shutil

import pytest
from conftest import build_demo_home
from support.helpers import json_lines, run_cli
from support.watch_helpers import run_once

from safeguard import sealed, takedown
from safeguard.held import HeldError, HeldQueue

pytestmark = pytest.mark.model

SECRETS = (b"P001", b"Ada Example", b"register", b"no consent")  # long enough not to turn up by chance in ciphertext


def _files(folder):
    return [p for p in folder.rglob("*") if p.is_file()]


def test_held_originals_and_records_are_sealed(tmp_path, photos, reference_encodings):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    r = run_cli("--home", home.root, "blur", photos / "visit.jpg", "--out", tmp_path / "out",
                "--json", "--jobs", "1")
    [res] = json_lines(r.stdout)
    held_id = res["held_id"]
    q = HeldQueue(home.held_dir)
    photo = (photos / "visit.jpg").read_bytes()
    # on disk: sealed, no name, no register, not the photo
    for f in _files(home.held_dir / held_id):
        raw = f.read_bytes()
        assert sealed.is_sealed(f), f
        assert not any(s in raw for s in SECRETS), f
        assert photo[:4096] not in raw
    # with the key, as before
    assert q.original(held_id) == photo
    assert any(face["pupil"] == "P001" for face in q.record(held_id)["faces"])
    # moved to another id, it does not open
    other = home.held_dir / "20000101-000000000000"
    shutil.copytree(home.held_dir / held_id, other)
    with pytest.raises(HeldError):
        q.record(other.name)
    # without the key nothing is held, and the photo is not exported either (fail closed)
    (home.keys_dir / "store.key").rename(tmp_path / "store.key")
    with pytest.raises(HeldError):
        HeldQueue(home.held_dir).hold(b"photo", {"faces": []})


def test_takedown_items_are_sealed(tmp_path, reference_encodings):
    home = build_demo_home(tmp_path / "home", reference_encodings)
    item_id = takedown.add(home, "P001", "protected register added",
                           [{"path": "/srv/web/ada.jpg", "box": [1, 2, 3, 4], "distance": 0.3}])
    [f] = _files(takedown.folder(home))
    raw = f.read_bytes()
    assert sealed.is_sealed(f) and b"P001" not in raw and b"ada.jpg" not in raw
    assert takedown.get(home, item_id)["pupil"] == "P001"
    assert takedown.close(home, item_id, by="test-dsl")["state"] == "closed"
    assert sealed.is_sealed(f) and b"test-dsl" not in f.read_bytes()


def test_the_watchers_outcome_of_a_held_photo_is_sealed(tmp_path, photos, reference_encodings):
    """A crash between the decision and the hold leaves outcome.json (who was in the photo) in
    the claim: sealed. Recovery still finishes the hold."""
    from safeguard.watch import Claim, read_outcome, record_outcome

    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    key = sealed.home_key(home.root)
    claim_dir = tmp_path / "claim"
    claim_dir.mkdir()
    claim = Claim(id="c1", dir=claim_dir, rel="visit.jpg", sha256=None, size=1, mtime_ns=1)
    rec = {"status": "held", "dsl": {"faces": [{"pupil": "P001", "reason": "CP register"}]}}
    with pytest.raises(sealed.SealedError):
        record_outcome(claim, rec)  # never written in the clear
    record_outcome(claim, rec, key)
    raw = (claim_dir / "outcome.json").read_bytes()
    assert b"P001" not in raw and b"CP register" not in raw
    assert read_outcome(claim, key) == rec
    # end to end: a held photo through the watcher leaves nothing readable behind
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    shutil.copy(photos / "visit.jpg", inbox / "visit.jpg")
    r = run_once(home.root, inbox, ready, "--settle", "0.1", "--jobs", "1")
    assert r.returncode in (0, 3), r.stderr
    [held_id] = HeldQueue(home.held_dir).ids()
    assert HeldQueue(home.held_dir).record(held_id)["watch_claim"]
    for f in _files(home.held_dir):
        assert not any(s in f.read_bytes() for s in SECRETS)

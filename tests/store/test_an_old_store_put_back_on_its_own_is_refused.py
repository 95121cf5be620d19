"""Rollback: store.json put back from an old copy on its own (a consent withdrawn
since would be forgotten, and a withdrawn pupil published) is refused at its first read, as is a
store whose record of its last write (store.gen, sealed with a key derived from the store's) was
removed. A whole home put back from one backup is consistent and opens."""

from __future__ import annotations

import shutil

import pytest
from support.helpers import new_home, open_store, run_cli

from consent_db import ConsentStore, StoreError

pytestmark = pytest.mark.model


def test_an_old_store_json_put_back_alone_is_refused(tmp_path, photos):
    home = new_home(tmp_path / "home")
    store = open_store(home)
    store.add_pupil("P001", "Ada Example", consents={"social": True}, actor="test-dsl")
    old = (home.store_dir / "store.json").read_bytes()
    backup = tmp_path / "backup"
    shutil.copytree(home.root, backup)
    store.withdraw_consent("P001", "social", by="Parent", actor="test-dsl")
    (home.store_dir / "store.json").write_bytes(old)  # the withdrawal "undone" by a file copy
    with pytest.raises(StoreError, match="older than the store's last write"):
        ConsentStore.open(home).match_matrix("social")
    r = run_cli("--home", home.root, "blur", photos / "visit.jpg", "--out", tmp_path / "out")
    assert r.exit_code == 1 and "older than" in r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # without its record of the last write, it is refused too
    (home.store_dir / "store.gen").unlink()
    with pytest.raises(StoreError, match="store.gen is missing"):
        ConsentStore.open(home).pupils()
    # the whole home from one backup is consistent
    shutil.rmtree(home.root)
    shutil.copytree(backup, home.root)
    assert ConsentStore.open(home).get_pupil("P001")["consents"]["social"]["state"] == "granted"

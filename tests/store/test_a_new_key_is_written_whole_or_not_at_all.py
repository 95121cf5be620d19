"""A new encryption key (consent_db.crypto.create_key, through consent_db.storage.create_exclusive)
is written whole or not at all: a crash part-way leaves no key file (not an empty one that
would have to be removed by hand before the store could be made), and an existing key, or
anything else at its name, is never overwritten."""

from __future__ import annotations

import os
import stat

import pytest

from consent_db import storage
from consent_db.crypto import create_key, load_key


def test_a_new_key_is_complete_and_owner_only(tmp_path):
    path = tmp_path / "keys" / "store.key"
    key = create_key(path)
    assert load_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.key"]


def test_a_crash_while_writing_leaves_no_key_file(tmp_path, monkeypatch):
    path = tmp_path / "store.key"

    def power_cut(fd, data):
        raise OSError(5, "Input/output error")  # the write never finishes

    monkeypatch.setattr(storage.os, "write", power_cut)
    with pytest.raises(OSError):
        create_key(path)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # no empty key, no temp file
    key = create_key(path)  # so the next run makes one
    assert load_key(path) == key


def test_an_existing_key_is_never_overwritten(tmp_path):
    path = tmp_path / "store.key"
    key = create_key(path)
    with pytest.raises(FileExistsError):
        create_key(path)
    assert load_key(path) == key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.key"]


def test_a_link_at_the_key_path_is_not_written_through(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"someone else's file")
    path = tmp_path / "store.key"
    path.symlink_to(target)
    with pytest.raises(FileExistsError):
        create_key(path)
    assert target.read_bytes() == b"someone else's file"
    dangling = tmp_path / "index.key"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        create_key(dangling)
    assert not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", "index.key",
                                                          "store.key"]
    assert os.readlink(dangling) == str(tmp_path / "nowhere")

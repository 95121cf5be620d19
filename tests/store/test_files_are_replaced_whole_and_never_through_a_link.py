"""The one writer of files replaced in place (consent_db.storage.atomic_write_bytes: the store,
its keys and records, the watcher's ledger and status, the text model's cache) leaves the old
file or the new one, never writes through a link, and leaves no temp file behind."""

from __future__ import annotations

import os
import stat

import pytest

from consent_db.storage import atomic_write_bytes


def test_a_file_is_replaced_whole_and_owner_only(tmp_path):
    path = tmp_path / "store.json"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    atomic_write_bytes(path, b"new" * 100_000)
    assert path.read_bytes() == b"new" * 100_000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.json"]


def test_a_link_at_the_path_is_replaced_not_written_through(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"someone else's file")
    link = tmp_path / "status.txt"
    link.symlink_to(target)
    atomic_write_bytes(link, b"status", mode=0o644)
    assert target.read_bytes() == b"someone else's file"
    assert not link.is_symlink() and link.read_bytes() == b"status"


def test_a_linked_folder_is_refused_when_links_must_not_be_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    inbox = tmp_path / "inbox"
    inbox.symlink_to(real, target_is_directory=True)
    atomic_write_bytes(inbox / "a.txt", b"ok")  # the store's folders may be reached by a link
    with pytest.raises(OSError):
        atomic_write_bytes(inbox / "b.txt", b"no", follow_links=False)
    assert sorted(p.name for p in real.iterdir()) == ["a.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # fails after the temp file is made
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.json"]

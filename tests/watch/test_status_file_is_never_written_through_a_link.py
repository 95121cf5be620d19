"""An inbox user could point INBOX/_safeguard-status.txt (or its temp file)
at any file the watcher can write, such as the store's key, and the watcher appended to it or
replaced it. The status log now lives under the home; the inbox gets a copy written to a new file
that is never a link, renamed over whatever stood at the status file's name."""

import os

import pytest
from conftest import SAMPLES
from support.watch_helpers import drop, resized_jpeg, run_once

from safeguard.watch import STATUS_FILE

pytestmark = pytest.mark.model


def test_links_planted_in_the_inbox_are_replaced_not_written_through(demo_home, tmp_path):
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    victim = tmp_path / "victim.key"  # stands for HOME/keys/store.key, which the watcher can write
    victim.write_bytes(b"SECRET KEY MATERIAL\n")
    os.symlink(victim, inbox / STATUS_FILE)
    # the old fixed temp name, and a link to a folder the watcher may write
    os.symlink(victim, inbox / ("." + STATUS_FILE + ".tmp"))
    drop(inbox, "trip.jpg", resized_jpeg(SAMPLES / "photos" / "visit.jpg", 400))
    r = run_once(demo_home.root, inbox, ready, "--settle", "0.2", "--jobs", "1")
    assert r.returncode in (0, 3), r.stderr
    assert victim.read_bytes() == b"SECRET KEY MATERIAL\n"
    status = inbox / STATUS_FILE
    assert not status.is_symlink() and status.is_file()
    assert "trip.jpg" in status.read_text()
    # the log itself is kept under the home, owner-only
    [master] = list(demo_home.root.glob("watch/*/status.txt")) or list(
        demo_home.root.rglob("status.txt"))
    assert oct(master.stat().st_mode & 0o777) == "0o600"
    assert "trip.jpg" in master.read_text()

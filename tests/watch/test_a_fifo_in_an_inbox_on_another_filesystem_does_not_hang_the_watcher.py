"""With the inbox on another filesystem than the home (an SMB or NFS mount), a claim
copies the file across; a FIFO dropped in the inbox made that copy's open() wait for a writer for
good, and the watcher ignored SIGTERM. The copy never blocks now: the FIFO is rejected with a
reason and the photos beside it are processed."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import SAMPLES
from support.watch_helpers import drop, resized_jpeg, run_once, status_lines

pytestmark = pytest.mark.model


@pytest.fixture
def other_fs_inbox(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) to put the inbox on")
    d = Path(tempfile.mkdtemp(prefix="safeguard-inbox-", dir=shm))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_fifo_is_rejected_and_the_photo_beside_it_processed(demo_home, other_fs_inbox,
                                                               tmp_path):
    inbox, ready = other_fs_inbox, tmp_path / "ready"
    os.mkfifo(inbox / "pipe.jpg")
    drop(inbox, "trip.jpg", resized_jpeg(SAMPLES / "photos" / "visit.jpg", 400))
    r = run_once(demo_home.root, inbox, ready, "--settle", "0.2", "--give-up", "1", "--jobs", "1",
                 timeout=180)  # hung for good before
    assert r.returncode in (3, 4, 5), r.stderr
    assert [p.name for p in ready.iterdir()] == ["trip.jpg"]
    lines = status_lines(inbox)
    assert any("pipe.jpg" in line and "rejected" in line for line in lines), lines
    assert not (inbox / "pipe.jpg").exists()

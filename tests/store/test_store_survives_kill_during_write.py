"""kill -9 during writes: the store still opens, with every record whose write had returned."""

import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from support.helpers import open_store
from support.store_fixtures import make_home, popen_python

pytestmark = pytest.mark.slow

WRITER = """
import sys, datetime as dt
import numpy as np
from pathlib import Path
from consent_db import ConsentStore
from safeguard.home import Home
store = ConsentStore.open(Home(Path(sys.argv[1])))
i = int(sys.argv[2])
while True:
    pid = f"K{i:05d}"
    store.add_pupil(pid, f"Pupil {i}", biometric_consent=True)
    store.enrol(pid, [np.full(128, i % 97 / 100, np.float32)], [dt.date(2025, 1, 1)])
    print(pid, flush=True)  # committed: add_pupil and enrol have returned
    i += 1
"""


def test_store_survives_kill_during_write(tmp_path: Path):
    home = make_home(tmp_path)
    open_store(home)
    rng = random.Random(7)
    committed: list[str] = []
    for round_ in range(3):
        p = popen_python(WRITER, str(home.root), str(round_ * 10_000))
        # let it commit a few records, then kill it at an arbitrary point of a later write
        for _ in range(3 + rng.randrange(6)):
            line = p.stdout.readline()
            assert line, p.stderr.read()
            committed.append(line.strip())
        time.sleep(rng.random() * 0.03)  # land anywhere in the next write
        os.kill(p.pid, signal.SIGKILL)
        out, _err = p.communicate(timeout=30)
        committed += out.split()
        store = open_store(home)  # reopen from disk, as the next process would
        ids = {q["id"] for q in store.pupils()}
        missing = [c for c in committed if c not in ids]
        assert not missing, f"lost committed records after kill -9: {missing[:5]}"
    store = open_store(home)
    m = store.match_matrix("social")
    assert set(committed) <= set(m.pupil_ids)  # every committed encoding is there and decrypts
    assert np.isfinite(m.encodings).all()
    assert store.audit.verify().ok
    # and the store still takes writes after the crashes
    store.add_pupil("AFTER", "After the crash")
    assert store.get_pupil("AFTER") is not None


BIG = """
import sys
from pathlib import Path
from consent_db import ConsentStore
from safeguard.home import Home
store = ConsentStore.open(Home(Path(sys.argv[1])))
print("go", flush=True)
with store.batch():  # one big transaction: the kill lands in building or writing it
    for i in range(3000):
        store.add_pupil(f"B{i:05d}", f"Batch {i}", consents={"social": True})
print("committed", flush=True)
"""


def test_kill_during_a_large_commit_leaves_the_old_store(tmp_path: Path):
    home = make_home(tmp_path)
    store = open_store(home)
    store.add_pupil("KEEP", "Committed before", biometric_consent=True)
    for delay in (0.2, 0.6):
        p = popen_python(BIG, str(home.root))
        assert p.stdout.readline().strip() == "go"
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        out, _ = p.communicate(timeout=30)
        ids = {q["id"] for q in open_store(home).pupils()}
        assert "KEEP" in ids
        # all of the batch or none of it, never part
        assert len(ids) in (1, 3001) if "committed" not in out else len(ids) == 3001
        if len(ids) == 3001:
            break
    assert open_store(home).audit.verify().ok

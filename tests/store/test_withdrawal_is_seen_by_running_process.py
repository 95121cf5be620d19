"""A long-running process (the watcher) sees a consent withdrawal made by another process on
its next read: no cache survives between reads."""

import time
from pathlib import Path

import pytest
from support.helpers import open_store
from support.store_fixtures import make_home, popen_python, vec

pytestmark = pytest.mark.slow

WATCHER = """
import sys, time
from pathlib import Path
from consent_db import ConsentStore
from safeguard.home import Home
store = ConsentStore.open(Home(Path(sys.argv[1])))
print("ready", flush=True)
deadline = time.time() + 30
while time.time() < deadline:
    m = store.match_matrix("social")
    i = m.pupil_ids.index("P001")
    if m.restricted[i]:
        print("restricted:", m.reasons[i], flush=True)
        break
    time.sleep(0.05)
"""


def test_withdrawal_is_seen_by_running_process(tmp_path: Path):
    home = make_home(tmp_path)
    store = open_store(home)
    store.add_pupil("P001", "Ada", consents={"social": True}, biometric_consent=True)
    store.enrol("P001", [vec(1)], [time.localtime and __import__("datetime").date.today()])
    p = popen_python(WATCHER, str(home.root))
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # the watcher has built at least one matrix with consent in place
    assert p.poll() is None, "the watcher saw a restriction before the withdrawal"
    store.withdraw_consent("P001", "social", by="parent")
    out, err = p.communicate(timeout=30)
    assert "restricted: consent for social withdrawn" in out, err

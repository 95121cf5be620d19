"""Four real processes adding 250 pupils each through the store lose none, and the audit log
has one intact entry per add."""

from pathlib import Path

import pytest
from support.store_fixtures import make_home, popen_python

from consent_db import ConsentStore

pytestmark = pytest.mark.slow

WRITER = """
import sys
from pathlib import Path
from consent_db import ConsentStore
from safeguard.home import Home
store = ConsentStore.open(Home(Path(sys.argv[1])))
w = int(sys.argv[2])
for i in range(250):
    store.add_pupil(f"W{w}-{i:03d}", f"Writer {w} pupil {i}", consents={"social": i % 2 == 0},
                    actor=f"writer{w}")
print("done")
"""


def test_four_processes_lose_no_records(tmp_path: Path):
    home = make_home(tmp_path)
    ConsentStore.open(home, create=True)  # create first so the writers race on records, not on creation
    procs = [popen_python(WRITER, str(home.root), str(w)) for w in range(4)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = ConsentStore.open(home, create=True)
    ids = {p["id"] for p in store.pupils()}
    assert len(ids) == 1000
    assert ids == {f"W{w}-{i:03d}" for w in range(4) for i in range(250)}
    result = store.audit.verify()
    assert result.ok, result.problems
    assert result.entries == 1000

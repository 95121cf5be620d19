"""Staff accounts: argon2 passwords; five failures lock the account for 15 minutes, in every
process, because the counter lives in the store."""

import datetime as dt
import json

import pytest
from support.store_fixtures import make_home, run_python

from consent_db import ConsentStore

pytestmark = pytest.mark.slow

FAIL = """
import sys
from pathlib import Path
from consent_db import ConsentStore
from safeguard.home import Home
s = ConsentStore.open(Home(Path(sys.argv[1])))
print([s.verify_staff("dsl1", "wrong password") for _ in range(int(sys.argv[2]))])
"""


def test_staff_lockout_holds_across_processes(tmp_path):
    home = make_home(tmp_path)
    s = ConsentStore.open(home, create=True)
    s.add_staff("dsl1", "dsl", "correct horse battery", actor="head")
    assert s.verify_staff("dsl1", "correct horse battery").is_dsl
    assert "correct horse" not in json.dumps(s._storage.read())  # only the argon2 hash, decrypted
    for n in (2, 3):  # 5 failures spread over two other processes
        r = run_python(FAIL, str(home.root), str(n))
        assert r.returncode == 0, r.stderr
    assert s.verify_staff("dsl1", "correct horse battery") is None  # locked, right password
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    assert s.verify_staff("dsl1", "correct horse battery", now=later) is not None
    actions = [e["action"] for e in s.audit.entries(pupil="dsl1")]
    assert "staff.locked" in actions and "staff.login_refused" in actions


def test_success_resets_the_failure_count(tmp_path):
    s = ConsentStore.open(make_home(tmp_path), create=True)
    s.add_staff("admin1", "admin", "another long one", actor="head")
    for _ in range(4):
        assert s.verify_staff("admin1", "nope") is None
    assert s.verify_staff("admin1", "another long one").role == "admin"
    for _ in range(4):
        s.verify_staff("admin1", "nope")
    assert s.verify_staff("admin1", "another long one") is not None
    s.remove_staff("admin1", actor="head")
    assert s.list_staff() == []

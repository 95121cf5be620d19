"""Staff accounts: argon2 passwords; wrong passwords slow down the OS user (or client) they came
from, never lock the account. At the command line every try is its own process, so the count
lives in the store and holds across processes."""

import datetime as dt
import json

import pytest
from support.store_fixtures import make_home, run_python

from consent_db import ConsentStore
from consent_db.staff import Throttled
from consent_db.throttle import FREE

pytestmark = pytest.mark.slow

FAIL = """
import sys
from pathlib import Path
from consent_db import ConsentStore
from safeguard.home import Home
s = ConsentStore.open(Home(Path(sys.argv[1])))
print([s.verify_staff("dsl1", "wrong password") for _ in range(int(sys.argv[2]))])
"""


def test_failures_from_this_os_user_in_other_processes_make_it_wait(tmp_path):
    home = make_home(tmp_path)
    s = ConsentStore.open(home, create=True)
    s.add_staff("dsl1", "dsl", "correct horse battery", actor="head")
    assert s.verify_staff("dsl1", "correct horse battery").is_dsl
    assert "correct horse" not in json.dumps(s._storage.read())  # only the argon2 hash, decrypted
    for n in (1, FREE - 1):  # FREE failures spread over two other processes of this OS user
        r = run_python(FAIL, str(home.root), str(n))
        assert r.returncode == 0, r.stderr
    with pytest.raises(Throttled, match="try again in"):
        s.verify_staff("dsl1", "correct horse battery")  # this source waits, right password or not
    # the account is not locked: the right password from another source is taken at once
    assert s.verify_staff("dsl1", "correct horse battery", source="uid:4242").is_dsl
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    assert s.verify_staff("dsl1", "correct horse battery", now=later) is not None
    actions = [e["action"] for e in s.audit.entries(pupil="dsl1")]
    assert "staff.throttled" in actions and "staff.locked" not in actions


def test_an_admin_unlock_clears_the_wait_and_is_audited(tmp_path):
    s = ConsentStore.open(make_home(tmp_path), create=True)
    s.add_staff("admin1", "admin", "another long one", actor="head")
    for _ in range(FREE):
        assert s.verify_staff("admin1", "nope") is None
    with pytest.raises(Throttled):
        s.verify_staff("admin1", "another long one")
    assert s.unlock_staff("admin1", actor="head") == 1
    assert s.verify_staff("admin1", "another long one").role == "admin"
    assert "staff.unlock" in [e["action"] for e in s.audit.entries(pupil="admin1")]


def test_success_clears_the_source(tmp_path):
    s = ConsentStore.open(make_home(tmp_path), create=True)
    s.add_staff("admin1", "admin", "another long one", actor="head")
    for _ in range(FREE - 1):
        assert s.verify_staff("admin1", "nope") is None
    assert s.verify_staff("admin1", "another long one").role == "admin"
    for _ in range(FREE - 1):
        s.verify_staff("admin1", "nope")
    assert s.verify_staff("admin1", "another long one") is not None
    s.remove_staff("admin1", actor="head")
    assert s.list_staff() == []

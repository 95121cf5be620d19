"""An insider cuts audit.jsonl short (to hide what they did), with or without the head file, or
puts back an older log and head, and then signs in so that the next append would rewrite the
head to match. `audit verify` must still report the cut (exit 7): an append continues from the
sealed head or the sealed store's record, never from the log's tail alone, and verify checks
both, and a head digest noted off the machine."""

import shutil

import pytest
from click.testing import CliRunner
from support.helpers import TEST_PASSWORD, open_store
from support.store_fixtures import make_home

from safeguard.cli import cli
from safeguard.exitcodes import ExitStatus


@pytest.fixture
def home(tmp_path):
    home = make_home(tmp_path)
    store = open_store(home)
    for i in range(30):
        store.add_pupil(f"P{i:03}", f"Pupil {i}", consents={"social": True}, actor="test-setup")
    return home


def _cli(home, *args):
    return CliRunner().invoke(cli, ["--home", str(home.root), *args])


def _sign_in(home, times=1):
    store = open_store(home)
    for _ in range(times):
        assert store.verify_staff("test-dsl", TEST_PASSWORD) is not None


def _cut(home, keep):
    log = home.store_dir / "audit.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:keep]))


def _verify(home, *extra):
    r = _cli(home, "audit", "verify", *extra)
    return r.exit_code, r.output


def test_a_cut_log_then_a_sign_in_is_still_reported(home):
    _cut(home, 20)
    _sign_in(home, 3)
    code, out = _verify(home)
    assert code == ExitStatus.AUDIT_BROKEN and "BROKEN" in out, out


def test_a_cut_log_with_its_head_deleted_then_a_sign_in_is_still_reported(home):
    _cut(home, 20)
    (home.store_dir / "audit.head").unlink()
    _sign_in(home, 2)
    code, out = _verify(home)
    assert code == ExitStatus.AUDIT_BROKEN and "BROKEN" in out, out


def test_an_older_log_and_head_put_back_are_reported(home, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    for name in ("audit.jsonl", "audit.head"):
        shutil.copy2(home.store_dir / name, old / name)
    store = open_store(home)
    for i in range(5):
        store.add_pupil(f"Q{i}", f"Later {i}", actor="test-setup")
    for name in ("audit.jsonl", "audit.head"):
        shutil.copy2(old / name, home.store_dir / name)
    code, out = _verify(home)
    assert code == ExitStatus.AUDIT_BROKEN and "BROKEN" in out, out
    _sign_in(home)
    code, out = _verify(home)
    assert code == ExitStatus.AUDIT_BROKEN and "BROKEN" in out, out


def test_an_older_head_alone_put_back_is_reported(home, tmp_path):
    saved = (home.store_dir / "audit.head").read_bytes()
    store = open_store(home)
    for i in range(3):
        store.add_pupil(f"Q{i}", f"Later {i}", actor="test-setup")
    (home.store_dir / "audit.head").write_bytes(saved)
    r = open_store(home).audit.verify()  # (a sign-in would append past it: nothing was hidden)
    assert not r.ok and any("older" in p for p in r.problems), r.problems


def test_a_head_digest_noted_elsewhere_catches_a_whole_home_put_back(home, tmp_path):
    backup = tmp_path / "backup"
    shutil.copytree(home.root, backup)
    store = open_store(home)
    store.add_pupil("Q1", "Later", actor="test-setup")
    r = _cli(home, "audit", "head")
    assert r.exit_code == 0, r.output
    digest = r.output.split()[-1]
    assert _verify(home, "--head", digest)[0] == 0
    shutil.rmtree(home.root)
    shutil.copytree(backup, home.root)  # the whole home from one older copy: consistent
    assert _verify(home)[0] == 0
    code, out = _verify(home, "--head", digest)
    assert code == ExitStatus.AUDIT_BROKEN and "BROKEN" in out, out

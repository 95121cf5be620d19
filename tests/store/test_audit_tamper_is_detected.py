"""The audit log is hash-chained: editing, deleting or cutting off entries is detected."""

import json

import pytest
from click.testing import CliRunner
from support.helpers import open_store
from support.store_fixtures import make_home, make_store, vec

from consent_db.audit import AuditError
from safeguard.cli import cli
from safeguard.exitcodes import ExitStatus

pytestmark = pytest.mark.model


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    for i in range(5):
        s.add_pupil(f"P{i}", f"Pupil {i}", consents={"social": True}, actor="office")
    return s


def _lines(store):
    return store.audit.path.read_text().splitlines(keepends=True)


def test_untouched_log_verifies(store):
    r = store.audit.verify()
    assert r.ok and r.entries == 5


def test_edited_entry_is_detected(store):
    lines = _lines(store)
    e = json.loads(lines[2])
    e["actor"] = "someone else"
    lines[2] = json.dumps(e) + "\n"
    store.audit.path.write_text("".join(lines))
    r = store.audit.verify()
    assert not r.ok and any("seq 3" in p for p in r.problems)


def test_deleted_entry_is_detected(store):
    lines = _lines(store)
    del lines[1]
    store.audit.path.write_text("".join(lines))
    assert not store.audit.verify().ok


def test_cut_off_end_is_detected(store):
    store.audit.path.write_text("".join(_lines(store)[:-2]))
    r = store.audit.verify()
    assert not r.ok and any("cut" in p for p in r.problems)


def test_cli_audit_verify_exit_code(store, tmp_path):
    open_store(make_home(tmp_path))  # the staff accounts the CLI signs in with
    runner = CliRunner()
    home = str(tmp_path / "home")
    ok = runner.invoke(cli, ["--home", home, "audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output
    lines = _lines(store)
    lines[0] = lines[0].replace("office", "nobody")
    store.audit.path.write_text("".join(lines))
    bad = runner.invoke(cli, ["--home", home, "audit", "verify"])
    assert bad.exit_code == ExitStatus.AUDIT_BROKEN and "TAMPERED" in bad.output


def test_no_biometric_data_in_the_log(store):
    store.add_pupil("B1", "Bio Example", biometric_consent=True)
    store.enrol("B1", [vec(1)], [__import__("datetime").date(2025, 1, 1)])
    text = store.audit.path.read_text()
    # no names either (a space or a quote never occurs in the sealed base64; "Bio" alone did,
    # once in a few hundred runs)
    assert "Bio Example" not in text and '"Bio' not in text
    assert all(len(e["details"]) < 10 for e in store.audit.entries())
    with pytest.raises(AuditError):
        store.audit.append("dsl", "review.note", "B1", {"vector": [0.1] * 128})


def test_review_app_api(store):
    e = store.audit.append("dsl1", "review.decision", "P1", {"photo": "abc.jpg", "decision": "ok"})
    assert e["seq"] == 6
    assert [x["action"] for x in store.audit.entries(pupil="P1")] == [
        "pupil.add",
        "review.decision",
    ]
    assert store.audit.entries(since="2000-01-01", until="2000-01-02") == []
    assert store.audit.verify().ok


def test_register_details_are_not_in_plain_text_on_disk(store):
    """The file says who did something about whom and when, never what: a register
    added, its name and any note are sealed; the DSL's reading (entries, audit list) opens them."""
    store.add_pupil("P30", "Pat Example")
    store.add_register("P30", "lac", note="placement with foster carers", actor="dsl1")
    text = store.audit.path.read_text()
    # (words long enough, or quoted, not to turn up by chance in the sealed base64)
    for word in ("register", '"lac"', "foster", "Pat Example"):
        assert word not in text
    [entry] = [e for e in store.audit.entries(pupil="P30") if e["action"].startswith("register")]
    assert entry["details"].get("register") == "lac"
    assert store.audit.verify().ok
    # a sealed part moved to another entry does not open, and verify says so
    lines = store.audit.path.read_text().splitlines(keepends=True)
    a, b = json.loads(lines[-1]), json.loads(lines[-2])
    a["sealed"] = b["sealed"]
    lines[-1] = json.dumps(a) + "\n"
    store.audit.path.write_text("".join(lines))
    assert not store.audit.verify().ok

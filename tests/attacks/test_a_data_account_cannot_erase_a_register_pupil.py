"""A protected register is the DSL's: no other account can take a child off one by any route.

The attack, as an insider tried it: a data manager erased a pupil on the child protection register,
added the id again with photo and biometric consent, and enrolled her; the next comms scan
exported her photo with her face kept, and no DSL was involved. Erasing a register pupil now needs
a DSL, and leaves a sealed tombstone of the id, so adding it again needs a DSL too (who is told
it was on a register). Purging leavers' records is the DSL's for the same reason."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import SAMPLES, build_demo_home
from support.helpers import json_lines, open_store, run_cli_as

pytestmark = pytest.mark.model  # enrols and scans: the face models


def _registers(home, pupil_id):
    p = open_store(home).get_pupil(pupil_id)
    return None if p is None else [r["register"] for r in p["registers"]]


def test_erase_add_and_enrol_by_a_data_account_does_not_take_a_child_off_a_register(
        tmp_path, reference_encodings, photos):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    h = ("--home", home.root)
    run_cli_as("test-data", *h, "pupils", "erase", "P001", "--yes")
    run_cli_as("test-data", *h, "pupils", "add", "P001", "--name", "Ada Example",
               "--consent", "social=yes", "--biometric-consent")
    run_cli_as("test-data", *h, "pupils", "enrol", "P001", SAMPLES / "references" / "ada-1.jpg")
    scan = run_cli_as("test-comms", *h, "scan", photos / "visit.jpg", "--channel", "social",
                      "--json", "--jobs", "1")
    [outcome] = json_lines(scan.stdout)
    assert outcome["status"] == "held", scan.output  # never exported with her face kept
    assert _registers(home, "P001") == ["cp"]


def test_only_a_dsl_erases_a_register_pupil_and_leaves_a_sealed_tombstone(demo_home):
    home = demo_home
    open_store(home).add_register("P001", "cp", actor="test-dsl")
    h = ("--home", home.root)
    r = run_cli_as("test-data", *h, "pupils", "erase", "P001", "--yes")
    assert r.exit_code == 1 and "ask a DSL" in r.output, r.output
    assert _registers(home, "P001") == ["cp"]
    r = run_cli_as("test-data", *h, "pupils", "erase", "P002", "--yes")  # not on a register
    assert r.exit_code == 0, r.output
    r = run_cli_as("test-dsl", *h, "pupils", "erase", "P001", "--yes")
    assert r.exit_code == 0, r.output
    store = open_store(home)
    assert store.get_pupil("P001") is None
    assert store.tombstone("P001") is not None
    opened = json.dumps(store._storage.read())  # even opened with the key: no id, no name
    assert "P001" not in opened and "Ada" not in opened

    # adding the id again: refused to a data manager, by the CLI and by an import
    r = run_cli_as("test-data", *h, "pupils", "add", "P001", "--name", "Ada Example",
                   "--consent", "social=yes")
    assert r.exit_code == 1 and "cannot add P001 from this account" in r.output, r.output
    csv = home.root.parent / "readd.csv"
    csv.write_text("pupil_id,name,consent_social,consent_by\nP001,Ada Example,yes,Parent\n")
    for extra in ((), ("--dry-run",)):
        r = run_cli_as("test-data", *h, "pupils", "import", csv, *extra)
        assert r.exit_code == 1 and "cannot add P001 from this account" in r.output, r.output
    assert open_store(home).get_pupil("P001") is None

    # a DSL may, and is told the id was on a register
    r = run_cli_as("test-dsl", *h, "pupils", "add", "P001", "--name", "Ada Example")
    assert r.exit_code == 0, r.output
    assert "was on a protected register" in r.output
    assert open_store(home).tombstone("P001") is None


def test_purging_leavers_erases_no_record_without_a_dsl(demo_home):
    store = open_store(demo_home)
    long_ago = (dt.date.today() - dt.timedelta(days=800)).isoformat()
    for pid in ("P001", "P002"):
        store.update_pupil(pid, leaving_date=long_ago, actor="test")
    store.add_register("P001", "cp", actor="test-dsl")
    h = ("--home", demo_home.root)
    r = run_cli_as("test-data", *h, "pupils", "purge", "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["erased"] == [] and plan["records_for_dsl"] == ["P001", "P002"]
    assert _registers(demo_home, "P001") == ["cp"]
    assert open_store(demo_home).get_pupil("P001")["encodings"] == []  # biometric data still goes
    r = run_cli_as("test-dsl", *h, "pupils", "purge", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["erased"] == ["P001", "P002"], r.output
    assert open_store(demo_home).tombstone("P001") is not None
    assert open_store(demo_home).tombstone("P002") is None

"""Need to know, enforced: every command that reads or changes pupils, consents, registers,
staff, held photos or the audit log signs in with a role allowed to do it, and the audit log
names the signed-in account. Roles: admin (staff), dsl (pupils, registers, held photos, audit,
find), data (pupils, consents, enrolment; no registers), comms (blur, scan, watch).

Each refusal below was allowed on the main branch before sign-in was enforced (anyone
who could run the CLI could make themselves a DSL, take a pupil off a register, and have the audit
log name someone else)."""

import json
import shutil

import pytest
from support.helpers import TEST_PASSWORD, json_lines, open_store, run_cli, run_cli_env
from support.helpers import run_cli_as as cli_as

from safeguard.home import Home


def no_sign_in(*args):
    return run_cli_env({"SAFEGUARD_USER": None, "SAFEGUARD_PASSWORD": None}, *args)


def test_init_creates_the_store_and_first_admin_once(tmp_path):
    home = tmp_path / "school"
    r = run_cli_env({"SAFEGUARD_NEW_PASSWORD": "a long admin password"}, "--home", home, "init",
                    "--admin", "head")
    assert r.exit_code == 0, r.output
    assert (home / "consent_db" / "store.json").is_file()
    r = cli_as("head", "--home", home, "staff", "list", "--json",
               env={"SAFEGUARD_PASSWORD": "a long admin password"})
    assert r.exit_code == 0, r.output
    assert [(s["user"], s["role"]) for s in json.loads(r.stdout)] == [("head", "admin")]
    again = run_cli_env({"SAFEGUARD_NEW_PASSWORD": "a long admin password"}, "--home", home,
                        "init", "--admin", "other")
    assert again.exit_code == 1 and "already has a consent store" in again.output


@pytest.mark.model
def test_no_command_but_init_creates_a_store(tmp_path, photos):
    missing = tmp_path / "typo-home"
    out = tmp_path / "out"
    for args in (["blur", photos, "--out", out], ["scan", photos],
                 ["watch", photos, "--ready", out, "--once"], ["review", "serve"],
                 ["pupils", "list"]):
        r = run_cli("--home", missing, *args)
        assert r.exit_code == 1, (args, r.output)
        assert "no consent store" in r.output and "init --admin" in r.output, r.output
    assert not missing.exists()
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("args", [
    ["pupils", "add", "P100", "--name", "New Pupil"],
    ["pupils", "register", "remove", "P001", "cp"],
    ["pupils", "consent", "grant", "P001", "social", "--by", "parent"],
    ["pupils", "erase", "P001", "--yes"],
    ["staff", "add", "mallory", "--role", "dsl"],
    ["staff", "remove", "test-dsl"],
    ["audit", "list"],
    ["pupils", "show", "P001"],
])
def test_every_store_command_without_sign_in_is_refused(demo_home, args):
    before = {p["id"]: p for p in open_store(demo_home).pupils()}
    r = no_sign_in("--home", demo_home.root, *args)
    assert r.exit_code == 1, r.output
    assert "sign in first" in r.output
    store = open_store(demo_home)
    assert {p["id"]: p for p in store.pupils()} == before
    assert {s["user"] for s in store.list_staff()} >= {"test-dsl", "test-admin"}
    assert "mallory" not in {s["user"] for s in store.list_staff()}


def test_only_an_admin_adds_staff(demo_home):
    env = {"SAFEGUARD_NEW_PASSWORD": "another long password"}
    for user in ("test-dsl", "test-data", "test-comms"):
        r = cli_as(user, "--home", demo_home.root, "staff", "add", "mallory", "--role", "dsl",
                   env=env)
        assert r.exit_code == 1 and "needs admin" in r.output, r.output
    r = cli_as("test-admin", "--home", demo_home.root, "staff", "add", "dsl2", "--role", "dsl",
               env=env)
    assert r.exit_code == 0, r.output
    assert ("dsl2", "dsl") in {(s["user"], s["role"]) for s in open_store(demo_home).list_staff()}


def test_a_data_manager_cannot_see_or_change_registers(demo_home):
    open_store(demo_home).add_register("P001", "cp", actor="test-dsl")
    home = demo_home.root
    r = cli_as("test-data", "--home", home, "pupils", "show", "P001", "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert "registers" not in shown and "cp" not in r.stdout
    for args in (["pupils", "list", "--register", "cp"], ["pupils", "register", "remove", "P001", "cp"],
                 ["pupils", "register", "add", "P002", "lac"], ["audit", "list"],
                 ["pupils", "add", "P009", "--name", "X Y", "--register", "cp"],
                 ["review", "list"]):
        r = cli_as("test-data", "--home", home, *args)
        assert r.exit_code == 1 and "may not do this" in r.output, (args, r.output)
    assert [x["register"] for x in open_store(demo_home).get_pupil("P001")["registers"]] == ["cp"]
    # the DSL sees it
    r = cli_as("test-dsl", "--home", home, "pupils", "show", "P001", "--json")
    assert [x if isinstance(x, str) else x["register"]
            for x in json.loads(r.stdout)["registers"]] == ["cp"]


@pytest.mark.model
def test_comms_can_blur_but_not_read_pupils_or_the_audit(demo_home, photos, tmp_path):
    home = demo_home.root
    r = cli_as("test-comms", "--home", home, "blur", photos / "assembly.jpg", "--out",
               tmp_path / "out", "--channel", "social", "--json", "--jobs", "1")
    assert r.exit_code == 0, r.output
    [res] = json_lines(r.stdout)
    assert res["status"] == "exported" and "Ada" not in r.stdout
    for args in (["pupils", "show", "P001"], ["pupils", "list"], ["audit", "list"],
                 ["find", "--pupil", "P001"], ["review", "list"]):
        r = cli_as("test-comms", "--home", home, *args)
        assert r.exit_code == 1 and "may not do this" in r.output, (args, r.output)


def test_the_audit_actor_is_the_signed_in_account_not_a_typed_name(demo_home):
    home = demo_home.root
    r = cli_as("test-data", "--home", home, "pupils", "consent", "withdraw", "P002", "social",
               "--by", "parent")
    assert r.exit_code == 0, r.output
    # naming someone else needs their password
    r = run_cli_env({"SAFEGUARD_PASSWORD": TEST_PASSWORD + "x"}, "--home", home, "pupils",
                    "consent", "grant", "P002", "social", "--by", "parent", "--as", "test-dsl")
    assert r.exit_code == 1 and "sign-in as test-dsl failed" in r.output
    entries = [e for e in open_store(demo_home).audit.entries(pupil="P002")
               if e["action"].startswith("consent")]
    assert [(e["action"], e["actor"]) for e in entries][-1] == ("consent.withdraw", "test-data")


@pytest.mark.model
def test_a_store_with_its_file_gone_is_refused_not_read_as_empty(demo_home, photos, tmp_path):
    # store.json moved away gave an empty match matrix, and photos were exported with
    # every restricted face unrecognised
    shutil.move(demo_home.store_dir / "store.json", tmp_path / "store.json.bak")
    out = tmp_path / "out"
    r = run_cli("--home", demo_home.root, "blur", photos, "--out", out)
    assert r.exit_code == 1 and "damaged" in r.output, r.output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.model
def test_a_missing_encodings_file_is_refused_not_read_as_no_encodings(demo_home, photos, tmp_path):
    for shard in (demo_home.store_dir / "encodings").glob("*.bin"):
        shard.unlink()
    out = tmp_path / "out"
    r = run_cli("--home", demo_home.root, "blur", photos / "assembly.jpg", "--out", out,
                "--channel", "social")
    assert r.exit_code == 1 and "encodings" in r.output and "missing" in r.output, r.output
    assert not out.exists() or not any(out.iterdir())
    assert Home(demo_home.root).held_dir.is_dir()


def test_a_csv_that_adds_a_register_needs_a_dsl(demo_home, tmp_path):
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("pupil_id,name,registers\nP002,Ben Example,lac\nP009,New Pupil,\n")
    r = cli_as("test-data", "--home", demo_home.root, "pupils", "import", csv_path)
    assert r.exit_code == 1 and "line 2: registers: only a DSL may record a protected register" in r.output, r.output
    store = open_store(demo_home)
    assert store.get_pupil("P009") is None and not store.get_pupil("P002")["registers"]
    r = cli_as("test-dsl", "--home", demo_home.root, "pupils", "import", csv_path)
    assert r.exit_code == 0, r.output
    assert [x["register"] for x in open_store(demo_home).get_pupil("P002")["registers"]] == ["lac"]


@pytest.mark.model
def test_finding_5_comms_cannot_tell_a_register_hold_from_any_other(tmp_path, photos,
                                                                     reference_encodings):
    """A register pupil's photo and a photo held for an unknown face look the same to comms
    staff: every face not cleared reads "restricted"/"hold", the message is the same, and the
    consent that would give the register away is not theirs to read."""
    from conftest import build_demo_home

    reg = build_demo_home(tmp_path / "reg", reference_encodings, ada_registers=("cp",))
    r = cli_as("test-comms", "--home", reg.root, "scan", photos / "visit.jpg", "--json",
               "--channel", "website")
    [by_register] = json_lines(r.stdout)
    plain = build_demo_home(tmp_path / "plain", reference_encodings)
    open_store(plain).erase("P001", actor="test")  # Ada unknown here: held by the unknown policy
    r = cli_as("test-comms", "--home", plain.root, "scan", photos / "visit.jpg", "--json",
               "--channel", "website", "--unknown", "hold")
    [by_unknown] = json_lines(r.stdout)

    def seen(x):
        return (x["status"], x["message"], [(f["label"], f["action"]) for f in x["faces"]])

    assert seen(by_register) == seen(by_unknown) == (
        "held", "held for the DSL to check", [("restricted", "hold")])
    r = cli_as("test-comms", "--home", reg.root, "pupils", "show", "P001")
    assert r.exit_code == 1 and "may not do this" in r.output

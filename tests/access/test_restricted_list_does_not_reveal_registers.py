"""`pupils list --restricted-for` must not let a non-DSL infer a register."""

import json

from support.helpers import open_store, run_cli, run_cli_as

from safeguard.home import Home


def test_a_register_pupil_with_consent_is_listed_only_to_a_dsl(tmp_path, monkeypatch):

    home = Home(tmp_path / "home").ensure()
    store = open_store(home)
    store.add_pupil("P001", "Ada Example", consents={"social": False}, actor="t")
    store.add_pupil("P002", "Ben Example", consents={"social": True}, registers=["cp"], actor="t")
    store.add_staff("dsl1", "dsl", "correct horse battery")

    # the data manager: a pupil with consent who is still restricted would betray a register
    r = run_cli_as("test-data", "--home", home.root, "pupils", "list", "--restricted-for",
                   "social", "--json")
    assert r.exit_code == 0, r.output
    assert [p["id"] for p in json.loads(r.stdout)] == ["P001"]

    monkeypatch.setenv("SAFEGUARD_PASSWORD", "correct horse battery")
    r = run_cli("--home", home.root, "pupils", "list", "--restricted-for", "social", "--json",
                "--as", "dsl1")
    assert r.exit_code == 0, r.output
    assert [p["id"] for p in json.loads(r.stdout)] == ["P001", "P002"]

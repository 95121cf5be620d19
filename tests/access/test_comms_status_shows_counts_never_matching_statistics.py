"""`safeguard status` is what comms staff run beside the watched folder: counts of the photos
(waiting, ready, held, awaiting sign-off, rejected, decided today), never the matching statistics
("clearing tolerance 0.390, predicted strangers cleared 0.097%"), which are numbers for the DSL
and the admin (as in the DPIA pack): `status --matching` signs in as one of them."""

import json

from support.helpers import new_home, open_store, run_cli, run_cli_as


def _home(tmp_path):
    home = new_home(tmp_path / "home")
    open_store(home).add_pupil("P001", "Ada Example", consents={"social": True}, actor="test")
    return home


def test_status_shows_counts_and_no_matching_statistics(tmp_path):
    home = _home(tmp_path)
    r = run_cli_as("test-comms", "--home", home.root, "status")
    assert r.exit_code == 0, r.output
    assert "ready today" in r.stdout and "held" in r.stdout
    for word in ("tolerance", "strangers", "matching", "%"):
        assert word not in r.stdout, word
    r = run_cli_as("test-comms", "--home", home.root, "status", "--json")
    counts = json.loads(r.stdout)
    assert counts["matching"] == {}  # the key stays for scripts; the numbers do not
    assert {"inbox", "ready_today", "held", "rejected", "decided_today"} <= set(counts)


def test_matching_statistics_are_for_the_dsl_and_the_admin_only(tmp_path):
    home = _home(tmp_path)
    r = run_cli_as("test-comms", "--home", home.root, "status", "--matching")
    assert r.exit_code == 1 and "may not do this" in r.output, r.output
    assert "tolerance" not in r.output
    for user in ("test-dsl", "test-admin"):
        r = run_cli_as(user, "--home", home.root, "status", "--matching", "--json")
        assert r.exit_code == 0, r.output
        assert "clear_tolerance" in json.loads(r.stdout)["matching"]["social"]
    r = run_cli("--home", home.root, "status", "--matching")
    assert "clearing tolerance" in r.stdout and "predicted strangers cleared" in r.stdout

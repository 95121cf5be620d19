"""A copy that went into a post waiting for sign-off is not "exported": the blur summary shows it
as "awaiting sign-off", as a result and a count of its own, `--json` says
`"status": "awaiting_approval"`, and every id (a post's, a held photo's) starts a line of its own
after the table, so an 80-column terminal never breaks one across lines."""

from __future__ import annotations

import re

import pytest
from support.helpers import accept_settings, json_lines, run_cli_as

pytestmark = pytest.mark.model

ID = re.compile(r"[0-9]{8}-[0-9a-f]{12}")


def _signing_off(demo_home):
    demo_home.config_file.write_text('spot_check_rate = 0.0\n[approval]\nsocial = "slt"\n')
    accept_settings(demo_home)
    return demo_home


def test_a_copy_waiting_for_sign_off_reads_awaiting_in_json_and_the_summary(demo_home, photos,
                                                                              tmp_path):
    home = _signing_off(demo_home)
    args = ("--home", home.root, "blur", photos / "visit.jpg", photos / "phone-rotated-gps.jpg",
            "--out", tmp_path / "out", "--channel", "social", "--jobs", "1")
    r = run_cli_as("test-comms", *args, "--json")
    assert r.exit_code == 0, r.output
    lines = json_lines(r.stdout)
    assert [x["status"] for x in lines] == ["awaiting_approval"] * 2
    assert all(x["output"] is None and x["approval"] for x in lines)

    r = run_cli_as("test-comms", *args, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert "2 photos: 0 exported, 2 awaiting sign-off, 0 held" in " ".join(r.stdout.split())
    assert r.stdout.count("awaiting sign-off") >= 3  # each photo's result, and the count
    [post] = {m for m in ID.findall(r.stdout)}
    assert any(line.startswith(f"{post}  post awaiting sign-off: 2 copies")
               for line in r.stdout.splitlines()), r.stdout


def test_a_held_photos_id_starts_a_line_of_its_own(demo_home, photos, tmp_path):
    from support.helpers import open_store

    open_store(demo_home).add_register("P001", "cp", actor="test")  # Ada's photo is held
    r = run_cli_as("test-comms", "--home", demo_home.root, "blur", photos / "assembly.jpg",
                   "--out", tmp_path / "out", "--jobs", "1", env={"COLUMNS": "80"})
    assert r.exit_code == 3, r.output
    held = [line for line in r.stdout.splitlines() if ID.match(line)]
    assert len(held) == 1 and "held for the DSL to check: " in held[0], r.stdout
    assert "assembly.jpg" in held[0]

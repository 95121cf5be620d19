"""A subject access report (registers included) is the DSL's: `pupils export -o FILE` into a file
that already exists with mode 0644 used to write into it, leaving the report world-readable. The
report is now written as a new owner-only file renamed over the old one."""

from __future__ import annotations

import json
import os
import stat

from support.helpers import new_home, open_store, run_cli_as


def test_export_over_a_world_readable_file_leaves_it_owner_only(tmp_path):
    home = new_home(tmp_path / "home")
    open_store(home).add_pupil("P001", "Ada Example", registers=["cp"], actor="test")
    target = tmp_path / "report.json"
    target.write_text("old contents, world-readable\n")
    os.chmod(target, 0o644)
    old_inode = target.stat().st_ino
    r = run_cli_as("test-dsl", "--home", home.root, "pupils", "export", "P001", "-o", target,
                   "--as", "test-dsl")
    assert r.exit_code == 0, r.output
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_ino != old_inode  # replaced, never written into
    report = json.loads(target.read_text())
    assert report["pupil"]["id"] == "P001" and report["pupil"]["registers"]

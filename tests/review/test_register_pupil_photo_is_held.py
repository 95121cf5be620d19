"""A pupil on a protected register holds the whole photo for the DSL; nothing reaches --out."""

import json
import stat

import pytest
from conftest import build_demo_home
from support.helpers import json_lines, run_cli

from safeguard.exitcodes import ExitStatus
from safeguard.held import HeldQueue

pytestmark = pytest.mark.model


def test_register_pupil_photo_is_held_under_the_home_not_exported(tmp_path, photos,
                                                                   reference_encodings):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    out = tmp_path / "out"
    r = run_cli("--home", home.root, "blur", photos / "assembly.jpg", photos / "visit.jpg",
                "--out", out, "--json", "--jobs", "1")
    assert r.exit_code == ExitStatus.HELD, r.output
    results = json_lines(r.stdout)
    assert [x["status"] for x in results] == ["held", "held"]
    assert all(x["output"] is None and x["message"] == "held for the DSL to check"
               for x in results)
    assert not out.exists() or not any(out.iterdir())

    # Kept under the home, owner-only, with the DSL-only record.
    held = [p for p in home.held_dir.iterdir() if not p.name.startswith(".")]
    assert len(held) == 2
    for folder in held:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "original").stat().st_mode) == 0o600
        record = HeldQueue(home.held_dir).record(folder.name)
        assert any(f["pupil"] == "P001" for f in record["faces"])
    # Comms output says it was held, never who or why.
    for res in results:
        shown = json.dumps({k: v for k, v in res.items() if k != "input"})
        for word in ("P001", "Ada", "Example", "cp", "register", "CP", "consent"):
            assert word not in shown

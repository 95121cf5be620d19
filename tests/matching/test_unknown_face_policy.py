"""Faces that match nobody follow --unknown: keep, redact or hold."""

import pytest
from support.helpers import json_lines, min_distance, new_home, region_encoding, run_cli

from safeguard.exitcodes import ExitStatus
from safeguard.images import load_image

pytestmark = pytest.mark.model


@pytest.fixture
def empty_home(tmp_path):
    return new_home(tmp_path / "empty-home")  # initialised, nobody enrolled


@pytest.mark.parametrize("policy", ["keep", "redact"])
def test_unknown_faces_are_kept_or_redacted_as_asked(policy, empty_home, photos, tmp_path,
                                                     reference_encodings):
    r = run_cli("--home", empty_home.root, "blur", photos / "assembly.jpg", "--out",
                tmp_path / "out", "--unknown", policy, "--json", "--jobs", "1")
    assert r.exit_code == ExitStatus.OK, r.output
    [res] = json_lines(r.stdout)
    assert [f["label"] for f in res["faces"]] == ["unknown", "unknown"]
    assert {f["action"] for f in res["faces"]} == {policy}
    rgb = load_image(res["output"]).rgb
    refs = reference_encodings["ada"] + reference_encodings["ben"]
    for face in res["faces"]:
        left = region_encoding(rgb, face["box"])
        if policy == "keep":
            assert left is not None and min_distance(left, refs) < 0.45
        else:
            assert left is None or min_distance(left, refs) > 0.6


def test_unknown_hold_holds_the_photo(empty_home, photos, tmp_path):
    out = tmp_path / "out"
    r = run_cli("--home", empty_home.root, "blur", photos / "assembly.jpg", "--out", out,
                "--unknown", "hold", "--json", "--jobs", "1")
    assert r.exit_code == ExitStatus.HELD
    [res] = json_lines(r.stdout)
    assert res["status"] == "held" and res["output"] is None
    assert not any(out.iterdir())


def test_default_unknown_policy_redacts(empty_home, photos, tmp_path):
    r = run_cli("--home", empty_home.root, "blur", photos / "assembly.jpg", "--out",
                tmp_path / "out", "--json", "--jobs", "1")
    [res] = json_lines(r.stdout)
    assert {f["action"] for f in res["faces"]} == {"redact"}

"""A held photo is not evidence that a child in it is on a register: spot checks hold a random
share of the photos that would be exported, comms staff see such a hold exactly as any other,
and the DSL sees "spot check" and releases it in one click.

Tried as a comms user would: a photo of a pupil without consent, which is blurred and exported,
and the same photo when that pupil is on a register, which is held. With spot checks the first
is held too, at the configured rate, and the two holds cannot be told apart from anything comms
staff are given (JSON, exit code, message, faces, texts, flags).
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import PRODUCTION_SPOT_CHECK_RATE, SAMPLES, build_demo_home
from support.helpers import accept_settings, json_lines, new_home, open_store, run_cli_as
from support.review_support import PASSWORD, client, csrf_of, sign_in

from safeguard import spot_check
from safeguard.config import Config, ConfigError
from safeguard.held import HeldQueue

PHOTO = SAMPLES / "photos" / "assembly.jpg"
UNSEEN = ("held_id", "seconds", "input", "output")  # differ from any one run to the next


def _home(root, encodings, rate: float, registers=()):
    home = build_demo_home(root, encodings, ada_registers=registers)
    home.config_file.write_text(f"spot_check_rate = {rate}\n")
    accept_settings(home)
    return home


def _blur(home, out, photo=PHOTO):
    r = run_cli_as("test-comms", "--home", home.root, "blur", photo, "--out", out, "--json",
                   "--jobs", "1")
    [line] = json_lines(r.stdout)
    return r.exit_code, line


# -- the draw ---------------------------------------------------------------------------------


def test_the_same_photo_draws_the_same_every_time_so_asking_again_tells_nothing():
    key = os.urandom(32)
    digest = "ab" * 32
    assert len({spot_check.drawn(0.5, digest, key) for _ in range(50)}) == 1


def test_the_share_drawn_is_the_rate_and_another_school_draws_other_photos():
    key, other = os.urandom(32), os.urandom(32)
    hashes = [os.urandom(32).hex() for _ in range(20_000)]
    mine = [spot_check.drawn(0.05, h, key) for h in hashes]
    theirs = [spot_check.drawn(0.05, h, other) for h in hashes]
    assert 0.045 <= sum(mine) / len(hashes) <= 0.055
    both = sum(a and b for a, b in zip(mine, theirs))
    assert both < 0.2 * sum(mine)  # independent draws: about 5% of them agree, not all
    assert not any(spot_check.drawn(0.0, h, key) for h in hashes[:1000])
    assert all(spot_check.drawn(1.0, h, key) for h in hashes[:1000])


def test_a_restricted_childs_photos_in_one_week_are_all_held_or_none_like_a_register_childs():
    """Many photos of one child (or one photo saved many times over) in a week draw once."""
    import datetime as dt

    key = os.urandom(32)
    monday = dt.date(2026, 12, 7)
    week = [monday + dt.timedelta(days=i) for i in range(7)]
    for pupil in (f"P{i:03d}" for i in range(200)):
        draws = {spot_check.photo_drawn(0.3, key, os.urandom(32).hex(), [pupil], day)
                 for day in week}
        assert len(draws) == 1
    weeks = [spot_check.photo_drawn(0.3, key, None, ["P001"], monday + dt.timedelta(weeks=w))
             for w in range(400)]
    assert 0.2 < sum(weeks) / len(weeks) < 0.4  # a fresh draw each week
    # with no restricted pupil recognised, each photo is drawn by its content
    shares = [spot_check.photo_drawn(0.3, key, os.urandom(32).hex(), [], monday)
              for _ in range(2000)]
    assert 0.25 < sum(shares) / len(shares) < 0.35


def test_the_rate_is_a_share_from_0_to_1_and_starts_at_one_in_twenty():
    assert PRODUCTION_SPOT_CHECK_RATE == 0.05
    for bad in (-0.01, 1.01, float("nan"), True):
        with pytest.raises(ConfigError, match="spot_check_rate"):
            Config(spot_check_rate=bad).check()
    assert Config(spot_check_rate=0.2).check().spot_check_rate == 0.2


def test_every_job_built_from_the_store_draws_with_the_homes_own_secret(tmp_path):
    from safeguard.pipeline import store_inputs

    a, b = new_home(tmp_path / "a"), new_home(tmp_path / "b")
    ka = store_inputs(a, Config(), "social").spot_key
    assert ka == spot_check.key_for(a.root) and len(ka) == 32
    assert ka != store_inputs(b, Config(), "social").spot_key


# -- on a real photo --------------------------------------------------------------------------


@pytest.mark.model
def test_at_rate_0_the_photo_is_blurred_and_exported(tmp_path, reference_encodings):
    home = _home(tmp_path / "home", reference_encodings, 0.0)
    code, line = _blur(home, tmp_path / "out")
    assert code == 0 and line["status"] == "exported" and line["output"], line


@pytest.mark.model
def test_a_spot_check_looks_to_comms_exactly_like_a_register_hold(tmp_path,
                                                                 reference_encodings):
    checked = _home(tmp_path / "checked", reference_encodings, 1.0)
    register = _home(tmp_path / "register", reference_encodings, 0.0, registers=("cp",))
    code_c, by_spot_check = _blur(checked, tmp_path / "out-c")
    code_r, by_register = _blur(register, tmp_path / "out-r")
    assert code_c == code_r == 3
    assert by_spot_check["status"] == "held" and by_spot_check["output"] is None
    assert {k: v for k, v in by_spot_check.items() if k not in UNSEEN} == \
        {k: v for k, v in by_register.items() if k not in UNSEEN}
    assert "spot" not in json.dumps(by_spot_check)
    assert not (tmp_path / "out-c").exists() or not any((tmp_path / "out-c").iterdir())
    # and `scan`, which writes nothing, says the same, every time it is asked
    for _ in range(2):
        r = run_cli_as("test-comms", "--home", checked.root, "scan", PHOTO, "--json")
        [line] = json_lines(r.stdout)
        assert r.exit_code == 3 and line["status"] == "held"


@pytest.mark.model
def test_the_dsl_sees_spot_check_and_releases_it_in_one_click(tmp_path, reference_encodings):
    home = _home(tmp_path / "home", reference_encodings, 1.0)
    code, line = _blur(home, tmp_path / "out")
    held_id = line["held_id"]
    assert code == 3 and held_id
    rec = HeldQueue(home.held_dir).record(held_id)
    assert rec["spot_check"] is True
    open_store(home).add_staff("dsl.lead", "dsl", PASSWORD, actor="test")
    ready = tmp_path / "ready"
    ready.mkdir()
    c = client(home)
    sign_in(c, "dsl.lead")
    assert "spot check" in c.get("/").text
    page = c.get(f"/held/{held_id}")
    assert "Spot check" in page.text and "spot check" in page.text
    r = c.post(f"/held/{held_id}/release",
               data={"csrf": csrf_of(page.text), "mode": "redacted", "folder": "0"})
    assert r.status_code == 303, r.text
    [out] = list(ready.iterdir())
    assert out.name == "assembly.jpg"
    released = [e for e in open_store(home).audit.entries() if e["action"] == "held.release"]
    assert released and all(e["details"].get("spot_check") is True for e in released)


@pytest.mark.model
@pytest.mark.slow
def test_the_watched_folder_shows_a_spot_check_exactly_as_a_register_hold(tmp_path,
                                                                          reference_encodings):
    from support.watch_helpers import run_once, status_lines

    seen = []
    for name, rate, registers in (("checked", 1.0, ()), ("register", 0.0, ("cp",))):
        home = _home(tmp_path / name, reference_encodings, rate, registers)
        inbox, ready = tmp_path / f"inbox-{name}", tmp_path / f"ready-{name}"
        inbox.mkdir()
        ready.mkdir()
        (inbox / PHOTO.name).write_bytes(PHOTO.read_bytes())
        proc = run_once(home.root, inbox, ready, "--jobs", "1", "--json")
        assert proc.returncode == 3, proc.stderr
        [line] = json_lines(proc.stdout)
        seen.append(({k: line[k] for k in ("status", "message", "faces", "output")},
                     status_lines(inbox)[0].split("  ", 1)[1]))
        assert not any(ready.iterdir())
    assert seen[0] == seen[1]
    assert seen[0][0]["status"] == "held"


@pytest.mark.model
def test_a_clip_is_spot_checked_like_a_photo(demo_home, tmp_path):
    """A clip of one child held only when a register child is in it would name them too."""
    from support.clips import Motion, camera_frames, write_phone_clip

    from safeguard.images import load_image
    from safeguard.pipeline import Job
    from safeguard.video.process import process_clip

    photo = load_image(PHOTO).rgb
    frames = list(camera_frames(photo, (960, 540), 45, Motion(pan=0.2, shake=1.5, centre=0.4)))
    clip = write_phone_clip(tmp_path / "clip.mp4", frames, 30, rotation=90)
    store = open_store(demo_home)
    outcomes = {}
    for rate in (0.0, 1.0):
        out = tmp_path / f"ready-{rate}"
        out.mkdir()
        cfg = Config(spot_check_rate=rate)
        job = Job(config=cfg, channel="social",
                  matrix=store.match_matrix("social"), out_dir=out, held_dir=demo_home.held_dir,
                  spot_key=spot_check.key_for(demo_home.root))
        outcomes[rate] = process_clip(clip, job)
    assert outcomes[0.0].status == "exported", outcomes[0.0].public()
    held = outcomes[1.0]
    assert held.status == "held" and held.spot_check and held.held_id
    assert "spot" not in json.dumps({k: v for k, v in held.public().items() if k != "input"})
    assert HeldQueue(demo_home.held_dir).record(held.held_id)["spot_check"] is True

"""Comms staff ask the DSL to check who is in their photos (`blur --ask-dsl`): a photo in which
a face would be blurred is held instead of written, with the note and the suggestions for the
DSL; the DSL sees each blurred face with the nearest pupils; the copy the DSL releases lands in
the batch's --out. Nothing comms staff see names a pupil, a register or a consent."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import SAMPLES
from support.confirm_support import school
from support.helpers import json_lines, new_home, run_cli, run_cli_as

from safeguard.held import HeldQueue

pytestmark = pytest.mark.model

WORDS_COMMS_NEVER_SEE = ("ada", "ben", "p001", "p002", "register", "consent", "year 4")


def test_an_asked_batch_reaches_the_dsl_and_comes_back_as_a_copy(tmp_path, reference_encodings,
                                                                 monkeypatch):
    home = school(tmp_path / "home", reference_encodings)
    monkeypatch.setenv("SAFEGUARD_HOME", str(home.root))
    photos = tmp_path / "trip"
    photos.mkdir()
    shutil.copy(SAMPLES / "photos" / "assembly.jpg", photos / "assembly.jpg")
    ready = tmp_path / "ready"
    r = run_cli_as("test-comms", "blur", photos, "--out", ready, "--ask-dsl", "--json",
                   "--jobs", "1", "--note", "Year 4 trip, all consented",
                   "--suggest", "Ada Example")
    assert r.exit_code == 3, r.output
    [line] = json_lines(r.output)
    assert line["status"] == "held" and line["message"] == "held for the DSL to check"
    assert not any(ready.iterdir())
    r_table = run_cli_as("test-comms", "blur", photos, "--out", tmp_path / "ready2", "--ask-dsl",
                         "--jobs", "1")
    for seen in (r.output, r_table.output):
        shown = seen.replace(str(tmp_path), "").lower()
        assert not [w for w in WORDS_COMMS_NEVER_SEE if re.search(rf"\b{w}", shown)], shown

    # the DSL's queue has it, with what comms staff asked
    held_id = line["held_id"]
    queue = json.loads(run_cli("review", "list", "--json").output)
    [item] = [i for i in queue if i["id"] == held_id]
    assert "sent by comms staff to check" in item["reasons"]
    shown = json.loads(run_cli("review", "show", held_id, "--json").output)
    assert shown["asked"]["note"] == "Year 4 trip, all consented"
    assert shown["asked"]["return_to"] == str(ready.absolute())
    blurred = [f for f in shown["faces"] if f["redacted_in_preview"]]
    [ada] = blurred  # Ben is cleared; Ada is blurred, and offered to the DSL as suggested
    assert ada["nearest"][0]["pupil"] == "P001" and ada["nearest"][0]["suggested"]
    assert ada["nearest"][0]["nearness"] == "possible"
    rec = HeldQueue(home.held_dir).record(held_id)
    assert all(len(f["encoding"]) == 128 for f in rec["faces"] if f["label"] != "cleared")
    assert all("encoding" not in f for f in rec["faces"] if f["label"] == "cleared")

    # released as previewed (the DSL confirmed nobody): the copy goes back to --out
    r = run_cli("review", "release", held_id, "--json")
    assert r.exit_code == 0, r.output
    [copy] = list(ready.iterdir())
    assert json.loads(r.output)["output"] == str(copy)
    assert "ada" not in copy.name.lower()
    # the decided record keeps no encoding
    assert "faces" not in HeldQueue(home.held_dir).record(held_id)


def test_ask_dsl_needs_no_note_but_a_note_needs_ask_dsl(tmp_path, monkeypatch):
    home = new_home(tmp_path / "home")
    monkeypatch.setenv("SAFEGUARD_HOME", str(home.root))
    r = run_cli_as("test-comms", "blur", SAMPLES / "photos" / "visit.jpg", "--out",
                   tmp_path / "out", "--note", "trip")
    assert r.exit_code == 2 and "--ask-dsl" in r.output


@pytest.mark.slow
def test_a_photo_dropped_in_the_watched_folders_check_folder_goes_to_the_dsl(
        tmp_path, reference_encodings, monkeypatch):
    from support.watch_helpers import run_once

    home = school(tmp_path / "home", reference_encodings)
    monkeypatch.setenv("SAFEGUARD_HOME", str(home.root))
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    (inbox / "_check").mkdir(parents=True)
    shutil.copy(SAMPLES / "photos" / "assembly.jpg", inbox / "_check" / "assembly.jpg")
    shutil.copy(SAMPLES / "photos" / "visit.jpg", inbox / "visit.jpg")
    monkeypatch.setenv("SAFEGUARD_USER", "test-comms")
    done = run_once(home.root, inbox, ready, "--settle", "0.2", "--jobs", "1")
    assert done.returncode in (0, 3), done.stderr
    # the photo not asked about is exported blurred; the asked one waits for the DSL
    assert len(list(ready.iterdir())) == 1
    [held_id] = HeldQueue(home.held_dir).pending()
    rec = HeldQueue(home.held_dir).record(held_id)
    assert rec["asked"]["return_to"] == str(ready) and rec["asked"]["by"] == "test-comms"
    monkeypatch.setenv("SAFEGUARD_USER", "test-dsl")
    r = run_cli("review", "release", held_id, "--json")
    assert r.exit_code == 0, r.output
    assert len(list(ready.iterdir())) == 2


def test_through_the_service_an_asked_photo_goes_back_only_to_a_release_folder(
        tmp_path, reference_encodings, monkeypatch):
    """Through the service the DSL's copy is written by the home's owner: comms staff may send
    photos to check only for a configured release folder, and the copy lands there."""
    import threading

    from support.helpers import TEST_PASSWORD, accept_settings, run_cli_env

    from safeguard.accepted_settings import accepted_config
    from safeguard.config import Config
    from safeguard.door import Entrance
    from safeguard.service import PhotoService, serve

    home = school(tmp_path / "home", reference_encodings)
    shared = tmp_path / "to-post"
    shared.mkdir()
    with open(home.config_file, "a") as f:
        f.write(f'release_folders = ["{shared}"]\n')
    accept_settings(home)
    cfg = accepted_config(home, Entrance.open(home, Config()))
    sock = tmp_path / "photos.sock"
    server = serve(PhotoService(home, cfg, jobs=1), sock)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    comms = {"SAFEGUARD_USER": "test-comms", "SAFEGUARD_PASSWORD": TEST_PASSWORD,
             "SAFEGUARD_HOME": "/nonexistent/safeguard-home"}
    photo = str(SAMPLES / "photos" / "assembly.jpg")
    try:
        r = run_cli_env(comms, "blur", photo, "--out", str(tmp_path / "mine"), "--ask-dsl",
                        "--service", str(sock))
        assert r.exit_code == 2 and "release folder" in r.output, r.output
        r = run_cli_env(comms, "blur", photo, "--out", str(shared), "--ask-dsl", "--json",
                        "--service", str(sock), "--note", "Year 4 trip")
        assert r.exit_code == 3, r.output
        [line] = json_lines(r.stdout)
    finally:
        server.shutdown()
        server.server_close()
    assert line["status"] == "held" and not any(shared.iterdir())
    rec = HeldQueue(home.held_dir).record(line["held_id"])
    assert rec["asked"] == {"note": "Year 4 trip", "suggest": [], "by": "test-comms",
                            "return_to": str(shared.resolve())}
    monkeypatch.setenv("SAFEGUARD_HOME", str(home.root))
    r = run_cli("review", "release", line["held_id"], "--json")
    assert r.exit_code == 0, r.output
    assert len(list(shared.iterdir())) == 1

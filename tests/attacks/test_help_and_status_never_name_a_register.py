"""Comms staff know whom they photographed. Were any text they read to say that a held photo
means a pupil on a register, a hold of a photo of one child would say that child is on one. So
the help of every command comms staff run, the exit codes, the summary and the watched folder's
status file say "held for the DSL to check" and nothing about why.
"""

import re

import pytest
from conftest import build_demo_home
from support.helpers import run_cli
from support.watch_helpers import run_once, status_lines

from safeguard.exitcodes import EXIT_CODES_HELP
from safeguard.pipeline import HELD_MESSAGE

COMMS_COMMANDS = ("blur", "scan", "watch", "status", "caption")
# Words that name a register, the kinds of register, or their abbreviations.
WORDS = re.compile(r"regist|child[\s-]+protection|looked[\s-]+after|protection plan")
ABBREVIATIONS = re.compile(r"\b(CP|LAC|CIN|CPP)\b")


def names_a_register(text: str) -> list[str]:
    return WORDS.findall(text.lower()) + ABBREVIATIONS.findall(text)


@pytest.mark.parametrize("command", COMMS_COMMANDS)
def test_the_help_of_a_comms_command_names_no_register(command):
    r = run_cli(command, "--help")
    assert r.exit_code == 0, r.output
    assert names_a_register(r.output) == [], r.output


def test_the_exit_codes_say_held_for_the_dsl_to_check_and_not_why():
    assert names_a_register(EXIT_CODES_HELP) == []
    assert "held for the DSL to check" in EXIT_CODES_HELP


@pytest.mark.model
def test_a_held_photo_reads_held_for_the_dsl_to_check_in_blurs_summary(tmp_path, photos,
                                                                     reference_encodings):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    r = run_cli("--home", home.root, "blur", photos / "assembly.jpg", "--out", tmp_path / "out",
                "--jobs", "1")
    assert r.exit_code == 3, r.output
    assert HELD_MESSAGE == "held for the DSL to check"
    assert HELD_MESSAGE in r.output
    assert names_a_register(r.output) == [], r.output
    assert "safeguarding review" not in r.output


@pytest.mark.model
@pytest.mark.slow
def test_the_status_file_says_held_for_the_dsl_to_check_and_names_no_register(
        tmp_path, photos, reference_encodings):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    (inbox / "assembly.jpg").write_bytes((photos / "assembly.jpg").read_bytes())
    proc = run_once(home.root, inbox, ready, "--jobs", "1")
    assert proc.returncode == 3, proc.stderr  # finished, one photo held
    lines = status_lines(inbox)
    assert len(lines) == 1 and lines[0].endswith(f"assembly.jpg  ->  {HELD_MESSAGE}"), lines
    text = (inbox / "_safeguard-status.txt").read_text()
    assert names_a_register(text) == [], text

"""A file name, an account name, a pupil's name, a caption or a reason is chosen by someone other
than the DSL reading the terminal. Carrying ESC ] 0 ; ... BEL (retitle the window), ESC [ 8 m (hide
the rest of the line), a C1 CSI, DEL, a carriage return or U+202E (write backwards), it must be
printed as a visible escape, never obeyed: every command that prints such a value is walked here
with a hostile one, and nothing raw reaches stdout or stderr. --json output stays valid JSON that
reads back to the value."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from support.helpers import new_home, open_store, run_cli_env, signed_in_as

# What a terminal obeys (a newline only breaks a line, and output has its own).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                 "\u2028\u2029]")
EVIL = "Evil\x1b]0;owned\x07 \x1b[8mhidden \u202egpj.exe \x9b2J \x7f\r!"


def clean(result) -> str:
    """All a command printed, after asserting that none of it is a raw control character."""
    out = result.output + (result.stderr or "")
    found = sorted({f"U+{ord(c):04X}" for c in RAW.findall(out)})
    assert not found, f"raw control characters reached the terminal: {found}\n{out!r}"
    return out


def visible(out: str) -> None:
    """The hostile value was shown (escaped), not dropped."""
    assert "\\x1b]0;owned\\x07" in out and "\\u202e" in out, out


def run_cli(*args, user: str = "test-dsl", env: dict | None = None):
    """The CLI in a terminal wide enough that rich does not fold a name across lines."""
    return run_cli_env({**signed_in_as(user), "COLUMNS": "400", **(env or {})}, *args)


def run_cli_as(user: str, *args, env: dict | None = None):
    return run_cli(*args, user=user, env=env)


@pytest.fixture
def home(tmp_path):
    home = new_home(tmp_path / "home")
    store = open_store(home)
    store.add_pupil("P900", EVIL, consents={"social": False}, actor="test-dsl")
    return home


def test_pupil_names_are_shown_escaped_in_every_listing(home):
    h = str(home.root)
    for args in (("pupils", "list"), ("pupils", "show", "P900")):
        visible(clean(run_cli("--home", h, *args)))
    added = run_cli("--home", h, "pupils", "add", "P901", "--name", EVIL)
    visible(clean(added))


def test_json_output_is_escaped_and_reads_back_to_the_name(home):
    shown = json.loads(clean(run_cli("--home", str(home.root), "pupils", "show", "P900",
                                      "--json")))
    assert shown["name"] == EVIL
    rows = json.loads(clean(run_cli("--home", str(home.root), "pupils", "list", "--json")))
    assert any(p.get("name") == EVIL for p in rows)


def test_an_error_naming_a_value_is_escaped(home):
    r = run_cli_env({}, "--home", str(home.root), "pupils", "show", EVIL)
    assert r.exit_code != 0
    clean(r)


def test_staff_user_names_are_shown_escaped(home):
    h = str(home.root)
    r = run_cli_as("test-admin", "--home", h, "staff", "add", EVIL, "--role", "comms",
                   env={"SAFEGUARD_NEW_PASSWORD": "a long enough password 1"})
    clean(r)
    listed = clean(run_cli_as("test-admin", "--home", h, "staff", "list"))
    audit = clean(run_cli("--home", h, "audit", "list"))
    if r.exit_code == 0:  # a store that refuses such names at the door is safe too
        visible(listed)
        visible(audit)


def test_a_caption_is_shown_escaped(home):
    r = run_cli_as("test-comms", "--home", str(home.root), "caption", "Sports day " + EVIL)
    clean(r)


def test_held_photo_names_are_shown_escaped_in_the_review_queue(home):
    from safeguard.held import HeldQueue

    held_id = HeldQueue(home.held_dir).hold(b"not a photo", {
        "input": f"/inbox/{EVIL}.jpg", "channel": "social",
        "faces": [{"box": [1, 2, 3, 4], "label": "unknown", "action": "redact"}],
        "flags": [EVIL]})
    h = str(home.root)
    visible(clean(run_cli("--home", h, "review", "list")))
    clean(run_cli("--home", h, "review", "show", held_id))
    items = json.loads(clean(run_cli("--home", h, "review", "list", "--json")))
    assert items and items[0]["file"] == f"{EVIL}.jpg"


def test_takedown_reasons_and_paths_are_shown_escaped(home):
    from safeguard import takedown

    takedown.add(home, "P900", EVIL, [{"path": f"/site/{EVIL}.jpg", "distance": 0.3}],
                 photos_searched=1)
    h = str(home.root)
    visible(clean(run_cli("--home", h, "review", "takedowns")))
    items = json.loads(clean(run_cli("--home", h, "review", "takedowns", "--json")))
    assert items[0]["reason"] == EVIL


def test_a_post_awaiting_sign_off_is_shown_escaped(home, tmp_path):
    from safeguard import approvals

    store = open_store(home)
    post = approvals.start(home, "social", tmp_path / "out", EVIL, EVIL)
    approvals.add(home, post, f"{EVIL}.jpg", b"jpeg")
    approvals.submit(home, post, store.audit)
    h = str(home.root)
    visible(clean(run_cli("--home", h, "approvals", "list")))
    visible(clean(run_cli("--home", h, "approvals", "show", post["id"])))


def test_the_blur_summary_shows_file_names_and_reasons_escaped(capsys):
    from safeguard.batch_terminal import summary as _summary

    outcomes = [SimpleNamespace(input=f"/in/{EVIL}.jpg", status=s, faces=[], output=None,
                                removed=[EVIL], held_id=None, error=EVIL, flags=[EVIL])
                for s in ("exported", "held", "rejected")]
    _summary(outcomes, write=True)
    got = capsys.readouterr()
    clean(SimpleNamespace(output=got.out, stderr=got.err))
    assert "\\x1b]0;owned" in got.out


def test_the_watch_log_and_status_file_carry_escapes(tmp_path):
    import logging

    from safeguard.terminal import Formatter
    from safeguard.watch.status import publish_status

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    publish_status(tmp_path / "status.txt", inbox, f"12:00  {EVIL}.jpg  ->  held")
    text = (inbox / "_safeguard-status.txt").read_text()
    clean(SimpleNamespace(output=text, stderr=""))
    assert text.count("\n") == 1
    rec = logging.LogRecord("safeguard.watch", logging.INFO, __file__, 1, "%s | %s", (EVIL, "ok"),
                            None)
    clean(SimpleNamespace(output=Formatter("%(message)s").format(rec), stderr=""))


def test_no_command_prints_except_through_the_escaping_echo():
    """The next command added cannot forget: in the commands and the CLI, text reaches the
    terminal only through safeguard.terminal (echo, echo_json, console, shown prompts)."""
    import ast
    from pathlib import Path

    import safeguard

    pkg = Path(safeguard.__file__).parent
    banned = {("click", "echo"), ("click", "secho"), ("sys.stdout", "write"),
              ("sys.stderr", "write"), ("rich", "print")}
    found = []
    for path in sorted([*pkg.glob("commands/*.py"), pkg / "cli.py"]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = (ast.unparse(f.value), f.attr) if isinstance(f, ast.Attribute) else None
            if name in banned or (isinstance(f, ast.Name) and f.id in {"print", "Console"}):
                found.append(f"{path.relative_to(pkg)}:{node.lineno}: {ast.unparse(f)}")
    assert not found, "print through safeguard.terminal instead:\n" + "\n".join(found)

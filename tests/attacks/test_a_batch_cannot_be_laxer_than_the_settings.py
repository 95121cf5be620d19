"""Comms staff choose per-batch options (`--unknown`, `--text`, `--style`) on blur, scan and
watch, locally and through the service. With `unknown = "hold"` configured, `blur --service
--unknown keep` exported an unknown face; `--text keep` exported a child-protection pupil's name.
A batch may be stricter than the school's settings, never laxer: a laxer choice is a usage error
(exit 2) and nothing is processed. Admins and the DSL may relax a batch (they can change and
accept the settings anyway)."""

from __future__ import annotations

import threading

import pytest
from conftest import SAMPLES
from support.helpers import TEST_PASSWORD, accept_settings, new_home, run_cli_as, run_cli_env

from safeguard.config import Config, ConfigError

PHOTO = SAMPLES / "photos" / "visit.jpg"


def _home(tmp_path, settings: str):
    home = new_home(tmp_path / "home")  # no pupils: every face in the photo is unknown
    home.config_file.write_text(settings)
    accept_settings(home)
    return home


@pytest.fixture
def service(tmp_path):
    from safeguard.service import PhotoService, serve

    home = _home(tmp_path, 'unknown = "hold"\nstyle = "solid"\n')
    sock = tmp_path / "photos.sock"
    server = serve(PhotoService(home, Config(), jobs=1), sock)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    yield sock
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("option", [("--unknown", "keep"), ("--unknown", "redact"),
                                    ("--style", "blur")])
def test_through_the_service_comms_cannot_relax_a_setting(service, tmp_path, option):
    comms = {"SAFEGUARD_USER": "test-comms", "SAFEGUARD_PASSWORD": TEST_PASSWORD,
             "SAFEGUARD_HOME": "/nonexistent/safeguard-home"}
    out = tmp_path / "out"
    r = run_cli_env(comms, "blur", PHOTO, "--out", out, "--service", service, "--json", *option)
    assert r.exit_code == 2, r.output
    assert "less strict than this school's setting" in r.output
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("command", ["blur", "scan", "watch"])
def test_locally_comms_cannot_relax_a_setting(tmp_path, command):
    home = _home(tmp_path, 'unknown = "hold"\n')
    out = tmp_path / "out"
    if command == "watch":
        (tmp_path / "inbox").mkdir()
        args = ["watch", tmp_path / "inbox", "--ready", out, "--once"]
    else:
        args = [command, PHOTO, *(["--out", out] if command == "blur" else []), "--jobs", "1"]
    r = run_cli_as("test-comms", "--home", home.root, *args, "--unknown", "keep")
    assert r.exit_code == 2, r.output
    assert 'less strict than this school\'s setting (unknown = "hold")' in r.output
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.model
def test_comms_cannot_leave_a_register_pupils_name_unread(demo_home, tmp_path):
    from PIL import Image, ImageDraw, ImageFont
    from support.helpers import open_store

    open_store(demo_home).add_register("P001", "cp", actor="test")
    im = Image.new("RGB", (1600, 1200), (200, 210, 190))  # a noticeboard: no face, one name
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 60)
    except OSError:
        font = ImageFont.load_default(60)
    d.rectangle([300, 500, 1100, 640], fill="white")
    d.text((340, 530), "Ada Example", font=font, fill="black")
    src = tmp_path / "noticeboard.jpg"
    im.save(src, quality=92)
    out = tmp_path / "out"
    r = run_cli_as("test-comms", "--home", demo_home.root, "blur", src, "--out", out,
                   "--channel", "website", "--text", "keep", "--json", "--jobs", "1")
    assert r.exit_code == 2, r.output
    assert "--text keep is less strict" in r.output
    assert not out.exists() or not list(out.iterdir())
    r = run_cli_as("test-comms", "--home", demo_home.root, "blur", src, "--out", out,
                   "--channel", "website", "--json", "--jobs", "1")
    assert r.exit_code == 3, r.output  # as configured, her name holds the photo for the DSL
    assert not list(out.iterdir())


def test_stricter_choices_are_allowed_and_the_dsl_may_relax():
    cfg = Config(unknown="redact", text="redact", style="blur").check()
    assert cfg.batch_choices("comms", unknown="hold", text="hold", style="solid") == {
        "unknown": "hold", "text": "hold", "style": "solid"}
    assert cfg.batch_choices("comms", unknown=None, text=None, style="pixelate") == {
        "unknown": "redact", "text": "redact", "style": "pixelate"}
    for role in ("comms", "data", "slt"):
        for name, value in (("unknown", "keep"), ("text", "keep")):
            with pytest.raises(ConfigError, match="less strict"):
                cfg.batch_choices(role, **{name: value})
    with pytest.raises(ConfigError, match="less strict"):
        Config(style="solid").batch_choices("comms", style="pixelate")
    for role in ("admin", "dsl"):
        assert cfg.batch_choices(role, unknown="keep", text="keep") == {"unknown": "keep",
                                                                        "text": "keep"}


def test_a_batch_the_dsl_relaxes_is_on_the_record(tmp_path):
    from support.helpers import open_store

    from consent_db.staff import Staff
    from safeguard.publish import resolve_choices as batch_choices

    home = _home(tmp_path, 'unknown = "hold"\n')
    store = open_store(home)
    cfg = Config(unknown="hold").check()
    assert batch_choices(cfg, Staff("test-dsl", "dsl"), store.audit, unknown="keep",
                         text=None, style=None)["unknown"] == "keep"
    batch_choices(cfg, Staff("test-dsl", "dsl"), store.audit, unknown="hold", text="hold",
                  style=None)  # stricter: nothing to record
    relaxed = [e for e in store.audit.entries() if e["action"] == "batch.relaxed"]
    assert [(e["actor"], e["details"]) for e in relaxed] == [("test-dsl", {"unknown": "hold -> keep"})]

"""`safeguard demo`: a newcomer's first run on the bundled samples."""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from pathlib import Path

import click

from safeguard import shipped
from safeguard.exitcodes import ExitStatus
from safeguard.home import Home
from safeguard.terminal import echo, heading

SAMPLES = shipped.path("samples")  # samples/, shipped with the package
DEMO_MARK = ".safeguard-demo"


@click.command()
@click.option("--dir", "where", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo"), show_default=True,
              help="Where to put the demo home and the exported copies (recreated each run).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None)
def demo(where: Path, jobs: int | None) -> None:
    """Enrol two sample pupils and run the blur pass over samples/photos.

    Ada Example has no consent for social media, Ben Example has. Then Ada is put on the child
    protection register and the same photo is run again: now it is held for the DSL."""
    from consent_db import ConsentStore

    if where.exists():
        if not (where / DEMO_MARK).exists():
            raise click.ClickException(f"{where} exists and is not a demo folder; choose --dir")
        shutil.rmtree(where)
    where.mkdir(parents=True)
    (where / DEMO_MARK).write_text("made by safeguard demo\n")
    home, out = Home(where / "home").ensure(), where / "ready"
    photos, clips = SAMPLES / "photos", SAMPLES / "clips"

    say = lambda s="": echo(s)
    heading("0. The admin creates the store and staff accounts")
    store = ConsentStore.open(home, create=True)
    # demo accounts with a random password that lives only in this process
    password = secrets.token_urlsafe(18)
    for user, role in (("demo-admin", "admin"), ("demo-data", "data"), ("demo-dsl", "dsl"),
                       ("demo-comms", "comms")):
        store.add_staff(user, role, password, actor="demo-admin")
    from safeguard.accepted_settings import record_initial

    # As `init` does: the settings written and accepted; spot checks (a random share of
    # photos held for the DSL) are off, so that the demo shows the same on every run.
    home.config_file.write_text("# the demo's settings: every default but spot checks\n"
                                "spot_check_rate = 0.0\n")
    record_initial(home, store, "demo-admin")
    say(f"   safeguard --home {home.root} init --admin demo-admin; staff add demo-data --role data;"
        " demo-dsl --role dsl; demo-comms --role comms")
    say("   (spot checks off in this demo: spot_check_rate = 0.0 in its settings)")
    say()
    heading("1. The data manager records two pupils and enrols reference photos")
    store.add_pupil("P001", "Ada Example", consents={"social": False, "website": True},
                    biometric_consent=True, actor="demo-data")
    store.add_pupil("P002", "Ben Example", consents={"social": True, "website": True},
                    biometric_consent=True, actor="demo-data")
    for pid, who in (("P001", "ada"), ("P002", "ben")):
        refs = sorted((SAMPLES / "references").glob(f"{who}-*.jpg"))
        _enrol(store, home, pid, refs)
        say(f"   {pid}: enrolled from {', '.join(p.name for p in refs)}")
    say("   Ada: no consent for social media. Ben: consent for social media and the website.")
    say()
    heading("2. Comms staff run the blur pass for social media, on photos and a clip")
    say(f"   safeguard --home {home.root} --as demo-comms blur {_rel(photos)} {_rel(clips)} "
        f"--out {out} --channel social")
    code = _blur(home, [photos, clips], out, "social", jobs, password)
    say()
    heading("3. The DSL puts Ada on the child protection register; the same photo again")
    store.add_register("P001", "cp", actor="demo-dsl")
    _blur(home, [photos / "assembly.jpg"], out, "social", jobs, password)
    say()
    say(f"Exported copies are in {out}/; held originals wait for the DSL under {home.root}/held/.")
    say("Look at the copies: Ada's face is blurred, Ben's is not, and no metadata is left; in the")
    say("clip her face is blurred in every frame, and the phone's place, dates and sound are gone.")
    # The demo has done what it shows when the batch finished, whatever it held or rejected.
    finished = (ExitStatus.HELD, ExitStatus.REJECTED, ExitStatus.HELD_AND_REJECTED)
    return ExitStatus.OK if code in finished else ExitStatus(code)


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _enrol(store, home, pupil_id: str, refs: list[Path]) -> None:
    """Enrol exactly as `safeguard pupils enrol` does (safeguard.enrolment.enrol_batch)."""
    from safeguard.config import Config
    from safeguard.enrolment import enrol_batch

    cfg = Config()
    matrix = store.match_matrix(cfg.default_channel)
    [res] = enrol_batch(store, {pupil_id: refs}, matrix=matrix, config=cfg,
                        taken=dt.date.today(), actor="demo-data")
    if not res.ok:
        raise click.ClickException("sample reference refused: " + "; ".join(res.refused))


def _blur(home: Home, paths, out: Path, channel: str, jobs: int | None, password: str) -> int:
    """The comms staff's blur pass, in this process, as `safeguard blur` runs it: signed in as
    demo-comms (the password passed, never put in the environment), through the same publish
    session (safeguard.publish) and shown the same way; returns its exit status."""
    import os

    from safeguard import batch_terminal
    from safeguard.accepted_settings import accepted_config
    from safeguard.config import load_config
    from safeguard.door import Entrance
    from safeguard.pipeline import collect_inputs
    from safeguard.publish import Request, Session

    gate = Entrance.open(home, load_config(home.config_file))
    who = gate.verify_staff("demo-comms", password, source=f"uid:{os.getuid()}")
    if who is None:
        raise click.ClickException("the demo's comms account could not sign in")
    config = accepted_config(home, gate)
    door = gate.door(who, config)
    door.need("photos")
    session = Session(home, who, door, config, Request(channel=channel, out=out, write=True))
    files, early = collect_inputs(list(paths))
    return int(batch_terminal.run(session, files, early, as_json=False,
                                  jobs=jobs or os.cpu_count() or 1))

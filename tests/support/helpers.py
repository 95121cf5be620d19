"""Small helpers for tests that check outcomes on real images."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
from click.testing import CliRunner


def run_cli(*args: str, input: str | None = None):
    """Run the real CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from safeguard.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def faces_and_encodings(path: Path):
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces
    from safeguard.images import load_image

    rgb = load_image(path).rgb
    faces = detect_faces(rgb)
    return rgb, faces, encode_faces(rgb, faces)


def region_encoding(rgb: np.ndarray, box: list[int]):
    """Detect and encode what is left inside `box` (grown a little) of an output image.

    Returns None when no face is found there any more, else the encoding of the best face."""
    from safeguard.detect import detect_faces
    from safeguard.faces import Box
    from safeguard.identify import encode_faces

    h, w = rgb.shape[:2]
    b = Box(*box).scaled(1.6, w, h)
    crop = np.ascontiguousarray(rgb[b.y0 : b.y1, b.x0 : b.x1])
    faces = detect_faces(crop)
    if not faces:
        return None
    return encode_faces(crop, faces[:1])[0]


def min_distance(enc, refs) -> float:
    return float(np.min(np.linalg.norm(np.asarray(refs) - enc, axis=1)))


def exiftool_groups(path: Path) -> set[str] | None:
    """Metadata groups exiftool finds in `path` (None when exiftool is not installed)."""
    exe = shutil.which("exiftool")
    if exe is None:
        return None
    out = subprocess.run([exe, "-a", "-G1", "-s", str(path)], capture_output=True, text=True,
                         check=True).stdout
    groups = set()
    for line in out.splitlines():
        if line.startswith("["):
            groups.add(line[1 : line.index("]")])
    return groups


# Groups that only describe the file and its pixels, never its subject or origin.
HARMLESS_GROUPS = {"ExifTool", "System", "File", "JFIF", "Composite", "PNG"}


# Staff accounts of every test home (open_store): the CLI signs in as TEST_USER (a DSL) unless a
# test says otherwise (conftest sets SAFEGUARD_USER and SAFEGUARD_PASSWORD for every test).
TEST_PASSWORD = "test password 1234"
TEST_USER = "test-dsl"
STAFF = {"test-admin": "admin", "test-dsl": "dsl", "test-data": "data", "test-comms": "comms"}


def open_store(home, channels=None):
    """The consent store of `home` (a safeguard.home.Home), created with the test staff
    accounts when there is none yet: what `safeguard init` and `staff add` do for a school."""
    from consent_db import ConsentStore

    store = ConsentStore.open(home, channels=channels, create=True)
    config = Path(home.root) / "config.toml"
    if not config.exists():  # no spot checks: the suite's photos come out the same every run
        config.write_text("spot_check_rate = 0.0\n")
    if not store.has_staff():
        for user, role in STAFF.items():
            store.add_staff(user, role, TEST_PASSWORD, actor="test-setup")
        accept_settings(home, store)
    return store


def accept_settings(home, store=None):
    """Accept HOME/config.toml as it is now (written with every default if there is none), as
    `safeguard init` and then `safeguard config accept` do: a test that writes its own settings
    calls this after writing them."""
    from safeguard import accepted_settings as acc

    store = store if store is not None else open_store(home)
    if not Path(home.config_file).exists():
        Path(home.config_file).write_bytes(acc.NEW_FILE)
    acc.accept(store, acc.propose(home, store), "test-admin", home)


def signed_in_as(user: str) -> dict:
    """Environment for a CLI call signed in as another test account."""
    return {"SAFEGUARD_USER": user, "SAFEGUARD_PASSWORD": TEST_PASSWORD}


def new_home(root):
    """An initialised home (store, key, test staff accounts) with no pupils: a school that has
    run `safeguard init` and added its staff."""
    from safeguard.home import Home

    home = Home(Path(root).resolve()).ensure()
    open_store(home)
    return home


def run_cli_env(env: dict, *args):
    """run_cli with environment variables set (a value of None unsets one)."""
    from safeguard.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def run_cli_as(user: str, *args, env: dict | None = None):
    """run_cli signed in as another test account."""
    return run_cli_env({**signed_in_as(user), **(env or {})}, *args)

"""Staff who drop photos can rename anything in the inbox while the watcher works. An insider put
`store.key` in a subfolder, waited until the watcher had looked at it, then swapped the subfolder
for a symbolic link to the home's keys: the watcher's claim followed the link and moved the
home's real key into `rejected/`, and every command failed from then on. Done to `config.toml`,
the school's safety settings silently stopped applying after a restart.

Here the swap is made at every step between the watcher's look and its claim (through the
watcher's own hook, not by racing it with sleeps), to a link to the home, to its keys folder and
to an /etc-like tree made for the test. Nothing outside the inbox may move or change; every photo
ends in exactly one known place (ready or rejected), once the folders are put back.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from support.helpers import new_home, run_cli
from support.watch_helpers import faceless_jpeg

from safeguard.config import Config
from safeguard.watch import Target, Watcher, WatchSettings
from safeguard.watch import inbox as inbox_steps

pytestmark = [pytest.mark.slow, pytest.mark.model]  # worker processes, the detector on photos


def _fingerprint(*roots: Path) -> dict[str, tuple]:
    """Every file under `roots`: inode and content hash (what must not move or change)."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if p.is_file() and not p.is_symlink():
                out[str(p)] = (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _run(home, inbox: Path, ready: Path) -> None:
    target = Target(home, inbox, ready, "social")
    target.lock()
    try:
        settings = WatchSettings(home=home.root, channel="social", config=Config(),
                                 unknown="redact", style="blur", output_format="jpeg")
        w = Watcher(target, settings, jobs=1, settle=0.1, give_up=0.3, poll=0.1, once=True)
        done = threading.Event()
        timer = threading.Timer(240, lambda: done.is_set() or w.request_stop())
        timer.start()
        try:
            w.run()
        finally:
            done.set()
            timer.cancel()
    finally:
        target.unlock()


def test_a_subfolder_swapped_for_a_link_at_any_step_moves_nothing_outside_the_inbox(
        tmp_path, monkeypatch):
    home = new_home(tmp_path / "home")
    home.config_file.write_text('unknown = "redact"\n')
    assert (home.keys_dir / "store.key").is_file()
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "photo.jpg").write_bytes(b"a file that is not the inbox's")
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()

    # Per step, three subfolders, each holding files named like the files its link will reach.
    links = {"home": (home.root, {"config.toml": b'unknown = "keep"\n'}),
             "keys": (home.keys_dir, {"store.key": os.urandom(64)}),
             "etc": (etc, {"passwd": b"evil::0:0::/:/bin/sh\n"})}
    swap_at: dict[str, tuple[str, Path]] = {}
    photos: dict[str, str] = {}  # rel -> "ready" | "rejected" (where it must end)
    for i, step in enumerate(inbox_steps.STEPS):
        for kind, (where, files) in links.items():
            sub = f"{kind}{i}"
            (inbox / sub).mkdir()
            for name, data in files.items():
                (inbox / sub / name).write_bytes(data + f"# {sub}\n".encode())
                photos[f"{sub}/{name}"] = "rejected"
            if kind == "etc":
                (inbox / sub / "photo.jpg").write_bytes(faceless_jpeg(100 + i))
                photos[f"{sub}/photo.jpg"] = "ready"
            swap_at[sub] = (step, where)
    before = _fingerprint(home.keys_dir, home.config_file, home.store_dir, etc)
    assert before

    swapped: list[str] = []

    def swap(step: str, rel: str) -> None:
        sub = rel.split("/", 1)[0]
        if sub in swap_at and swap_at[sub][0] == step and sub not in swapped:
            swapped.append(sub)
            os.rename(inbox / sub, inbox / f".x-{sub}")
            os.symlink(swap_at[sub][1], inbox / sub)

    monkeypatch.setattr(inbox_steps, "between_look_and_claim", swap)
    _run(home, inbox, ready)
    assert sorted(swapped) == sorted(swap_at), "every step was reached"
    assert _fingerprint(home.keys_dir, home.config_file, home.store_dir, etc) == before

    # Put the folders back: whatever was not taken is taken now, and nothing is lost.
    monkeypatch.setattr(inbox_steps, "between_look_and_claim", lambda step, rel: None)
    for sub in swapped:
        if os.path.lexists(inbox / sub):  # a link dropped in the inbox is taken (and rejected)
            os.unlink(inbox / sub)
        os.rename(inbox / f".x-{sub}", inbox / sub)
    _run(home, inbox, ready)
    assert _fingerprint(home.keys_dir, home.config_file, home.store_dir, etc) == before

    left = [str(p.relative_to(inbox)) for p in inbox.rglob("*") if p.is_file()]
    assert left == ["_safeguard-status.txt"]
    rejected = sorted(json.loads((d / "reason.json").read_text())["name"]
                      for d in home.rejected_dir.iterdir())
    links_taken = [r for r in rejected if r in swapped]
    assert sorted(set(links_taken)) == sorted(links_taken)  # each at most once
    assert sorted(r for r in rejected if r not in swapped) == sorted(
        r for r, where in photos.items() if where == "rejected")
    assert len(list(ready.iterdir())) == sum(where == "ready" for where in photos.values())
    assert not list(home.held_dir.glob("*"))
    target = Target(home, inbox, ready, "social")
    assert not [d for d in target.processing.iterdir() if not d.name.startswith(".")]


@pytest.mark.parametrize("layout", ["home in inbox", "inbox in home", "inbox linked into home"])
def test_the_watcher_refuses_to_start_when_the_home_and_the_inbox_overlap(tmp_path, layout):
    if layout == "home in inbox":
        inbox = tmp_path / "inbox"
        home = new_home(inbox / "safeguard-home")
    else:
        home = new_home(tmp_path / "home")
        inbox = home.root / "inbox"
        inbox.mkdir()
        if layout == "inbox linked into home":
            os.symlink(inbox, tmp_path / "inbox-link")
            inbox = tmp_path / "inbox-link"
    keys = _fingerprint(home.keys_dir)
    r = run_cli("--home", home.root, "watch", inbox, "--ready", tmp_path / "ready", "--once")
    assert r.exit_code == 1, r.output
    assert "keep the inbox and safeguard's home folder apart" in r.output
    assert "Traceback" not in r.output
    assert _fingerprint(home.keys_dir) == keys
    assert not (tmp_path / "ready").exists()

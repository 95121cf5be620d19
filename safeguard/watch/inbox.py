"""The inbox, reached only through folders the watcher opened itself.

Staff who drop photos can also rename, delete and replace anything in the inbox, including a
subfolder, between the moment the watcher looks at a file and the moment it takes it. A path
string (INBOX/trip/photo.jpg) is looked up again by the kernel each time it is used, so a
subfolder swapped for a symbolic link in between makes the same string name a file somewhere
else entirely: the home's keys, its config.toml. Everything here therefore works relative to
open folders: the inbox is opened once (never through a link), each subfolder is opened from
its parent's descriptor (never through a link), and a file is moved out of the folder the
watcher holds open, then checked to be the very file that was looked at.

`between_look_and_claim` is called at each step between the look and the claim with the step's
name and the file's name; it does nothing, and tests replace it to change the inbox at exactly
that moment instead of racing it with sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

# The steps between the look and the claim, in the order they happen.
STEPS = ("decoding", "claiming", "folder-open", "checked", "claimed")


def _nothing(step: str, rel: str) -> None:
    return None


between_look_and_claim: Callable[[str, str], None] = _nothing


def step(name: str, rel: str) -> None:
    between_look_and_claim(name, rel)

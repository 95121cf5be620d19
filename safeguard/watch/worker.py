"""What the worker processes run: the live Job for the store as it is now, and the
parent-death guard that ends a worker with its watcher."""


from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from safeguard.config import Config
from safeguard.home import Home

# ---------------------------------------------------------------------------------------------
# What workers run


@dataclass(frozen=True)
class WatchSettings:
    """Everything a worker needs to build its Job; small and picklable."""

    home: Path
    channel: str
    config: Config
    unknown: str
    style: str
    output_format: str
    groups: tuple[str, ...] = ()  # class rosters: only their consenting pupils clear a face
    text: str = "redact"  # text naming a pupil or a class in a photo (config.text)


def store_signature(home: Home) -> tuple:
    """Changes whenever the consent store's files change (every write replaces a file)."""
    sig = []
    for folder in (home.store_dir, home.store_dir / "encodings", home.keys_dir):
        try:
            for e in sorted(os.scandir(folder), key=lambda e: e.name):
                if e.name.endswith(".lock") or not e.is_file(follow_symlinks=False):
                    continue
                st = e.stat(follow_symlinks=False)
                sig.append((e.path, st.st_mtime_ns, st.st_size, st.st_ino))
        except FileNotFoundError:
            continue
    return (dt.date.today(), tuple(sig))


def folder_group(rel: str, known: Iterable[str]) -> str | None:
    """The class roster a photo's first-level subfolder of the inbox names, if any: `4O/trip.jpg`
    is taken with group 4O when some enrolled pupil is in 4O (case folded). A folder that names
    no group, and a photo at the top of the inbox, give None (the watcher's own groups)."""
    parts = Path(rel).parts
    if len(parts) < 2:
        return None
    wanted = parts[0].casefold()
    return next((g for g in sorted(set(known)) if g.casefold() == wanted), None)


CHECK_FOLDER = "_check"


def asks_dsl(rel: str) -> bool:
    """Is the photo at `rel` (relative to the inbox) in the inbox's `_check/` folder? Comms staff
    drop photos there to have the DSL check the faces that would be blurred (`blur --ask-dsl`)."""
    parts = Path(rel).parts
    return len(parts) >= 2 and parts[0] == CHECK_FOLDER


class LiveJob:
    """The pipeline Job for the store as it is now: rebuilt when the store's files change (a
    withdrawal made by another process is seen by the next photo) or the date changes (consents
    expire). One Job per roster in use (the watcher's groups, or a subfolder's group)."""

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self.home = Home(settings.home)
        self._sig: tuple | None = None
        self._base = None  # the Job with the watcher's own groups
        self._jobs: dict[tuple[str, ...], object] = {}

    def job(self, out_dir: Path | None = None, rel: str | None = None):
        """The Job for a photo at `rel` (relative to the inbox), writing to `out_dir`."""
        from dataclasses import replace

        sig = store_signature(self.home)
        if sig != self._sig or self._base is None:
            self._base = self._build()
            self._jobs = {self._base.groups: self._base}
            self._sig = store_signature(self.home)
            if self._sig != sig:  # changed while reading: read again next time
                self._sig = None
        job = self._base
        known = {g for gs in job.matrix.groups for g in gs}
        ask = bool(rel) and asks_dsl(rel)
        if ask:  # `_check/4O/trip.jpg` is taken with group 4O too
            rel = str(Path(*Path(rel).parts[1:]))
        group = folder_group(rel, known) if rel else None
        if group is not None:
            key = (group,)
            if key not in self._jobs:  # the roster's calibration, worked out once
                self._jobs[key] = job.for_roster(key)
            job = self._jobs[key]
        # where the DSL's copy goes back to is the watcher's ready folder (loop._record says)
        return replace(job, out_dir=out_dir,
                       ask_dsl={"by": None, "note": None, "suggest": []} if ask else None)

    def names(self) -> tuple[str, ...]:
        return self.job().names

    def _build(self):
        from safeguard.pipeline import store_inputs
        from safeguard.publish import job_for

        s = self.settings
        inputs = store_inputs(self.home, s.config, s.channel)
        config = s.config.with_overrides(unknown=s.unknown, style=s.style, text=s.text)
        return job_for(config, s.channel, inputs, groups=s.groups,
                       output_format=s.output_format)


_LIVE: LiveJob | None = None


def _worker_init(settings: WatchSettings, watcher: int, workers: int = 1) -> None:
    global _LIVE
    from safeguard.workers import die_with

    die_with(watcher)  # no orphan goes on writing after the watcher ends, even by kill -9
    from safeguard.workers import side_by_side

    side_by_side(workers > 1)  # the workers' detectors' peaks add up
    # The watcher decides when to stop; workers finish the photo in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _LIVE = LiveJob(settings)


def _worker_warm() -> None:
    """Load every model a photo needs (pipeline.warm_up; the text reader unless text is kept)
    and read the store once, so the first photo is not slow."""
    from safeguard.pipeline import warm_up

    assert _LIVE is not None
    warm_up(text=_LIVE.settings.text != "keep")
    _LIVE.job()


def _worker_process(claim_dir: str, input_path: str, rel: str | None = None):
    from safeguard.pipeline import process_file

    assert _LIVE is not None
    return process_file(Path(input_path), _LIVE.job(out_dir=Path(claim_dir) / "out", rel=rel))



"""Publishing a batch: the one way photos go from a signed-in account to publishable copies.

Every front door uses it: `safeguard scan` and `blur` (safeguard/commands/scan.py), the photo
service (safeguard/service.py), the watched folder (safeguard/watch), the DSL's contact sheet
(`report`), and the demo. Each only gathers a `Request`, opens a `Session` and shows what it
yields; the choices, the checks, the pipeline `Job` and the approval post live here.

    request = Request(channel="social", groups=("4O",), caption=text, out=Path("ready"),
                      write=True)
    session = Session(home, who, door, config, request)  # RequestError: the request is wrong
    for outcome in session.outcomes(files, early, jobs=4):  # each delivered as it finishes
        show(outcome)
    session.finish()  # the approval post submitted, or dropped when nothing went into it
    sys.exit(session.result.status)

A session resolves the request over the settings once: a batch may be stricter than the
settings (unknown, style, text), laxer only for a role that may change them, and then it is in
the audit log (config.STRICTNESS); it checks the channel, the class rosters (`groups`) and the
caption; it builds the only `Job` (pipeline.Job, through `job_for`); and when the channel's
posts need sign-off (config `approval`) it owns the post: started when the batch opens, each
copy added as it is made, submitted by `finish` (or dropped when empty).

Where a copy goes, whoever made it:

    session.deliver(outcome)       # a pipeline outcome whose copy is staged (outcome.output):
                                   # into the post (outcome.approval = its id, output None), or
                                   # left where it is (--out, or the service's scratch folder)
    session.deliver_copy(name, data) -> {"output": path} | {"approval": post id}
                                   # a finished copy made elsewhere (a DSL's release of a held
                                   # photo): into the channel's post when it needs sign-off,
                                   # else written atomically into the request's `out`

The caller then calls `finish()` once. `session.result` (a `BatchResult`) counts the outcomes
and owns the exit status (safeguard.exitcodes), a flagged caption included.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from safeguard.exitcodes import ExitStatus


class RequestError(Exception):
    """The request cannot be served as it is: a usage error, one line fit for the person.
    `option`: the command-line option it is about, if one is."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Request:
    """What a person asked of one batch. None: the setting (config.toml) decides."""

    channel: str | None = None
    groups: tuple[str, ...] = ()  # class rosters: only their consenting pupils clear a face
    unknown: str | None = None
    text: str | None = None
    style: str | None = None
    format: str | None = None  # "jpeg" | "png"
    quality: int | None = None  # JPEG quality
    caption: str | None = None  # the text to be posted with the photos
    out: Path | None = None  # where the publishable copies land (and an approved post)
    write: bool = False  # False: scan only, nothing written
    audio: str | None = None  # a clip's sound: "strip" or "keep" (None: the channel's setting)
    # Comms staff ask the DSL to check the faces the batch blurs (`blur --ask-dsl`): {"note",
    # "suggest", "return_to"}; such a photo is held, its copy made by the DSL's release
    ask_dsl: dict | None = None


@dataclass
class BatchResult:
    """What became of a batch: its outcomes and, from them, its exit status."""

    caption: list | None = None  # the caption's findings (public form); None: no caption
    outcomes: list = field(default_factory=list)
    interrupted: bool = False
    post: dict | None = None  # the post submitted for sign-off, if one was

    def add(self, outcome) -> None:
        self.outcomes.append(outcome)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def status(self) -> ExitStatus:
        """The exit status: interrupted; else held and rejected photos (exitcodes.ExitStatus);
        a caption that identifies a child makes a clean batch end with its own code (6, the
        caption to change), never "held" (3): nothing was held, and a script must tell them
        apart. Held or rejected photos say more and keep their codes."""
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        status = ExitStatus.for_batch(self.count("held"), self.count("rejected"))
        return ExitStatus.NEEDS_CHANGE if self.caption and status == ExitStatus.OK else status


def resolve_choices(config, who, audit, channel: str | None = None,
                    **chosen: str | None) -> dict[str, str]:
    """The batch's own choices (unknown, style, text, audio: for `channel`) over the settings:
    stricter only, unless the signed-in role may relax them (config.STRICTNESS); a laxer one is
    a RequestError. A batch relaxed by an admin or the DSL goes in the audit log."""
    from safeguard.config import ConfigError

    try:
        choices = config.batch_choices(who.role, channel, **chosen)
    except ConfigError as e:
        raise RequestError(str(e)) from None
    audit_relaxed(audit, who, config, chosen, channel)
    return choices


def audit_relaxed(audit, who, config, chosen: dict, channel: str | None = None) -> None:
    """Record a batch that an admin or the DSL made laxer than the settings (allowed: they can
    change the settings; recorded, because the settings' own record would not show it)."""
    laxer = config.laxer(channel, **chosen)
    if laxer:
        audit.append(who.user, "batch.relaxed", None,
                     {name: f"{config.setting_for(name, channel)} -> {value}"
                      for name, value in laxer.items()})


def check_groups(matrix, groups) -> tuple[str, ...]:
    """`groups` as given, once each; a group no enrolled pupil belongs to is a RequestError (a
    typo would otherwise clear nobody, or a roster would silently widen)."""
    from safeguard.calibration import unknown_groups

    unknown = unknown_groups(matrix, groups)
    if unknown:
        raise RequestError(
            f"no enrolled pupil is in group {', '.join(map(repr, unknown))} (pupils list --group "
            "NAME shows a roster)", "--group")
    return tuple(dict.fromkeys(groups))


def check_channel(config, channel: str | None) -> str:
    """The channel asked for, or the default one; one the settings do not know is an error."""
    channel = channel or config.default_channel
    if channel not in config.channels:
        raise RequestError(f"unknown channel {channel!r}; channels: {', '.join(config.channels)}",
                           "--channel")
    return channel


def job_for(config, channel: str, inputs, *, groups: tuple[str, ...] = (), out_dir=None,
            held_dir=None, output_format: str = "jpeg", ask_dsl: dict | None = None,
            audio: str | None = None, threads: int = 1):
    """The pipeline Job: `config` with the batch's choices in force, the store's `inputs`
    (pipeline.StoreInputs) for `channel`. The only place one is made. `inputs` None: a job that
    decides nothing (the writer of a release the DSL has decided: no matrix, no calibration)."""
    from safeguard.pipeline import Job

    fields = inputs.job_fields() if inputs is not None else {"matrix": None, "calibration": False}
    return Job(config=config, channel=channel, out_dir=out_dir, held_dir=held_dir,
               output_format=output_format, groups=groups, ask_dsl=ask_dsl, audio=audio,
               threads=threads, **fields)


class Session:
    """One batch published by one signed-in account (`who`, reaching the store through `door`)
    under the accepted settings `config`. Raises RequestError for a request that cannot be
    served; consent_db.StoreError for a store that cannot be used.

    `scratch`: the folder the pipeline writes copies into when the caller takes them from there
    itself (the service sends them back over its socket); None: straight into `request.out`.
    `release_folders_only`: an approved post may land only in a configured release folder (the
    service writes as the home's owner, so a caller may not choose just any folder).
    `post_id` and `origin`: the post's id and where its photo came from, for a copy made
    elsewhere (a DSL's release of a held photo, safeguard.review.delivery: one post per held
    photo, and the decision on it flows back to the inbox it came from)."""

    def __init__(self, home, who, door, config, request: Request, *,
                 scratch: Path | None = None, release_folders_only: bool = False,
                 post_id: str | None = None, origin: dict | None = None) -> None:
        from safeguard import approvals

        self.home, self.who, self.door, self.request = home, who, door, request
        settings = config.with_overrides(jpeg_quality=request.quality)
        self.settings = settings  # the accepted settings, as they are (the ceilings)
        self.channel = check_channel(settings, request.channel)
        choices = resolve_choices(settings, who, door.audit, self.channel,
                                  unknown=request.unknown, style=request.style,
                                  text=request.text, audio=request.audio)
        self.audio = choices.pop("audio")  # per batch; the settings keep it per channel
        self.config = settings.with_overrides(**choices)  # the one config in force
        self.inputs = door.photo_inputs(self.channel)
        self.groups = check_groups(self.inputs.matrix, request.groups)
        self.result = BatchResult(caption=None if request.caption is None else
                                  [f.public(words=True)  # to the batch's own runner only
                                   for f in door.check_caption(request.caption)])
        self.post: dict | None = None
        write = request.write
        post_out = None
        if write and approvals.needs_approval(settings, self.channel):
            post_out = request.out
            if release_folders_only:
                post_out = release_folder(request.out, settings, self.channel)
        if write:
            home.ensure()
        if post_out is not None:  # the copies wait for sign-off in a post of their own
            from safeguard.scope import academy_of_submitter

            self.post = approvals.start(home, self.channel, post_out, request.caption, who.user,
                                        post_id, academy=academy_of_submitter(who),
                                        origin=origin)
            staging = approvals.folder(home) / self.post["id"] / "staging"
        elif write:
            staging = scratch if scratch is not None else request.out
            if staging is not None:
                staging.mkdir(parents=True, exist_ok=True)
        else:
            staging = None
        self.job = job_for(self.config, self.channel, self.inputs, groups=self.groups,
                           out_dir=staging, held_dir=home.held_dir if write else None,
                           output_format=request.format or settings.output_format,
                           ask_dsl=self._asking(request, settings, release_folders_only),
                           audio=self.audio)

    def _asking(self, request: Request, settings, release_folders_only: bool) -> dict | None:
        """What a batch sent to the DSL to check carries (pipeline.Job.ask_dsl), signed with who
        asked. Through the service the DSL's release is written by the home's owner, so the copy
        may go back only to a configured release folder (as an approved post does)."""
        ask = request.ask_dsl
        if ask is None:
            return None
        ask = {**ask, "by": self.who.user}
        if release_folders_only:
            allowed = {Path(a).expanduser().resolve() for a in settings.release_folders}
            back = ask.get("return_to")
            p = Path(back) if isinstance(back, str) and back and "\0" not in back else None
            if p is None or not p.is_absolute() or p.resolve() not in allowed:
                where = ", ".join(sorted(map(str, allowed))) or "none is configured"
                raise RequestError("through the service, the DSL's copy of photos sent with "
                                   f"--ask-dsl goes back only to a release folder: give --out "
                                   f"one of them ({where})", "--out")
            ask["return_to"] = str(p.resolve())
        return ask

    @property
    def caption(self) -> list | None:
        """The caption's findings (public form: what and where, never who); None: no caption."""
        return self.result.caption

    def outcomes(self, files: list[Path], early: Iterable = (), *, jobs: int = 1,
                 pool=None) -> Iterator:
        """Each input's outcome as it is finished and delivered: `early` (rejected while
        collecting, pipeline.collect_inputs) first, then `files` through `jobs` workers (`pool`:
        started early, pipeline.start_workers). A KeyboardInterrupt marks the result
        interrupted and goes on up."""
        from safeguard.pipeline import process_batch

        try:
            for o in early:
                self.result.add(o)
                yield o
            for o in process_batch(files, self.job, jobs, pool):
                yield self.deliver(o)
        except KeyboardInterrupt:
            self.result.interrupted = True
            raise

    def photo(self, data: bytes, path: Path):
        """One photo's outcome, delivered, from its bytes (the service's photos)."""
        from safeguard.pipeline import process_data

        return self.deliver(process_data(data, path, self.job))

    def deliver(self, outcome):
        """`outcome` counted, and its staged copy put where it goes: into the post when there is
        one (outcome.approval its id, outcome.output None); else left in place."""
        from safeguard import approvals

        if self.post is not None and outcome.output:  # into the post, sealed, not into --out
            staged = Path(outcome.output)
            approvals.add(self.home, self.post, staged.name, staged.read_bytes())
            staged.unlink()
            outcome.output, outcome.approval = None, self.post["id"]
        if getattr(outcome, "held_id", None) and self.request.caption is not None:
            # the DSL sees the caption beside the held photo, and a release sends it on with it
            from safeguard.held import HeldError, HeldQueue

            with contextlib.suppress(HeldError, OSError):
                HeldQueue(self.home.held_dir).update(outcome.held_id,
                                                     caption=self.request.caption)
        self.result.add(outcome)
        return outcome

    def deliver_copy(self, name: str, data: bytes) -> dict:
        """A finished copy made outside the pipeline (a DSL's release of a held photo) put where
        this batch's copies go: {"approval": post id} when the channel needs sign-off, else
        {"output": path} in the request's `out`."""
        from safeguard import approvals
        from safeguard.images import write_atomic

        if self.post is not None:
            approvals.add(self.home, self.post, name, data)
            return {"approval": self.post["id"]}
        if self.request.out is None:
            raise RequestError("this batch has nowhere to put a copy")
        self.request.out.mkdir(parents=True, exist_ok=True)
        return {"output": str(write_atomic(data, self.request.out, name))}

    def finish(self) -> dict | None:
        """Submit the post for sign-off, or drop it when no copy went into it. Returns the
        post submitted, if one was."""
        from safeguard import approvals

        post, self.post = self.post, None
        if post is None:
            return None
        shutil.rmtree(approvals.folder(self.home) / post["id"] / "staging", ignore_errors=True)
        if not post["files"]:
            shutil.rmtree(approvals.folder(self.home) / post["id"], ignore_errors=True)
            return None
        approvals.submit(self.home, post, self.door.audit)
        self.result.post = post
        return post


def release_folder(out: object, config, channel: str) -> Path:
    """Where a post sent through the service lands once approved. The service account writes it
    there, so a comms member may not choose just any folder (they could have the service write
    into the home or anywhere it can reach): it must be one of the configured release folders."""
    allowed = {Path(a).expanduser().resolve() for a in config.release_paths()}
    if isinstance(out, Path):
        out = str(out)
    if not isinstance(out, str) or not out or "\0" in out:
        raise _release_folder_error(channel, allowed)
    p = Path(out).expanduser()
    if not p.is_absolute() or p.resolve() not in allowed:
        raise _release_folder_error(channel, allowed)
    return p.resolve()


def _release_folder_error(channel: str, allowed: set) -> RequestError:
    where = (", ".join(sorted(str(a) for a in allowed)) if allowed else
             "none is configured: set release_folders in config.toml")
    return RequestError(f"posts for {channel} need sign-off, and through the service an approved "
                        f"post lands only in a release folder: give --out one of them ({where})")

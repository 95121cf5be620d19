"""Configuration: the settings table, its defaults chosen from the benchmarks, overridable in
HOME/config.toml.

Every setting is one field of `Config`, declared with `safeguard.setting.setting`: its default,
what it does in words a school uses, the values it may take, its safe bounds and which way is
stricter. The loader below, `safeguard config`, the DPIA pack and docs/settings.md
(`python -m safeguard.settingsdoc`) are all made from those rows (`SETTINGS`): adding a setting
is adding one field. `safeguard config show` prints the live values.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from safeguard.exitcodes import SafeguardError
from safeguard.setting import Setting, rows, setting

# The share of photos that would be exported which are held for the DSL to check anyway (see
# `Config.spot_check_rate`). A module value so that a test session can start from 0 (the test
# suite's own photos must come out the same every run); a school sets it in config.toml.
DEFAULT_SPOT_CHECK_RATE = 0.05


class ConfigError(SafeguardError, ValueError):
    pass


# What a photo command says when config.toml is not the file an admin or the DSL accepted
# (safeguard.accepted_settings).
SETTINGS_CHANGED = ("the safety settings were changed outside safeguard (or are missing); an "
                    "admin or the DSL must check them: safeguard config accept")

# How strict each value of a setting that a batch may choose for itself is (higher is stricter).
# The trust's setting is the floor: a batch may choose a stricter value, never a laxer one, unless
# the signed-in role is in MAY_RELAX (Config.batch_choices). Faces that match nobody and text
# naming a pupil: kept < covered < held for the DSL. How a face is covered: blur and pixelate
# leave its outline and colours (both are checked against the encoder), solid leaves nothing.
# Not per batch, because no value is laxer than another: --format and --quality (the copy is
# stripped and its redaction checked whatever they are), --group (a roster only narrows who can
# clear a face; every restricted pupil still restricts) and --caption (it only adds a check).
KEEP_COVER_HOLD = {"keep": 0, "redact": 1, "hold": 2}
STYLE_STRICTNESS = {"blur": 0, "pixelate": 0, "solid": 1}
# A clip's sound, set per channel (a table: a channel not named strips, the strictest).
AUDIO_STRICTNESS = {"keep": 0, "strip": 1}

# The roles that may relax a setting for one batch: they may change and accept the settings
# themselves (`safeguard config accept`), so refusing them per batch would protect nothing.
MAY_RELAX = frozenset({"admin", "dsl"})


class TooLax(ConfigError):
    """A per-batch choice laxer than the trust's setting, by a role that may not relax it."""


@dataclass(frozen=True)
class Config:
    channels: tuple[str, ...] = setting(
        ("website", "social", "newsletter", "press", "prospectus"),
        "The places the school publishes photos. Parents give or refuse photo consent for each "
        "one separately.")
    default_channel: str = setting(
        "social", "The channel a batch of photos is checked for when nobody names one. Must be "
        "one of channels.", dpia="decisions")
    # A face within this distance of a restricted pupil's encoding is restricted. Wider than the
    # clearing tolerance on purpose: a near miss with a restricted pupil is doubt, and doubt redacts.
    restrict_tolerance: float = setting(
        0.6, "How alike a face must be to a pupil without consent (or on a protected register) "
        "for that pupil to count as possibly in the photo, and the face covered or the photo "
        "held. Higher is stricter: more near misses are treated as that pupil.",
        limits=(0.0, 1.0), safe=(0.5, 1.0), stricter="higher", dpia="decisions", measured=True)
    # A face is cleared only if it is within this distance of a consenting pupil (face_recognition
    # uses 0.6 and warns that it confuses children at that value) ... Measured (benchmarks/
    # REPORT.md): 0.5 is the widest value at which no stranger, impostor or restricted face was
    # cleared; 0.45 redacted 45% of consenting faces needlessly, 0.5 19%; wider values clear
    # strangers (the nearest stranger to an enrolled person was at 0.51).
    clear_tolerance: float = setting(
        0.5, "The most a face may differ from a pupil with consent and still be left visible as "
        "that pupil. The value in force is often lower: it is worked out from the enrolled "
        "pupils themselves (max_false_clear). Lower is stricter: fewer faces are left visible.",
        limits=(0.0, 1.0), safe=(0.0, 0.6), stricter="lower", dpia="decisions", measured=True,
        calibrated=True)
    # ... and every restricted pupil is at least this much further away than that consenting pupil.
    clear_margin: float = setting(
        0.1, "A face is left visible as a consenting pupil only if every pupil without consent "
        "looks at least this much less like it. Higher is stricter.",
        safe=(0.05, 1.0), stricter="higher", dpia="decisions", measured=True)
    # The chance, per face of someone never enrolled, that the clearing rule may take them for a
    # consenting pupil. The tolerance in force is the largest one, up to clear_tolerance, that the
    # enrolled gallery's own spread predicts keeps to this rate at its size (safeguard/
    # calibration.py): far below clear_tolerance for hundreds of children, clear_tolerance for a
    # few dozen adults. `safeguard status` and `safeguard dpia` show the live value.
    max_false_clear: float = setting(
        0.001, "The largest share of faces of people who were never enrolled (visitors, "
        "children from another school) that may be mistaken for a consenting pupil and left "
        "visible. 0.001 is one face in a thousand. Lower is stricter.",
        limits=(1e-6, 0.05), safe=(0.0, 0.01), stricter="lower", dpia="decisions",
        measured=True)
    # A face within restrict_tolerance of a restricted pupil is cleared by the rule above only
    # within this tolerance (at most; calibrated to the gallery like the one above, to the
    # stricter rate below): a restricted child's face taken for a consenting pupil is the leak
    # this product exists to prevent, so it gets a rate ten times lower than a stranger's. (A
    # distinct match still needs every restricted pupil distinct_margin further away.)
    near_restricted_tolerance: float = setting(
        0.5, "When a face looks somewhat like a pupil without consent, the most it may differ "
        "from a consenting pupil and still be left visible. Lower is stricter.",
        limits=(0.0, 1.0), safe=(0.0, 0.6), stricter="lower", dpia="decisions", calibrated=True)
    max_false_clear_restricted: float = setting(
        0.0001, "The largest share of faces of pupils without consent that may be mistaken for "
        "a consenting pupil and left visible: ten times rarer than for a stranger, because this "
        "is the mistake the product exists to prevent. Lower is stricter.",
        limits=(1e-7, 0.05), safe=(0.0, 0.001), stricter="lower", dpia="decisions")
    # Enrolment refuses a photo that lies very close to another pupil's stored encoding (the same
    # child under two records, or the wrong child's photo) unless --allow-lookalike. "Very close"
    # is calibrated like the clearing tolerance: the largest distance, up to clear_tolerance, at
    # which a new pupil who is a different child would be refused at most this often, from the
    # gallery's spread at its size (about 0.33 for a school of children, 0.5 for a few adults).
    max_lookalike_refusal: float = setting(
        0.01, "Enrolment refuses a reference photo that looks too much like another pupil "
        "already enrolled (the same child twice, or the wrong child's photo). This is how often "
        "a genuinely different child may be refused for it: higher refuses more lookalikes.",
        limits=(1e-6, 0.2), stricter="higher", dpia="decisions", measured=True)
    # A face a little further out, up to `distinct_tolerance` from a consenting pupil, is cleared
    # too when it is distinct: every other enrolled pupil (consenting or not) is at least
    # `distinct_margin` further away. Measured (benchmarks/REPORT.md, identification): needless
    # redaction 11.7% -> 6.4% on the montages (4.7% with policy.follow_cleared_faces), with no
    # stranger cleared that the rule above would not clear, also in a fuller gallery of
    # enrollable stranger faces (narrower margins cleared up to 4 more there). Set
    # distinct_tolerance equal to clear_tolerance to turn it off.
    distinct_tolerance: float = setting(
        0.575, "A face a little less like a consenting pupil, up to this, is still left visible "
        "when it is clearly that pupil and nobody else enrolled (distinct_margin). Set it equal "
        "to clear_tolerance to turn this off. Lower is stricter.",
        limits=(0.0, 1.0), safe=(0.0, 0.6), stricter="lower", dpia="decisions", measured=True)
    distinct_margin: float = setting(
        0.2, "How much less like the face every other enrolled pupil must look for the rule "
        "above. Higher is stricter.",
        safe=(0.1, 1.0), stricter="higher", dpia="decisions", measured=True)
    # With a class roster (`--group`), the distinct match leaves the other roster pupils out (one
    # consenting classmate taken for another keeps a face that may be kept anyway) and needs the
    # pupils off the roster this much further away (restricted ones still distinct_margin): the
    # rest of the school, absent from the photo, is what a stranger's face fails against.
    # Measured on children (benchmarks/REPORT.md, school scale, roster of 30).
    roster_margin: float = setting(
        0.15, "When a batch names the class in the photo (--group), how much less like the face "
        "every pupil outside that class must look for it to be left visible. Higher is "
        "stricter.",
        safe=(0.1, 1.0), stricter="higher", dpia="decisions", measured=True)
    # Faces narrower than `small_face` px give blurrier, more generic encodings that lie nearer
    # to everyone: the rule above clears them only within `small_face_tolerance` (the distinct
    # rule is unchanged). Measured in a fuller gallery (benchmarks/REPORT.md): every stranger
    # cleared there that was not a true match was a face of 28-44 px matched at 0.43-0.50;
    # with these settings none is, and needless redaction on the montages does not change.
    small_face: int = setting(
        48, "Faces narrower than this are small: they are harder to tell apart, so they are "
        "left visible only when very alike (small_face_tolerance). Higher is stricter.",
        limits=(0, 10_000), unit="px", stricter="higher", dpia="decisions", measured=True)
    small_face_tolerance: float = setting(
        0.4, "How alike a small face must be to a consenting pupil to be left visible. Lower is "
        "stricter.",
        limits=(0.0, 1.0), safe=(0.0, 0.5), stricter="lower", dpia="decisions", measured=True)
    # Faces that match nobody. Default redact: an unenrolled face may be a child whose parents
    # refused both photo and biometric consent, who can never be in the store; fail closed.
    unknown: str = setting(
        "redact", "What happens to a face that matches no enrolled pupil: covered (redact), the "
        "photo held for the DSL (hold), or left visible (keep). A face may be a child whose "
        "parents refused both photos and enrolment, so covering is the default.",
        choices=("keep", "redact", "hold"), stricter=KEEP_COVER_HOLD, per_batch=True,
        dpia="decisions", measured=True)
    # Faces narrower than this (pixels of the upright image) are too small for the encoder to
    # tell pupils apart: they are never cleared, and never kept under `unknown = "keep"`.
    min_identifiable_face: int = setting(
        28, "Faces narrower than this are too small to tell who they are: they are never left "
        "visible as a pupil (and never kept under unknown = keep). Higher is stricter.",
        limits=(0, 10_000), safe=(20, 10_000), unit="px", stricter="higher", dpia="decisions",
        measured=True)
    # Text in a photo naming a pupil (full name) or a class: covered solid ("redact"), the photo
    # held for the DSL ("hold"), or not read at all ("keep"). A register pupil's name always holds.
    text: str = setting(
        "redact", "Writing in a photo that names a pupil or a class (a certificate, a badge, a "
        "class sign): covered (redact), the photo held for the DSL (hold), or not read at all "
        "(keep). The name of a pupil on a protected register always holds the photo.",
        choices=("redact", "hold", "keep"), stricter=KEEP_COVER_HOLD, per_batch=True,
        dpia="decisions")
    style: str = setting(
        "blur", "How a face is covered: blurred, pixelated, or a solid patch (solid leaves "
        "nothing of the face, so it is the strictest).",
        choices=("blur", "pixelate", "solid"), stricter=STYLE_STRICTNESS, per_batch=True,
        dpia="decisions", measured=True)
    # The redaction mask is the detected box grown by this factor (hair, ears, chin).
    mask_scale: float = setting(
        1.5, "How much bigger than the face itself the covered area is, to take in hair, ears "
        "and chin. Higher is stricter.",
        limits=(1.0, 3.0), stricter="higher", dpia="decisions", measured=True)
    output_format: str = setting(
        "jpeg", "The file type of the copies written for publishing.", choices=("jpeg", "png"))
    jpeg_quality: int = setting(
        90, "The quality of JPEG copies (1 to 100; higher is a larger, sharper file).",
        limits=(1, 100))
    # Pillow's decompression-bomb limit, set deliberately: larger images are rejected.
    max_pixels: int = setting(
        100_000_000, "Photos with more pixels than this are refused rather than opened "
        "(100 000 000 is 100 megapixels), so a booby-trapped file cannot exhaust the machine.",
        limits=(1_000_000, 1_000_000_000))
    # The share of photos that would be exported which are held for the DSL to check anyway
    # (0..1; a DSL or admin setting in config.toml, no per-batch option). Comms staff know whom
    # they photographed: were a register pupil the only reason a photo is held, a hold would tell
    # them the child is on one. Spot checks give a hold another cause, and comms staff see a spot
    # check exactly as any other hold; the DSL sees "spot check" and releases it in one click.
    # The draw is keyed with a secret comms staff never hold, and asking again draws the same: a
    # pupil restricted but not on a register is drawn for a week at a time (all their photos
    # that week held, like a register child's, or none), any other photo once by its content
    # (safeguard/spot_check.py). One hold is then weak evidence, not none: benchmarks/
    # bench_hold_inference.py measures what weeks of photos of one child still tell (docs/
    # threat-model.md). More spot checks make a hold weaker evidence and the DSL's queue longer:
    # at 0.05, about one photo in twenty that would have been exported waits for the DSL (more
    # for photos with several restricted pupils: any one of them drawn holds the photo).
    spot_check_rate: float = setting(
        DEFAULT_SPOT_CHECK_RATE, "The share of photos that would have been published which "
        "are held for the DSL to check anyway (0.05 is one in twenty). Staff cannot tell a spot "
        "check from any other hold, so a held photo does not tell them a child in it is on a "
        "protected register. Higher is stricter, and a longer queue for the DSL.",
        factory=lambda: DEFAULT_SPOT_CHECK_RATE, limits=(0.0, 1.0), stricter="higher",
        dpia="decisions")
    # Files larger than this are refused from their size, before a byte is read (the watcher's
    # completeness check, the loader, the rejected copy): a 100-megapixel photo stored
    # uncompressed (8-bit RGB TIFF, 300 MB) with room for its metadata. A file of many GB, even
    # a sparse one that takes no disk, costs neither memory nor disk.
    max_file_bytes: int = setting(
        320 * 1024 * 1024, "Files larger than this are refused before they are read.",
        limits=(1024 * 1024, 3 * 1024 ** 3), unit="bytes")
    # Held originals undecided after this many days are flagged at the top of the DSL queue.
    held_review_days: int = setting(
        30, "Held photos the DSL has not decided after this many days are flagged at the top "
        "of the DSL's queue.", limits=(1, 3650), unit="days", dpia="retention")
    stale_encoding_days: int = setting(
        365, "Reference photos older than this are flagged for the pupil to be enrolled again "
        "(children's faces change).", limits=(1, 3650), unit="days", dpia="retention")
    # Children's faces change fast: a reference (an enrolment photo, or a face the DSL confirmed)
    # whose photo is older than this clears nobody but still restricts (consent_db.references).
    # Past 60 months a five-year-old's photo would stand for their ten-year-old self; under 6 a
    # school's yearly photos would stop clearing before the next ones are taken.
    reference_max_age_months: int = setting(
        24, "A pupil's reference photo (or a face the DSL confirmed as theirs) older than this no "
        "longer lets their face be kept: children's faces change fast. It still counts for "
        "covering the face of a pupil without consent. safeguard status counts pupils left with "
        "no reference young enough.", limits=(1, 240), safe=(6, 60), stricter="lower",
        unit="months", dpia="decisions")
    # Leavers' records are erased this many days after their leaving date (`pupils purge`);
    # their encodings go on the leaving date itself.
    leaver_retention_days: int = setting(
        365, "A leaver's record is erased this many days after their leaving date (safeguard "
        "pupils purge); their face data goes on the leaving date itself.",
        limits=(0, 3650), unit="days", dpia="retention")
    # Where the DSL may release held photos to (absolute folders outside the home), each with
    # the name the review page's drop-down shows (a bare path is shown by its folder's name).
    # The page releases only to these and to `review serve --out` ("Ready to post"), never to a
    # typed path; the CLI, when any are set, too. Each must exist when the settings are accepted
    # and when the review page starts.
    release_folders: tuple[str | dict, ...] = setting(
        (), "The folders the DSL may release held photos to, each with the name the review page "
        "shows, for example {label = \"Website\", path = \"/srv/photos/website\", url = "
        "\"https://school.example/photos\"} (full paths, outside safeguard's home, that exist; "
        "url, where the folder is published, is optional and lets a takedown show the web "
        "address). The DSL picks one from a list; nothing is typed.")
    # Sign-off per channel: "slt" makes a post wait for a DSL or senior leader's approval before
    # its copies land (safeguard/approvals.py); "none" (the default) publishes at once.
    approval: dict = setting(
        {}, "Sign-off per channel, for example social = \"slt\": a post waits for a DSL or a "
        "senior leader to approve it before it is published. \"none\" (every channel not "
        "named) publishes at once.", dpia="decisions")
    # Sound in a clip, per channel: stripped unless the channel's setting is "keep" (a voice, a
    # name called out, a register read aloud can name a child, and no check reads sound).
    audio: dict = setting(
        {}, "The sound of clips, per channel, for example website = \"keep\": kept (encoded "
        "afresh as AAC; nothing else of the clip's sound is carried) or strip. A voice can name "
        "a child and nothing checks the sound, so every channel not named strips it. A batch may "
        "strip it where a channel keeps it (--audio strip), never the other way.",
        choices=tuple(AUDIO_STRICTNESS), stricter=AUDIO_STRICTNESS, per_batch=True,
        dpia="decisions")
    # Addresses of reverse proxies in front of `review serve` whose X-Forwarded-For is believed.
    # Empty (the default): the review page knows a client only by the address it connects from,
    # so a guesser cannot appear as a new client on every try by changing a header.
    review_trusted_proxies: tuple[str, ...] = setting(
        (), "For IT staff: the addresses of web proxies in front of the review page whose "
        "word is taken for where a visitor connects from. Empty unless you run one.")
    # Settings allowed past their safe bounds, by name: a deliberate choice, reported by `dpia`.
    unsafe_overrides: tuple[str, ...] = setting(
        (), "Settings the school has deliberately set past their safe bounds, by name. Without "
        "its name here such a setting is refused; the DPIA pack reports every one.",
        dpia="decisions")

    def past_bounds(self) -> list[str]:
        """The settings outside their safe bounds, as "name = value (safe: lo..hi)"."""
        out = []
        for name, (lo, hi) in SAFE_BOUNDS.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                out.append(f"{name} = {v} (safe: {lo}..{hi})")
        return out

    def check(self) -> Config:
        for row in SETTINGS:  # kinds first: the bounds below compare numbers
            if problem := row.problem(getattr(self, row.name), limits=False):
                raise ConfigError(problem)
        unknown = set(self.unsafe_overrides) - set(SAFE_BOUNDS)
        if unknown:
            raise ConfigError(f"unsafe_overrides names no bounded setting: {', '.join(sorted(unknown))}")
        for item in self.past_bounds():
            if item.split(" ", 1)[0] not in self.unsafe_overrides:
                raise ConfigError(
                    f"{item} is past its safe bound: it would clear strangers' faces or miss "
                    "restricted pupils. To mean it, add its name to unsafe_overrides (the DPIA "
                    "pack reports it)")
        for row in SETTINGS:
            if row.limits and (problem := row.problem(getattr(self, row.name))):
                raise ConfigError(problem)
        # What one row cannot say: how settings stand to each other.
        if not 0 < self.clear_tolerance <= self.restrict_tolerance:
            raise ConfigError("tolerances must satisfy 0 < clear_tolerance <= restrict_tolerance <= 1")
        if not self.clear_tolerance <= self.distinct_tolerance <= self.restrict_tolerance:
            raise ConfigError(
                "distinct_tolerance must be between clear_tolerance and restrict_tolerance"
            )
        if not self.max_false_clear_restricted <= self.max_false_clear:
            raise ConfigError("max_false_clear_restricted must be between 0.0000001 and "
                              "max_false_clear")
        if not 0 < self.near_restricted_tolerance:
            raise ConfigError("near_restricted_tolerance must be in (0, 1]")
        if not self.clear_margin <= self.distinct_margin <= 1.0:
            raise ConfigError("distinct_margin must be at least clear_margin (and at most 1)")
        if not self.clear_margin <= self.roster_margin <= 1.0:
            raise ConfigError("roster_margin must be at least clear_margin (and at most 1)")
        if not 0 < self.small_face_tolerance <= self.clear_tolerance:
            raise ConfigError(
                "small_face must be >= 0 and small_face_tolerance in (0, clear_tolerance]"
            )
        for ch, mode in (self.audio or {}).items():
            if ch not in self.channels or mode not in AUDIO_STRICTNESS:
                raise ConfigError(f"audio: {ch} = {mode!r}: a channel, and keep or strip")
        for ch, mode in (self.approval or {}).items():
            if ch not in self.channels or mode not in ("none", "slt"):
                raise ConfigError(f"approval: {ch} = {mode!r}: a channel, and none or slt")
        if any(not Path(p).is_absolute() for p in self.release_paths()):
            raise ConfigError("release_folders must be absolute paths")
        if any(not u.startswith(("https://", "http://")) for _, u in self.release_urls()):
            raise ConfigError("release_folders: a url starts with https:// (or http://)")
        labels = [label for label, _ in self.release_choices()]
        if any(not label.strip() for label in labels) or len(set(labels)) != len(labels):
            raise ConfigError("release_folders: each folder needs a label of its own")
        if self.default_channel not in self.channels:
            raise ConfigError(f"default_channel {self.default_channel!r} is not in channels")
        return self

    def release_choices(self) -> list[tuple[str, str]]:
        """(label, path) of each release folder, in the order configured; a folder given as a
        bare path is labelled with its own name."""
        out = []
        for f in self.release_folders:
            if isinstance(f, dict):
                out.append((str(f.get("label", "")), str(f.get("path", ""))))
            else:
                out.append((Path(str(f)).name or str(f), str(f)))
        return out

    def release_urls(self) -> list[tuple[str, str]]:
        """(path, web address) of each release folder published at a known address."""
        return [(str(f["path"]), str(f["url"])) for f in self.release_folders
                if isinstance(f, dict) and f.get("url")]

    def web_address(self, path: str) -> str | None:
        """The web address of a published file under a release folder with a url, or None."""
        from urllib.parse import quote

        p = Path(path)
        for folder, url in self.release_urls():
            if p.is_relative_to(folder):
                return url.rstrip("/") + "/" + quote(p.relative_to(folder).as_posix())
        return None

    def release_paths(self) -> tuple[str, ...]:
        return tuple(path for _, path in self.release_choices())

    def missing_release_folders(self) -> list[str]:
        """The release folders that are not existing folders, as "label (path)"."""
        return [f"{label} ({path})" for label, path in self.release_choices()
                if not Path(path).is_dir()]

    def with_overrides(self, **kw) -> Config:
        kw = {k: v for k, v in kw.items() if v is not None}
        return replace(self, **kw).check()

    def audio_for(self, channel: str) -> str:
        """What happens to a clip's sound on `channel`: "keep" or "strip" (the default)."""
        return (self.audio or {}).get(channel, "strip")

    def setting_for(self, name: str, channel: str | None = None) -> str:
        """The school's value of per-batch setting `name`; `audio` is set per channel."""
        if name == "audio":
            return self.audio_for(channel or self.default_channel)
        return getattr(self, name)

    def batch_choices(self, role: str, channel: str | None = None,
                      **chosen: str | None) -> dict[str, str]:
        """The values in force for one batch (for `channel`): each choice (`unknown="hold"`),
        or the setting where none was made (None). A choice laxer than the setting (STRICTNESS)
        raises TooLax unless `role` may relax it (MAY_RELAX)."""
        for name, value in self.laxer(channel, **chosen).items():
            if role not in MAY_RELAX:
                raise TooLax(
                    f"--{name} {value} is less strict than this school's setting ({name} = "
                    f"\"{self.setting_for(name, channel)}\"); a batch may only be stricter. An "
                    "admin or the DSL changes the setting (safeguard config accept)")
        return {name: self.setting_for(name, channel) if value is None else value
                for name, value in chosen.items()}

    def laxer(self, channel: str | None = None, **chosen: str | None) -> dict[str, str]:
        """The choices (name -> value) that are laxer than the settings (STRICTNESS) for
        `channel`; ConfigError for a value that is no choice at all."""
        out = {}
        for name, value in chosen.items():
            if value is None:
                continue
            rank = STRICTNESS[name]
            if value not in rank:
                raise ConfigError(f"{name} = {value!r}: choose one of {', '.join(rank)}")
            if rank[value] < rank[self.setting_for(name, channel)]:
                out[name] = value
        return out

    def as_dict(self) -> dict:
        d = asdict(self)
        for row in SETTINGS:
            if row.kind in ("list of text", "list of folders"):
                d[row.name] = list(d[row.name])
        return d


# The settings table: one row per field of Config (safeguard.setting.Setting), in its order.
SETTINGS: tuple[Setting, ...] = rows(Config)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

# Read from the table, for the code that needs one column of it.
DEFAULT_CHANNELS: tuple[str, ...] = BY_NAME["channels"].default
UNKNOWN_POLICIES: tuple[str, ...] = BY_NAME["unknown"].choices
TEXT_POLICIES: tuple[str, ...] = BY_NAME["text"].choices  # text naming a pupil or a class
STYLES: tuple[str, ...] = BY_NAME["style"].choices
# The settings a batch may make stricter for itself (--unknown, --text, --style), each value's rank.
STRICTNESS: dict[str, dict[str, int]] = {
    s.name: s.stricter for s in SETTINGS if s.per_batch and isinstance(s.stricter, dict)}
# Past these bounds a setting clears strangers or misses restricted pupils (benchmarks/REPORT.md);
# a school that means it names the setting in `unsafe_overrides`, and the DPIA pack says so.
SAFE_BOUNDS: dict[str, tuple[float, float]] = {s.name: s.safe for s in SETTINGS if s.safe}


def default(name: str):
    """The default of setting `name` (for a function that takes the setting as an argument)."""
    return BY_NAME[name].default


def load_config(path: Path | None) -> Config:
    """Defaults, overlaid with the TOML file at `path` when it exists. Photo commands read the
    file through safeguard.accepted_settings instead, which refuses a missing or changed file."""
    if path is None or not path.exists():
        return Config().check()
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{SETTINGS_CHANGED} ({path}: {e.strerror or e})") from e
    return parse_config(raw, path)


def parse_config(raw: bytes, path: Path | str = "config.toml") -> Config:
    """The settings in `raw` (config.toml's bytes) over the defaults, checked. A key that is no
    setting is an error naming the nearest one: a misspelt setting must not quietly mean its
    default."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    for key in sorted(set(data) - set(BY_NAME)):
        near = difflib.get_close_matches(key, list(BY_NAME), n=1)
        hint = f" — did you mean '{near[0]}'?" if near else " (safeguard config show lists them)"
        raise ConfigError(f"{path}: unknown setting '{key}'{hint}")
    for key, value in data.items():
        if BY_NAME[key].kind in ("list of text", "list of folders") and isinstance(value, list):
            data[key] = tuple(value)
    return replace(Config(), **data).check()

"""Configuration: defaults chosen from the benchmarks, overridable in HOME/config.toml.

Every field is documented where it is defined; `safeguard config show` prints the live values.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

DEFAULT_CHANNELS = ("website", "social", "newsletter", "press", "prospectus")
UNKNOWN_POLICIES = ("keep", "redact", "hold")
STYLES = ("blur", "pixelate", "solid")
TEXT_POLICIES = ("redact", "hold", "keep")  # text in a photo that names a pupil or a class


class ConfigError(ValueError):
    pass


# The share of photos that would be exported which are held for the DSL to check anyway (see
# `Config.spot_check_rate`). A module value so that a test session can start from 0 (the test
# suite's own photos must come out the same every run); a school sets it in config.toml.
DEFAULT_SPOT_CHECK_RATE = 0.05


# What a photo command says when config.toml is not the file an admin or the DSL accepted
# (safeguard.accepted_settings).
SETTINGS_CHANGED = ("the safety settings were changed outside safeguard (or are missing); an "
                    "admin or the DSL must check them: safeguard config accept")


# How strict each value of a setting that a batch may choose for itself is (higher is stricter).
# The trust's setting is the floor: a batch may choose a stricter value, never a laxer one, unless
# the signed-in role is in MAY_RELAX (safeguard.batch_choices). Faces that match nobody and text
# naming a pupil: kept < covered < held for the DSL. How a face is covered: blur and pixelate
# leave its outline and colours (both are checked against the encoder), solid leaves nothing.
# Not here, because no value is laxer than another: --format and --quality (the copy is
# stripped and its redaction checked whatever they are), --group (a roster only narrows who can
# clear a face; every restricted pupil still restricts) and --caption (it only adds a check).
STRICTNESS: dict[str, dict[str, int]] = {
    "unknown": {"keep": 0, "redact": 1, "hold": 2},
    "text": {"keep": 0, "redact": 1, "hold": 2},
    "style": {"blur": 0, "pixelate": 0, "solid": 1},
}
# The roles that may relax a setting for one batch: they may change and accept the settings
# themselves (`safeguard config accept`), so refusing them per batch would protect nothing.
MAY_RELAX = frozenset({"admin", "dsl"})


class TooLax(ConfigError):
    """A per-batch choice laxer than the trust's setting, by a role that may not relax it."""


# Safe bounds of the settings that decide whether a face is published. Past them a setting clears
# strangers or misses restricted pupils (benchmarks/REPORT.md); a school that means it names the
# setting in `unsafe_overrides`, and the DPIA pack says so.
SAFE_BOUNDS: dict[str, tuple[float, float]] = {
    "clear_tolerance": (0.0, 0.6),
    "distinct_tolerance": (0.0, 0.6),
    "near_restricted_tolerance": (0.0, 0.6),
    "small_face_tolerance": (0.0, 0.5),
    "clear_margin": (0.05, 1.0),
    "distinct_margin": (0.1, 1.0),
    "roster_margin": (0.1, 1.0),
    "restrict_tolerance": (0.5, 1.0),
    "max_false_clear": (0.0, 0.01),
    "max_false_clear_restricted": (0.0, 0.001),
    "min_identifiable_face": (20, 10_000),
}


@dataclass(frozen=True)
class Config:
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    default_channel: str = "social"
    # A face within this distance of a restricted pupil's encoding is restricted. Wider than the
    # clearing tolerance on purpose: a near miss with a restricted pupil is doubt, and doubt redacts.
    restrict_tolerance: float = 0.6
    # A face is cleared only if it is within this distance of a consenting pupil (face_recognition
    # uses 0.6 and warns that it confuses children at that value) ... Measured (benchmarks/
    # REPORT.md): 0.5 is the widest value at which no stranger, impostor or restricted face was
    # cleared; 0.45 redacted 45% of consenting faces needlessly, 0.5 19%; wider values clear
    # strangers (the nearest stranger to an enrolled person was at 0.51).
    clear_tolerance: float = 0.5
    # ... and every restricted pupil is at least this much further away than that consenting pupil.
    clear_margin: float = 0.1
    # The chance, per face of someone never enrolled, that the clearing rule may take them for a
    # consenting pupil. The tolerance in force is the largest one, up to clear_tolerance, that the
    # enrolled gallery's own spread predicts keeps to this rate at its size (safeguard/
    # calibration.py): far below clear_tolerance for hundreds of children, clear_tolerance for a
    # few dozen adults. `safeguard status` and `safeguard dpia` show the live value.
    max_false_clear: float = 0.001
    # A face within restrict_tolerance of a restricted pupil is cleared by the rule above only
    # within this tolerance (at most; calibrated to the gallery like the one above, to the
    # stricter rate below): a restricted child's face taken for a consenting pupil is the leak
    # this product exists to prevent, so it gets a rate ten times lower than a stranger's. (A
    # distinct match still needs every restricted pupil distinct_margin further away.)
    near_restricted_tolerance: float = 0.5
    max_false_clear_restricted: float = 0.0001
    # Enrolment refuses a photo that lies very close to another pupil's stored encoding (the same
    # child under two records, or the wrong child's photo) unless --allow-lookalike. "Very close"
    # is calibrated like the clearing tolerance: the largest distance, up to clear_tolerance, at
    # which a new pupil who is a different child would be refused at most this often, from the
    # gallery's spread at its size (about 0.33 for a school of children, 0.5 for a few adults).
    max_lookalike_refusal: float = 0.01
    # A face a little further out, up to `distinct_tolerance` from a consenting pupil, is cleared
    # too when it is distinct: every other enrolled pupil (consenting or not) is at least
    # `distinct_margin` further away. Measured (benchmarks/REPORT.md, identification): needless
    # redaction 11.7% -> 6.4% on the montages (4.7% with policy.follow_cleared_faces), with no
    # stranger cleared that the rule above would not clear, also in a fuller gallery of
    # enrollable stranger faces (narrower margins cleared up to 4 more there). Set
    # distinct_tolerance equal to clear_tolerance to turn it off.
    distinct_tolerance: float = 0.575
    distinct_margin: float = 0.2
    # With a class roster (`--group`), the distinct match leaves the other roster pupils out (one
    # consenting classmate taken for another keeps a face that may be kept anyway) and needs the
    # pupils off the roster this much further away (restricted ones still distinct_margin): the
    # rest of the school, absent from the photo, is what a stranger's face fails against.
    # Measured on children (benchmarks/REPORT.md, school scale, roster of 30).
    roster_margin: float = 0.15
    # Faces narrower than `small_face` px give blurrier, more generic encodings that lie nearer
    # to everyone: the rule above clears them only within `small_face_tolerance` (the distinct
    # rule is unchanged). Measured in a fuller gallery (benchmarks/REPORT.md): every stranger
    # cleared there that was not a true match was a face of 28-44 px matched at 0.43-0.50;
    # with these settings none is, and needless redaction on the montages does not change.
    small_face: int = 48
    small_face_tolerance: float = 0.4
    # Faces that match nobody. Default redact: an unenrolled face may be a child whose parents
    # refused both photo and biometric consent, who can never be in the store; fail closed.
    unknown: str = "redact"
    # Faces narrower than this (pixels of the upright image) are too small for the encoder to
    # tell pupils apart: they are never cleared, and never kept under `unknown = "keep"`.
    min_identifiable_face: int = 28
    # Text in a photo naming a pupil (full name) or a class: covered solid ("redact"), the photo
    # held for the DSL ("hold"), or not read at all ("keep"). A register pupil's name always holds.
    text: str = "redact"
    style: str = "blur"
    # The redaction mask is the detected box grown by this factor (hair, ears, chin).
    mask_scale: float = 1.5
    output_format: str = "jpeg"
    jpeg_quality: int = 90
    # Pillow's decompression-bomb limit, set deliberately: larger images are rejected.
    max_pixels: int = 100_000_000
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
    spot_check_rate: float = field(default_factory=lambda: DEFAULT_SPOT_CHECK_RATE)
    # Files larger than this are refused from their size, before a byte is read (the watcher's
    # completeness check, the loader, the rejected copy): a 100-megapixel photo stored
    # uncompressed (8-bit RGB TIFF, 300 MB) with room for its metadata. A file of many GB, even
    # a sparse one that takes no disk, costs neither memory nor disk.
    max_file_bytes: int = 320 * 1024 * 1024
    # Held originals undecided after this many days are flagged at the top of the DSL queue.
    held_review_days: int = 30
    stale_encoding_days: int = 365
    # Leavers' records are erased this many days after their leaving date (`pupils purge`);
    # their encodings go on the leaving date itself.
    leaver_retention_days: int = 365
    # Where the DSL may release held photos to (absolute folders outside the home). The review
    # page releases only to these and to `review serve --out`; the CLI, when any are set, too.
    release_folders: tuple[str, ...] = ()
    # Sign-off per channel: "slt" makes a post wait for a DSL or senior leader's approval before
    # its copies land (safeguard/approvals.py); "none" (the default) publishes at once.
    approval: dict = field(default_factory=dict)
    # Addresses of reverse proxies in front of `review serve` whose X-Forwarded-For is believed.
    # Empty (the default): the review page knows a client only by the address it connects from,
    # so a guesser cannot appear as a new client on every try by changing a header.
    review_trusted_proxies: tuple[str, ...] = ()
    # Settings allowed past their SAFE_BOUNDS, by name: a deliberate choice, reported by `dpia`.
    unsafe_overrides: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def past_bounds(self) -> list[str]:
        """The settings outside their safe bounds, as "name = value (safe: lo..hi)"."""
        out = []
        for name, (lo, hi) in SAFE_BOUNDS.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                out.append(f"{name} = {v} (safe: {lo}..{hi})")
        return out

    def check(self) -> Config:
        unknown = set(self.unsafe_overrides) - set(SAFE_BOUNDS)
        if unknown:
            raise ConfigError(f"unsafe_overrides names no bounded setting: {', '.join(sorted(unknown))}")
        for item in self.past_bounds():
            if item.split(" ", 1)[0] not in self.unsafe_overrides:
                raise ConfigError(
                    f"{item} is past its safe bound: it would clear strangers' faces or miss "
                    "restricted pupils. To mean it, add its name to unsafe_overrides (the DPIA "
                    "pack reports it)")
        if self.unknown not in UNKNOWN_POLICIES:
            raise ConfigError(f"unknown = {self.unknown!r}: choose one of {', '.join(UNKNOWN_POLICIES)}")
        if self.text not in TEXT_POLICIES:
            raise ConfigError(f"text = {self.text!r}: choose one of {', '.join(TEXT_POLICIES)}")
        if self.style not in STYLES:
            raise ConfigError(f"style = {self.style!r}: choose one of {', '.join(STYLES)}")
        if self.output_format not in ("jpeg", "png"):
            raise ConfigError(f"output_format = {self.output_format!r}: choose jpeg or png")
        if not 0 < self.clear_tolerance <= self.restrict_tolerance <= 1.0:
            raise ConfigError("tolerances must satisfy 0 < clear_tolerance <= restrict_tolerance <= 1")
        if not self.clear_tolerance <= self.distinct_tolerance <= self.restrict_tolerance:
            raise ConfigError(
                "distinct_tolerance must be between clear_tolerance and restrict_tolerance"
            )
        if not 1e-6 <= self.max_false_clear <= 0.05:
            raise ConfigError("max_false_clear must be between 0.000001 and 0.05")
        if not 1e-7 <= self.max_false_clear_restricted <= self.max_false_clear:
            raise ConfigError("max_false_clear_restricted must be between 0.0000001 and "
                              "max_false_clear")
        if not 0 < self.near_restricted_tolerance <= 1.0:
            raise ConfigError("near_restricted_tolerance must be in (0, 1]")
        if not 1e-6 <= self.max_lookalike_refusal <= 0.2:
            raise ConfigError("max_lookalike_refusal must be between 0.000001 and 0.2")
        if not self.clear_margin <= self.distinct_margin <= 1.0:
            raise ConfigError("distinct_margin must be at least clear_margin (and at most 1)")
        if not self.clear_margin <= self.roster_margin <= 1.0:
            raise ConfigError("roster_margin must be at least clear_margin (and at most 1)")
        if self.small_face < 0 or not 0 < self.small_face_tolerance <= self.clear_tolerance:
            raise ConfigError(
                "small_face must be >= 0 and small_face_tolerance in (0, clear_tolerance]"
            )
        if not 1_000_000 <= self.max_pixels <= 1_000_000_000:
            raise ConfigError("max_pixels must be between 1 MP and 1000 MP")
        if not 1024 * 1024 <= self.max_file_bytes <= 3 * 1024 ** 3:
            raise ConfigError("max_file_bytes must be between 1 MB (1048576) and 3 GB")
        if self.min_identifiable_face < 0 or not 1.0 <= self.mask_scale <= 3.0:
            raise ConfigError("min_identifiable_face must be >= 0 and mask_scale 1.0..3.0")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError("jpeg_quality must be 1..100")
        if (isinstance(self.spot_check_rate, bool)
                or not isinstance(self.spot_check_rate, int | float)
                or not 0.0 <= self.spot_check_rate <= 1.0):
            raise ConfigError("spot_check_rate must be between 0 and 1 (the share of photos that "
                              "would be exported which the DSL checks anyway)")
        for ch, mode in (self.approval or {}).items():
            if ch not in self.channels or mode not in ("none", "slt"):
                raise ConfigError(f"approval: {ch} = {mode!r}: a channel, and none or slt")
        if any(not Path(p).is_absolute() for p in self.release_folders):
            raise ConfigError("release_folders must be absolute paths")
        if self.default_channel not in self.channels:
            raise ConfigError(f"default_channel {self.default_channel!r} is not in channels")
        return self

    def with_overrides(self, **kw) -> Config:
        kw = {k: v for k, v in kw.items() if v is not None}
        return replace(self, **kw).check()

    def batch_choices(self, role: str, **chosen: str | None) -> dict[str, str]:
        """The values in force for one batch: each choice (`unknown="hold"`), or the setting
        where none was made (None). A choice laxer than the setting (STRICTNESS) raises TooLax
        unless `role` may relax it (MAY_RELAX)."""
        for name, value in self.laxer(**chosen).items():
            if role not in MAY_RELAX:
                raise TooLax(
                    f"--{name} {value} is less strict than this school's setting ({name} = "
                    f"\"{getattr(self, name)}\"); a batch may only be stricter. An admin or the "
                    "DSL changes the setting (safeguard config accept)")
        return {name: getattr(self, name) if value is None else value
                for name, value in chosen.items()}

    def laxer(self, **chosen: str | None) -> dict[str, str]:
        """The choices (name -> value) that are laxer than the settings (STRICTNESS); ConfigError
        for a value that is no choice at all."""
        out = {}
        for name, value in chosen.items():
            if value is None:
                continue
            rank = STRICTNESS[name]
            if value not in rank:
                raise ConfigError(f"{name} = {value!r}: choose one of {', '.join(rank)}")
            if rank[value] < rank[getattr(self, name)]:
                out[name] = value
        return out

    def as_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["unsafe_overrides"] = list(self.unsafe_overrides)
        d["release_folders"] = list(self.release_folders)
        d["review_trusted_proxies"] = list(self.review_trusted_proxies)
        return d


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
    """The settings in `raw` (config.toml's bytes) over the defaults, checked."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    known = {f.name for f in fields(Config)}
    unknown_keys = set(data) - known
    if unknown_keys:
        raise ConfigError(f"{path}: unknown settings {', '.join(sorted(unknown_keys))}")
    if "channels" in data:
        data["channels"] = tuple(data["channels"])
    for key in ("unsafe_overrides", "release_folders", "review_trusted_proxies"):
        if key in data:
            data[key] = tuple(data[key])
    return replace(Config(), **data).check()

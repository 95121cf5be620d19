"""The settings photos are checked with are the ones an admin or the DSL accepted.

config.toml decides what is published (unknown faces, text, sign-off, the tolerances). It is a
plain file in the home: anyone who can write the home can edit it, or remove it, which used to
mean "the defaults" without a word. So the sealed store records the sha256 of the file as it was
accepted (`safeguard init`, `safeguard config accept`), and every command that checks, publishes
or releases photos reads the settings through `accepted_config` below: the file is read once,
its digest compared with the sealed one, and the same bytes parsed. A file that is missing,
unreadable or different stops the command with SETTINGS_CHANGED; the defaults are never put in
the place of a file that vanished.

What changed is said in words (`differences`) before an admin or the DSL accepts it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguard.config import BY_NAME, SETTINGS_CHANGED, Config, ConfigError, parse_config

NEVER_ACCEPTED = ("the safety settings of this home have not been accepted yet (it was made "
                  "before safeguard recorded them); an admin or the DSL must check them: "
                  "safeguard config accept")

# Written by `safeguard init` when the home has no config.toml: every setting at its default.
NEW_FILE = b"""\
# safeguard settings. Every setting left out has its default: `safeguard config show` prints
# them all. After changing this file, an admin or the DSL accepts it (`safeguard config accept`);
# until then no photo is checked, published or released.
"""


class SettingsNotAccepted(ConfigError):
    """config.toml is missing, unreadable, or not the file an admin or the DSL accepted."""


def read_settings(path: Path) -> tuple[bytes, str]:
    """(bytes, sha256 hex) of config.toml; SettingsNotAccepted when it cannot be read."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise SettingsNotAccepted(SETTINGS_CHANGED) from e
    return raw, hashlib.sha256(raw).hexdigest()


def accepted_config(home: Any, store: Any) -> Config:
    """The configuration in config.toml, provided it is the file an admin or the DSL accepted
    (its digest is the one sealed in `store`); SettingsNotAccepted otherwise."""
    sealed = store.settings_digest()
    if sealed is None:
        raise SettingsNotAccepted(NEVER_ACCEPTED)
    raw, digest = read_settings(home.config_file)
    if digest != sealed:
        raise SettingsNotAccepted(SETTINGS_CHANGED)
    return parse_config(raw, home.config_file)


def values(config: Config) -> dict:
    """A configuration as plain JSON values: what is sealed with the digest."""
    return json.loads(json.dumps(config.as_dict()))


def differences(before: dict | None, after: dict) -> list[str]:
    """What an acceptance changes, one line per setting, in words: against the last accepted
    values, or (none recorded) against the defaults. A change the settings table knows the
    direction of (safeguard.setting.Setting.stricter) says whether it is stricter or LESS STRICT."""
    base = before if before is not None else values(Config())
    out = []
    for name in sorted(set(base) | set(after)):
        old, new = base.get(name), after.get(name)
        if old == new:
            continue
        line = f"{name}: {_shown(old)} -> {_shown(new)}"
        way = BY_NAME[name].change(old, new) if name in BY_NAME else ""
        if way:
            line += f" ({way.upper() if way == 'less strict' else way})"
        out.append(line)
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    return json.dumps(value)


@dataclass(frozen=True)
class Proposal:
    """config.toml as it is now, against the last acceptance."""

    digest: str
    values: dict
    changed: list[str]  # in words (differences)
    last: dict | None  # the last acceptance: {"digest", "values", "by", "at"}, or None

    @property
    def accepted(self) -> bool:
        return self.last is not None and self.last["digest"] == self.digest


def propose(home: Any, store: Any) -> Proposal:
    """What accepting config.toml now would change. Raises ConfigError for a file that cannot
    be accepted as it is: missing, unreadable, or not valid settings (past a safe bound, say)."""
    raw, digest = read_settings(home.config_file)
    config = parse_config(raw, home.config_file)
    missing = config.missing_release_folders()
    if missing:  # the DSL would be offered a folder that is not there
        raise ConfigError(f"release_folders: {', '.join(missing)} is not an existing folder; "
                          "create it first")
    now = values(config)
    last = store.settings.current()
    return Proposal(digest, now, differences(last["values"] if last else None, now), last)


def accept(store: Any, proposal: Proposal, by: str, home: Any = None) -> dict:
    """Seal the proposal's digest and values as accepted by `by` (audited). With `home`, the
    file must still be the one proposed: what was shown is what is accepted."""
    if home is not None and read_settings(home.config_file)[1] != proposal.digest:
        raise SettingsNotAccepted(f"{home.config_file} changed while it was being checked; "
                                  "run safeguard config accept again")
    names = [line.split(":", 1)[0] for line in proposal.changed]
    return store.accept_settings(proposal.digest, proposal.values, by, names)


def record_initial(home: Any, store: Any, by: str) -> None:
    """At `init`: write config.toml if there is none (every default), and accept it."""
    from consent_db.storage import atomic_write_bytes

    if not Path(home.config_file).exists():
        atomic_write_bytes(Path(home.config_file), NEW_FILE)
    accept(store, propose(home, store), by, home)

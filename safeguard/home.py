"""The home folder: all state (store, keys, held images, logs) lives under one owner-only folder.

Resolved once, from `--home` or `SAFEGUARD_HOME`, falling back to ~/.local/share/safeguard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path.home() / ".local" / "share" / "safeguard"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def store_dir(self) -> Path:
        """TinyDB files of the consent store (consent_db)."""
        return self.root / "consent_db"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def held_dir(self) -> Path:
        """Held originals and their DSL-only records."""
        return self.root / "held"

    @property
    def rejected_dir(self) -> Path:
        return self.root / "rejected"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    def ensure(self) -> Home:
        """Create the home and its folders, owner-only (0700). Safe to call repeatedly."""
        old = os.umask(0o077)
        try:
            for d in (self.root, self.store_dir, self.keys_dir, self.held_dir,
                      self.rejected_dir, self.logs_dir):
                d.mkdir(parents=True, exist_ok=True)
                os.chmod(d, 0o700)
        finally:
            os.umask(old)
        return self


def overlaps(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Is one of two folders the other, or inside it (links resolved)? A folder that copies are
    written to must not overlap the home (or an inbox its ready folder)."""
    a, b = Path(a).resolve(), Path(b).resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def resolve_home(path: str | os.PathLike[str] | None) -> Home:
    if path is None:
        path = os.environ.get("SAFEGUARD_HOME") or DEFAULT_HOME
    return Home(Path(path).expanduser().resolve())

"""The settings reference (docs/settings.md), written from the settings table itself.

Every row of `safeguard.config.SETTINGS` (one per field of `Config`) becomes a row here: its
default, the values it accepts, its safe bounds, whether a batch may make it stricter, and what
it does. A test (tests/docs/) fails when docs/settings.md is not what this module makes.

    python -m safeguard.settingsdoc > docs/settings.md
"""

from __future__ import annotations

from safeguard.config import SETTINGS
from safeguard.setting import Setting, number

REGENERATE = "python -m safeguard.settingsdoc > docs/settings.md"

INTRO = """\
# Settings

<!-- Made by `{regenerate}` from safeguard/config.py: edit the settings there, not here. -->

The settings live in `HOME/config.toml`; every setting left out has its default. A new home's
file (`safeguard init`) holds only comments, so every setting starts at its default.
`safeguard config show` prints the values in force.

After any change an admin or the DSL runs `safeguard config accept`: it prints what changed, and
says when a change is LESS STRICT. Until then every photo command stops, so a hand edit cannot
quietly change what is published. A name that is no setting is refused, with the nearest one
(`unknown setting 'clear_tolerence' — did you mean 'clear_tolerance'?`).

- **Allowed**: what the setting accepts; anything else is refused.
- **Safe bounds**: past them a setting would leave strangers' faces visible or miss pupils
  without consent (measured: `benchmarks/REPORT.md`). Such a value is refused unless the
  setting is also named in `unsafe_overrides`, and the DPIA pack then reports it.
- **Per batch**: comms staff may choose a stricter value for one batch (`--unknown`, `--text`,
  `--style`), never a less strict one; an admin or the DSL may choose either.
- Tolerances and margins are distances between face encodings: 0 is the same face, and two
  photos of one person are usually closer than 0.5.

Example `config.toml`:

```toml
unknown = "hold"
spot_check_rate = 0.1
release_folders = [
  {{ label = "Website", path = "/srv/photos/website", url = "https://school.example/photos" }},
  {{ label = "Newsletter", path = "/srv/photos/newsletter" }},
]

[approval]
social = "slt"
```
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(s: Setting) -> str:
    if s.kind == "text":
        return f'`"{s.default}"`'
    if s.kind in ("list of text", "list of folders", "table") and not s.default:
        return "none"
    return f"`{s.shown(s.default).removeprefix('at most ')}`"


def _allowed(s: Setting) -> str:
    if s.choices:
        return " or ".join(f"`{c}`" for c in s.choices)
    if s.limits:
        lo, hi = s.limits
        return f"{s.kind}, {number(lo)} to {number(hi)}" + (f" {s.unit}" if s.unit else "")
    return s.kind + (f" ({s.unit})" if s.unit else "")


def _safe(s: Setting) -> str:
    return f"{number(s.safe[0])} to {number(s.safe[1])}" if s.safe else ""


def _per_batch(s: Setting) -> str:
    if not s.per_batch or not isinstance(s.stricter, dict):
        return ""
    ranks: dict[int, list[str]] = {}
    for choice, rank in s.stricter.items():
        ranks.setdefault(rank, []).append(f"`{choice}`")
    return "stricter only: " + " < ".join(", ".join(ranks[r]) for r in sorted(ranks))


def reference() -> str:
    """docs/settings.md as the settings table makes it."""
    out = [INTRO.format(regenerate=REGENERATE),
           "| setting | default | allowed | safe bounds | per batch | what it does |",
           "|---|---|---|---|---|---|"]
    for s in SETTINGS:
        out.append("| " + " | ".join(_cell(c) for c in (
            f"`{s.name}`", _default(s), _allowed(s), _safe(s), _per_batch(s), s.explain)) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference(), end="")

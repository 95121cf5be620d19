"""What a setting is: one row of the settings table.

Every setting of config.toml is one field of `safeguard.config.Config`, declared with `setting()`:
its default, what it does in words a school uses, the values it may take, its safe bounds, which
way is stricter and whether a batch may choose a stricter value for itself. The loader, the
checks, `safeguard config`, the DPIA pack and docs/settings.md all read the rows from there
(`rows`), so a setting is added, documented and checked in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# How a value is written in config.toml, from the field's annotation (kept as text by
# `from __future__ import annotations`).
KINDS = {"float": "number", "int": "whole number", "str": "text",
         "tuple[str, ...]": "list of text", "dict": "table",
         "tuple[str | dict, ...]": "list of folders"}


class SettingError(ValueError):
    """A value that the setting's row does not allow (the loader's ConfigError is one)."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # one of KINDS' values
    default: Any
    explain: str  # what it does, in words a school uses
    choices: tuple[str, ...] = ()  # for text: the only values accepted
    limits: tuple[float, float] | None = None  # never accepted outside (inclusive)
    # Past these a setting clears strangers or misses restricted pupils (benchmarks/REPORT.md):
    # refused unless named in unsafe_overrides, and then reported by the DPIA pack.
    safe: tuple[float, float] | None = None
    # Which way is stricter: "higher" or "lower" for a number, or each choice's rank (higher is
    # stricter). `safeguard config accept` says when a change is less strict.
    stricter: str | dict[str, int] | None = None
    per_batch: bool = False  # a batch may choose a stricter value (--unknown, --text, --style,
    # --audio)
    dpia: str | None = None  # where the DPIA pack lists it: "decisions" or "retention"
    measured: bool = False  # the benchmark report records it; the DPIA warns when live differs
    unit: str = ""  # "px", "days", "bytes"
    calibrated: bool = False  # the value in force is worked out from the enrolled pupils, at most this

    def shown(self, value: Any) -> str:
        """`value` as the DPIA pack and docs/settings.md write it."""
        if isinstance(value, tuple | list):
            return ", ".join(folder_text(v) for v in value) if value else "(none)"
        if isinstance(value, dict):
            return ", ".join(f"{k} = {v}" for k, v in value.items()) if value else "(none)"
        text = number(value) if isinstance(value, int) and not isinstance(value, bool) \
            else str(value)
        return ("at most " if self.calibrated else "") + text + self._unit

    def problem(self, value: Any, limits: bool = True) -> str | None:
        """What is wrong with `value` for this setting, in words; None when it is allowed.
        Without `limits`, only its kind and choices are checked."""
        if not _is_kind(value, self.kind):
            return f"{self.name} = {value!r}: must be a {self.kind}"
        if self.choices:
            values = value.values() if isinstance(value, dict) else \
                value if isinstance(value, tuple) else (value,)  # a table: each channel's value
            bad = [v for v in values if v not in self.choices]
            if bad:
                return f"{self.name} = {bad[0]!r}: choose one of {', '.join(self.choices)}"
        if limits and self.limits is not None and not self.limits[0] <= value <= self.limits[1]:
            lo, hi = self.limits
            return f"{self.name} must be between {number(lo)} and {number(hi)}{self._unit}"
        return None

    @property
    def _unit(self) -> str:
        return f" {self.unit}" if self.unit else ""

    def change(self, old: Any, new: Any) -> str:
        """Whether changing this setting from `old` to `new` is "stricter", "less strict" or
        neither ("")."""
        s = self.stricter
        if isinstance(s, dict) and (isinstance(old, dict) or isinstance(new, dict)):
            # a value per channel (audio): a channel not named has the strictest value
            strictest = max(s, key=s.get)
            changes = {self.change((old or {}).get(k, strictest), (new or {}).get(k, strictest))
                       for k in {*(old or {}), *(new or {})}}
            return "less strict" if "less strict" in changes else \
                "stricter" if "stricter" in changes else ""
        if isinstance(s, dict):
            if old in s and new in s and s[old] != s[new]:
                return "stricter" if s[new] > s[old] else "less strict"
        elif (s in ("higher", "lower") and _is_kind(old, "number") and _is_kind(new, "number")
              and old != new):
            return "stricter" if (new > old) == (s == "higher") else "less strict"
        return ""


def folder_text(value: Any) -> str:
    """A list item as written: a folder given as {label, path} as "label (path)"."""
    if isinstance(value, dict):
        return f"{value.get('label', '')} ({value.get('path', '')})"
    return str(value)


def number(value: float) -> str:
    """A number as a school reads it: 0.000001, not 1e-06; 335 544 320, not 3.35544e+08."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", " ") if abs(value) >= 10_000 else str(int(value))
    return f"{value:.10f}".rstrip("0")


def _is_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False  # TOML's true/false is no number and no text
    if kind == "number":
        return isinstance(value, int | float)
    if kind == "whole number":
        return isinstance(value, int)
    if kind == "text":
        return isinstance(value, str)
    if kind == "list of text":
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    if kind == "table":
        return isinstance(value, dict)
    if kind == "list of folders":  # each a path, or a table {label, path[, url]}
        return isinstance(value, tuple) and all(
            isinstance(v, str) or (isinstance(v, dict) and {"label", "path"} <= set(v)
                                   <= {"label", "path", "url"}
                                   and all(isinstance(x, str) for x in v.values()))
            for v in value)
    return False


def setting(default: Any, explain: str, *, factory: Callable[[], Any] | None = None,
            **row: Any) -> Any:
    """A dataclass field that is a row of the settings table (see `Setting` for `row`).
    `factory` makes the default when one is needed (a dict, or a value a test session sets);
    `default` is then the value the table documents."""
    meta = {"setting": {"default": default, "explain": " ".join(explain.split()), **row}}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def rows(cls: type) -> tuple[Setting, ...]:
    """The settings table of a dataclass whose fields are made by `setting()`, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("setting")
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with setting()")
        out.append(Setting(name=f.name, kind=KINDS[str(f.type)], **meta))
    return tuple(out)

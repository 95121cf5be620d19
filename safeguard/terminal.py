"""What reaches a terminal: text that someone else chose, shown, never obeyed.

File names, staff user names, pupil names, captions, reasons and academy names are written by
people other than the one reading the terminal: comms staff name the files they drop in the inbox,
an admin names the accounts, a parent's name is typed from a form. A terminal obeys control
characters in what it prints (ESC ] 0 ; ... BEL retitles the window, ESC [ 8 m hides the rest of a
line, a C1 CSI does the same in one byte, U+202E writes the rest of a line backwards so that
`gpj.exe` reads `exe.jpg`), so a name carrying them could hide a warning from the DSL or forge a
line of output. Everything the commands print goes through `echo` (or the console from `console`),
which writes those characters as visible escapes: `\\x1b`, `\\u202e`.

The escape of anything outside C0 is the JSON form (`\\u009b`), so escaping JSON text written with
`ensure_ascii=False` keeps it valid JSON that reads back to the same string; JSON itself already
escapes C0 inside strings, and the newlines between its tokens are kept.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import click

# C0 and DEL; C1 (0x80-0x9f: 0x9b is CSI, 0x9d OSC on terminals that honour 8-bit controls);
# the bidirectional embeddings, overrides and isolates and the marks that steer them; the line and
# paragraph separators some terminals break lines at; and lone surrogates (bytes of a file name
# that are not UTF-8, which would otherwise go out raw under a C locale, or stop the echo).
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
_ANY = re.compile(f"[\x00-\x1f{_OTHERS}]")
_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHERS}]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def shown(text: object) -> str:
    """One value (a name, a path, a reason) as it may be printed: every control character,
    newlines included, as a visible escape, so a value is always one line of its own."""
    return _ANY.sub(_visible, str(text))


def lines(text: object) -> str:
    """A message of one or more lines made by the program: as `shown`, but its newlines kept."""
    return _BUT_NEWLINE.sub(_visible, str(text))


def echo(message: object = None, err: bool = False, nl: bool = True) -> None:
    """click.echo with control characters escaped: the only way commands print text."""
    click.echo(None if message is None else lines(message), err=err, nl=nl)


def heading(text: object) -> None:
    """A heading the program wrote, in bold: escaped first, then styled (the style's own
    escape sequence is the one control that reaches the terminal)."""
    click.echo(click.style(lines(text), bold=True))


def echo_json(obj: Any, indent: int | None = 2) -> None:
    """`obj` as JSON, letters kept as they are (a name with an accent stays readable), and the
    characters JSON leaves raw (DEL, C1, bidi controls) escaped as JSON escapes."""
    echo(json.dumps(obj, indent=indent, ensure_ascii=False, default=str))


def console(stderr: bool = False):
    """A rich Console whose text (table cells, lines) has control characters escaped before rich
    reads it; rich's own colours are added after, so they still work. Text from outside must still
    be markup-escaped (rich.markup.escape) where it sits inside markup."""
    from rich.console import Console

    class _Shown(Console):
        def render_str(self, text: str, *args: Any, **kwargs: Any):
            return super().render_str(lines(text), *args, **kwargs)

    return _Shown(stderr=stderr)


class Formatter(logging.Formatter):
    """A log line with its control characters escaped (the log goes to a terminal, and to a file
    that staff read with `tail` in one); a traceback keeps its newlines."""

    def format(self, record: logging.LogRecord) -> str:
        return lines(super().format(record))

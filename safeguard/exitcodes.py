"""Every exit code safeguard uses, each with one meaning, and the product's errors that carry them.

A script that runs `safeguard` tells what happened from the code alone, so a code never means two
things: "photos held" is not also "the caption needs changing", and "could not run" is not also
"the audit log was tampered with". `safeguard --help` and docs/cli.md print this table from the
enum itself, so the words cannot drift from the code.

Commands do not exit with numbers: they raise a `SafeguardError` (a failure, shown as one line)
or return an `ExitStatus` (a finished run whose outcome a script must see), and the command line
turns both into the exit code in one place (`safeguard.cli.LazyGroup.invoke`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self


class ExitStatus(IntEnum):
    """One exit code, one meaning (`status.meaning`, one line, printed by --help and docs)."""

    meaning: str

    def __new__(cls, code: int, meaning: str) -> Self:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    OK = 0, "success: everything asked for was done (a batch: every photo exported)"
    ERROR = 1, "error: the command could not run (store, key, settings, sign-in, role)"
    USAGE = 2, "usage error (wrong options or arguments)"
    HELD = 3, "finished; some photos held for the DSL to check (none rejected)"
    REJECTED = 4, "finished; some inputs rejected (undecodable, unsafe; none held)"
    HELD_AND_REJECTED = 5, "finished; some photos held and some inputs rejected"
    NEEDS_CHANGE = 6, "the caption, or a pupil's enrolment, needs changing (said which and why)"
    AUDIT_BROKEN = 7, "the audit log's chain is broken: entries edited, removed or put back"
    UNSCANNED = 8, "finished; some files could not be read (listed; index keeps them unscanned)"
    INTERRUPTED = 130, "interrupted (Ctrl-C, SIGTERM): finished work is in place, none partial"

    @classmethod
    def for_batch(cls, held: int, rejected: int) -> ExitStatus:
        if held and rejected:
            return cls.HELD_AND_REJECTED
        if held:
            return cls.HELD
        if rejected:
            return cls.REJECTED
        return cls.OK


def exit_codes_help(*codes: ExitStatus) -> str:
    """The "Exit codes:" table of a command's --help (click keeps a paragraph opening with \\b as
    typed): the given codes, or every one."""
    rows = [f"  {s.value:<3} {s.meaning}" for s in (codes or tuple(ExitStatus))]
    return "\b\nExit codes:\n" + "\n".join(rows)


# The photo commands (blur, scan, watch): their batch codes, and a flagged --caption.
PHOTO_CODES = (ExitStatus.OK, ExitStatus.ERROR, ExitStatus.USAGE, ExitStatus.HELD,
               ExitStatus.REJECTED, ExitStatus.HELD_AND_REJECTED, ExitStatus.NEEDS_CHANGE,
               ExitStatus.INTERRUPTED)
EXIT_CODES_HELP = exit_codes_help(*PHOTO_CODES)
ALL_EXIT_CODES_HELP = exit_codes_help()


class SafeguardError(Exception):
    """A failure of the product's own, shown as its one-line message (never a traceback) and
    ending the command with `exit_code`. Subclasses say which code; the command line maps them
    in one place (safeguard.cli). The consent store's errors (consent_db.errors.StoreError) are
    mapped there too: consent_db stands alone and does not import safeguard."""

    exit_code: ExitStatus = ExitStatus.ERROR


class AuditChainBroken(SafeguardError):
    """The audit log no longer holds what was written to it."""

    exit_code = ExitStatus.AUDIT_BROKEN


class NeedsChange(SafeguardError):
    """What was given (a caption, a pupil's reference photos) must be changed before it is used;
    the reasons have been said."""

    exit_code = ExitStatus.NEEDS_CHANGE

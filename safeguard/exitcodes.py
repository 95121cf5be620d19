"""Every exit code safeguard uses, in one place (documented in --help and the README)."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0  # everything asked for was done; every photo exported
    ERROR = 1  # the command failed (bad store, missing key, unreadable config, ...)
    USAGE = 2  # wrong options or arguments (click's own code)
    HELD = 3  # finished; some photos were held for the DSL to check, none rejected
    REJECTED = 4  # finished; some inputs were rejected (undecodable, unsafe), none held
    HELD_AND_REJECTED = 5  # finished; some held and some rejected
    INTERRUPTED = 130  # stopped by Ctrl-C / SIGTERM; finished files are in place, none partial

    @classmethod
    def for_batch(cls, held: int, rejected: int) -> "ExitStatus":
        if held and rejected:
            return cls.HELD_AND_REJECTED
        if held:
            return cls.HELD
        if rejected:
            return cls.REJECTED
        return cls.OK


EXIT_CODES_HELP = """\b
Exit codes:
  0  success: every photo exported
  1  error: the command could not run (store, key, config)
  2  usage error
  3  some photos held for the DSL to check (none rejected)
  4  some inputs rejected (none held)
  5  some held and some rejected
  130 interrupted"""

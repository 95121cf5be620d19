"""What the batch commands (`scan`, `blur`, `watch`, `report`) share on the command line: the
options' help, and a publish request's errors as click's usage errors. No command lives here."""

from __future__ import annotations

from contextlib import contextmanager

import click

GROUP_HELP = ("Class, club or team in the photos (repeatable): only their consenting pupils can "
              "clear a face; every restricted pupil still restricts.")


SERVICE_HELP = ("Send the photos to the safeguard service listening on this Unix socket instead of "
                "opening the home: how comms staff work without access to the store or keys "
                "(docs/deploy.md). Env: SAFEGUARD_SERVICE.")


CAPTION_HELP = ("The caption to be posted with the photos (a text file): checked for a pupil's full "
                "name, a class name and personal details like `safeguard caption` does; findings "
                "are reported (JSON: \"caption\" on every line) and make the exit code at least 3.")


TEXT_HELP = ("Text in a photo that names a pupil (full name) or a class: covered solid (redact), "
             "the photo held for the DSL (hold), or not read (keep). Default from config: redact. "
             "A photo may be held for the DSL whatever this says.")


def as_click(e: Exception) -> click.ClickException:
    """A publish.RequestError as click's error: about an option (exit 2, naming it), or usage."""
    option = getattr(e, "option", None)
    if option:
        return click.BadParameter(str(e), param_hint=option)
    return click.UsageError(str(e))


@contextmanager
def usage_errors():
    """A publish request refused inside the block exits 2 with its one line."""
    from safeguard.publish import RequestError

    try:
        yield
    except RequestError as e:
        raise as_click(e) from None

"""The `safeguard` command line: click commands only; the work is done by the library.

Commands are loaded lazily (see COMMANDS) so `safeguard pupils list` starts without importing
dlib or onnxruntime.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from functools import cached_property

import click

from safeguard.config import Config, load_config
from safeguard.exitcodes import ALL_EXIT_CODES_HELP, ExitStatus, SafeguardError
from safeguard.home import Home, resolve_home
from safeguard.terminal import echo, lines

# name -> "module:attribute" of a click command or group. One line per command.
COMMANDS: dict[str, str] = {
    "init": "safeguard.commands.init:init",
    "scan": "safeguard.commands.scan:scan",
    "blur": "safeguard.commands.scan:blur",
    "demo": "safeguard.commands.demo:demo",
    "pupils": "safeguard.commands.pupils:pupils",
    "audit": "safeguard.commands.audit:audit",
    "staff": "safeguard.commands.staff:staff",
    "config": "safeguard.commands.configcmd:config",
    "dpia": "safeguard.commands.dpia:dpia",
    "index": "safeguard.commands.index:index",
    "find": "safeguard.commands.index:find",
    "review": "safeguard.commands.review:review",
    "report": "safeguard.commands.review:report",
    "watch": "safeguard.commands.watch:watch",
    "status": "safeguard.commands.watch:status",
    "serve": "safeguard.commands.serve:serve",
    "caption": "safeguard.commands.caption:caption",
    "approvals": "safeguard.commands.approvals:approvals",
}

# group -> {name -> "module:attribute"}: the groups of a group, each in a module of its own (a
# command module never imports another).
SUBCOMMANDS: dict[str, dict[str, str]] = {
    "pupils": {
        "consent": "safeguard.commands.consent:consent",
        "register": "safeguard.commands.register:register",
        "biometric": "safeguard.commands.biometric:biometric",
        "references": "safeguard.commands.references:references",
    },
}


def _load(target: str):
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


@dataclass
class AppContext:
    """What every command gets: the home and the live configuration, resolved in one place."""

    home: Home
    traceback: bool = False
    user: str | None = None  # `safeguard --as USER`: who signs in (safeguard.commands.signin)
    signed: object = None  # the staff account once signed in (one sign-in per process)

    @cached_property
    def config(self) -> Config:
        """The settings; unreadable ones raise ConfigError, a SafeguardError (exit 1)."""
        return load_config(self.home.config_file)


def _failure(message: str, code: ExitStatus) -> click.ClickException:
    """`Error: <message>` on stderr, then exit with `code`."""
    failure = click.ClickException(lines(message))
    failure.exit_code = int(code)
    return failure


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context):
        """The one place where what a command ends with becomes an exit code
        (safeguard.exitcodes): a product error (`SafeguardError`) is its one-line message and
        its own code; a store that cannot be used (damaged, rolled back, wrong key) is an error
        with its one-line message, exit 1, wherever a command meets it; a command that finished
        returns its `ExitStatus`. An error's message often carries a name (a file, an account, a
        pupil): its control characters are escaped here, once for every command
        (safeguard.terminal)."""
        from consent_db.errors import StoreError

        try:
            status = super().invoke(ctx)
        except SafeguardError as e:
            raise _failure(str(e), e.exit_code) from e
        except StoreError as e:
            raise _failure(str(e), ExitStatus.ERROR) from e
        except click.ClickException as e:
            e.message = lines(e.message)
            raise
        if isinstance(status, ExitStatus) and status != ExitStatus.OK:
            raise click.exceptions.Exit(int(status))
        return status

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        module = target.split(":")[0]
        try:
            cmd = _load(target)
        except ModuleNotFoundError as e:  # a command whose module is not written yet
            if e.name == module:
                return None
            raise
        for sub, where in SUBCOMMANDS.get(name, {}).items():
            if sub not in cmd.commands:
                cmd.add_command(_load(where), sub)
        return cmd


@click.group(cls=LazyGroup, epilog=ALL_EXIT_CODES_HELP)
@click.option(
    "--home",
    envvar="SAFEGUARD_HOME",
    type=click.Path(file_okay=False),
    help="Folder holding all state (store, keys, held images, logs). Env: SAFEGUARD_HOME.",
)
@click.option("--as", "as_user", metavar="USER",
              help="Sign in as this staff account (env SAFEGUARD_USER; password from "
                   "SAFEGUARD_PASSWORD or a prompt).")
@click.option("--traceback", is_flag=True, help="Show the Python traceback on errors.")
@click.version_option(package_name="safeguard")
@click.pass_context
def cli(ctx: click.Context, home: str | None, as_user: str | None, traceback: bool) -> None:
    """Check photos before they are published: find every face, respect consent, strip metadata,
    redact or hold.

    Start with `safeguard --home DIR init --admin USER`; every other command signs in (--as USER
    or SAFEGUARD_USER, password from SAFEGUARD_PASSWORD or a prompt) with a role allowed to do
    it: admin (staff), dsl (everything about pupils, registers, held photos, audit), data
    (pupils, consents, enrolment), comms (blur, scan, watch)."""
    ctx.obj = AppContext(home=resolve_home(home), traceback=traceback, user=as_user)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns unexpected errors into one line (or a traceback with --traceback)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        rv = cli.main(args=args, prog_name="safeguard", standalone_mode=False)
    except click.exceptions.Abort:
        echo("Interrupted.", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        echo("Interrupted.", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except Exception as e:
        if "--traceback" in args:
            raise
        echo(f"Error: {type(e).__name__}: {e}", err=True)
        sys.exit(ExitStatus.ERROR)
    sys.exit(int(rv) if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()

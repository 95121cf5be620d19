"""`safeguard serve`: the photo service that comms staff's `blur --service` talks to."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from safeguard.exitcodes import EXIT_CODES_HELP
from safeguard.terminal import Formatter, echo


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--socket", "socket_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Unix socket to listen on, e.g. /run/safeguard/photos.sock.")
@click.option("--mode", default="660", show_default=True, metavar="OCTAL",
              help="Permissions of the socket: who may connect (owner and group by default; "
                   "make the comms staff's OS group the folder's group).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="Photos processed at once (default: all cores).")
@click.pass_obj
def serve(app, socket_path, mode, jobs):
    """Run the photo service for comms staff, as the account that owns the home.

    Comms staff run `safeguard blur --service SOCKET` (or set SAFEGUARD_SERVICE): they sign in
    as a comms account, their photos come here over the socket, and the publishable copies go
    back to them. They need no access to the home: store, keys, held originals and the audit log
    stay readable by this account only. SIGTERM or Ctrl-C stops it."""
    from consent_db import StoreError
    from safeguard.door import Entrance
    from safeguard.service import PhotoService, ServiceError
    from safeguard.service import serve as listen

    try:
        mode_bits = int(mode, 8)
    except ValueError:
        raise click.BadParameter(f"{mode!r} is not an octal mode", param_hint="--mode") from None
    if mode_bits & ~0o770:
        raise click.BadParameter("the socket must not be open to everyone (no 'other' bits)",
                                 param_hint="--mode")
    from safeguard.accepted_settings import accepted_config
    from safeguard.config import ConfigError

    try:  # fail now on a missing or damaged store or unaccepted settings, not at the first photo
        config = accepted_config(app.home, Entrance.open(app.home, app.config))
    except (StoreError, ConfigError) as e:
        raise click.ClickException(str(e)) from e
    handler = logging.StreamHandler(sys.stderr)  # a user name in a line is shown, not obeyed
    handler.setFormatter(Formatter("%(asctime)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    service = PhotoService(app.home, config, jobs or os.cpu_count() or 1)
    try:
        server = listen(service, socket_path.expanduser().absolute(), mode_bits)
    except (ServiceError, OSError) as e:
        raise click.ClickException(f"cannot listen on {socket_path}: {e}") from e
    stop = threading.Event()

    def on_signal(*_):
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    echo(f"safeguard service listening on {socket_path}", err=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        try:
            socket_path.unlink()
        except FileNotFoundError:
            pass

"""`safeguard config`: show the live configuration and where it comes from."""

from __future__ import annotations

import json

import click

from safeguard.terminal import echo


@click.group()
def config() -> None:
    """Show the configuration (defaults overlaid with HOME/config.toml)."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@click.pass_obj
def show(app, as_json: bool) -> None:
    """Print every setting and its live value."""
    values = app.config.as_dict()
    values.pop("extra", None)
    if as_json:
        echo(json.dumps(values, indent=2))
        return
    src = app.home.config_file
    echo(f"# from {src}" if src.exists() else f"# defaults ({src} does not exist)")
    for k, v in values.items():
        echo(f"{k} = {json.dumps(v)}")


@config.command("path")
@click.pass_obj
def path(app) -> None:
    """Print the path of the configuration file."""
    echo(str(app.home.config_file))

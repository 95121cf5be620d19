"""`safeguard dpia`: the evidence pack for the data protection impact assessment."""

from __future__ import annotations

import json
from pathlib import Path

import click

from safeguard.commands.signin import AS_HELP, signed_in
from safeguard.terminal import echo


@click.command()
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for dpia.md and dpia.html (created if missing).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Benchmark report to quote (default: benchmarks/REPORT.md of this install).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the files written and the counts.")
@click.option("--as", "as_user", metavar="USER", help=AS_HELP)
@click.pass_obj
def dpia(app, out: Path, report: Path | None, as_json: bool, as_user: str | None) -> None:
    """Write the DPIA evidence pack from the live configuration, the consent store (counts only,
    no names) and the latest benchmark report: models and licences, thresholds and policies per
    channel, data flows and retention, roles, and the measured accuracy with its date."""
    from consent_db import StoreError
    from safeguard.dpia import DEFAULT_REPORT, gather, write_pack

    signed_in(app, "dpia", as_user)
    if report is not None and not report.is_file():
        raise click.ClickException(f"no benchmark report at {report}")
    try:
        pack = gather(app.home, app.config, report or DEFAULT_REPORT)
        paths = write_pack(pack, out)
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(f"cannot write the pack to {out}: {e.strerror or e}") from e
    if as_json:
        bench = pack["benchmark"] or {}
        echo(
            json.dumps(
                {
                    "files": [str(p) for p in paths],
                    "measured": bench.get("measured"),
                    "report": bench.get("path"),
                    "counts": pack["counts"],
                    "warnings": pack["warnings"],
                },
                indent=2,
            )
        )
        return
    for p in paths:
        echo(f"wrote {p}")
    for w in pack["warnings"]:
        echo(f"warning: {w}", err=True)

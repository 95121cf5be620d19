"""`safeguard init`: the one command that creates a home's consent store, key and first admin."""

from __future__ import annotations

import os

import click

from safeguard.terminal import echo, shown


@click.command()
@click.option("--admin", "admin_user", required=True, metavar="USER",
              help="The first staff account, with the admin role.")
@click.option("--academy", help="Scope the admin to one academy of a trust (default: trust-wide).")
@click.pass_obj
def init(app, admin_user, academy):
    """Create the home (owner-only), the encrypted consent store and its key, and the first admin
    account (password from SAFEGUARD_NEW_PASSWORD or asked twice). Back the key up apart from the
    store: docs/deploy.md. Refused when the home already has a store."""
    from consent_db import ConsentStore, StoreError
    from consent_db.store import missing_part

    home = app.home
    problem = missing_part(home)
    if problem is None:
        raise click.ClickException(f"{home.root} already has a consent store; nothing changed")
    if not problem.nothing:
        raise click.ClickException(problem.message)
    password = os.environ.get("SAFEGUARD_NEW_PASSWORD")
    if password is None:
        password = click.prompt(f"Password for {shown(admin_user)}", hide_input=True,
                                confirmation_prompt=True, err=True)
    from consent_db.staff import MIN_PASSWORD

    if len(password) < MIN_PASSWORD:  # checked before anything is created
        raise click.ClickException(f"the password must have at least {MIN_PASSWORD} characters")
    try:
        store = ConsentStore.open(home, channels=app.config.channels, create=True)
        store.add_staff(admin_user, "admin", password, actor=admin_user, academy=academy)
        # the settings in force from now on are these (HOME/config.toml, written with every
        # default if there is none): photo commands refuse any other until someone accepts it
        from safeguard.accepted_settings import record_initial

        record_initial(home, store, admin_user)
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    echo(f"Created the consent store in {home.root} with admin account {admin_user}.")
    echo(f"Back up the key {home.keys_dir} apart from the store (docs/deploy.md); add "
         "staff with `safeguard staff add USER --role dsl|data|comms --as "
         f"{admin_user}`.")

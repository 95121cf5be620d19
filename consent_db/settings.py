"""The accepted safety settings: which config.toml an admin or the DSL last checked and accepted.

config.toml is a plain file in the home, and whoever can write the home can edit it (or remove
it, which used to mean "the defaults"). So the store, which is sealed with the key, records the
sha256 of the file as it was accepted, with the values it held, who accepted it and when. Photo
commands compare the file with this record and refuse to run on settings nobody accepted
(safeguard.accepted_settings); the values let `config accept` say in words what changed.

One record, in the store's "settings" table; every acceptance is one transaction with its audit
entry, like any other change to the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any


class AcceptedSettings:
    """The settings table, as the store hands it over: `table` (TinyDB table "settings") and
    `change` (the store's transaction, yielding an object with `log(...)`)."""

    def __init__(self, table, change: Callable) -> None:
        self._table = table
        self._change = change

    def current(self) -> dict | None:
        """{"digest", "values", "by", "at"} of the last acceptance, or None in a home made before
        settings were recorded (or never accepted)."""
        docs = self._table.all()
        return dict(docs[-1]) if docs else None

    def accept(self, digest: str, values: dict[str, Any], *, by: str,
               changed: list[str]) -> dict:
        """Record `digest` (sha256 hex of config.toml) and its `values` as accepted by `by`;
        `changed` names the settings that differ from the last acceptance (for the audit log)."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("a settings digest is 64 hex digits (sha256)")
        record = {"digest": digest, "values": values, "by": by,
                  "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        with self._change() as t:
            self._table.truncate()
            self._table.insert(record)
            t.log(by, "settings.accept", None, digest=digest, changed=sorted(changed))
        return record

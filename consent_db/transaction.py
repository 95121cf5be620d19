"""A store change in progress: the record it touches and the audit entries it writes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class _Ref(NamedTuple):
    key: str  # TinyDB document id (as stored)
    rec: dict  # the live record inside the transaction's data


@dataclass
class _Txn:
    data: dict | None = None
    index: dict[str, str] | None = None
    next_key: int | None = None
    audit: list[tuple[str, str, str | None, dict]] = field(default_factory=list)
    shard_add: dict[str, dict[str, np.ndarray]] = field(default_factory=lambda: defaultdict(dict))
    shard_drop: set[str] = field(default_factory=set)

    def log(self, actor: str, action: str, subject: str | None, **details: Any) -> None:
        self.audit.append((actor, action, subject, details))

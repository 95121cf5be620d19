"""Consent changes: search the index by itself, hits to the DSL's takedown list."""


from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.index.common import DIM, IndexProblem
from safeguard.index.search import Hit, search
from safeguard.index.storage import PhotoIndex

# ---------------------------------------------------------------------------------------------
# Consent changes: search the index by itself, hits to the DSL's takedown list


@dataclass
class ConsentSearch:
    """What on_consent_change did. `message` is one line for whoever changed the store (the data
    manager): it names no photo and no register."""

    pupil: str
    reason: str
    searched: bool
    message: str
    photos_searched: int = 0
    hits: list[Hit] = field(default_factory=list)
    unscanned: int = 0
    item_id: str | None = None


def pupil_queries(home: Any, pupil_id: str) -> np.ndarray:
    """The pupil's stored encodings ((k, 128) float32; k may be 0)."""
    from consent_db import ConsentStore, StoreError
    from safeguard.config import ConfigError, load_config

    if not (Path(home.store_dir) / "store.json").exists():  # never create a store as a side effect
        raise IndexProblem(f"no consent store at {home.store_dir}: no pupil {pupil_id}")
    try:
        channels = load_config(Path(home.config_file)).channels
    except ConfigError:
        channels = None
    try:
        store = ConsentStore.open(home, channels=channels)
        _metas, encs = store.pupil_encodings(pupil_id)
    except StoreError as e:
        raise IndexProblem(str(e)) from e
    return np.asarray(encs, dtype=np.float32).reshape(-1, DIM)


def default_tolerance(home: Any) -> float:
    from safeguard.config import ConfigError, load_config

    try:
        return load_config(Path(home.config_file)).restrict_tolerance
    except ConfigError:
        from safeguard.config import Config

        return Config().restrict_tolerance


def on_consent_change(home: Any, pupil_id: str, reason: str,
                      tolerance: float | None = None) -> ConsentSearch | None:
    """After a consent withdrawal or a new register flag: find the pupil in everything already
    published and put the hits on the DSL's takedown list (safeguard.takedown).

    Returns None when there is no index (nothing published has been indexed; an index whose key
    is still in place was made, so its absence is IndexProblem like any index that cannot be read
    whole). Needs the pupil's stored encodings: after a withdrawal of *biometric* consent (or an
    objection) they have been destroyed, as the law requires, and no search is possible
    (`searched` False)."""
    from safeguard import takedown

    index = PhotoIndex(home)
    if not index.exists():
        if index.key_file.exists():
            raise IndexProblem(f"the published-photo index is missing from {index.folder} (its "
                               "key is in place); index the archive again")
        return None
    queries = pupil_queries(home, pupil_id)
    if len(queries) == 0:
        return ConsentSearch(
            pupil_id, reason, searched=False,
            message=(f"{pupil_id} has no stored face encodings, so published photos cannot be "
                     "searched for them automatically; tell the DSL to check by hand."))
    tol = default_tolerance(home) if tolerance is None else tolerance
    snap = index.open().load()
    hits = search(snap, queries, tol)
    unscanned = [{"path": p, "error": e} for p, e in snap.unscanned()]
    result = ConsentSearch(pupil_id, reason, searched=True, message="",
                           photos_searched=snap.photos, hits=hits, unscanned=len(unscanned))
    if hits or unscanned:
        result.item_id = takedown.add(home, pupil_id, reason, [h.as_dict() for h in hits],
                                      photos_searched=snap.photos, unscanned=unscanned,
                                      tolerance=tol)
    result.message = (
        f"Searched {snap.photos} published photo(s) for {pupil_id}: {len(hits)} found"
        + (f", {len(unscanned)} could not be scanned" if unscanned else "")
        + (f"; on the DSL's takedown list ({result.item_id})." if result.item_id else ".")
    )
    return result



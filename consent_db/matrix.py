"""The match matrix: what the pipeline matches faces against, for one channel."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from consent_db.vault import DIM


@dataclass(frozen=True)
class MatchMatrix:
    """Every usable stored encoding, ready for the expanded distance |m|^2 - 2 M q + |q|^2."""

    encodings: np.ndarray  # (N, 128) float32, every stored encoding
    sq_norms: np.ndarray  # (N,) float32, |e|^2 precomputed
    row_pupil: np.ndarray  # (N,) int32, index into pupil_ids
    pupil_ids: list[str]  # P pupils with at least one encoding
    restricted: np.ndarray  # (P,) bool: no valid consent for the channel, or on any register
    on_register: np.ndarray  # (P,) bool: on a protected register: hold the whole image for the DSL
    reasons: list[str]  # (P,) DSL-only text; never shown to comms staff
    channel: str = ""
    built: dt.date = field(default_factory=dt.date.today)
    groups: list[tuple[str, ...]] = field(default_factory=list)  # (P,) class, club, team names
    # (P,) True for an entry that only rivals: a consenting pupil's references past the age limit
    # (consent_db.references), listed under the pupil's id after every other entry. They never
    # clear a face but count against every other pupil's match. None: no such entries.
    rivals: np.ndarray | None = None

    @property
    def rival_mask(self) -> np.ndarray:
        """(P,) bool: `rivals`, or all False."""
        if self.rivals is None:
            return np.zeros(len(self.pupil_ids), bool)
        return np.asarray(self.rivals, bool)

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Euclidean distance from one (128,) encoding to every row."""
        q = np.asarray(query, np.float32).reshape(DIM)
        d2 = self.sq_norms - 2.0 * (self.encodings @ q) + float(q @ q)
        return np.sqrt(np.maximum(d2, 0.0))



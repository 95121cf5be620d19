"""The one door to the data: what a signed-in account may read and change, and nothing more.

Commands (safeguard/commands), the photo service (safeguard/service.py) and the review app
(safeguard/review) reach pupils, registers, held photos, takedowns, the published-photo index's
hits, reports and the audit log only through a `Door` made from the signed-in account: its role
(safeguard.access) and its academy (safeguard.scope). Each method checks both itself, so a command
or a page added later cannot forget either: none of them holds the consent store. Before sign-in
there is only the `Entrance`, which signs people in and opens doors, and reads nothing else.

Academy scope: an account of role dsl, data or slt that carries an academy sees and changes only
that academy's pupils, and everything about them (held photos, takedown lists, audit entries,
search hits, the faces of a contact sheet). Another academy's pupil is refused exactly as a pupil
that does not exist ("no pupil P001"), and adding an id this account may not add says the same
words whatever the cause (`consent_db.records.cannot_add`), so nobody learns by asking that an id
is taken elsewhere or was on a register. Work for the whole trust (purging leavers) needs a
trust-wide account.

Registers are the DSL's: only an account that may see registers sees them in a pupil's record,
records or removes one, erases a pupil on one (which leaves a register tombstone in the sealed
store), adds an id back from a tombstone (and is told), or erases leavers' records in a purge.

Photos: blur, scan, watch and the service match faces against every academy's pupils (a
restricted child of another academy is still restricted) and say nothing of who they are.

References (each stored encoding with its provenance) are added, listed and removed through
the door too: safeguard.door_references says how and by whom.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consent_db.errors import StoreError
from safeguard.access import may, roles_for
from safeguard.door_references import ReferenceDoor, ReferenceRefused  # noqa: F401
from safeguard.scope import academy_of, in_scope


class Refused(StoreError):
    """The signed-in account may not do this; one line, fit to show them."""


def no_pupil(pupil_id: str) -> StoreError:
    return StoreError(f"no pupil {pupil_id}")


class Entrance:
    """The store before anyone is signed in: it signs staff in (with the store's lockout) and
    opens a Door for a signed-in account; it reads no pupil."""

    def __init__(self, store: Any, home: Any = None, config: Any = None) -> None:
        self._store = store
        self.home, self.config = home, config

    @classmethod
    def open(cls, home: Any, config: Any) -> Entrance:
        """The entrance of `home`'s store; never creates one (that is `safeguard init`).
        Raises StoreError for a missing or damaged store."""
        from consent_db import ConsentStore

        return cls(ConsentStore.open(home, channels=config.channels), home, config)

    def verify_staff(self, user: str, password: str, *args, **kwargs):
        return self._store.verify_staff(user, password, *args, **kwargs)

    def staff_stamp(self, user: str) -> str | None:
        """The account's current stamp (consent_db.staff): the review app ends a session whose
        account was removed, re-made or changed role or academy."""
        return self._store.staff_stamp(user)

    def has_role(self, role: str) -> bool:
        """Whether any staff account has `role` (no names)."""
        return any(s.get("role") == role for s in self._store.list_staff())

    @property
    def channels(self) -> tuple[str, ...]:
        return self._store.channels

    def settings_digest(self):
        """The accepted settings' sealed record (safeguard.accepted_settings): no pupil."""
        return self._store.settings_digest()

    def door(self, who: Any, config: Any = None) -> Door:
        """The door of `who`, an account this entrance signed in (consent_db.staff.Staff, or the
        review app's Reviewer: user, role, academy); `config`: the settings it works with
        (default the entrance's)."""
        return Door(self._store, who, self.home, config or self.config)

    def sign_in(self, user: str, password: str, **kwargs) -> Door | None:
        who = self.verify_staff(user, password, **kwargs)
        return None if who is None else self.door(who)

    def calibration(self) -> dict:
        """The live calibration per channel (numbers only, no pupil), for `safeguard status`."""
        from safeguard.calibration import for_store

        return {ch: c.as_dict() for ch, c in for_store(self._store, self.config).items()}

    def references_summary(self) -> dict:
        """Counts of the pupils' references, no pupil named, for `safeguard status`
        (safeguard.references.summary)."""
        from safeguard.references import summary

        return summary(self._store.pupils(), self.config.reference_max_age_months)


class Door(ReferenceDoor):
    """The store, the held photos, the takedown list, the index and the audit log as one signed-in
    account may use them. Made by Entrance.door / sign_in."""

    def __init__(self, store: Any, who: Any, home: Any = None, config: Any = None) -> None:
        self._store = store
        self.who = who
        self.user, self.role = who.user, who.role
        self.academy = academy_of(who)  # None: trust-wide (or a role that is not scoped)
        self.home, self.config = home, config
        self.channels = store.channels
        self.audit = AuditView(self)

    # -- the checks ------------------------------------------------------------------------

    def need(self, action: str) -> None:
        """Refuse unless this account's role may do `action` (safeguard.access)."""
        if not may(self.role, action):
            raise Refused(f"{self.user}: the {self.role} role may not do this ({action}): it "
                          f"needs {roles_for(action)}")

    def trust_wide(self, what: str) -> None:
        if self.academy is not None:
            raise Refused(f"{what} covers the whole trust: a trust-wide account runs it")

    def sees(self, pupil_id: str | None) -> bool:
        """Is `pupil_id` a pupil this account's academy scope covers?"""
        return bool(pupil_id) and in_scope(self._store.get_pupil(pupil_id), self.academy)

    def _pupil(self, pupil_id: str) -> dict:
        p = self._store.get_pupil(pupil_id)
        if not in_scope(p, self.academy):
            raise no_pupil(pupil_id)
        return p

    def _shown(self, p: dict | None) -> dict | None:
        """A record as this account may see it: registers only for those who may see them (the
        key is absent otherwise, not empty)."""
        if p is not None and not may(self.role, "registers"):
            p = {k: v for k, v in p.items() if k != "registers"}
        return p

    # -- pupils: reading -------------------------------------------------------------------

    def get_pupil(self, pupil_id: str) -> dict | None:
        self.need("pupils.read")
        p = self._store.get_pupil(pupil_id)
        return self._shown(p) if in_scope(p, self.academy) else None

    def pupils(self) -> list[dict]:
        self.need("pupils.read")
        return [self._shown(p) for p in self._store.pupils() if in_scope(p, self.academy)]

    def names(self) -> dict[str, str]:
        """{id: name} of the pupils in scope (labels on the DSL's pages and contact sheets)."""
        return {p["id"]: p.get("name", p["id"]) for p in self.pupils()}

    def list_pupils(self, **filters) -> list[dict]:
        self.need("registers" if filters.get("register") else "pupils.read")
        return [self._shown(p) for p in self._store.list_pupils(**filters)
                if in_scope(p, self.academy)]

    def biometric_status(self, pupil_id: str):
        self.need("pupils.read")
        self._pupil(pupil_id)
        return self._store.biometric_status(pupil_id)

    def pupil_encodings(self, pupil_id: str):
        self.need("pupils.write")
        self._pupil(pupil_id)
        return self._store.pupil_encodings(pupil_id)

    def export(self, pupil_id: str) -> dict:
        """Subject access: everything held about the pupil, registers included (the DSL's)."""
        self.need("registers")
        self._pupil(pupil_id)
        return self._store.export(pupil_id)

    def tombstone(self, pupil_id: str) -> dict | None:
        """The register tombstone of `pupil_id` (erased while on a register), for a DSL of its
        academy (or trust-wide); None otherwise."""
        if not may(self.role, "registers"):
            return None
        t = self._store.tombstone(pupil_id)
        return t if t is not None and (self.academy is None or
                                       t.get("academy") == self.academy) else None

    # -- pupils: changing ------------------------------------------------------------------

    def refusal_to_add(self, pupil_id: str) -> str | None:
        """Why this account may not add `pupil_id`, in the one wording that never says why (the
        id is another academy's, or was erased from a register that is not for this account to
        undo); None when it may (an existing pupil in scope is the store's "already exists")."""
        from consent_db.records import cannot_add

        p = self._store.get_pupil(pupil_id)
        if p is not None:
            return None if in_scope(p, self.academy) else cannot_add(pupil_id)
        if self._store.tombstone(pupil_id) is not None and self.tombstone(pupil_id) is None:
            return cannot_add(pupil_id)
        return None

    def add_pupil(self, pupil_id: str, name: str, *, registers=(), academy: str | None = None,
                  reinstate: bool = False, **kw) -> dict:
        """Add a pupil (in this account's academy when it has one). Registers, and an id back
        from a register tombstone, are for a DSL (`tombstone` then says it was on one)."""
        self.need("registers" if registers else "pupils.write")
        if self.academy is not None and academy not in (None, self.academy):
            raise Refused(f"your account is scoped to {self.academy}: it cannot add pupils to "
                          f"{academy}")
        why = self.refusal_to_add(pupil_id)
        if why:
            raise Refused(why)
        return self._store.add_pupil(pupil_id, name, registers=registers,
                                     academy=self.academy or academy,
                                     reinstate=may(self.role, "registers"), **kw)

    def update_pupil(self, pupil_id: str, *, academy: str | None = None, **kw) -> dict:
        self.need("pupils.write")
        self._pupil(pupil_id)
        if self.academy is not None and academy not in (None, self.academy):
            raise Refused(f"your account is scoped to {self.academy}: it cannot move pupils to "
                          f"{academy}")
        return self._store.update_pupil(pupil_id, academy=academy, **kw)

    def _change(self, action: str, method: str, pupil_id: str, *args, **kw):
        self.need(action)
        self._pupil(pupil_id)
        return getattr(self._store, method)(pupil_id, *args, **kw)

    def grant_consent(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "grant_consent", pupil_id, *a, **kw)

    def refuse_consent(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "refuse_consent", pupil_id, *a, **kw)

    def withdraw_consent(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "withdraw_consent", pupil_id, *a, **kw)

    def biometric_notify(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "biometric_notify", pupil_id, *a, **kw)

    def biometric_consent(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "biometric_consent", pupil_id, *a, **kw)

    def biometric_object(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "biometric_object", pupil_id, *a, **kw)

    def biometric_withdraw(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "biometric_withdraw", pupil_id, *a, **kw)

    def enrol(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "enrol", pupil_id, *a, **kw)

    def remove_encodings(self, pupil_id, *a, **kw):
        return self._change("pupils.write", "remove_encodings", pupil_id, *a, **kw)

    def add_register(self, pupil_id, *a, **kw):
        return self._change("registers", "add_register", pupil_id, *a, **kw)

    def remove_register(self, pupil_id, *a, **kw):
        return self._change("registers", "remove_register", pupil_id, *a, **kw)

    def erase(self, pupil_id: str, **kw) -> int:
        """Right to erasure. A pupil on a register is the DSL's to erase (a register tombstone
        stays); any other account is refused, after the command's confirmation."""
        self.need("pupils.erase")
        p = self._pupil(pupil_id)
        if p.get("registers") and not may(self.role, "registers"):
            raise Refused(f"cannot erase {pupil_id} from this account: ask a DSL")
        return self._store.erase(pupil_id, **kw)

    def purge(self, **kw) -> dict:
        """Leavers past retention (trust-wide). Only an account that may see registers erases
        records; for any other, every leaver past retention is listed for the DSL, register or
        not, and only encodings go (consent_db.erasure)."""
        self.need("pupils.erase")
        self.trust_wide("purging leavers")
        return self._store.purge(records=may(self.role, "registers"), **kw)

    @contextmanager
    def batch(self):
        self.need("pupils.write")
        with self._store.batch():
            yield

    # -- photos ------------------------------------------------------------------------------

    def match_matrix(self, channel: str):
        """Every academy's pupils: a restricted child is restricted whoever takes the photo. The
        matrix names nobody to the person who uses it (ids and reasons stay in the pipeline).
        References past the age limit restrict but no longer clear."""
        self.need("photos")
        return self._store.match_matrix(
            channel, max_age_months=self._config().reference_max_age_months)

    def photo_inputs(self, channel: str):
        """What a batch for `channel` needs from the store (safeguard.pipeline.store_inputs)."""
        from safeguard.pipeline import store_inputs

        self.need("photos")
        return store_inputs(self.home, self.config, channel, self._store)

    def check_caption(self, text: str) -> list:
        """What in a caption identifies a child (safeguard.caption): the kind of thing found and
        where, never whose; every academy's pupils count."""
        from safeguard.caption import check_caption

        self.need("photos")
        return check_caption(text, self._store)

    # -- held photos -------------------------------------------------------------------------

    def _held(self):
        from safeguard.held import HeldQueue

        self.need("held")
        return HeldQueue(self.home.held_dir)

    def held_queue(self, review_days: int) -> list:
        from safeguard.review.decisions import queue

        return queue(self._held(), review_days, None, self)

    def held_record(self, held_id: str) -> dict:
        """A held photo still waiting, in scope (DecisionError "no such held image" otherwise)."""
        from safeguard.review.decisions import pending_record

        return pending_record(self._held(), held_id, self)

    def held_original(self, held_id: str) -> bytes:
        held = self._held()
        self.held_record(held_id)
        return held.original(held_id)

    def release(self, held_id: str, out_dir, **kw):
        """Release a held photo (safeguard.review.decisions.release); `approve` (release and
        sign off at once, on a channel that needs sign-off) only for a role that signs off."""
        from safeguard.review.decisions import release

        self._held()
        if kw.get("approve"):
            self.need("approvals")
        return release(self.home, self.config, self, held_id, self.user, out_dir, **kw)

    def reject(self, held_id: str, reason: str | None) -> dict:
        from safeguard.review.decisions import reject

        self._held()
        return reject(self.home, self, held_id, self.user, reason)

    def face_choices(self, held_id: str) -> list[dict]:
        """The faces of a held photo the DSL may confirm, each with the nearest pupils in scope
        (safeguard.review.confirm)."""
        from safeguard.review.confirm import face_choices

        return face_choices(self, self.held_record(held_id))

    def confirm_face(self, held_id: str, n: int, pupil_id: str | None = None,
                     not_ours: bool = False) -> dict:
        """Confirm face `n` of a held photo as a pupil in scope, or as nobody of ours
        (safeguard.confirmation: what is kept, what joins the pupil's references, what is
        refused)."""
        from safeguard.review.confirm import confirm

        return confirm(self, self._held(), held_id, n, pupil_id, not_ours)

    # -- takedowns ---------------------------------------------------------------------------

    def takedowns(self, open_only: bool = True) -> list[dict]:
        """Takedown lists of pupils in scope, each with the pupil's name."""
        from safeguard import takedown

        self.need("held")
        names = self.names()
        items = [i for i in takedown.list_items(self.home, open_only=open_only)
                 if self.academy is None or i.get("pupil") in names]
        for i in items:
            i["name"] = names.get(i.get("pupil"), i.get("pupil"))
        return items

    def close_takedown(self, item_id: str, note: str | None = None) -> dict:
        """Close a takedown list; another academy's is refused as if it did not exist."""
        from safeguard import takedown

        self.need("held")
        item = takedown.get(self.home, item_id)
        if not self.sees(item.get("pupil")):
            raise takedown.TakedownError("no such takedown item")
        return takedown.close(self.home, item_id, self.user, note, audit=self._store.audit)

    def _takedown_item(self, item_id: str) -> dict:
        from safeguard import takedown

        self.need("held")
        item = takedown.get(self.home, item_id)
        if not self.sees(item.get("pupil")):
            raise takedown.TakedownError("no such takedown item")
        return item

    def mark_takedown(self, item_id: str, n: int, state: str, note: str | None = None) -> dict:
        """Mark one published photo of a takedown list taken down or not ours; audited under
        this account (safeguard.takedown.mark). Another academy's is refused as if it did not
        exist."""
        from safeguard import takedown

        self._takedown_item(item_id)
        return takedown.mark(self.home, item_id, n, state, self.user, note,
                             audit=self._store.audit)

    def takedown_photo(self, item_id: str, n: int, max_bytes: int) -> tuple[dict, bytes]:
        """(the hit, the published file's bytes) of photo `n` of a takedown list, for its
        thumbnail: the path comes from the sealed list, never from a request; a file larger
        than `max_bytes`, or changed since it was found (another hash), is refused."""
        import hashlib

        from safeguard import takedown
        from safeguard.images import read_bytes

        item = self._takedown_item(item_id)
        hits = item.get("hits") or []
        if not isinstance(n, int) or not 0 <= n < len(hits):
            raise takedown.TakedownError("no such photo on this takedown list")
        data = read_bytes(Path(str(hits[n]["path"])), max_bytes)
        if hits[n].get("sha256") and hashlib.sha256(data).hexdigest() != hits[n]["sha256"]:
            raise takedown.TakedownError("the published file has changed since it was found")
        return hits[n], data

    # -- the published-photo index -------------------------------------------------------------

    def find(self, pupil_id: str, tolerance: float | None = None, html: bool = False) -> Found:
        """Every indexed published photo in which the pupil (in scope) appears; audited."""
        import numpy as np

        from safeguard.index import DIM, PhotoIndex, default_tolerance, search

        self.need("find")
        self._pupil(pupil_id)
        tol = default_tolerance(self.home) if tolerance is None else tolerance
        index = PhotoIndex(self.home)
        index.open()
        _metas, encs = self._store.pupil_encodings(pupil_id)
        queries = np.asarray(encs, dtype=np.float32).reshape(-1, DIM)
        if len(queries) == 0:
            raise StoreError(
                f"{pupil_id} has no stored face encodings (no biometric consent, or they were "
                "destroyed), so the index cannot be searched for them")
        t0 = time.perf_counter()
        snap = index.load()
        t1 = time.perf_counter()
        hits = search(snap, queries, tol)
        t2 = time.perf_counter()
        self._store.audit.append(self.user, "index.find", pupil_id,
                                 {"hits": len(hits), "html": html})
        return Found(pupil_id, tol, snap, hits, snap.unscanned(), t1 - t0, t2 - t1)

    # -- reports -------------------------------------------------------------------------------

    def face_view(self, face: dict) -> dict:
        """A face of a DSL document as this account may see it: a pupil of another academy is
        "another academy's pupil", never their id, name or reason."""
        pupil = face.get("pupil")
        if not pupil or self.academy is None or self.sees(pupil):
            return face
        hidden = dict(face, pupil=None)
        if face.get("label") == "restricted":
            hidden["reason"] = "another academy's pupil"
        return hidden

    # -- staff -------------------------------------------------------------------------------

    def add_staff(self, user: str, role: str, password: str, *, academy: str | None = None,
                  actor: str | None = None, display_name: str | None = None):
        """Add an account; the audit log names this door's account, whatever `actor` says."""
        self.need("staff")
        return self._store.add_staff(user, role, password, actor=self.user, academy=academy,
                                     display_name=display_name)

    def list_staff(self) -> list[dict]:
        self.need("staff")
        return self._store.list_staff()

    def remove_staff(self, user: str, *, actor: str | None = None) -> None:
        self.need("staff")
        self._store.remove_staff(user, actor=self.user)

    def change_staff(self, user: str, *, actor: str | None = None, **changes):
        self.need("staff")
        return self._store.change_staff(user, actor=self.user, **changes)

    def people(self) -> dict[str, str]:
        """{account: display name} where one is set, for the audit log's sentences (names of
        staff, not pupils: any account that reads the log)."""
        self.need("audit")
        return self._store.staff_display_names()

    def unlock_staff(self, user: str, *, actor: str | None = None) -> int:
        self.need("staff")
        return self._store.unlock_staff(user, actor=self.user)

    # -- settings ----------------------------------------------------------------------------

    def settings_digest(self):
        return self._store.settings_digest()

    @property
    def settings(self):
        """The accepted settings' record (safeguard.accepted_settings), for those who accept."""
        self.need("settings")
        return self._store.settings

    def accept_settings(self, *args, **kwargs):
        self.need("settings")
        return self._store.accept_settings(*args, **kwargs)

    @property
    def staff(self):
        """The staff accounts' own seam (consent_db.staff), for an admin."""
        self.need("staff")
        return self._store.staff


@dataclass
class Found:
    pupil: str
    tolerance: float
    snapshot: Any
    hits: list
    unscanned: list
    load_seconds: float
    search_seconds: float


class AuditView:
    """The audit log through a door: entries for the audit role, limited to the pupils in the
    account's scope; the chain's check for audit.verify; appends for anyone signed in (each
    entry names its actor). Nothing else of the log is reachable."""

    def __init__(self, door: Door) -> None:
        self._door = door
        self._audit = door._store.audit

    def entries(self, pupil=None, since=None, until=None) -> list[dict]:
        d = self._door
        d.need("audit")
        rows = self._audit.entries(pupil, since, until)
        if d.academy is None:
            return rows
        ids = {p["id"] for p in d._store.pupils() if in_scope(p, d.academy)}
        return [e for e in rows if e.get("subject") in ids]

    def verify(self, *args, **kwargs):
        self._door.need("audit.verify")
        return self._audit.verify(*args, **kwargs)

    def head_digest(self):
        self._door.need("audit.verify")
        return self._audit.head_digest()

    def append(self, *args, **kwargs):
        return self._audit.append(*args, **kwargs)

    def append_locked(self, *args, **kwargs):
        return self._audit.append_locked(*args, **kwargs)

    @property
    def lock(self):
        return self._audit.lock

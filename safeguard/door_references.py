"""The door's part for references: a pupil's stored encodings with their provenance.

Part of safeguard.door.Door (a mixin: it uses the door's role and scope checks, `need` and
`_pupil`, and its store); commands and the review app call these on the signed-in account's door.

    add_reference(pupil_id, encoding, taken, source, by=None, photo=None, *, quality)
        source "confirmation" (a face the DSL confirmed in held photo `photo`): the DSL only (the
        `confirm` action); "enrolment": data manager or DSL. `quality` is
        safeguard.enrolment.face_quality of the face. Refused with the reason (ReferenceRefused,
        audited as references.refuse) by safeguard.references.refusal: no biometric consent,
        below the enrolment quality checks, a repeat, or too near another pupil. Returns
        {id, taken, source, by, added, photo} (consent_db.references).
    references(pupil_id) -> the same dicts, oldest photo first, each with `current` (young
        enough to clear: config.reference_max_age_months); data manager or DSL.
    remove_reference(pupil_id, ref_id, reason=...) -> the reference removed (its encoding is
        destroyed); data manager or DSL. Audited as references.remove.
"""

from __future__ import annotations

from consent_db.errors import StoreError


class ReferenceRefused(StoreError):
    """A face may not become a pupil's reference; the message says why (safeguard.references)."""


class ReferenceDoor:
    """Door methods for references (see the module's docstring)."""

    def add_reference(self, pupil_id: str, encoding, taken, source: str, by: str | None = None,
                      photo: str | None = None, *, quality=None) -> dict:
        """Add one reference of the pupil: `source` "confirmation" (a face the DSL confirmed in
        held photo `photo`: the DSL only) or "enrolment" (data manager or DSL). `quality`: the
        face's measures (safeguard.enrolment.face_quality). Refused (ReferenceRefused, with the
        reason, audited) when safeguard.references.refusal says so. `by` must be this account
        (the record names who signed in, whatever it says). Returns the reference."""
        from safeguard.references import refusal

        self.need("confirm" if source == "confirmation" else "pupils.write")
        self._pupil(pupil_id)
        if by not in (None, self.user):
            from safeguard.door import Refused

            raise Refused(f"a reference is recorded as added by the signed-in account "
                          f"({self.user}), not {by}")
        why = refusal(self._store, self._config(), pupil_id, encoding, quality)
        if why:
            self._store.audit.append(self.user, "references.refuse", pupil_id,
                                     {"source": source, "reason": why,
                                      **({"photo": photo} if photo else {})})
            raise ReferenceRefused(why)
        return self._store.add_reference(pupil_id, encoding, taken, source, by=self.user,
                                         photo=photo)

    def references(self, pupil_id: str) -> list[dict]:
        """The pupil's references: id, taken, source, by, added, photo, and `current` (young
        enough to clear: config.reference_max_age_months)."""
        import datetime as dt

        from safeguard.references import shown

        self.need("pupils.read")
        self._pupil(pupil_id)
        return shown(self._store.references(pupil_id), dt.date.today(),
                     self._config().reference_max_age_months)

    def remove_reference(self, pupil_id: str, ref_id: str,
                         reason: str = "removed on request") -> dict:
        """Remove one reference (its encoding is destroyed); audited. Returns it as it was."""
        self.need("pupils.write")
        self._pupil(pupil_id)
        return self._store.remove_reference(pupil_id, ref_id, actor=self.user, reason=reason)

    def _config(self):
        if self.config is None:
            from safeguard.config import Config

            return Config()
        return self.config

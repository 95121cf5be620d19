"""What became of one input: the outcome of a photo or a clip, its faces and text, and what each
reader may see of it (`public` for comms staff: no names, registers or reasons; `dsl_record` for
the DSL's held queue)."""

from __future__ import annotations

from dataclasses import dataclass, field

from safeguard.faces import Box
from safeguard.images import LoadError
from safeguard.metadata import StripError
from safeguard.policy import FaceDecision

HELD_MESSAGE = "held for the DSL to check"
# The public status of a copy that went into a post waiting for sign-off (safeguard.approvals);
# before this release it read "exported" (with `approval` set, as it still is)
AWAITING = "awaiting_approval"
AWAITING_WORDS = "awaiting sign-off"


@dataclass
class FaceOutcome:
    box: Box
    label: str
    action: str
    decision: FaceDecision  # DSL-only details (pupil, reason, distance)
    angle: int = 0  # clockwise turn of the photo in which the face is upright (detect.Face)
    # DSL-only, for a face that was not cleared: its encoding and what the reference checks read
    # of it (width, sharpness, eye_span, nose_offset: enrolment's quality checks), kept in the
    # sealed held record so the DSL can confirm who it is (safeguard.confirmation); gone when the
    # held photo is decided.
    encoding: object = None  # (128,) float32, or None
    quality: dict | None = None

    def public(self) -> dict:
        return {"box": self.box.as_list(), "label": self.label, "action": self.action}

    def dsl(self) -> dict:
        """Everything about the face, for the held record (DSL eyes only)."""
        d = {**self.public(), "pupil": self.decision.pupil, "reason": self.decision.reason,
             "distance": self.decision.distance}
        if self.encoding is not None:
            d["encoding"] = [float(v) for v in self.encoding]
            d["quality"] = self.quality
        return d


@dataclass
class TextOutcome:
    """A region of text in the photo that names a pupil or a class (safeguard.text)."""

    box: Box  # what is covered (the region grown by text.COVER_MARGIN)
    action: str  # "redact" | "hold"
    kind: str  # naming.KINDS key: "full_name" | "class_name"
    read: str  # DSL only: the text read
    pupil: str | None = None  # DSL only: whose name

    def public(self) -> dict:
        return {"box": self.box.as_list(), "action": self.action}


TEXT_COVERED = "text naming a pupil covered"


@dataclass
class Outcome:
    input: str
    status: str  # "exported" | "held" | "rejected"
    output: str | None = None
    faces: list[FaceOutcome] = field(default_factory=list)
    error: str | None = None
    removed: list[str] = field(default_factory=list)
    held_id: str | None = None
    seconds: float = 0.0
    sha256: str | None = None
    flags: list[str] = field(default_factory=list)
    texts: list[TextOutcome] = field(default_factory=list)
    approval: str | None = None  # the post waiting for sign-off (safeguard.approvals)
    spot_check: bool = False  # DSL only: held by a spot check (safeguard.spot_check)
    # DSL only: comms staff asked the DSL to check the faces blurred in it (`blur --ask-dsl`,
    # the watched folder's _check/): who asked, their note and suggestions, where the copy goes
    asked: dict | None = None

    def public(self) -> dict:
        """What comms staff may see: no names, no registers, no reasons.

        In a held photo every face that is not cleared shows "restricted" and "hold", and every
        region of text "hold", so what caused the hold (a register pupil, an unknown face, text,
        a spot check) cannot be told apart."""
        faces = [f.public() for f in self.faces]
        texts = [t.public() for t in self.texts]
        if self.status == "held":
            for f in faces:
                if f["label"] != "cleared":
                    f["label"], f["action"] = "restricted", "hold"
            for t in texts:
                t["action"] = "hold"
        return {
            "input": self.input,
            # a copy in a post waiting for sign-off is not exported until an approver agrees
            "status": AWAITING if self.approval and self.status == "exported" else self.status,
            "output": self.output,
            "faces": faces,
            "error": self.error,
            "metadata_removed": self.removed,
            "held_id": self.held_id,
            "message": HELD_MESSAGE if self.status == "held" else (
                "awaiting approval" if self.approval else None),
            "flags": self.flags,
            "texts": texts,
            "approval": self.approval,
            "seconds": round(self.seconds, 3),
        }

    def dsl_record(self) -> dict:
        """Everything, for the held queue (DSL eyes only)."""
        return {
            "input": self.input,
            "sha256": self.sha256,
            "faces": [f.dsl() for f in self.faces],
            "metadata_removed": self.removed,
            "flags": self.flags,
            "texts": [{**t.public(), "kind": t.kind, "read": t.read, "pupil": t.pupil}
                      for t in self.texts],
            **({"spot_check": True} if self.spot_check else {}),
            **({"asked": self.asked} if self.asked else {}),
        }


def rejected(outcome: Outcome, e: Exception, what: str) -> None:
    """`outcome` rejected for the error met while processing it, in one line: fail closed."""
    if isinstance(e, LoadError):
        outcome.error = str(e)
    elif isinstance(e, StripError):
        outcome.error = f"could not write a verified clean {'file' if what == 'image' else what}: {e}"
    elif isinstance(e, MemoryError):
        outcome.error = f"{what} too large to process in memory"
    else:
        first = str(e).splitlines()[0][:160] if str(e) else ""
        outcome.error = f"internal error ({type(e).__name__}) {first}".strip()
    outcome.status, outcome.output = "rejected", None

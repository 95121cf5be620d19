"""Every way in, with who may use it and how academy scope applies: each command of the CLI and
each route of the review app has one case here, and a test fails for a command or a route that
has none (tests/attacks/test_every_command_and_page_has_a_role_and_scope_case.py).

A command signs in with the action of its case and no other (safeguard.commands.signin looks it
up: a command cannot choose a weaker one, and a command without a case cannot sign in at all); a
route of the review app answers only with a case, and only to a session whose role its case
allows (safeguard.review.app). The Door (safeguard.door) then checks the finer actions and the
scope in each method.

Scope cases:
    academy   a scoped account (dsl, data, slt with an academy) reaches only its academy's
              pupils and what is about them; another academy's is refused as if it did not exist
    trust     a trust-wide account only (the work covers every academy)
    submitter posts: the account's own, or its academy's (safeguard.approvals)
    photos    faces are matched against every academy's pupils (a restricted child stays
              restricted) and the output names nobody
    none      no pupil's data: staff accounts, the index's files, settings, counts
    public    no sign-in: creates a home, shows settings or status, or signs people in itself
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    action: str | None  # safeguard.access action the command signs in for (None: no sign-in)
    scope: str


SCOPES = ("academy", "trust", "submitter", "photos", "none", "public")

COMMANDS: dict[str, Case] = {
    "init": Case(None, "public"),
    "demo": Case("photos", "photos"),  # its own demo home; its scan signs in as its comms
    "config path": Case(None, "public"),
    "config show": Case(None, "public"),
    "config accept": Case("settings", "none"),  # a trust-wide admin or DSL: the command checks
    "status": Case(None, "public"),  # counts of photos, no pupil, no matching statistics
    # the matching statistics (clearing tolerance, predicted strangers cleared): the DSL's and the
    # admin's, as in the DPIA pack; comms staff see counts of their photos only
    "status --matching": Case("dpia", "none"),
    "serve": Case(None, "public"),  # the service signs in each batch (safeguard.service)
    "review serve": Case(None, "public"),  # the review app signs in each session
    "scan": Case("photos", "photos"),
    "blur": Case("photos", "photos"),
    "watch": Case("photos", "photos"),
    "caption": Case("photos", "photos"),
    "approvals list": Case("approvals", "academy"),
    "approvals show": Case("approvals", "academy"),
    "approvals approve": Case("approvals", "academy"),
    "approvals decline": Case("approvals", "academy"),
    "approvals status": Case("photos", "submitter"),
    "pupils add": Case("pupils.write", "academy"),
    "pupils update": Case("pupils.write", "academy"),
    "pupils show": Case("pupils.read", "academy"),
    "pupils list": Case("pupils.read", "academy"),
    "pupils enrol": Case("pupils.write", "academy"),
    "pupils import": Case("pupils.write", "academy"),
    "pupils erase": Case("pupils.erase", "academy"),
    "pupils export": Case("registers", "academy"),
    "pupils purge": Case("pupils.erase", "trust"),
    "pupils references": Case("pupils.read", "academy"),  # --remove: pupils.write too
    "pupils consent grant": Case("pupils.write", "academy"),
    "pupils consent refuse": Case("pupils.write", "academy"),
    "pupils consent withdraw": Case("pupils.write", "academy"),
    "pupils register add": Case("registers", "academy"),
    "pupils register remove": Case("registers", "academy"),
    "pupils biometric notify": Case("pupils.write", "academy"),
    "pupils biometric consent": Case("pupils.write", "academy"),
    "pupils biometric object": Case("pupils.write", "academy"),
    "pupils biometric withdraw": Case("pupils.write", "academy"),
    "audit list": Case("audit", "academy"),
    "audit verify": Case("audit.verify", "none"),
    "audit head": Case("audit.verify", "none"),
    "review list": Case("held", "academy"),
    "review show": Case("held", "academy"),
    "review release": Case("held", "academy"),
    "review reject": Case("held", "academy"),
    "review confirm": Case("held", "academy"),
    "review takedowns": Case("held", "academy"),
    "review close-takedown": Case("held", "academy"),
    "report": Case("held", "academy"),
    "find": Case("find", "academy"),
    "index": Case("index", "none"),
    "dpia": Case("dpia", "none"),  # counts only, no names
    "staff add": Case("staff", "none"),
    "staff list": Case("staff", "none"),
    "staff remove": Case("staff", "none"),
    "staff unlock": Case("staff", "none"),
    "staff change": Case("staff", "none"),
}

# The review app's routes: (method, path) -> the action its session must allow, and the scope.
ROUTES: dict[tuple[str, str], Case] = {
    ("GET", "/login"): Case(None, "public"),
    ("POST", "/login"): Case(None, "public"),
    ("POST", "/logout"): Case(None, "public"),
    ("GET", "/static/review.css"): Case(None, "public"),
    ("GET", "/favicon.ico"): Case(None, "public"),
    ("GET", "/"): Case("held", "academy"),
    ("GET", "/held/{held_id}"): Case("held", "academy"),
    ("POST", "/held/{held_id}/{action}"): Case("held", "academy"),
    ("POST", "/held/{held_id}/face/{n:int}/confirm"): Case("held", "academy"),
    ("GET", "/image/{held_id}/{kind}.jpg"): Case("held", "academy"),
    ("GET", "/clip/{held_id}/{kind}.mp4"): Case("held", "academy"),
    ("GET", "/clip/{held_id}/track/{n:int}.jpg"): Case("held", "academy"),
    ("GET", "/audit"): Case("audit", "academy"),
    ("GET", "/audit.csv"): Case("audit", "academy"),
    ("POST", "/takedown/{item_id}/close"): Case("held", "academy"),
    ("GET", "/takedowns"): Case("held", "academy"),
    ("GET", "/takedowns/{item_id}/photo/{n:int}.jpg"): Case("held", "academy"),
    ("POST", "/takedowns/{item_id}/photo/{n:int}/{state}"): Case("held", "academy"),
    ("GET", "/approvals"): Case("approvals", "academy"),
    ("GET", "/approvals/{post_id}"): Case("approvals", "academy"),
    ("GET", "/approvals/{post_id}/copy/{n:int}.jpg"): Case("approvals", "academy"),
    ("GET", "/approvals/{post_id}/copy/{n:int}.mp4"): Case("approvals", "academy"),
    ("POST", "/approvals/{post_id}/{action}"): Case("approvals", "academy"),
}


def command_case(path: str) -> Case | None:
    """The case of a command by its path without the program name ("pupils add")."""
    return COMMANDS.get(path)

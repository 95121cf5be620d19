"""Pupils' names as school MIS exports carry them: a first-name and a surname column (legal, and
often preferred), combined into the one name the store keeps.

A name is what captions and pictures are checked against (safeguard.naming: a first name and a
surname together identify a child; a first name alone does not), so a pupil stored under a first
name only is a pupil whose full name is never caught. An export that splits the name must
therefore never be imported as half of it: the columns below are recognised as they ship, and
combined; a first name without a surname is a bad row.

Column names, as the MIS exports name them (matched ignoring case, spaces, "-" and "_"):
- Arbor's student exports: "Legal First Name", "Legal Last Name", "Preferred First Name",
  "Preferred Last Name" (as a school's data manager reported them); its API's pupil record has
  Forename / Surname and KnownAsFirstName / KnownAsLastName (ParentPay's "What names are imported
  via the Arbor MIS?": "FirstName = KnownAsFirstName, Forename; LastName = KnownAsLastName,
  Surname").
- SIMS: "Forename", "Surname", "Preferred Forename", "Preferred Surname" (SIMS 7's applicant
  format on sims-partners.com lists exactly these, with "Middle Names"); its student reports
  also offer "Legal Forename" and "Legal Surname".
- Generic: "First Name", "Last Name", "Given Name", "Family Name", "first_name", "last_name".
Middle names are not needed: a caption naming a child with a middle name is caught from the
first name and surname (safeguard.naming).

The stored name is the legal one, "Forename Surname". A child known by another name (a preferred
forename or surname different from the legal one) is stored as "Known-as Name / Legal Name"
("Alfie Smith / Alfred Smith"): captions and pictures say the name a child is known by, the legal
name is on the register, and both are checked (safeguard.naming.people reads every name given
between " / ").
"""

from __future__ import annotations

import re

ALSO = " / "  # between the names a child is known by, in the stored name

# role -> the normalised header names that carry it
COLUMNS: dict[str, frozenset[str]] = {
    "first": frozenset({"legal first name", "legal forename", "first name", "forename",
                        "given name", "legal given name"}),
    "last": frozenset({"legal last name", "legal surname", "last name", "surname",
                       "family name", "legal family name"}),
    "preferred_first": frozenset({"preferred first name", "preferred forename", "known as",
                                  "knownasfirstname", "known as first name",
                                  "preferred name"}),
    "preferred_last": frozenset({"preferred last name", "preferred surname",
                                 "knownaslastname", "known as last name"}),
}


def normalise(header: str) -> str:
    """A header as compared: case folded, "_" and "-" as spaces, spaces collapsed."""
    return " ".join(re.sub(r"[_\-]+", " ", header).casefold().split())


def name_columns(header: list[str]) -> tuple[dict[str, str], list[str]]:
    """({role: the header that carries it}, problems) for the name columns of an export."""
    found: dict[str, str] = {}
    problems = []
    for h in header:
        for role, names in COLUMNS.items():
            if normalise(h) not in names:
                continue
            if role not in found or _legal(h) and not _legal(found[role]):
                found[role] = h  # "Legal Forename" beside "Forename": the legal one
            elif not _legal(found[role]):
                problems.append(f"line 1: both {found[role]!r} and {h!r} give the "
                                f"{role.replace('_', ' ')} name; keep one")
    if found and ("first" in found) != ("last" in found):
        have, need = (("first name", "surname") if "first" in found else
                      ("surname", "first name"))
        problems.append(f"line 1: a {have} column without a {need} column: a full name needs "
                        "both")
    return found, problems


def _legal(header: str) -> bool:
    return normalise(header).startswith("legal ")


def full_name(first: str, last: str, preferred_first: str = "",
              preferred_last: str = "") -> str | None:
    """The stored name from an export's name fields (stripped strings, "" when blank); None when
    the row gives no name. Raises ValueError for half a name."""
    first, last = " ".join(first.split()), " ".join(last.split())
    if not first and not last:
        return None
    if not (first and last):
        raise ValueError("a first name and a surname are both needed (a full name is what "
                         "captions and pictures are checked against)")
    legal = f"{first} {last}"
    known = f"{' '.join(preferred_first.split()) or first} {' '.join(preferred_last.split()) or last}"
    return legal if known.casefold() == legal.casefold() else f"{known}{ALSO}{legal}"

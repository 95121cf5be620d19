"""Captions: does the caption check find every pupil's full name and class name in a
post's caption, and flag nothing else?

    .venv/bin/python benchmarks/bench_caption.py [--captions 200] [--pupils 600] [--out benchmarks/out]

A made-up school of `--pupils` children, named as a UK school's roll is (English, Irish, Welsh,
Scottish, South Asian, West African, East African, Caribbean, Chinese, Vietnamese, Arabic,
Turkish, Polish, Romanian, Portuguese, Dutch and other names; accents, apostrophes, hyphenated
and two-word surnames, middle names), in classes ("4O", "Year 4 Oak", "6B") and clubs ("choir",
"u11-football"). Captions are written the way schools post, half of them naming a child:

- a pupil's full name, in the forms captions use: first and last name, surname first ("LOVELACE
  Ada"), an initial ("A. Lovelace"), all capitals or all lower case, without its accents, with a
  typo (a letter dropped, doubled, swapped or wrong), possessive ("Ada Lovelace's"), with a middle
  name the roll does not hold or without one it does, a hyphenated surname written with a space,
  or beside the child's age ("Ada Lovelace, 7,");
- a class name: one of the school's classes, or the common patterns "Year 4", "Y4", "Class 6B";

and half naming nobody: first names alone, staff by title and surname, clubs, teams, events, times,
distances and other numbers ("5K", "10am", "4G pitch", "under-11s", "2nd"), and ordinary words that
are also first names or surnames ("Grace", "May", "Hill", "Brown").

Each caption goes through safeguard.caption.check_caption, what `safeguard caption`, `blur
--caption` and the watcher run. Reported: naming captions flagged (the named span found), captions
naming nobody flagged (false flags), by form, and the misses and false flags themselves. Then the
CLI is run on captions naming pupils on the child-protection and looked-after registers, and its
output (plain and --json) is searched for anything that would name a register or a pupil.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIRST = [
    "Ada", "Oliver", "Amelia", "Harry", "Isla", "George", "Freya", "Noah", "Poppy", "Jack",
    "Grace", "Alfie", "Evie", "Theo", "Ivy", "Arthur", "Sienna", "Leo", "Willow", "Oscar",
    "Aoife", "Ciarán", "Siobhán", "Niamh", "Rhys", "Cerys", "Dafydd", "Eilidh", "Callum", "Mhairi",
    "Aarav", "Priya", "Arjun", "Ananya", "Ishaan", "Zara", "Mohammed", "Aisha", "Yusuf", "Fatima",
    "Ibrahim", "Maryam", "Hamza", "Amira", "Omar", "Layla", "Chidi", "Ngozi", "Kwame", "Ama",
    "Oluwaseun", "Adaeze", "Tobenna", "Folake", "Abdi", "Hodan", "Tariq", "Shanice", "Jayden",
    "Kai", "Wei", "Mei", "Jun", "Xin", "Minh", "Linh", "Thanh", "Emre", "Elif", "Zeynep",
    "Kacper", "Zuzanna", "Łukasz", "Wiktoria", "Andrei", "Ioana", "João", "Inês", "Beatriz",
    "Sven", "Daan", "Zoë", "Chloé", "Noémie", "Renée", "Anaïs", "Matías", "Sofía", "Jesús",
    "May", "Summer", "Hope", "Joy", "Will", "Ray", "Rose", "Holly", "Jade", "Ruby",
]
LAST = [
    "Lovelace", "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Hill", "Moore", "Cooper", "Ward", "O'Brien", "O'Connor",
    "McCarthy", "Ní Bhriain", "Llewellyn", "ap Rhys", "MacLeod", "Campbell", "Patel", "Shah",
    "Singh", "Kaur", "Begum", "Hussain", "Khan", "Ahmed", "Rahman", "Chowdhury", "Iqbal",
    "Okafor", "Adeyemi", "Okonkwo", "Mensah", "Owusu", "Balogun", "Abdullahi", "Mohamed", "Farah",
    "Warsame", "Campbell-Brown", "Smith-Jones", "Baptiste", "Chen", "Wang", "Li", "Zhang",
    "Nguyen", "Tran", "Pham", "Yılmaz", "Kaya", "Öztürk", "Nowak", "Kowalski", "Wiśniewska",
    "Zieliński", "Popescu", "Ionescu", "Silva", "Gonçalves", "Ferreira", "van der Berg", "de Vries",
    "Müller", "Schäfer", "Dubois", "Lefèvre", "García", "Fernández", "Rossi", "Esposito", "Ó Súilleabháin",
    "Abubakar", "Nwosu", "da Costa", "St John", "Ashworth", "Fairweather", "Higginbottom",
]
MIDDLE = ["Rose", "Grace", "James", "Mae", "Louise", "Ali", "Olu", "Marie", "John", "Elizabeth"]
CLASS_NAMES = ["1B", "2H", "3M", "4O", "5K", "6B", "Year 4 Oak", "Year 5 Ash", "Year 6 Elm",
               "Reception Robins"]
CLUBS = ["choir", "u11-football", "netball", "chess club", "eco council", "orchestra",
         "drama club", "coding club"]
STAFF = ["Mrs Patel", "Mr Okafor", "Ms Nguyen", "Miss Hill", "Mr Brown", "Mrs Lovelace",
         "Dr Green", "Mr Jones", "Mrs O'Brien", "Ms Kowalski"]

NAMING = [
    "Well done to {x} for winning the county chess final!",
    "Congratulations {x} on your certificate in assembly today.",
    "{x} read her poem beautifully this morning.",
    "Star of the week: {x}!",
    "A huge thank you to {x}, who organised the cake sale.",
    "Look at this amazing model volcano made by {x} at home.",
    "Our swimmer of the term is {x}. Keep it up!",
    "Brilliant singing from {x} in the Christmas concert.",
    "Happy birthday {x}! Have a lovely day.",
    "Here is {x} receiving the Headteacher's award.",
    "Fantastic effort at sports day from {x} and friends.",
    "{x} scored the winning goal for our under-11s.",
]
CLASS_TEMPLATES = [
    "A huge well done to everyone in {c} for their assembly on kindness.",
    "{c} have been learning about the Romans this week.",
    "Look what {c} made in forest school today!",
    "{c} visited the Science Museum on Tuesday.",
    "Our class of the week is {c}, with 100% attendance.",
    "Pupils from {c} planted bulbs in the school garden.",
]
COMMON_CLASSES = ["Year 4", "Year 6", "Y3", "Yr 5", "Class 6B", "Class 2C", "Form 7X"]
NOBODY = [
    "Well done {f} for a brilliant week!",
    "{f} and {f2} loved the trip to the farm.",
    "Thank you to {staff} for running the {club} this term.",
    "Our {club} won the 5K fun run on Saturday at 10am.",
    "Sports day is on 14 June: please bring a water bottle and a sun hat.",
    "The new 4G pitch is open! Our under-11s played their first match on it.",
    "Great to see so many families at the summer fair. We raised £1,250.",
    "The {club} came 2nd in the regional finals. So proud!",
    "Reminder: school closes at 2pm on Friday for the end of term.",
    "Happy World Book Day from all of us! Who can guess the characters?",
    "{staff} and the {club} performed at the care home on Grace Road.",
    "We had a visit from the fire brigade today. Thank you, Station 12!",
    "Harvest festival donations go to the food bank. Thank you all.",
    "Our eco council have planted 30 trees along the Hill path.",
    "May we remind parents that the car park is for staff only.",
    "Summer term clubs start next week: coding, chess and choir.",
    "A Joy to watch: the orchestra rehearsing for the spring concert.",
    "Will you join us for the reading cafe on Thursday at 3.15pm?",
    "Ruby, Jade and Holly were the stars of our nativity.",
    "The library has 200 new books thanks to the Friends of the school.",
    "Congratulations to the {club}: first place in the county 3D design challenge!",
    "Brown bears, green frogs and white rabbits: our reception display.",
    "Well done {f}! What a star.",
    "Thanks to {staff} for organising the 100m sprint heats.",
]

FORMS = ["first last", "last first", "LAST first", "initial last", "initial. last", "upper",
         "lower", "no accents", "typo", "possessive", "middle name added", "middle name left out",
         "hyphen as space", "with age"]


def strip_accents(s: str) -> str:
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).replace("ł", "l").replace(
        "Ł", "L").replace("ı", "i")


def school(n: int, rng: random.Random) -> list[dict]:
    """`n` pupils: unique full names (some with a middle name), a class each, some clubs."""
    pupils, seen = [], set()
    while len(pupils) < n:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        middle = rng.choice(MIDDLE) if rng.random() < 0.15 else None
        if (first, last) in seen or first == middle:
            continue
        seen.add((first, last))
        name = " ".join(w for w in (first, middle, last) if w)
        groups = [rng.choice(CLASS_NAMES)] + rng.sample(CLUBS, rng.randint(0, 2))
        pupils.append({"id": f"P{len(pupils) + 1:04d}", "name": name, "first": first,
                       "middle": middle, "last": last, "groups": groups})
    return pupils


def typo(word: str, rng: random.Random) -> str:
    """One slip in a word of four letters or more: a letter dropped, doubled, swapped or wrong."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["drop", "double", "swap", "wrong"])
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    c = rng.choice("aeiourstnl".replace(word[i].lower(), ""))
    return word[:i] + c + word[i + 1:]


def name_in(p: dict, form: str, rng: random.Random) -> str | None:
    first, last = p["first"], p["last"]
    if form == "first last":
        return f"{first} {last}"
    if form == "last first":
        return f"{last}, {first}"
    if form == "LAST first":
        return f"{last.upper()} {first}"
    if form == "initial last":
        return f"{first[0]} {last}"
    if form == "initial. last":
        return f"{first[0]}. {last}"
    if form == "upper":
        return f"{first} {last}".upper()
    if form == "lower":
        return f"{first} {last}".lower()
    if form == "no accents":
        plain = strip_accents(f"{first} {last}")
        return plain if plain != f"{first} {last}" else None
    if form == "typo":
        long = [w for w in (first, last) if len(w) >= 4]
        if not long:
            return None
        w = rng.choice(long)
        t = typo(w, rng)
        return f"{t if w == first else first} {t if w == last else last}"
    if form == "possessive":
        return f"{first} {last}'s"
    if form == "middle name added":
        if p["middle"]:
            return None
        return f"{first} {rng.choice(MIDDLE)} {last}"
    if form == "middle name left out":
        return f"{first} {last}" if p["middle"] else None
    if form == "hyphen as space":
        return f"{first} {last.replace('-', ' ')}" if "-" in last else None
    if form == "with age":
        return f"{first} {last}, {rng.randint(5, 11)},"
    raise ValueError(form)


def captions(pupils: list[dict], n: int, rng: random.Random) -> list[dict]:
    """`n` captions, half naming a pupil or a class (with the named span), half naming nobody."""
    out = []
    firsts = sorted({p["first"] for p in pupils})
    while len(out) < n // 2:
        if rng.random() < 0.7:
            p = rng.choice(pupils)
            form = FORMS[len(out) % len(FORMS)]
            x = name_in(p, form, rng)
            if x is None:
                continue
            t = rng.choice(NAMING)
            if form == "with age" and t.startswith("{x}"):
                x = x.rstrip(",")
            text = t.format(x=x)
            out.append({"text": text, "names": True, "form": form, "span": x.rstrip(",'s"),
                        "pupil": p["id"]})
        else:
            if rng.random() < 0.6:
                c, form = rng.choice(CLASS_NAMES), "school class"
            else:
                c, form = rng.choice(COMMON_CLASSES), "common class pattern"
            text = rng.choice(CLASS_TEMPLATES).format(c=c)
            out.append({"text": text, "names": True, "form": form, "span": c, "pupil": None})
    while len(out) < n:
        f, f2 = rng.sample(firsts, 2)
        text = rng.choice(NOBODY).format(f=f, f2=f2, staff=rng.choice(STAFF),
                                          club=rng.choice(CLUBS))
        out.append({"text": text, "names": False, "form": "names nobody", "span": None,
                    "pupil": None})
    rng.shuffle(out)
    return out


class Roll:
    """The school's roll as the caption check reads a store (pupils with names and groups)."""

    def __init__(self, pupils: list[dict]):
        self._pupils = [{"id": p["id"], "name": p["name"], "groups": p["groups"]} for p in pupils]

    def pupils(self) -> list[dict]:
        return self._pupils


def found(c: dict, findings) -> bool:
    """Is the caption's named span flagged (any finding overlapping it)?"""
    start = c["text"].find(c["span"])
    end = start + len(c["span"])
    return any(f.start < end and f.end > start for f in findings)


def measure(pupils, caps) -> dict:
    from safeguard.caption import check_caption

    roll = Roll(pupils)
    by_form: dict[str, Counter] = {}
    misses, false_flags = [], []
    for c in caps:
        findings = check_caption(c["text"], roll)
        tally = by_form.setdefault(c["form"], Counter())
        tally["captions"] += 1
        if c["names"]:
            hit = found(c, findings)
            tally["flagged"] += hit
            if not hit:
                misses.append({"form": c["form"], "text": c["text"]})
        else:
            tally["flagged"] += bool(findings)
            if findings:
                false_flags.append({"text": c["text"],
                                    "found": [(f.kind, f.text) for f in findings]})
    naming = [c for c in caps if c["names"]]
    nobody = [c for c in caps if not c["names"]]
    return {
        "captions": len(caps), "pupils": len(pupils),
        "naming": len(naming), "naming_flagged": len(naming) - len(misses),
        "nobody": len(nobody), "nobody_flagged": len(false_flags),
        "by_form": {k: dict(v) for k, v in sorted(by_form.items())},
        "misses": misses, "false_flags": false_flags,
    }


REGISTER_WORDS = ["register", "child protection", "looked after", "looked-after", " cp", " lac",
                  "consent", "withdrawn", "safeguard"]


def cli_check(pupils: list[dict], caps: list[dict], tmp: Path, n: int) -> dict:
    """`safeguard caption` (plain and --json) on captions naming pupils on a register: does
    anything it prints name a register, a consent, a pupil id or the name itself?"""
    from consent_db import ConsentStore
    from safeguard.home import Home
    from safeguard.naming import fold

    home = Home(tmp / "home").ensure()
    store = ConsentStore.open(home, create=True)
    password = secrets.token_urlsafe(18)
    store.add_staff("bench-comms", "comms", password, actor="bench")
    named = [c for c in caps if c["pupil"]][:n]
    for i, pid in enumerate(sorted({c["pupil"] for c in named})):
        p = next(q for q in pupils if q["id"] == pid)
        store.add_pupil(pid, p["name"], consents={"social": False},
                        registers=["cp" if i % 2 else "lac"], groups=p["groups"], actor="bench")
    env = dict(os.environ, SAFEGUARD_USER="bench-comms", SAFEGUARD_PASSWORD=password)
    leaks, checked, exit3 = [], 0, 0
    for c in named:
        p = next(q for q in pupils if q["id"] == c["pupil"])
        for extra in ([], ["--json"]):
            r = subprocess.run([sys.executable, "-m", "safeguard.cli", "--home", str(home.root),
                                "caption", c["text"], *extra], capture_output=True, text=True,
                               env=env, cwd=ROOT, check=False)
            checked += 1
            exit3 += r.returncode == 3
            said = (r.stdout + r.stderr).casefold()
            bad = [w for w in REGISTER_WORDS if w in said] + [
                x for x in (p["id"].casefold(), fold(p["last"])) if x in fold(said)]
            if bad:
                leaks.append({"text": c["text"], "said": bad, "exit": r.returncode})
    return {"cli_runs": checked, "cli_exit_3": exit3, "cli_leaks": leaks}


def report(r: dict) -> str:
    lines = [
        "## Captions (bench_caption.py)",
        "",
        (f"{r['captions']} captions generated for a made-up school of {r['pupils']} pupils "
          "(names from many of a UK school's communities, with accents, apostrophes, hyphenated and "
         "two-word surnames and middle names; classes and clubs), half naming a pupil or a class, "
         "half naming nobody; each checked by safeguard.caption.check_caption (what `safeguard "
         "caption`, `blur --caption` and the watcher run)."),
        "",
        "| form | captions | flagged |",
        "|---|---:|---:|",
    ]
    for form, t in r["by_form"].items():
        lines.append(f"| {form} | {t['captions']} | {t.get('flagged', 0)} |")
    lines += [
        "",
        (f"Full names and class names found: {r['naming_flagged']}/{r['naming']} "
         f"({100 * r['naming_flagged'] / r['naming']:.1f}%; target >= 98%); captions naming "
         f"nobody flagged: {r['nobody_flagged']}/{r['nobody']} "
         f"({100 * r['nobody_flagged'] / r['nobody']:.1f}%; target <= 2%)."),
    ]
    if "cli_runs" in r:
        lines += ["", (f"`safeguard caption` on {r['cli_runs'] // 2} captions naming pupils on "
                       f"the child-protection or looked-after register, plain and --json "
                       f"({r['cli_runs']} runs): exit 3 in {r['cli_exit_3']}; output naming a "
                       f"register, a consent, a pupil id or the pupil's surname: "
                       f"{len(r['cli_leaks'])}.")]
    for title, key in (("Missed", "misses"), ("Flagged though naming nobody", "false_flags")):
        if r[key]:
            lines += ["", f"{title}:", ""] + [f"- {json.dumps(x, ensure_ascii=False)}"
                                              for x in r[key][:20]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=200)
    ap.add_argument("--pupils", type=int, default=600)
    ap.add_argument("--cli", type=int, default=10, help="captions run through the CLI (0: none)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    a = ap.parse_args(argv)
    rng = random.Random(a.seed)
    pupils = school(a.pupils, rng)
    caps = captions(pupils, a.captions, rng)
    r = measure(pupils, caps)
    if a.cli:
        with tempfile.TemporaryDirectory() as tmp:
            r.update(cli_check(pupils, caps, Path(tmp), a.cli))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "caption.json").write_text(json.dumps(r, indent=1, ensure_ascii=False))
    md = report(r)
    (a.out / "caption.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

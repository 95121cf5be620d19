"""Does a piece of text identify a child? Pure: text and the store's names in, findings out.

The protocol forbids identifying a child "by full name or class", in a photo or its caption. What
counts, here, is what identifies: a pupil's full name (first and last name, in either order, or
the first name's initial with the surname: "Ada Lovelace", "Lovelace, Ada", "A. Lovelace"; with a
middle name, a two-word or hyphenated surname, or as a possessive: "Ada Mary Lovelace", "Mei da
Costa", "Amy Smith Jones", "Ada Lovelace's"), a
class name (a group of the store that looks like a class, "4O", "6B", "Year 4 Oak", or the common
patterns "Year 4", "Y4", "Class 6B", "Form 7X"), and personal details (a phone number, an email
address, a home street, a child's age beside a full name). A first name alone is not enough:
"Well done Ada!" or a sign saying "Grace" must not flag every post.

A name is read however it is written down: with its letters set apart by dots or spaces
("B.E.N. E.X.A.M.P.L.E", "B E N  E X A M P L E": the words they spell), or run together as one
word ("BenExample", "BENEXAMPLE": a reader that drops the spaces); an ordinary word that happens
to spell two names ("sunshine") is not run together, and initials and abbreviations ("U.K.",
"A.B.C.") spell no name.

Matching folds case and accents and allows slips (an edit distance that grows with the word's
length: 0 up to 3 letters, 1 up to 7, 2 beyond), because captions have typos and OCR misreads.
Findings say what kind of thing was found and where; which pupil is for the DSL only
(`pupil`, never shown to comms staff).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import pairwise

KINDS = {
    "full_name": "a pupil's full name",
    "class_name": "a class name",
    "phone": "a phone number",
    "email": "an email address",
    "street": "a home street",
    "age_with_name": "a child's age with their full name",
}

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_CLASS_PATTERNS = [
    # "Year 4", "Yr 6", "Year 4 Oak" (a class name after it is capitalised: not "Year 4 trip")
    re.compile(r"\b(?i:year|yr)\s*(?:[1-9]|1[0-3])(?:\s+[A-Z][a-z]{1,10}|[A-Z])?\b"),
    re.compile(r"\bY(?:[1-9]|1[0-3])[A-Z]?\b"),
    re.compile(r"\b(?:class|form|set|group)\s+(?:[1-9]|1[0-3])\s*[A-Z]{1,2}\b", re.IGNORECASE),
    re.compile(r"\b(?i:class|form)\s+[A-Z][a-z]+\b"),  # "Class Oak", "Form Kestrel"
    # 4O, 6B, 10X; not units and times (5K, 4G, 3D, 2M, 10AM, 2PM)
    re.compile(r"\b(?:[1-9]|1[0-3])(?![KGDM]\b|AM\b|PM\b)[A-Z]{1,2}\b"),
    re.compile(r"\b(?:reception|nursery)\s+class\b", re.IGNORECASE),
]
_PHONE = re.compile(r"(?<![\w+])(?:\+44\s?\(?0?\)?\s?|0)(?:\d[\s-]?){9,10}(?!\w)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_STREET = re.compile(
    r"\b\d{1,4}[a-z]?,?\s+(?:[A-Z][a-z]+\s+){1,3}(?:Road|Rd|Street|St|Lane|Ln|Avenue|Ave|Close|"
    r"Drive|Dr|Way|Crescent|Gardens|Place|Court|Terrace|Grove|Hill|Park|Mews|Row|Walk|View|"
    r"Square|Rise)\b\.?")
_AGE = re.compile(r"\b(?:aged?\s+\d{1,2}|\d{1,2}\s*(?:years?\s+old|yrs?\s+old|-year-old))\b|"
                  r",\s*\d{1,2}\s*,", re.IGNORECASE)
AGE_WINDOW = 40  # characters between a full name and an age for "age with a full name"


def fold(text: str) -> str:
    """Case and accents folded, lengths kept where possible (NFKD, combining marks dropped)."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def slips(word: str) -> int:
    """Edit distance allowed for a word of this length (typos, OCR misreads)."""
    n = len(word)
    return 0 if n <= 3 else 1 if n <= 7 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Edit distance counting a swap of two neighbouring letters as one edit (optimal string
    alignment: "Exmaple" is one slip from "Example"), or limit + 1 as soon as it must exceed
    `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    two, prev = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if two is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], two[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        two, prev = prev, cur
    return prev[-1]


@dataclass(frozen=True)
class Finding:
    kind: str  # a key of KINDS
    start: int  # character span in the text
    end: int
    text: str
    pupil: str | None = None  # DSL only: whose name (never shown to comms staff)

    @property
    def what(self) -> str:
        return KINDS[self.kind]

    def public(self, words: bool = False) -> dict:
        """What comms staff may see: the kind and where, never whose. A name's words are left
        out (text None) unless `words`: then the caption's own words are quoted whatever they
        are, for the person who wrote it, in their own session (the caption command, the photo
        service's answer), where they say no more than the span does and are what that person
        can act on; never in a file or a log that others read (the watcher's status file)."""
        named = self.kind in ("full_name", "age_with_name")
        return {"kind": self.kind, "what": self.what, "start": self.start, "end": self.end,
                "text": self.text if words or not named else None}

    @property
    def quoted(self) -> str:
        return quoted(self.text, self.what)

    def as_dict(self) -> dict:
        return asdict(self)


def quoted(text: str, what: str) -> str:
    """A finding as a person reads it, the words found quoted: '"Ben Example" (a pupil's full
    name)', never "characters 10-21"."""
    return f"\"{' '.join(text.split())}\" ({what})"


@dataclass(frozen=True)
class Person:
    pupil: str
    first: str  # folded
    last: str  # folded (the last word of the name)


def people(pupils: Iterable[tuple[str, str]]) -> list[Person]:
    """(pupil id, full name) pairs as first/last name words; names of one word are skipped. A
    child known by another name is stored as "Alfie Smith / Alfred Smith" (consent_db.mis_names):
    each name between " / " is a name of theirs."""
    out = []
    for pid, name in pupils:
        for one in (name or "").split(" / "):
            words = _WORD.findall(fold(one))
            if len(words) >= 2:
                out.append(Person(pid, words[0], words[-1]))
    return out


def school_names(pupils: Iterable[dict]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """((pupil id, full name), ...) and every group, from the store's pupil records: what text in
    photos and captions is checked against."""
    pupils = list(pupils)
    return (tuple((p["id"], p.get("name", "")) for p in pupils if p.get("name")),
            tuple(sorted({g for p in pupils for g in p.get("groups") or []})))


def class_like(group: str) -> bool:
    """Whether a store group is a class name worth flagging ("4O", "Year 4 Oak", "Y6") rather
    than a club or team that names nobody ("choir")."""
    g = group.strip()
    return any(p.fullmatch(g) for p in _CLASS_PATTERNS) or bool(
        re.fullmatch(r"(?:[1-9]|1[0-3])\s*[A-Za-z]{1,8}", g)
        or re.fullmatch(r"(?i:reception|nursery|year\s*(?:[1-9]|1[0-3])|y(?:[1-9]|1[0-3]))"
                        r"\s+[A-Z][A-Za-z]+", g))


# Words that may stand between a first name (or initial) and the surname: a middle name the
# roll may not hold ("Ada Mary Lovelace"), the first part of a two-word or hyphenated surname
# ("Mei da Costa", "R Smith-Jones"). A capitalised word, or a surname particle.
_BETWEEN = 2
_PARTICLES = frozenset({"da", "de", "del", "della", "der", "den", "des", "di", "do", "dos", "das",
                        "du", "la", "le", "van", "von", "ap", "ab", "ni", "nic", "mac", "mc", "o",
                        "st", "bin", "bint", "al", "el", "ben", "ter", "ten"})
# Common English words: they match a name only letter for letter, never through a slip ("the"
# is one slip from "Theo", "and" from "Ana", "will" from "Wills").
_EXACT_ONLY = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "go", "had", "has",
    "have", "he", "her", "him", "his", "how", "i", "in", "is", "it", "its", "me", "my", "no",
    "not", "of", "on", "one", "or", "our", "out", "she", "so", "the", "their", "them", "then",
    "they", "this", "to", "too", "two", "up", "us", "was", "we", "well", "were", "what",
    "when", "who", "why", "will", "with", "you", "your", "all", "any", "can", "did", "do",
    "get", "got", "new", "now", "off", "old", "own", "see", "saw", "set", "sun", "day",
    "days", "way", "year", "week", "team", "club", "class", "form", "trip", "fun", "run",
})


def _letters(word: str) -> int:
    """The letters a word uses, as bits (letters sharing a bit only make the bound below looser)."""
    mask = 0
    for c in word:
        mask |= 1 << (ord(c) % 61)
    return mask


class _Targets:
    """Name words (folded) and whose they are, by length: a word of text is compared only with
    the name words its slips allow (a length within two of its own), and only where the letters
    they use allow it: an edit changes at most one letter, so two words are at least as many
    edits apart as the one has letters the other lacks. That check is one operation on bits and
    leaves the full comparison to a few names in a school's hundreds."""

    def __init__(self, pairs: Iterable[tuple[str, int]], exact_below: int = 0):
        exact: dict[str, set[int]] = {}
        for target, k in pairs:
            exact.setdefault(target, set()).add(k)
        self.exact = {t: frozenset(ks) for t, ks in exact.items()}
        self.by_len: dict[int, list[tuple[str, frozenset[int], int, int]]] = {}
        for t, ks in self.exact.items():
            allowed = 0 if len(t) < exact_below else slips(t)  # below: letter for letter
            if allowed:
                self.by_len.setdefault(len(t), []).append((t, ks, _letters(t), allowed))

    def match(self, word: str) -> frozenset[int]:
        """Whose name word `word` (folded, from the text) is: exactly, as a possessive
        ("Lovelace's"), or through a slip unless it is a common English word."""
        out: set[int] = set()
        possessive = word[:-2] if word.endswith(("'s", "’s")) and len(word) > 3 else None
        for w in (word, possessive):
            if w is None:
                continue
            out |= self.exact.get(w, frozenset())
            if w in _EXACT_ONLY:
                continue
            mine = _letters(w)
            for n in range(len(w) - 2, len(w) + 3):
                for t, ks, theirs, allowed in self.by_len.get(n, ()):
                    if ((mine & ~theirs).bit_count() <= allowed
                            and (theirs & ~mine).bit_count() <= allowed
                            and edit_distance(w, t, allowed) <= allowed):
                        out |= ks
        return frozenset(out)


SEEN_WORDS = 50_000  # words whose matches an index keeps

# A full name run together as one word ("BenExample", "BENEXAMPLE": a reader that drops the
# spaces, letters spelled out) is matched through slips only from this length: "Al Li" run
# together is one slip from "ally".
WHOLE_SLIPS_FROM = 8


class Names:
    """The store's names, ready for matching text against: which pupils a word can be the first
    name, the surname or (run together) the whole name of, each distinct word worked out once.
    A school has hundreds of names and a photo's text is matched in several groupings (its
    lines, lines stacked on a sign, boxes near each other): a word is compared with the names
    of a similar length once, however many groupings it is part of."""

    def __init__(self, persons: Iterable[Person]):
        self.persons = list(persons)
        ps = list(enumerate(self.persons))
        self._first = _Targets((p.first, k) for k, p in ps)
        self._last = _Targets((p.last, k) for k, p in ps)
        self._whole: _Targets | None = None  # made when a word run together is first seen
        initials: dict[tuple[str, bool], set[int]] = {}
        for k, p in ps:
            initials.setdefault((p.first[:1], False), set()).add(k)
            if len(p.last) >= 3:
                initials.setdefault((p.first[:1], True), set()).add(k)
        self._initials = {key: frozenset(ks) for key, ks in initials.items()}
        self._seen: dict[tuple[str, str], frozenset[int]] = {}

    def _look(self, kind: str, word: str, targets: _Targets) -> frozenset[int]:
        key = (kind, word)
        found = self._seen.get(key)
        if found is None:
            if len(self._seen) >= SEEN_WORDS:  # a long-running watcher reads many words
                self._seen.clear()
            found = self._seen[key] = targets.match(word)
        return found

    def first(self, word: str) -> frozenset[int]:
        return self._look("first", word, self._first)

    def last(self, word: str) -> frozenset[int]:
        return self._look("last", word, self._last)

    def whole(self, word: str) -> frozenset[int]:
        if self._whole is None:
            ps = list(enumerate(self.persons))
            self._whole = _Targets([(p.first + p.last, k) for k, p in ps]
                                   + [(p.last + p.first, k) for k, p in ps], WHOLE_SLIPS_FROM)
        return self._look("whole", word, self._whole)

    def initial(self, letter: str, dotted: bool) -> frozenset[int]:
        """Whose first name `letter` is the initial of, before their surname: an initial before
        a surname of three letters or more ("A Lovelace"), or written as one ("N. Li")."""
        if dotted:
            return self._initials.get((letter, False), frozenset())
        return self._initials.get((letter, True), frozenset())


_last_names: list[tuple[tuple[Person, ...], Names]] = []  # the last index made, and for whom


def names_of(persons: list[Person] | Names) -> Names:
    """`persons` as an index; the same people as last time get the same index back (a caption
    and a photo's text are checked against the whole school, again and again)."""
    if isinstance(persons, Names):
        return persons
    key = tuple(persons)
    if _last_names and _last_names[0][0] == key:
        return _last_names[0][1]
    names = Names(key)
    _last_names[:] = [(key, names)]
    return names


def _between_ok(original: str, word: str) -> bool:
    """May this word (`original`, folded `word`) stand between a first name and a surname? A
    capitalised word that is not a common English word ("ADA AND LOVELACE" on a sign is two
    people), or a surname particle."""
    return (original[:1].isupper() and word not in _EXACT_ONLY) or word in _PARTICLES


def _run_together(original: str) -> bool:
    """Is this word written as words run together ("BenExample", "BENEXAMPLE"), rather than an
    ordinary word that happens to spell two names ("sunshine" for Sun Shine)?"""
    return len(original) > 1 and (original.isupper() or any(c.isupper() for c in original[1:]))


def find_names(text: str, persons: list[Person] | Names) -> list[Finding]:
    """Full names in `text`: the first name or its initial, then the surname (with up to two
    capitalised words or surname particles between: a middle name, the first part of a two-word
    surname); or the surname, then the first name ("Lovelace, Ada", "LOVELACE Ada"); or both
    run together as one word ("AdaLovelace", "ADALOVELACE")."""
    names = names_of(persons)
    matches = list(_WORD.finditer(text))
    spans = [(m.start(), m.end(), fold(m.group())) for m in matches]
    joins = [_between_ok(m.group(), w) for m, (_, _, w) in zip(matches, spans)]  # once a word
    out: list[Finding] = []
    i, n = 0, len(spans)
    while i < n:
        hit = None
        s1, e1, w1 = spans[i]
        if i + 1 < n:  # (the last word can only be a whole name)
            firsts, lasts = names.first(w1), names.last(w1)
            initials = names.initial(w1, text[e1:e1 + 1] == ".") if len(w1) == 1 else frozenset()
        else:
            firsts = lasts = initials = frozenset()
        # in the store's order: the first pupil whose name this is wins, as ever
        for k in sorted(firsts | lasts | initials):
            if k in lasts and k in names.first(spans[i + 1][2]):
                hit = (i + 1, k)
                break
            if k not in firsts and k not in initials:
                continue
            for j in range(i + 1, min(i + 2 + _BETWEEN, n)):
                if k in names.last(spans[j][2]):
                    hit = (j, k)
                    break
                if not joins[j]:
                    break
            if hit:
                break
        if hit is None and _run_together(matches[i].group()):
            whole = names.whole(w1)
            if whole:
                hit = (i, min(whole))
        if hit:
            j, k = hit
            e2 = spans[j][1]
            out.append(Finding("full_name", s1, e2, text[s1:e2], names.persons[k].pupil))
            i = j + 1
        else:
            i += 1
    return out


# Letters set apart by dots or spaces ("B.E.N.", "B E N", "B. E. N."): two single letters or
# more, each with no letter or digit beside it but the separators.
_LETTER = r"[^\W\d_](?![^\W_])"
_SPELLED = re.compile(rf"(?<![^\W_])(?:{_LETTER}(?:\s*[.·•]\s*|\s+)(?={_LETTER}))+{_LETTER}\.?")


def respelled(text: str, split: bool) -> tuple[str, list[int]] | None:
    """`text` with each run of letters set apart written as words, and where each character of
    the result comes from in `text`; None when there is no such run. With `split`, a run is
    broken into words where its letters are set further apart than its closest ones ("B.E.N.
    E.X.A.M.P.L.E", "B E N  E X A M P L E": BEN EXAMPLE); without, it is one word (BENEXAMPLE:
    a name run together). Its letters are written as capitals, as a word spelled out is one."""
    runs = list(_SPELLED.finditer(text))
    if not runs:
        return None
    out: list[str] = []
    where: list[int] = []
    pos = 0
    for m in runs:
        out.append(text[pos:m.start()])
        where.extend(range(pos, m.start()))
        letters = [m.start() + k for k, c in enumerate(m.group()) if c.isalpha()]
        gaps = [text[a + 1:b] for a, b in pairwise(letters)]
        keys = [(sum(c.isspace() for c in g), len(g)) for g in gaps]
        closest = min(keys)
        for k, a in enumerate(letters):
            if k and split and keys[k - 1] > closest:
                out.append(" ")
                where.append(a - 1)
            up = text[a].upper()
            out.append(up if len(up) == 1 else text[a])
            where.append(a)
        pos = m.end()
    out.append(text[pos:])
    where.extend(range(pos, len(text)))
    return "".join(out), where


def name_words(text: str) -> list[str]:
    """The words of `text` as names are matched (folded), with those spelled out letter by
    letter ("B.E.N.") as the words they spell."""
    again = respelled(text, split=True)
    return [fold(w) for w in _WORD.findall(again[0] if again else text)]


def find_full_names(text: str, persons: list[Person] | Names) -> list[Finding]:
    """Full names in `text` as written (find_names), and as spelled where its letters are set
    apart ("B.E.N. E.X.A.M.P.L.E"), each with its span in `text`; overlapping ones merged to the
    first found."""
    names = names_of(persons)
    found = find_names(text, names)
    for split in (True, False):
        again = respelled(text, split)
        if again is None:
            break
        spelled, where = again
        for f in find_names(spelled, names):
            s, e = where[f.start], where[f.end - 1] + 1
            found.append(Finding("full_name", s, e, text[s:e], f.pupil))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    for f in found:
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    return kept


# Characters OCR (and hurried typing) confuses; a store's class name matches through them, so
# "40" read off a door sign is the school's class 4O. Generic patterns do not (every "40" is not).
_CONFUSABLE = {"o": "o0", "0": "o0", "i": "il1", "l": "il1", "1": "il1", "s": "s5", "5": "s5",
               "b": "b8", "8": "b8", "z": "z2", "2": "z2", "g": "g6", "6": "g6"}


def _group_pattern(group: str) -> str:
    parts = []
    for c in fold(group):
        if c in _CONFUSABLE:
            parts.append("[" + _CONFUSABLE[c] + "]")
        elif c.isspace():
            parts.append(r"\s*")
        else:
            parts.append(re.escape(c))
    return r"(?<!\w)" + "".join(parts) + r"(?!\w)"


def find_classes(text: str, groups: Iterable[str] = ()) -> list[Finding]:
    out = []
    for p in _CLASS_PATTERNS:
        out += [Finding("class_name", m.start(), m.end(), m.group()) for m in p.finditer(text)]
    folded = fold(text)
    for g in {g for g in groups if class_like(g)}:
        unit = _UNIT.fullmatch(g.strip())
        for m in re.finditer(_group_pattern(g), folded):
            if unit and _UNIT_USE.match(folded, m.end()):  # class 5K, but "the 5K fun run"
                continue
            out.append(Finding("class_name", m.start(), m.end(), text[m.start():m.end()]))
    return out


# A class whose name reads as a distance or a unit ("5K", "10K", "4G", "3D") is not named by
# "the 5K fun run", "the 4G pitch" or "3D printing".
_UNIT = re.compile(r"\d{1,2}\s*[KkGgDdMm]")
_UNIT_USE = re.compile(r"\s+(?:fun\s+)?(?:run|runs|runners|race|races|walk|swim|ride|cycle|"
                       r"challenge|pitch|pitches|printing|printer|printers|printed|print|"
                       r"model|models|glasses|film|signal|network|phone)\b")


def find_details(text: str) -> list[Finding]:
    out = [Finding("phone", m.start(), m.end(), m.group()) for m in _PHONE.finditer(text)]
    out += [Finding("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    out += [Finding("street", m.start(), m.end(), m.group()) for m in _STREET.finditer(text)]
    return out


def check_text(text: str, persons: list[Person] | Names, groups: Iterable[str] = (),
               details: bool = True) -> list[Finding]:
    """Every finding in `text`, in order, overlapping ones merged to the widest (a full name
    wins over a class pattern inside it). `details`: also phone numbers, emails, streets and
    ages beside a full name (captions; text in a photo is checked for names and classes)."""
    names = find_full_names(text, persons)
    found = names + find_classes(text, groups)
    if details:
        found += find_details(text)
        for m in _AGE.finditer(text):
            near = [n for n in names
                    if -AGE_WINDOW <= m.start() - n.end <= AGE_WINDOW
                    or -AGE_WINDOW <= n.start - m.end() <= AGE_WINDOW]
            if near:
                n = near[0]
                s, e = min(n.start, m.start()), max(n.end, m.end())
                found.append(Finding("age_with_name", s, e, text[s:e], n.pupil))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    for f in found:
        if kept and f.start < kept[-1].end:  # overlapping: keep the stronger (then the longer)
            if (_rank(f), f.end - f.start) > (_rank(kept[-1]), kept[-1].end - kept[-1].start):
                kept[-1] = f
            continue
        kept.append(f)
    return kept


def _rank(f: Finding) -> int:
    return {"age_with_name": 3, "full_name": 2}.get(f.kind, 1)

"""The review pages speak in words: a match's strength instead of its distance, a caption's
findings quoting the words found, the audit log as sentences (safeguard.review.words)."""

from safeguard.review import words


def test_a_match_is_strong_possible_or_not_close_never_a_bare_number():
    assert words.match_strength(0.32) == "strong match"
    assert words.match_strength(0.5) == "strong match"
    assert words.match_strength(0.55) == "possible match"
    assert words.match_strength(0.7) == "no close match"
    assert words.match_strength(None) == ""
    # the settings in force move the lines
    assert words.match_strength(0.45, strong=0.4, possible=0.5) == "possible match"
    assert words.figure(0.318) == "face distance 0.32 (0 is identical)"


def test_caption_findings_quote_the_words_found_once_each():
    parts = [("Well done ", None), ("Ada Example", "a full name"), (" and ", None),
             ("Ada Example", "a full name"), (" in 4 Oak", None)]
    assert words.quoted_findings(parts) == ["\u201cAda Example\u201d (a full name)"]


def test_a_release_reads_as_a_sentence_with_the_faces_blurred_and_left_visible():
    entry = {"actor": "dsl1", "action": "held.release", "subject": "P001",
             "details": {"held_id": "20261207-abc", "decision": "per-face", "channel": "social",
                         "reason": "parent agreed", "faces": [
                             {"n": 1, "redacted": True}, {"n": 2, "redacted": True},
                             {"n": 3, "redacted": False}]}}
    text = words.audit_sentence(entry, {"P001": "Ada Example"})
    assert text == ("dsl1 released photo 20261207-abc for social with 2 faces blurred and 1 face "
                    "left visible: \u201cparent agreed\u201d")
    shown = words.audit_sentence(entry, {}, people={"dsl1": "Jo Lead"})
    assert shown.startswith("Jo Lead (dsl1) released photo")


def test_every_known_audit_action_has_a_sentence_without_its_code():
    for code in words.ACTIONS:
        entry = {"actor": "dsl1", "action": code, "subject": "P001",
                 "details": {"held_id": "x", "post": "p", "photos": 2, "count": 1, "hits": 3,
                             "source": "web:127.0.0.1", "register": "cp"}}
        text = words.audit_sentence(entry, {"P001": "Ada Example"})
        assert code not in text and text, code
    unknown = {"actor": "a", "action": "new.thing", "subject": None, "details": {}}
    assert words.audit_sentence(unknown, {}) == "a did new.thing"

"""Someone reading audit.jsonl without the key (a backup, the shared drive) learned which pupil
a DSL acted on (the subject stood beside the actor) and, from the sealed part's length, whether a
register was added or removed. The subject is sealed too, and sealed parts are padded to a
fixed size class; the DSL's own reading still shows both."""

import json

from support.store_fixtures import make_store


def test_no_subject_on_disk_and_register_add_and_remove_seal_to_one_length(tmp_path):
    store = make_store(tmp_path)
    store.add_pupil("P001", "Ada Example", actor="office")
    store.add_pupil("P002", "Ben Example", actor="office")
    store.add_register("P001", "cp", actor="dsl1")
    store.remove_register("P001", "cp", actor="dsl1")
    text = store.audit.path.read_text()
    assert "P001" not in text and "P002" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert all("subject" not in e for e in lines)
    assert len({len(e["sealed"]) for e in lines}) == 1, [len(e["sealed"]) for e in lines]
    mine = store.audit.entries(pupil="P001")
    assert [e["action"] for e in mine][-2:] == ["register.add", "register.remove"]
    assert all(e["subject"] == "P001" for e in mine)
    assert store.audit.verify().ok

"""A data manager cannot learn who is on a protected register by asking the CSV import.

Before: `pupils import --dry-run` with a row `P001,cp` said "1 unchanged" for a pupil already on
the CP register and refused `P001,lac` ("adds a protected register"), where a pupil on no register
got "would change": an oracle for the register. Now, for any account but a DSL, the import's
output and exit code are the same byte for byte whether or not the pupil is on a register."""

from __future__ import annotations

import pytest
from support.helpers import new_home, open_store, run_cli_as

ROWS = [
    "pupil_id,registers\nP001,cp\n",
    "pupil_id,registers\nP001,lac\n",
    "pupil_id,registers\nP001,\n",
    "pupil_id,name,consent_social,consent_by\nP001,Ada Example,yes,Parent\n",
    "pupil_id,consent_website,consent_by\nP001,withdrawn,Parent\n",
    "pupil_id,year\nP001,5\n",
]


def _school(root, register: bool):
    home = new_home(root)
    store = open_store(home)
    store.add_pupil("P001", "Ada Example", consents={"website": True},
                    registers=["cp"] if register else [], actor="test")
    return home


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_import_answers_a_data_manager_the_same_for_a_register_pupil(tmp_path, dry_run):
    for n, text in enumerate(ROWS):
        answers = []
        for register in (True, False):
            home = _school(tmp_path / f"{n}-{register}", register)
            csv = tmp_path / f"{n}-{register}.csv"
            csv.write_text(text)
            args = ["--home", home.root, "pupils", "import", csv]
            args += ["--dry-run"] if dry_run else []
            r = run_cli_as("test-data", *args)
            # the CSV's path is the only difference between the two runs: take it out
            answers.append((r.exit_code, r.stdout.replace(str(csv), "CSV"),
                            r.stderr.replace(str(csv), "CSV")))
        assert answers[0] == answers[1], (text, answers)

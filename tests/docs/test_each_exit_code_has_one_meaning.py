"""Each exit code means one thing, whichever command ends with it: a script that runs safeguard
tells "photos held" from "the caption needs changing", and "could not run" from "the audit log was
tampered with", by the code alone. The table lives in one enum, and `--help` and docs/cli.md
print it from there."""

from __future__ import annotations

from pathlib import Path

from support.helpers import new_home, open_store, run_cli, run_cli_as

from safeguard.exitcodes import (
    ALL_EXIT_CODES_HELP,
    AuditChainBroken,
    ExitStatus,
    NeedsChange,
    SafeguardError,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_code_has_its_own_number_and_one_line_meaning():
    codes = list(ExitStatus)
    assert len({int(c) for c in codes}) == len(codes)
    assert len({c.meaning for c in codes}) == len(codes)
    for c in codes:
        assert c.meaning and "\n" not in c.meaning and len(c.meaning) <= 80, c


def test_the_photo_codes_are_kept_as_they_were():
    assert [int(ExitStatus[n]) for n in ("OK", "ERROR", "USAGE", "HELD", "REJECTED",
                                         "HELD_AND_REJECTED", "INTERRUPTED")] == [0, 1, 2, 3, 4,
                                                                                  5, 130]
    assert ExitStatus.for_batch(held=1, rejected=0) == 3
    assert ExitStatus.for_batch(held=0, rejected=1) == 4
    assert ExitStatus.for_batch(held=1, rejected=1) == 5


def test_a_caption_or_enrolment_to_change_a_broken_audit_chain_and_unread_files_have_codes_of_their_own():
    batch = {ExitStatus.HELD, ExitStatus.REJECTED, ExitStatus.HELD_AND_REJECTED}
    assert ExitStatus.NEEDS_CHANGE not in batch | {ExitStatus.ERROR}
    assert ExitStatus.AUDIT_BROKEN not in batch | {ExitStatus.ERROR, ExitStatus.NEEDS_CHANGE}
    assert ExitStatus.UNSCANNED not in batch | {ExitStatus.ERROR}
    assert NeedsChange.exit_code == ExitStatus.NEEDS_CHANGE
    assert AuditChainBroken.exit_code == ExitStatus.AUDIT_BROKEN
    assert issubclass(NeedsChange, SafeguardError) and issubclass(AuditChainBroken, SafeguardError)


def test_the_products_errors_share_one_base_class_that_carries_the_exit_code():
    from safeguard.approvals import ApprovalError
    from safeguard.config import ConfigError
    from safeguard.held import HeldError
    from safeguard.index import IndexProblem
    from safeguard.service import ServiceError
    from safeguard.takedown import TakedownError

    for error in (ApprovalError, ConfigError, HeldError, IndexProblem, ServiceError,
                  TakedownError):
        assert issubclass(error, SafeguardError) and error.exit_code == ExitStatus.ERROR


def test_help_and_the_cli_reference_print_every_code_with_its_meaning():
    r = run_cli("--help")
    assert r.exit_code == 0
    reference = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for c in ExitStatus:
        assert f"{int(c):<3} {c.meaning}" in ALL_EXIT_CODES_HELP
        assert c.meaning in " ".join(r.output.split()), c
        assert f"| {int(c)} | `{c.name}` | {c.meaning} |" in reference, c


def test_a_flagged_caption_ends_with_the_needs_change_code_not_the_held_one(tmp_path):
    home = new_home(tmp_path / "home")
    open_store(home).add_pupil("P001", "Ada Example", consents={"social": True}, actor="test")
    r = run_cli_as("test-comms", "--home", home.root, "caption", "Well done Ada Example!")
    assert r.exit_code == ExitStatus.NEEDS_CHANGE != ExitStatus.HELD, r.output
    r = run_cli_as("test-comms", "--home", home.root, "caption", "Well done Ada!")
    assert r.exit_code == ExitStatus.OK, r.output


def test_a_tampered_audit_chain_ends_with_its_own_code_not_could_not_run(tmp_path):
    home = new_home(tmp_path / "home")
    store = open_store(home)
    for i in range(3):
        store.add_pupil(f"P{i:03}", f"Pupil {i}", actor="test")
    assert run_cli("--home", home.root, "audit", "verify").exit_code == ExitStatus.OK
    log = home.store_dir / "audit.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:-2]))
    r = run_cli("--home", home.root, "audit", "verify")
    assert r.exit_code == ExitStatus.AUDIT_BROKEN != ExitStatus.ERROR, r.output
    assert "BROKEN" in r.stdout and "the audit log's chain is broken" in r.stderr


def test_a_product_error_is_one_line_and_its_code_wherever_a_command_meets_it(tmp_path):
    home = new_home(tmp_path / "home")
    r = run_cli("--home", home.root, "find", "--pupil", "P001")  # no index yet: IndexProblem
    assert r.exit_code == ExitStatus.ERROR
    assert r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.output
    (Path(home.root) / "config.toml").write_text("unknown = [\n")  # unreadable: a ConfigError
    r = run_cli("--home", home.root, "caption", "Sports day")
    assert r.exit_code == ExitStatus.ERROR and r.stderr.startswith("Error: "), r.output

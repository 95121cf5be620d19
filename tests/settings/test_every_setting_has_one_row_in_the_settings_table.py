"""Every setting has one home: a row of the settings table (the fields of safeguard.config.Config,
each made by safeguard.setting.setting) with its default, the values it accepts, its bounds and
what it does in words. The loader, `safeguard config accept`, the DPIA pack and docs/settings.md
are made from those rows, and a name in config.toml that is no row is refused with the nearest
one."""

from __future__ import annotations

import dataclasses

import pytest

from safeguard import accepted_settings, dpia, images, redact
from safeguard.config import (
    BY_NAME,
    SAFE_BOUNDS,
    SETTINGS,
    STRICTNESS,
    STYLES,
    Config,
    ConfigError,
    parse_config,
)
from safeguard.home import Home


@pytest.mark.parametrize(("key", "nearest"), [
    ("clear_tolerence", "clear_tolerance"),
    ("leaver_retention", "leaver_retention_days"),
    ("spot_checks_rate", "spot_check_rate"),
])
def test_an_unknown_setting_is_refused_with_the_nearest_name(key, nearest):
    with pytest.raises(ConfigError) as e:
        parse_config(f"{key} = 1\n".encode())
    assert f"unknown setting '{key}' — did you mean '{nearest}'?" in str(e.value)


def test_a_name_like_no_setting_is_refused_too():
    with pytest.raises(ConfigError, match="unknown setting 'zzz'"):
        parse_config(b"zzz = 1\n")


def test_the_hidden_extra_table_is_gone():
    """`[extra]` used to carry settings nobody could see (a ready folder, a second retention)."""
    assert "extra" not in BY_NAME
    with pytest.raises(ConfigError, match="unknown setting 'extra'"):
        parse_config(b"[extra]\nleaver_retention_days = 1\n")


def test_every_config_field_has_a_row_with_its_default_bounds_and_explanation():
    names = [f.name for f in dataclasses.fields(Config)]
    assert [s.name for s in SETTINGS] == names
    for f, s in zip(dataclasses.fields(Config), SETTINGS, strict=True):
        if f.default is not dataclasses.MISSING:
            assert f.default == s.default, s.name
        assert len(s.explain.split()) >= 6, f"{s.name}: say what it does, in words"
        if s.kind in ("number", "whole number"):
            assert s.limits or s.safe, f"{s.name}: a number needs its bounds"
            assert s.problem(s.default) is None, s.name
        if s.per_batch:
            assert isinstance(s.stricter, dict) and set(s.stricter) == set(s.choices), s.name
    assert Config().check() == parse_config(b"")


def test_the_loader_checks_each_row_kind_choices_and_limits():
    for text, said in [
        ('clear_tolerance = "0.5"', "clear_tolerance = '0.5': must be a number"),
        ("jpeg_quality = 90.5", "must be a whole number"),
        ("held_review_days = true", "must be a whole number"),
        ('unknown = "show"', "choose one of keep, redact, hold"),
        ("mask_scale = 5.0", "mask_scale must be between 1 and 3"),
        ("held_review_days = 0", "held_review_days must be between 1 and 3650 days"),
        ('channels = ["website", 3]', "must be a list of text"),
    ]:
        with pytest.raises(ConfigError, match=said.replace("(", r"\(")):
            parse_config(text.encode())


def test_the_derived_lists_come_from_the_table():
    assert SAFE_BOUNDS["clear_tolerance"] == BY_NAME["clear_tolerance"].safe
    assert set(STRICTNESS) == {"unknown", "text", "style", "audio"}
    assert dpia.TUNED == tuple(s.name for s in SETTINGS if s.measured)
    # no constant in the pipeline shadows a setting
    assert redact.STYLES is STYLES
    assert not hasattr(images, "DEFAULT_MAX_PIXELS")
    from safeguard.detect import detector
    assert not hasattr(detector, "WINDOW_OVAL")


def test_the_dpia_pack_lists_every_setting_the_table_marks_for_it(tmp_path):
    config = parse_config(b'unknown = "hold"\nheld_review_days = 12\n[approval]\nsocial = "slt"\n')
    md = dpia.to_markdown(dpia.gather(Home(tmp_path), config, report=None))
    marked = [s for s in SETTINGS if s.dpia]
    assert {s.dpia for s in marked} == {"decisions", "retention"}
    for s in marked:
        assert f"| {s.name} | {s.shown(getattr(config, s.name))} | {s.explain} |" in md, s.name
    assert "| unknown | hold |" in md and "| held_review_days | 12 days |" in md
    assert "| approval | social = slt |" in md
    assert "| clear_tolerance | at most 0.5 |" in md


def test_accepting_says_when_a_number_is_made_less_strict():
    before = accepted_settings.values(Config())
    after = dict(before, clear_tolerance=0.45, mask_scale=1.2, spot_check_rate=0.5,
                 jpeg_quality=80)
    changed = accepted_settings.differences(before, after)
    assert "clear_tolerance: 0.5 -> 0.45 (stricter)" in changed
    assert "mask_scale: 1.5 -> 1.2 (LESS STRICT)" in changed
    assert any(c.startswith("spot_check_rate:") and c.endswith("(stricter)") for c in changed)
    assert "jpeg_quality: 90 -> 80" in changed  # neither: no way is stricter


def test_a_new_home_s_settings_file_is_every_default():
    assert parse_config(accepted_settings.NEW_FILE) == Config()


def test_config_show_explain_says_what_each_setting_does_and_its_default(tmp_path):
    from support.helpers import run_cli

    (tmp_path / "config.toml").write_text('unknown = "hold"\n')
    r = run_cli("--home", tmp_path, "config", "show", "--explain")
    assert r.exit_code == 0, r.output
    text = " ".join(line.removeprefix("# ") for line in r.output.splitlines())
    for s in SETTINGS:
        assert s.explain in text, s.name
    assert '(default: redact) unknown = "hold"' in text

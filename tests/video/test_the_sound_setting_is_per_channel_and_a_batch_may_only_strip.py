"""The `audio` setting: per channel, strip unless a channel keeps it; a batch may strip sound a
channel keeps, and only an admin or the DSL may keep sound a channel strips."""

from __future__ import annotations

import pytest

from safeguard.config import Config, ConfigError, TooLax


def test_sound_is_stripped_on_every_channel_not_set_to_keep():
    cfg = Config(audio={"website": "keep"}).check()
    assert cfg.audio_for("website") == "keep"
    assert cfg.audio_for("social") == "strip"
    assert Config().check().audio_for("website") == "strip"


def test_a_channel_that_does_not_exist_or_a_value_that_is_no_choice_is_refused():
    with pytest.raises(ConfigError, match="audio"):
        Config(audio={"tiktok": "keep"}).check()
    with pytest.raises(ConfigError, match="keep, strip"):
        Config(audio={"website": "loud"}).check()


def test_a_batch_may_strip_sound_its_channel_keeps_but_comms_may_not_keep_what_it_strips():
    cfg = Config(audio={"website": "keep"}).check()
    assert cfg.batch_choices("comms", "website", audio="strip") == {"audio": "strip"}
    assert cfg.batch_choices("comms", "website", audio=None) == {"audio": "keep"}
    assert cfg.batch_choices("comms", "social", audio=None) == {"audio": "strip"}
    with pytest.raises(TooLax, match="--audio keep"):
        cfg.batch_choices("comms", "social", audio="keep")
    assert cfg.batch_choices("dsl", "social", audio="keep") == {"audio": "keep"}
    assert cfg.laxer("social", audio="keep") == {"audio": "keep"}


def test_accepting_settings_that_keep_a_channels_sound_says_it_is_less_strict():
    from safeguard.config import BY_NAME

    row = BY_NAME["audio"]
    assert row.change({}, {"website": "keep"}) == "less strict"
    assert row.change({"website": "keep"}, {}) == "stricter"
    assert row.change({"website": "keep"}, {"website": "keep"}) == ""

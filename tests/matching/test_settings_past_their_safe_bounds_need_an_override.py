"""`config.toml` accepted settings that clear strangers (tolerances up to 0.95,
negative margins). Past a safe bound a setting is refused unless named in unsafe_overrides, and
then the DPIA pack reports it."""

import pytest
from support.helpers import run_cli

from safeguard.config import Config, ConfigError, load_config


@pytest.mark.parametrize("text", [
    "clear_tolerance = 0.95\nrestrict_tolerance = 0.95\ndistinct_tolerance = 0.95\n",
    "clear_margin = -0.2\n",
    "max_false_clear = 0.05\n",
])
def test_a_setting_that_would_clear_strangers_is_refused(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="past its safe bound"):
        load_config(path)


@pytest.mark.model
def test_every_command_refuses_to_run_on_it(demo_home, photos, tmp_path):
    demo_home.config_file.write_text("clear_margin = -0.2\n")
    r = run_cli("--home", demo_home.root, "blur", photos, "--out", tmp_path / "out")
    assert r.exit_code == 1 and "clear_margin = -0.2" in r.output
    assert not (tmp_path / "out").exists()


def test_an_override_is_allowed_and_reported_in_the_dpia_pack(demo_home, tmp_path):
    demo_home.config_file.write_text(
        'clear_tolerance = 0.62\ndistinct_tolerance = 0.62\nrestrict_tolerance = 0.65\n'
        'unsafe_overrides = ["clear_tolerance", "distinct_tolerance"]\n')
    r = run_cli("--home", demo_home.root, "dpia", "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    assert "past their safe bounds" in r.output and "clear_tolerance = 0.62" in r.output
    assert "clear_tolerance = 0.62" in (tmp_path / "p" / "dpia.md").read_text()
    assert Config().check().past_bounds() == []

"""Release folders are named in the settings ({label, path}, or a bare path shown by its folder's
name), checked absolute with a label each when loaded, and existing when accepted and when the
review page starts; the page offers them by label and `review serve --out` as "Ready to post"."""

from __future__ import annotations

import pytest

from safeguard.config import Config, ConfigError, parse_config


def test_folders_are_read_with_their_labels_and_bare_paths_keep_working(tmp_path):
    web, news = tmp_path / "web", tmp_path / "news"
    cfg = parse_config(
        f'release_folders = [{{label = "Website", path = "{web}"}}, "{news}"]\n'.encode())
    assert cfg.release_choices() == [("Website", str(web)), ("news", str(news))]
    assert cfg.release_paths() == (str(web), str(news))
    assert cfg.as_dict()["release_folders"] == [{"label": "Website", "path": str(web)}, str(news)]
    assert cfg.missing_release_folders() == [f"Website ({web})", f"news ({news})"]
    web.mkdir()
    news.mkdir()
    assert cfg.missing_release_folders() == []


@pytest.mark.parametrize("toml, problem", [
    ('release_folders = [{label = "Web", path = "relative/web"}]', "absolute"),
    ('release_folders = [{label = "", path = "/srv/web"}]', "label"),
    ('release_folders = [{label = "Web", path = "/a"}, {label = "Web", path = "/b"}]', "label"),
    ('release_folders = [{label = "Web"}]', "release_folders"),
    ('release_folders = [{label = "Web", path = "/a", mode = "x"}]', "release_folders"),
    ('release_folders = [{label = "Web", path = "/a", url = "ftp://x"}]', "https://"),
    ('release_folders = [3]', "release_folders"),
])
def test_a_folder_without_a_full_path_or_a_label_of_its_own_is_refused(toml, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_config(toml.encode())


def test_a_folder_with_a_web_address_gives_its_files_theirs():
    cfg = parse_config(b'release_folders = [{label = "Web", path = "/srv/web", '
                       b'url = "https://school.example/photos/"}, "/srv/news"]')
    assert cfg.web_address("/srv/web/2026/sports day.jpg") == \
        "https://school.example/photos/2026/sports%20day.jpg"
    assert cfg.web_address("/srv/news/a.jpg") is None
    assert cfg.web_address("/elsewhere/a.jpg") is None


def test_accepting_settings_with_a_missing_folder_is_refused(tmp_path):
    from support.helpers import accept_settings, new_home

    from safeguard import accepted_settings as acc

    home = new_home(tmp_path / "home")
    missing = tmp_path / "not-there"
    home.config_file.write_text(f'release_folders = [{{label = "Website", path = "{missing}"}}]\n')
    with pytest.raises(ConfigError, match="Website .* is not an existing folder"):
        acc.propose(home, __import__("support.helpers").helpers.open_store(home))
    missing.mkdir()
    accept_settings(home)


def test_the_page_offers_the_settings_folders_then_serve_out_as_ready_to_post(tmp_path):
    from safeguard.review.app import release_choices

    web, ready = tmp_path / "web", tmp_path / "ready"
    cfg = Config(release_folders=({"label": "Website", "path": str(web)},))
    assert release_choices(cfg, ready) == [("Website", str(web)), ("Ready to post", str(ready))]
    assert release_choices(cfg, web) == [("Website", str(web))]  # named once
    assert release_choices(Config(), None) == []

"""bot/config.py: loading and validating settings, and ``lotse check-config``."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot import cli
from bot.config import ConfigError, HomeserverSettings, Settings, load_settings

GOOD = """
[homeserver]
url = "https://matrix.example.org/"

[bot]
user_id = "@lotse:example.org"
password = "correct horse battery staple"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("LOTSE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "lotse.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path | None, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env_file=None, **kwargs)
    assert info.value.problems, "a ConfigError must carry at least one problem"
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# --- good configurations -------------------------------------------------------------------


def test_minimal_file_loads(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), env_file=None)
    assert isinstance(s, Settings)
    assert s.homeserver.url == "https://matrix.example.org"  # trailing slash removed
    assert s.bot.user_id == "@lotse:example.org"
    assert s.bot.password is not None
    assert s.bot.password.get_secret_value() == "correct horse battery staple"
    assert s.server_name == "example.org"
    # defaults
    assert s.default_language == "de"
    assert s.data_dir == Path("data")
    assert s.sync_timeline_limit == 50
    assert s.rooms.configured() == {}


def test_default_file_in_cwd_is_used(tmp_path: Path) -> None:
    write(tmp_path, GOOD)  # ./lotse.toml, cwd is tmp_path
    assert load_settings(env_file=None).bot.user_id == "@lotse:example.org"


def test_lotse_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD, "elsewhere.toml")
    monkeypatch.setenv("LOTSE_CONFIG", str(path))
    assert load_settings(env_file=None).bot.user_id == "@lotse:example.org"


def test_env_var_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_BOT__USER_ID", "@other:example.net")
    s = load_settings(write(tmp_path, GOOD), env_file=None)
    assert s.bot.user_id == "@other:example.net"
    # The rest of the [bot] section still comes from the file.
    assert s.bot.password is not None
    assert s.bot.password.get_secret_value() == "correct horse battery staple"
    assert s.server_name == "example.net"


def test_dotenv_between_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Top-level keys must come before the first table in TOML.
    path = write(tmp_path, 'default_language = "de"\nlog_level = "ERROR"\n' + GOOD)
    env_file = tmp_path / ".env"
    env_file.write_text("LOTSE_DEFAULT_LANGUAGE=en\nLOTSE_LOG_LEVEL=WARNING\n", encoding="utf-8")
    monkeypatch.setenv("LOTSE_LOG_LEVEL", "DEBUG")
    s = load_settings(path, env_file=env_file)
    assert s.default_language == "en"  # .env beats the file
    assert s.log_level == "DEBUG"  # the environment beats .env


def test_overrides_beat_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_LOG_LEVEL", "DEBUG")
    s = load_settings(write(tmp_path, GOOD), env_file=None, log_level="ERROR")
    assert s.log_level == "ERROR"


def test_rooms_and_roles(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD
        + """
[rooms]
admin = "!admin:example.org"
team = "#team:example.org"

[roles]
workers = ["@w1:example.org", "@w2:example.org"]
admin_rooms = ["#admins:example.org"]
""",
    )
    s = load_settings(path, env_file=None)
    assert s.rooms.configured() == {"admin": "!admin:example.org", "team": "#team:example.org"}
    assert s.roles.workers == ["@w1:example.org", "@w2:example.org"]
    assert s.roles.admin_rooms == ["#admins:example.org"]


def test_password_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "pw.txt"
    secret.write_text("  from-a-file\n", encoding="utf-8")
    path = write(
        tmp_path,
        f"""
        [homeserver]
        url = "https://matrix.example.org"
        [bot]
        user_id = "@lotse:example.org"
        password_file = "{secret}"
        """,
    )
    s = load_settings(path, env_file=None)
    assert s.bot.password is not None
    assert s.bot.password.get_secret_value() == "from-a-file"


def test_access_token_alone_is_enough(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [homeserver]
        url = "http://localhost:8008"
        [bot]
        user_id = "@lotse:localhost"
        access_token = "syt_abc"
        """,
    )
    s = load_settings(path, env_file=None)
    assert s.bot.password is None
    assert s.bot.access_token is not None
    assert s.bot.access_token.get_secret_value() == "syt_abc"


def test_secret_is_not_in_repr(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), env_file=None)
    assert "correct horse" not in repr(s)
    assert "correct horse" not in str(s.bot)


# --- problems ------------------------------------------------------------------------------


def test_missing_homeserver_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [homeserver]
        admin_api = false
        [bot]
        user_id = "@lotse:example.org"
        password = "pw"
        """,
    )
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("homeserver.url: missing")
    assert "LOTSE_HOMESERVER__URL" in lines[0]


def test_missing_homeserver_section(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nuser_id = "@lotse:example.org"\npassword = "pw"\n')
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("homeserver: missing")


def test_bad_user_id(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("@lotse:example.org", "lotse@example.org"))
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("bot.user_id:")
    assert "not a Matrix user ID" in lines[0]


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + 'devise_name = "typo"\n')
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("bot.devise_name: unknown key")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'langauge = "de"\n' + GOOD)
    assert problems(path) == ["langauge: unknown key (check the spelling; see deploy/lotse.example.toml)"]


def test_no_credentials(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [homeserver]
        url = "https://matrix.example.org"
        [bot]
        user_id = "@lotse:example.org"
        """,
    )
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("bot: no credentials")
    assert "password" in lines[0]
    assert "access_token" in lines[0]


def test_missing_password_file(tmp_path: Path) -> None:
    missing = tmp_path / "secrets" / "nope.txt"
    path = write(
        tmp_path,
        f"""
        [homeserver]
        url = "https://matrix.example.org"
        [bot]
        user_id = "@lotse:example.org"
        password_file = "{missing}"
        """,
    )
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("bot: cannot read secret file")
    assert str(missing) in lines[0]


def test_empty_password_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    path = write(
        tmp_path,
        f"""
        [homeserver]
        url = "https://matrix.example.org"
        [bot]
        user_id = "@lotse:example.org"
        password_file = "{empty}"
        """,
    )
    lines = problems(path)
    assert lines == [f"bot: secret file {empty} is empty [in {path}]"]


@pytest.mark.parametrize("url", ["ftp://matrix.example.org", "matrix.example.org", "https:/x"])
def test_bad_url_scheme(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, GOOD.replace("https://matrix.example.org/", url))
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("homeserver.url:")
    assert "not an http(s) URL" in lines[0]
    assert url in lines[0]


def test_unknown_default_language(tmp_path: Path) -> None:
    path = write(tmp_path, 'default_language = "xx"\n' + GOOD)
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("default_language:")
    assert "'xx'" in lines[0]
    assert "available: ar, de, de@ls, en, fa, ru, tr, uk" in lines[0]


def test_out_of_range_and_wrong_type_show_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, 'sync_timeline_limit = 0\nlog_level = "LOUD"\n' + GOOD)
    lines = problems(path)
    assert len(lines) == 2
    limit = next(x for x in lines if x.startswith("sync_timeline_limit:"))
    level = next(x for x in lines if x.startswith("log_level:"))
    assert "(got 0)" in limit
    assert "(got 'LOUD')" in level


def test_bad_room_reference(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '\n[rooms]\nteam = "team-room"\n')
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith("rooms.team:")


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[homeserver\nurl = "https://matrix.example.org"\n')
    lines = problems(path)
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:")
    assert "line 1" in lines[0]


def test_nonexistent_explicit_config_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    assert problems(path) == [f"config file {path} does not exist"]


def test_nonexistent_file_from_lotse_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_CONFIG", str(tmp_path / "gone.toml"))
    assert problems(None) == [f"config file {tmp_path / 'gone.toml'} does not exist"]


def test_no_file_at_all_reports_missing_sections(tmp_path: Path) -> None:
    lines = problems(None)
    assert any(x.startswith("homeserver: missing") for x in lines)
    assert any(x.startswith("bot: missing") for x in lines)


def test_several_problems_give_several_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        default_language = "xx"
        [homeserver]
        url = "ftp://matrix.example.org"
        [bot]
        user_id = "lotse"
        pasword = "typo"
        """,
    )
    lines = problems(path)
    assert len(lines) == 4
    prefixes = sorted(x.split(":", 1)[0] for x in lines)
    assert prefixes == ["bot.pasword", "bot.user_id", "default_language", "homeserver.url"]


@pytest.mark.parametrize(
    "secret_line",
    [
        "password = 31337424242",
        'password = ["hunter2-SECRET"]',
        'password = { value = "hunter2-SECRET" }',
        "access_token = 31337424242",
        'access_token = ["hunter2-SECRET"]',
    ],
)
def test_secret_value_never_in_problems(tmp_path: Path, secret_line: str) -> None:
    path = write(
        tmp_path,
        f"""
        [homeserver]
        url = "gopher://matrix.example.org"
        [bot]
        user_id = "@lotse:example.org"
        {secret_line}
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env_file=None)
    lines = info.value.problems
    assert len(lines) >= 2  # the secret's type and the URL
    assert any(x.startswith(("bot.password:", "bot.access_token:")) for x in lines)
    for line in [*lines, str(info.value)]:
        assert "31337424242" not in line
        assert "hunter2" not in line


def test_secret_from_env_never_in_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_BOT__PASSWORD", "hunter2-from-env")
    path = write(
        tmp_path,
        """
        [homeserver]
        url = "gopher://x"
        [bot]
        user_id = "nonsense"
        """,
    )
    for line in problems(path):
        assert "hunter2" not in line


def test_lotse_config_in_dotenv_is_not_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "alt.toml")
    env_file = tmp_path / ".env"
    env_file.write_text(f"LOTSE_CONFIG={path}\n", encoding="utf-8")
    assert load_settings(path, env_file=env_file).bot.user_id == "@lotse:example.org"


# --- the CLI -------------------------------------------------------------------------------


def test_cli_check_config_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        """
        [homeserver]
        url = "ftp://matrix.example.org"
        [bot]
        user_id = "lotse"
        password = "hunter2-cli"
        """,
    )
    assert cli.main(["-c", str(path), "check-config"]) == 2
    out, err = capsys.readouterr()
    assert "Configuration OK" not in out
    assert "configuration has problems" in err
    assert "  - homeserver.url:" in err
    assert "  - bot.user_id:" in err
    assert "hunter2" not in err + out


def test_cli_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-c", str(tmp_path / "nope.toml"), "check-config"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_check_config_good(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD + '\n[rooms]\nadmin = "#admins:example.org"\n')
    assert cli.main(["-c", str(path), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Configuration OK")
    assert "https://matrix.example.org" in out
    assert "@lotse:example.org" in out
    assert "#admins:example.org" in out
    assert "correct horse" not in out
    assert err == ""


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://matrix.example.org", True),
        ("http://127.0.0.1:8008", True),
        ("http://localhost:8008", True),
        ("http://[::1]:8008", True),
        ("http://matrix.example.org", False),
        ("http://10.0.0.5:8008", False),
        ("http://127.0.0.1.example.org", False),
    ],
)
def test_plain_http_only_on_this_machine(url: str, ok: bool) -> None:
    if ok:
        assert HomeserverSettings(url=url).url == url
    else:
        with pytest.raises(ValidationError, match="use https://"):
            HomeserverSettings(url=url)


def test_a_wrong_value_names_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        """
        log_level = "LOUD"
        [homeserver]
        url = "https://matrix.example.org"
        [bot]
        user_id = "@lotse:example.org"
        password = "pw"
        """,
    )
    [line] = problems(path)
    assert line.startswith("log_level:") and f"[in {path}]" in line
    monkeypatch.setenv("LOTSE_HOMESERVER__URL", "http://matrix.example.org")
    lines = problems(path)
    assert any(
        ln.startswith("homeserver.url:") and "[from the environment variable LOTSE_HOMESERVER__URL]" in ln
        for ln in lines
    ), lines

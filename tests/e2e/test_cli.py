"""The command line as an operator meets it: bad config is refused with clear lines."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import lotse_cli

pytestmark = pytest.mark.e2e


def test_bad_config_refuses_to_start_with_one_line_per_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "lotse.toml"
    cfg.write_text(
        '[homeserver]\nurl = "matrix.example.org"\n'
        '[bot]\nuser_id = "lotse"\npassword = "hunter2-secret"\n'
        '[roles]\nworkers = ["@anna:example.org", "bob"]\nadminz = []\n'
    )
    for command in ("check-config", "run"):
        result = lotse_cli("-c", str(cfg), command, cwd=tmp_path)
        assert result.returncode == 2, result
        err = result.stderr
        assert "homeserver.url" in err and "http(s) URL" in err
        assert "bot.user_id" in err and "@name:server" in err
        assert "roles.workers.1" in err
        assert "roles.adminz: unknown key" in err
        assert "hunter2-secret" not in err + result.stdout
        assert "Traceback" not in err


def test_good_config_is_reported(tmp_path: Path) -> None:
    cfg = tmp_path / "lotse.toml"
    cfg.write_text(
        '[homeserver]\nurl = "https://matrix.example.org"\n'
        '[bot]\nuser_id = "@lotse:example.org"\npassword = "x"\n'
    )
    result = lotse_cli("-c", str(cfg), "check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Configuration OK" in result.stdout


def test_migrate_command_creates_schema(tmp_path: Path) -> None:
    cfg = tmp_path / "lotse.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[homeserver]\nurl = "https://m.example.org"\n'
        '[bot]\nuser_id = "@lotse:example.org"\npassword = "x"\n'
    )
    first = lotse_cli("-c", str(cfg), "migrate", cwd=tmp_path)
    latest = len(list((Path(__file__).parents[2] / "migrations").glob("*.sql")))
    assert first.returncode == 0, first
    assert f"applied migrations: {list(range(1, latest + 1))}" in first.stdout
    with sqlite3.connect(tmp_path / "data" / "lotse.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == latest
    again = lotse_cli("-c", str(cfg), "migrate", cwd=tmp_path)
    assert "up to date" in again.stdout


def test_report_on_a_wrong_data_directory_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "typo-data"
    cfg = tmp_path / "lotse.toml"
    cfg.write_text(
        f'data_dir = "{empty}"\n[homeserver]\nurl = "https://matrix.example.org"\n'
        '[bot]\nuser_id = "@lotse:example.org"\npassword = "x"\n'
    )
    for args in (("report",), ("retention", "report")):
        result = lotse_cli("-c", str(cfg), *args, cwd=tmp_path)
        assert result.returncode == 2, result
        assert "holds no Lotse database" in result.stderr and "Traceback" not in result.stderr
    assert not empty.exists(), "a report must not create a new store with new keys"

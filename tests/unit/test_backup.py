"""bot/backup.py without a homeserver: what a backup holds and what a restore refuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.backup import BackupError, check_backup, last_backup, make_backup, pg_dump_hint, restore_backup

USER = "@lotse:example.org"


def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True)
    with sqlite3.connect(data / "lotse.db") as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO kv VALUES ('sync_token', 's42')")
        db.execute("PRAGMA user_version = 3")
    (data / "session.json").write_text('{"device_id": "DEV"}')
    for key in ("pseudonym.key", "seal.key", "store.key", "cross_signing.json"):
        (data / "keys" / key).write_text(f"secret {key}")
    return data


def test_backup_and_restore_round_trip_with_an_outside_pseudonym_key(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    outside = tmp_path / "etc" / "pseudonym.key"
    outside.parent.mkdir()
    (data / "keys" / "pseudonym.key").rename(outside)
    folder = make_backup(data, tmp_path / "b", bot_user_id=USER, pseudonym_key_file=outside)
    assert last_backup(data) is not None and last_backup(data)[1] == str(folder)  # type: ignore[index]
    check = check_backup(folder, bot_user_id=USER, latest_schema=3)
    assert check.ok, check.problems
    assert check.manifest["external"] == {"pseudonym_key_file": "external/pseudonym.key"}

    with pytest.raises(BackupError, match="pseudonym_key_file"):
        restore_backup(folder, tmp_path / "new")
    new_key = tmp_path / "new-etc" / "pseudonym.key"
    assert restore_backup(folder, tmp_path / "new", pseudonym_key_file=new_key) is None
    assert new_key.read_text() == "secret pseudonym.key"
    with sqlite3.connect(tmp_path / "new" / "lotse.db") as db:
        assert db.execute("SELECT value FROM kv").fetchone()[0] == "s42"
    assert not (tmp_path / "new" / "last-backup.json").exists()


def test_check_refuses_another_account_a_newer_schema_and_a_broken_database(tmp_path: Path) -> None:
    folder = make_backup(data_dir(tmp_path), tmp_path / "b", bot_user_id=USER)
    problems = check_backup(folder, bot_user_id="@other:example.org", latest_schema=2).problems
    assert any("schema 3 is newer" in p for p in problems)
    assert any("the configuration names @other:example.org" in p for p in problems)
    (folder / "data" / "lotse.db").write_bytes(b"garbage")
    assert any("lotse.db: changed or damaged" in p for p in check_backup(folder).problems)
    assert not check_backup(tmp_path / "nowhere").ok


def test_a_backup_never_goes_inside_the_data_directory(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    with pytest.raises(BackupError, match="inside the data directory"):
        make_backup(data, data / "backups", bot_user_id=USER)
    with pytest.raises(BackupError, match="no Lotse database"):
        make_backup(tmp_path / "empty", tmp_path / "b", bot_user_id=USER)


def test_with_the_store_on_postgresql_the_keys_are_saved_and_pg_dump_named(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    (data / "lotse.db").unlink()
    url = "postgresql://lotse:s3cret@db.example.org/lotse"
    folder = make_backup(data, tmp_path / "b", bot_user_id=USER, store_url=url)
    check = check_backup(folder, bot_user_id=USER)
    assert check.ok, check.problems
    assert check.manifest["store"] == "postgresql" and "data/keys/seal.key" in check.manifest["files"]
    hint = pg_dump_hint(url)
    assert "pg_dump --format=custom" in hint and "pg_restore" in hint
    assert "s3cret" not in hint and "lotse:***@db.example.org" in hint

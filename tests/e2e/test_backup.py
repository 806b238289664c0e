"""lotse backup while the bot runs, lotse restore into a new place, and the bot starts from it."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory, lotse_cli, with_team

pytestmark = pytest.mark.e2e


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_backup_while_running_restore_and_start_from_it(
    bot: BotHarness, persona: PersonaFactory, tmp_path: Path
) -> None:
    worker, team = await with_team(bot, persona)
    first = await worker.send(team, "!hilfe")
    await worker.wait_for(
        lambda: [m for m in worker.from_user(team, bot.user_id) if m.in_reply_to == first], what="reply"
    )
    device = json.loads((bot.data_dir / "session.json").read_text())["device_id"]
    config = bot.config_toml()

    # While the bot runs and handles a command.
    await worker.send(team, "!hilfe")
    made = lotse_cli("-c", str(config), "backup", str(tmp_path / "backups"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "keep it encrypted" in made.stdout
    [folder] = list((tmp_path / "backups").iterdir())
    assert folder.name.startswith("lotse-backup-")
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest["files"]
    for name in (
        "data/lotse.db",
        "data/session.json",
        "data/keys/pseudonym.key",
        "data/keys/seal.key",
        "data/keys/store.key",
        "data/keys/cross_signing.json",
    ):
        assert name in files, name
    assert any(n.startswith("data/nio-store/") and n.endswith(".db") for n in files)
    assert not any(n.endswith(("-wal", "-shm")) for n in files)
    assert manifest["bot_user_id"] == bot.user_id and manifest["schema_version"] >= 1
    assert mode(folder) == 0o700 and mode(tmp_path / "backups") == 0o700
    assert all(mode(folder / n) == 0o600 for n in files)
    # lotse doctor reads when the last backup was made.
    assert json.loads((bot.data_dir / "last-backup.json").read_text())["path"] == str(folder)

    checked = lotse_cli("restore", "--check", str(folder), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "Backup OK" in checked.stdout

    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    (damaged / "data" / "keys" / "seal.key").write_bytes(b"not the key")
    (damaged / "data" / "keys" / "store.key").unlink()
    refused = lotse_cli("restore", "--check", str(damaged), cwd=tmp_path)
    assert refused.returncode == 1
    assert "seal.key: changed or damaged" in refused.stderr
    assert "store.key: missing" in refused.stderr
    assert "Traceback" not in refused.stderr

    await bot.stop()

    # Restore on another machine (another data directory) and start from it.
    localpart = bot.user_id[1:].split(":")[0]
    restored = BotHarness(bot.server, tmp_path / "elsewhere" / "bot-data", localpart, bot.password)
    restored.workers, restored.rooms = bot.workers, bot.rooms
    (tmp_path / "elsewhere").mkdir()
    config2 = restored.config_toml()
    put = lotse_cli("-c", str(config2), "restore", str(folder), cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    assert mode(restored.data_dir) == 0o700
    assert json.loads((restored.data_dir / "session.json").read_text())["device_id"] == device

    again = lotse_cli("-c", str(config2), "restore", str(folder), cwd=tmp_path)
    assert again.returncode == 1 and "not empty" in again.stderr
    forced = lotse_cli("-c", str(config2), "restore", "--force", str(folder), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert list((tmp_path / "elsewhere").glob("bot-data.before-restore-*"))

    try:
        instance = await restored.start()
        assert instance.gateway is not None and instance.gateway.device_id == device, "same device"
        later = await worker.send(team, "!hilfe")
        await worker.wait_for(
            lambda: [m for m in worker.from_user(team, bot.user_id) if m.in_reply_to == later],
            what="reply from the restored bot",
        )
        # The restored sync position: nothing from before the backup is answered twice.
        assert len([m for m in worker.from_user(team, bot.user_id) if m.in_reply_to == first]) == 1
    finally:
        await restored.stop()

"""lotse setup and lotse doctor against the session's real homeserver."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.devserver.synapse import SynapseServer
from tests.e2e.conftest import BotHarness, PersonaFactory, lotse_cli, unique

pytestmark = pytest.mark.e2e


def state(synapse: SynapseServer, room: str, token: str) -> dict[str, dict[str, object]]:
    status, body = synapse.api("GET", f"/_matrix/client/v3/rooms/{quote(room)}/state", token=token)
    assert status == 200, body
    events: list[dict[str, object]] = body  # type: ignore[assignment]  # /state answers a list
    return {str(e["type"]): e["content"] for e in events if e["state_key"] == ""}  # type: ignore[misc]


async def test_setup_creates_the_managed_rooms_and_doctor_checks_everything(
    bot: BotHarness, persona: PersonaFactory, synapse: SynapseServer, tmp_path: Path
) -> None:
    admin, worker = await persona("admin"), await persona("worker")
    bot.admins, bot.workers = [admin.user_id], [worker.user_id]
    tag = uuid.uuid4().hex[:6]
    bot.rooms = {kind: f"#{kind}-{tag}:{synapse.server_name}" for kind in ("team", "admin", "leadership")}
    bot.data_dir.parent.mkdir(parents=True, exist_ok=True)
    config = bot.config_toml()

    server_admin = synapse.register(unique("srvadmin"), "pw-srvadmin", admin=True)
    assert server_admin.access_token is not None

    def devices() -> set[str]:
        status, body = synapse.api(
            "GET", f"/_synapse/admin/v2/users/{quote(bot.user_id)}/devices", token=server_admin.access_token
        )
        assert status == 200, body
        return {d["device_id"] for d in body["devices"]}  # type: ignore[union-attr]

    # Before the bot ever ran: setup logs in briefly and leaves no device behind.
    before = devices()
    made = lotse_cli("-c", str(config), "setup", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.count("CREATED") == 3, made.stdout
    assert devices() == before

    again = lotse_cli("-c", str(config), "setup", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count(" OK ") == 3, again.stdout

    # The people are invited as moderators; the bot alone changes settings.
    admin_room = await admin.accept_invite_from(bot.user_id)
    lead_room = await admin.accept_invite_from(bot.user_id, exclude={admin_room})
    team_room = await worker.accept_invite_from(bot.user_id)
    assert admin.account.access_token is not None
    for room in (admin_room, lead_room):
        s = state(synapse, room, admin.account.access_token)
        assert s["m.room.encryption"]["algorithm"] == "m.megolm.v1.aes-sha2"
        assert s["m.room.join_rules"]["join_rule"] == "invite"
        assert s["m.room.guest_access"]["guest_access"] == "forbidden"
        levels = s["m.room.power_levels"]
        assert levels["users"].get(admin.user_id) == 50  # type: ignore[attr-defined]
        assert levels["state_default"] == 100 and levels["invite"] == 50
        assert levels["events"]["m.room.retention"] == 100  # type: ignore[index]
        assert s["m.room.create"]["room_version"] in ("12",) or levels["users"][bot.user_id] == 100  # type: ignore[index]
    assert {
        str(v) for v in state(synapse, admin_room, admin.account.access_token)["m.room.name"].values()
    } == {"Lotse-Admin"}

    # The bot uses the rooms behind the configured aliases (it created them) and answers there.
    await bot.start()
    # The worker joined before the bot had a device: its client learns the new device first.
    for _ in range(100):
        await worker.sync()
        if list(worker.client.device_store.active_user_devices(bot.user_id)):
            break
        await asyncio.sleep(0.1)
    command = await worker.send(team_room, "!hilfe")
    await worker.wait_for(
        lambda: [m for m in worker.from_user(team_room, bot.user_id) if m.in_reply_to == command],
        what="help in the team room made by lotse setup",
    )

    # The doctor, while the bot runs: all fine but for the missing backup.
    first = lotse_cli("-c", str(config), "doctor", "--language", "en", cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    out = first.stdout
    assert "PROBLEM  There is no backup yet" in out
    for line in (
        "OK       The homeserver",
        "OK       The bot is logged in with its device",
        "OK       The bot is a server admin",
        "OK       The bot is exempt from the server's rate limits",
        "OK       The bot's device",
        "OK       Consent texts, usage rules and retention policies are valid",
        "OK       The database is sound",
        "OK       This machine's clock agrees",
    ):
        assert line in out, (line, out)
    assert out.count("with the power it needs") == 3, out
    assert "1 problem(s)" in out

    backup = lotse_cli("-c", str(config), "backup", str(tmp_path / "backups"), cwd=tmp_path)
    assert backup.returncode == 0, backup.stderr
    second = lotse_cli("-c", str(config), "doctor", "--language", "de", cwd=tmp_path)
    assert second.returncode == 0, second.stdout
    assert "Letzte Sicherung vor" in second.stdout
    assert "Lotse-Diagnose für" in second.stdout and "PROBLEM" not in second.stdout

    # A problem is named with what to do, and the exit code says so.
    broken = tmp_path / "broken.toml"
    broken.write_text(
        config.read_text().replace(bot.rooms["leadership"], f"#nowhere-{tag}:{synapse.server_name}")
    )
    third = lotse_cli("-c", str(broken), "doctor", "--language", "en", cwd=tmp_path)
    assert third.returncode == 1
    assert "does not exist. Create it with lotse setup or correct [rooms] leadership" in third.stdout


async def test_doctor_says_when_the_homeserver_cannot_be_reached(tmp_path: Path) -> None:
    config = tmp_path / "lotse.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[homeserver]\nurl = "http://127.0.0.1:9"\n'
        '[bot]\nuser_id = "@lotse:example.org"\npassword = "x"\n'
    )
    result = lotse_cli("-c", str(config), "doctor", "--language", "de", cwd=tmp_path)
    assert result.returncode == 1
    assert "ist nicht erreichbar" in result.stdout and "Traceback" not in result.stderr
    assert "Es gibt noch keine Sicherung" in result.stdout
    assert not (tmp_path / "data").exists(), "the doctor creates nothing"

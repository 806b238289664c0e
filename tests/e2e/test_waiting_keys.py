"""Encrypted events the bot cannot decrypt yet are remembered across a restart (IDs only)."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory, with_team

pytestmark = pytest.mark.e2e


async def test_events_waiting_for_keys_survive_a_restart(bot: BotHarness, persona: PersonaFactory) -> None:
    worker, team = await with_team(bot, persona)
    # An encrypted event whose room key nobody will ever share: the bot cannot decrypt it.
    content = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "AwgAEnB" + "A" * 60,
        "sender_key": "c2VuZGVyLWtleS1ub3QtcmVhbC1mb3ItdGVzdHMtb25seQ",
        "session_id": "c2Vzc2lvbi1ub3QtcmVhbC1mb3ItdGVzdHMtb25seQ",
        "device_id": "NOSUCHDEVICE",
    }
    path = f"/_matrix/client/v3/rooms/{team}/send/m.room.encrypted/{uuid.uuid4().hex}"
    resp = await worker.client.send(
        "PUT",
        f"{path}?access_token={worker.client.access_token}",
        json.dumps(content),
        headers={"Content-Type": "application/json"},
    )
    event_id = (await resp.json())["event_id"]
    db_path = bot.data_dir / "lotse.db"

    def waiting() -> list[tuple[str, str]]:
        with sqlite3.connect(db_path) as db:
            return db.execute("SELECT event_id, room_id FROM waiting_key").fetchall()

    await worker.wait_for(lambda: waiting() == [(event_id, team)], 30, "the event to be remembered")
    await bot.stop()
    instance = await bot.start()
    assert event_id in instance._waiting  # fetched again from the homeserver, not from the store
    assert waiting() == [(event_id, team)]
    # Only IDs were kept: the ciphertext is in none of the store's files.
    for file in bot.data_dir.glob("lotse.db*"):
        assert b"AwgAEnB" not in file.read_bytes(), file.name

"""Encrypted events the bot cannot decrypt yet are remembered across a restart (IDs only)."""

from __future__ import annotations

import asyncio
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


async def test_the_bot_asks_for_the_key_then_to_send_it_again(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    """Issue #14.2: a message the bot can never decrypt, in a chat with the bot: it asks the
    sender's devices for the key, and when none comes, asks the person to send it again, once."""
    worker, _team = await with_team(bot, persona)
    await bot.stop()
    bot.extra = {**bot.extra, "undecryptable_patience_seconds": 2}
    await bot.start()
    chat = await worker.create_room(invite=[bot.user_id], direct=True)
    await worker.wait_for_member(chat, bot.user_id, "join")
    content = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "AwgAEnB" + "B" * 60,
        "sender_key": "c2VuZGVyLWtleS1ub3QtcmVhbC1mb3ItdGVzdHMtb25seQ",
        "session_id": "YW5vdGhlci1zZXNzaW9uLW5vdC1yZWFsLWZvci10ZXN0cw",
        "device_id": worker.client.device_id,
    }
    path = f"/_matrix/client/v3/rooms/{chat}/send/m.room.encrypted/{uuid.uuid4().hex}"
    await worker.client.send(
        "PUT",
        f"{path}?access_token={worker.client.access_token}",
        json.dumps(content),
        headers={"Content-Type": "application/json"},
    )
    await asyncio.sleep(3)
    await worker.send(chat, "hallo?")  # anything new wakes the bot's sync
    await worker.wait_for_text(chat, bot.user_id, "konnte ich nicht lesen", timeout=60)
    # Asked for the key: a to-device m.room_key_request went out (the session it names).
    assert bot.instance is not None
    assert content["session_id"] in bot.instance.gateway.client.outgoing_key_requests

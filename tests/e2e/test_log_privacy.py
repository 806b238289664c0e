"""Nothing a person wrote, and no user ID in clear, reaches the bot's log: also not through
matrix-nio's own warnings about malformed events."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory, with_team

pytestmark = pytest.mark.e2e


async def test_no_message_text_or_user_id_in_the_log(bot: BotHarness, persona: PersonaFactory) -> None:
    worker, team = await with_team(bot, persona, process=True)
    marker = f"geheim-{uuid.uuid4().hex}"
    # Malformed: a body that is not a string makes nio's schema check log the whole event.
    for content in (
        {"msgtype": "m.text", "body": [marker]},
        {"msgtype": "m.text", "body": 7, "format": "org.matrix.custom.html", "formatted_body": marker},
        {"msgtype": "m.image", "body": marker, "url": 42},
        {"msgtype": "m.text", "body": f"!hilfe {marker}"},
        {"msgtype": "m.text", "body": f"Klient·in schreibt: {marker}"},
    ):
        await worker.client.room_send(team, "m.room.message", content, ignore_unverified_devices=True)
    reply = await worker.wait_for(
        lambda: [m for m in worker.from_user(team, bot.user_id) if "!hilfe" in m.body or "Befehl" in m.body],
        60,
        "the bot's answer to the last command",
    )
    assert reply
    await asyncio.sleep(2)  # let every warning about the malformed ones be written
    await bot.stop()
    log = (bot.data_dir.parent / "bot.log").read_text(encoding="utf-8", errors="replace")
    assert "Lotse is running" in log
    assert marker not in log
    for user in (worker.user_id, bot.user_id):
        assert user not in log, user

"""A policy file that is corrupted while the bot is down (issue #14.3): binary garbage where the
TOML was, and the bot killed rather than stopped. On the next start the bot refuses the file, tells
the admin room which file and why, and keeps enforcing the last good rules it stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.test_retention import LIFETIME_S, say, start_setup

pytestmark = pytest.mark.e2e


async def test_corrupt_policy_file_after_a_crash(
    bot: BotHarness, persona: PersonaFactory, tmp_path: Path
) -> None:
    s = await start_setup(bot, persona, tmp_path, {"sweep_minutes": 1000}, process=True)
    worker, admin, admin_room, policies = s.worker, s.admin, s.admin_room, s.policies
    room = await worker.create_room(invite=[bot.user_id], name="Gruppe", moderators=[bot.user_id])
    await worker.wait_for_member(room, bot.user_id, "join")
    old = await worker.send(room, "bald abgelaufen")
    await say(admin, admin_room, bot.user_id, "!richtlinien")  # the bot has seen the message

    bot.kill_process()
    (policies / "test.toml").write_bytes(b"\x00\xff\xfe default = \x9c\x80 [[[ \n" * 20)
    await bot.start_process()
    told = await admin.wait_for_text(admin_room, bot.user_id, "test.toml, Zeile 1", timeout=60)
    assert "Es gelten weiter die bisherigen Regeln" in told.body, told.body

    await asyncio.sleep(LIFETIME_S + 1)
    await say(admin, admin_room, bot.user_id, "!löschlauf")
    await worker.wait_for(
        lambda: old in worker.redactions or None, timeout=120, what="redaction under the old rules"
    )

"""A policy file that is corrupted while the bot is down (issue #14.3): binary garbage where the
TOML was, and the bot killed rather than stopped. On the next start the bot refuses the file, tells
the admin room which file and why, and keeps enforcing the last good rules it stored."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.test_retention import LIFETIME_S, REPO, TEST_POLICIES, say

pytestmark = pytest.mark.e2e


async def test_corrupt_policy_file_after_a_crash(
    bot: BotHarness, persona: PersonaFactory, tmp_path: Path
) -> None:
    worker, admin = await persona("worker"), await persona("admin")
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    (policies / "default.toml").unlink()
    (policies / "test.toml").write_text(TEST_POLICIES)
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    admin_room = await admin.create_room(invite=[bot.user_id], name="Admin")
    bot.workers, bot.admins = [worker.user_id], [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room}
    bot.extra = {"policies_dir": policies, "retention": {"sweep_minutes": 1000}}
    await bot.start_process()
    await admin.wait_for_member(admin_room, bot.user_id, "join")
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

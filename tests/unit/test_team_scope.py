"""A worker sees and takes only their own team's requests (issue #14.1: a worker reaches only
their team's cases)."""

from __future__ import annotations

from pathlib import Path

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.context import BotContext
from bot.ids import RoomID, UserID
from tests.support import acknowledge_rules, make_context

ANNA, BEN = UserID("@anna:example.org"), UserID("@ben:example.org")
CLIENT = UserID("@client:example.org")
TEAM_A, TEAM_B = RoomID("!team-a:example.org"), RoomID("!team-b:example.org")


async def command(ctx: BotContext, sender: UserID, room: RoomID, text: str) -> str:
    reply = await handle_message(ctx, COMMANDS, sender=sender, room_id=room, room_kind="team", body=text)
    assert reply is not None or text.startswith("!übernehmen")
    return "" if reply is None else reply.text


async def test_requests_of_another_team_can_be_neither_taken_nor_answered_nor_seen(tmp_path: Path) -> None:
    ctx, matrix, db = await make_context(tmp_path, workers=[ANNA, BEN], rooms={"team": TEAM_A})
    try:
        await ctx.state.set_room_kind(TEAM_B, "team")
        matrix.room_members.update({TEAM_A: [ANNA], TEAM_B: [BEN]})
        for user in (ANNA, BEN):
            await acknowledge_rules(ctx, user)
        intake = await ctx.consent.create_intake(
            RoomID("!chat:example.org"), ctx.subject(CLIENT), worker=None, notify_room=TEAM_A, state="consent"
        )
        n = intake.intake_id
        assert "anderen Team" in await command(ctx, BEN, TEAM_B, f"!übernehmen {n}")
        assert "anderen Team" in await command(ctx, BEN, TEAM_B, f"!antwort {n} Hallo")
        assert f"#{n}" not in await command(ctx, BEN, TEAM_B, "!fälle")
        assert f"#{n}" in await command(ctx, ANNA, TEAM_A, "!fälle")
        await command(ctx, ANNA, TEAM_A, f"!übernehmen {n}")
        taken = await ctx.consent.intake_by_id(n)
        assert taken is not None and taken.worker == ctx.subject(ANNA)
    finally:
        await db.close()

"""bot/cases/lifecycle.py and its commands against a recording FakeMatrix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cases import lifecycle
from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.store.consent import Intake
from tests.support import FakeMatrix, acknowledge_rules, make_context

WORKER = UserID("@berger:example.org")
COLLEAGUE = UserID("@kim.wolf:example.org")
STRANGER = UserID("@fremd:example.org")
CLIENT = UserID("@client:example.org")
ADMIN = UserID("@admin:example.org")
TEAM = RoomID("!team:example.org")
ROOM = RoomID("!beratung:example.org")
DIRECT = RoomID("!aufnahme:example.org")


@dataclass
class Env:
    ctx: BotContext
    matrix: FakeMatrix
    intake: Intake

    async def command(
        self, text: str, sender: UserID = WORKER, room: RoomID = ROOM, kind: str = "consultation"
    ) -> str:
        reply = await handle_message(
            self.ctx, COMMANDS, sender=sender, room_id=room, room_kind=kind, body=text
        )
        assert reply is not None
        return reply.text

    async def case(self) -> Intake:
        found = await self.ctx.consent.intake_by_id(self.intake.intake_id)
        assert found is not None
        return found


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ctx, matrix, db = await make_context(
        tmp_path, workers=[WORKER, COLLEAGUE], admins=[ADMIN], rooms={"team": TEAM}
    )
    matrix.room_members[TEAM] = [WORKER, COLLEAGUE, STRANGER]
    matrix.room_members[ROOM] = [CLIENT, WORKER]
    matrix.names.update({WORKER: "Maria Berger", COLLEAGUE: "Kim Wolf", STRANGER: "Kim Fremd"})
    for user in (WORKER, COLLEAGUE, ADMIN):
        await acknowledge_rules(ctx, user)
    await ctx.state.set_room_kind(ROOM, "consultation")
    await ctx.remember_person(CLIENT)
    intake = await ctx.consent.create_intake(
        DIRECT,
        ctx.subject(CLIENT),
        worker=await ctx.remember_person(WORKER),
        notify_room=TEAM,
        state="active",
    )
    await ctx.consent.update_intake(intake.intake_id, consultation_room=ROOM)
    try:
        yield Env(ctx, matrix, intake)
    finally:
        await db.close()


async def test_only_the_responsible_worker_or_an_admin_hands_over_or_closes(env: Env) -> None:
    n = env.intake.intake_id
    assert "jemand anderes" in await env.command(f"!übergabe {n} Kim Wolf", COLLEAGUE, TEAM, "team")
    assert "jemand anderes" in await env.command(f"!abschluss {n}", COLLEAGUE, TEAM, "team")
    assert "Welcher Fall?" in await env.command("!abschluss", WORKER, TEAM, "team")
    assert "gibt es nicht" in await env.command("!abschluss 999", WORKER, TEAM, "team")
    assert "an wen" in (await env.command("!übergabe")).lower()
    assert "gehört nicht zum Team" in await env.command("!übergabe Kim Fremd")
    assert "schon zuständig" in await env.command("!übergabe Maria Berger")
    assert "ist zu Fall" in await env.command(f"!übergabe {n} kim wolf", ADMIN, TEAM, "team")


async def test_the_handover_completes_only_when_the_named_colleague_joins(env: Env) -> None:
    assert "Kim Wolf ist zu Fall" in await env.command("!übergabe kim wolf")
    assert env.matrix.invites == [(ROOM, COLLEAGUE)]
    assert not await lifecycle.complete_handover(env.ctx, await env.case(), STRANGER, EventID("$x"))
    assert (await env.case()).worker == env.ctx.subject(WORKER)  # nothing changed yet
    env.matrix.room_members[ROOM].append(COLLEAGUE)  # the join the server reports
    assert await lifecycle.complete_handover(env.ctx, await env.case(), COLLEAGUE, EventID("$y"))
    case = await env.case()
    assert case.worker == env.ctx.subject(COLLEAGUE)
    assert env.matrix.power[ROOM]["users"][COLLEAGUE] == 50
    assert env.matrix.power[ROOM]["users"][WORKER] == 0
    assert env.matrix.kicks == [(ROOM, WORKER)]
    said = [s.body for s in env.matrix.sent]
    assert any("Ab jetzt begleitet dich Kim Wolf" in s for s in said)
    assert any("an Kim Wolf übergeben" in s for s in said)
    # A second join event (a retry, a rejoin) changes nothing.
    assert not await lifecycle.complete_handover(env.ctx, case, COLLEAGUE, EventID("$z"))


async def test_closing_makes_the_room_read_only_and_applies_the_policy(env: Env) -> None:
    assert "abgeschlossen" in await env.command("!abschluss")
    assert env.matrix.power[ROOM]["events_default"] == 100
    assert (await env.ctx.retention.assignments())[ROOM] == "abgeschlossen"
    assert "schon abgeschlossen" in await env.command("!abschluss")
    assert "schon abgeschlossen" in await env.command("!übergabe Kim Wolf")
    await lifecycle.client_writes_after_close(env.ctx, await env.case(), EventID("$a"))
    await lifecycle.client_writes_after_close(env.ctx, await env.case(), EventID("$b"))
    team_pings = [s for s in env.matrix.sent if s.room_id == TEAM and "wieder gemeldet" in s.body]
    assert len(team_pings) == 1  # once a day, however often the client writes

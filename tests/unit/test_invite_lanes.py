"""Invitations beside the rest (issue #15.1/#15.2): a command is answered while a burst of
invitations is still being handled, a batch's sync token is saved only once its invitations are
(an invitation does not come again in a later sync), and invitations are handled one at a time
in the order they came, across batches too (side by side they slowed every answer on the
homeserver and greeted no one sooner: bench_joins)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.app import SYNC_TOKEN, Batch, Lotse
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.matrix.events import IncomingInvite, IncomingMessage
from bot.store.db import Database
from tests.support import FakeMatrix, make_context

WORKER = UserID("@worker:example.org")
TEAM = RoomID("!team:example.org")


@pytest.fixture
async def env(tmp_path: Path) -> Any:
    ctx, matrix, db = await make_context(tmp_path, workers=[WORKER])
    bot = Lotse(ctx.settings)
    bot.ctx = ctx
    await ctx.state.set_room_kind(TEAM, "team")
    yield bot, ctx, matrix, db
    await db.close()


class SlowInvites:
    """Stands in for the invitation handler: each waits until released, and says when it ran."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[RoomID] = []
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, ctx: BotContext, gateway: Any, invite: IncomingInvite) -> None:
        self.started.append(invite.room_id)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1


def invite(n: int, inviter: str) -> IncomingInvite:
    return IncomingInvite(RoomID(f"!r{n}:example.org"), UserID(inviter), True)


def from_clients(numbers: range) -> list[IncomingInvite]:
    """One invitation from each of as many new clients."""
    return [invite(n, f"@client{n}:example.org") for n in numbers]


@pytest.fixture
def slow(env: tuple[Lotse, BotContext, FakeMatrix, Database], monkeypatch: pytest.MonkeyPatch) -> SlowInvites:
    """The bot's invitation handler replaced by one that waits until released."""
    handler = SlowInvites()
    monkeypatch.setattr(env[0], "_on_invite", handler)
    return handler


def command(n: int) -> IncomingMessage:
    return IncomingMessage(TEAM, EventID(f"$c{n}"), WORKER, 1_700_000_000_000 + n, "m.text", True, "!hilfe")


async def test_a_command_is_answered_while_invitations_run_and_the_token_waits_for_them(
    env: tuple[Lotse, BotContext, FakeMatrix, Database], slow: SlowInvites
) -> None:
    bot, ctx, matrix, _db = env
    burst = from_clients(range(10))

    await asyncio.wait_for(bot._handle_batch(ctx, matrix, Batch(burst, "t1")), 5)  # type: ignore[arg-type]
    assert slow.most_at_once == 1, "invitations of different people ran side by side"
    assert await ctx.state.get(SYNC_TOKEN) is None, "saved before its invitations were handled"

    await asyncio.wait_for(bot._handle_batch(ctx, matrix, Batch([command(1)], "t2")), 5)  # type: ignore[arg-type]
    assert any(s.reply_to == EventID("$c1") for s in matrix.sent), "the command waited for the invitations"
    assert await ctx.state.get(SYNC_TOKEN) is None

    slow.release.set()
    await asyncio.wait_for(bot._drain_saves(), 5)
    assert len(slow.started) == 10
    assert await ctx.state.get(SYNC_TOKEN) == "t2"


async def test_without_invitations_in_flight_the_worker_waits_for_its_token(
    env: tuple[Lotse, BotContext, FakeMatrix, Database],
) -> None:
    bot, ctx, matrix, _db = env
    await bot._handle_batch(ctx, matrix, Batch([command(1)], "t1"))  # type: ignore[arg-type]
    assert await ctx.state.get(SYNC_TOKEN) == "t1"
    assert not bot._saves


async def test_one_inviters_invitations_stay_in_order(
    env: tuple[Lotse, BotContext, FakeMatrix, Database], slow: SlowInvites
) -> None:
    bot, ctx, matrix, _db = env
    slow.release.set()
    same = [invite(n, "@kim:example.org") for n in range(5)]
    await bot._handle_batch(ctx, matrix, Batch(same, "t1"))  # type: ignore[arg-type]
    await bot._drain_saves()
    assert slow.started == [i.room_id for i in same]
    assert slow.most_at_once == 1


async def test_invitations_of_later_batches_wait_for_the_earlier_ones(
    env: tuple[Lotse, BotContext, FakeMatrix, Database], slow: SlowInvites
) -> None:
    bot, ctx, matrix, _db = env
    first, second = from_clients(range(3)), from_clients(range(3, 6))
    await asyncio.wait_for(bot._handle_batch(ctx, matrix, Batch(first, "t1")), 5)  # type: ignore[arg-type]
    await asyncio.wait_for(bot._handle_batch(ctx, matrix, Batch(second, "t2")), 5)  # type: ignore[arg-type]
    for _ in range(10):
        await asyncio.sleep(0)
    assert slow.started == [first[0].room_id], "a later invitation started before an earlier one ended"
    slow.release.set()
    await asyncio.wait_for(bot._drain_saves(), 5)
    assert slow.started == [i.room_id for i in first + second]
    assert slow.most_at_once == 1
    assert await ctx.state.get(SYNC_TOKEN) == "t2"


async def test_a_failed_invitation_does_not_stop_the_next(
    env: tuple[Lotse, BotContext, FakeMatrix, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, ctx, matrix, _db = env
    seen: list[RoomID] = []

    async def flaky(ctx: BotContext, gateway: Any, invite: IncomingInvite) -> None:
        seen.append(invite.room_id)
        if invite.room_id == RoomID("!r0:example.org"):
            raise RuntimeError("the homeserver said no")

    monkeypatch.setattr(bot, "_on_invite", flaky)
    await bot._handle_batch(ctx, matrix, Batch([invite(0, "@a:example.org")], "t1"))  # type: ignore[arg-type]
    await bot._handle_batch(ctx, matrix, Batch([invite(1, "@b:example.org")], "t2"))  # type: ignore[arg-type]
    await asyncio.wait_for(bot._drain_saves(), 5)
    assert seen == [RoomID("!r0:example.org"), RoomID("!r1:example.org")]
    assert await ctx.state.get(SYNC_TOKEN) == "t2"

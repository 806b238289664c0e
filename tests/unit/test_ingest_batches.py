"""Catching up after downtime (issue #15.3): a batch of events costs a few store round trips,
not a few per event, and the worker starts on rooms while later rooms' gaps are fetched."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import RoomCreateEvent, RoomMessageText

from bot import app
from bot.app import SYNC_TOKEN, Batch, Lotse
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.matrix.events import IncomingMessage, Recorded, RecordedIn
from bot.retention import service as retention
from bot.store.db import Database
from tests.support import FakeMatrix, make_context

WORKER = UserID("@worker:example.org")
GROUP = RoomID("!group:example.org")
DIRECT = RoomID("!direct:example.org")


class Counted:
    """Counts the store calls that cost a round trip to the database thread or server."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        self.writes = 0
        for name in ("fetchone", "fetchall"):
            original = getattr(db, name)

            async def read(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.reads += 1
                return await _original(*args, **kwargs)

            monkeypatch.setattr(db, name, read)
        for name in ("write", "write_many"):
            original = getattr(db, name)

            def write(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.writes += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(db, name, write)


def message(room: RoomID, n: int, body: str, sender: UserID = WORKER) -> list[Any]:
    event_id = EventID(f"$m{n}-{room[1:6]}")
    return [
        RecordedIn(room, Recorded(event_id, sender, 1_700_000_000_000 + n, "m.room.encrypted")),
        IncomingMessage(room, event_id, sender, 1_700_000_000_000 + n, "m.text", True, body),
    ]


@pytest.fixture
async def env(tmp_path: Path) -> Any:
    ctx, matrix, db = await make_context(tmp_path, workers=[WORKER])
    bot = Lotse(ctx.settings)
    bot.ctx = ctx
    await ctx.state.set_room_kind(GROUP, "group")
    await ctx.state.set_room_kind(DIRECT, "direct")
    yield bot, ctx, matrix, db
    await db.close()


async def test_a_backlog_batch_costs_a_few_round_trips_not_a_few_per_event(
    env: tuple[Lotse, BotContext, FakeMatrix, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, ctx, matrix, db = env
    items = [i for n in range(300) for i in message(GROUP, n, f"Besprechung um {n}")]
    counted = Counted(db, monkeypatch)

    await bot._handle_batch(ctx, matrix, Batch(items, "token-1"))  # type: ignore[arg-type]

    # Before: three reads per message (handled?, room kind, language) and a write per event.
    assert counted.reads <= 3
    assert counted.writes <= 300 + 2  # one metadata write for the batch, a mark each, the token
    assert await db.fetchval("SELECT COUNT(*) FROM event_meta WHERE room_id = ?", (GROUP,)) == 300
    # The token is stored only after what it covers: awaited, so everything before it is in.
    assert await ctx.state.get(SYNC_TOKEN) == "token-1"
    assert await db.fetchval("SELECT COUNT(*) FROM handled_event") == 300
    assert matrix.sent == []  # talk among workers is nothing for the bot


async def test_an_event_handled_before_a_crash_is_not_answered_again(
    env: tuple[Lotse, BotContext, FakeMatrix, Database],
) -> None:
    bot, ctx, matrix, db = env
    done = message(DIRECT, 1, "!hilfe")
    fresh = message(DIRECT, 2, "!hilfe")
    await ctx.state.mark_handled(done[1].event_id)

    await bot._handle_batch(ctx, matrix, Batch([*done, *fresh], "token-2"))  # type: ignore[arg-type]

    assert [s.reply_to for s in matrix.sent] == [fresh[1].event_id]
    # Its metadata is recorded all the same (once: a second insert is ignored).
    assert await db.fetchval("SELECT COUNT(*) FROM event_meta WHERE room_id = ?", (DIRECT,)) == 2


def _text(room: RoomID, n: int) -> RoomMessageText:
    event = RoomMessageText.from_dict(
        {
            "type": "m.room.message",
            "event_id": f"$t{n}",
            "sender": WORKER,
            "origin_server_ts": 1_700_000_000_000 + n,
            "room_id": room,
            "content": {"msgtype": "m.text", "body": f"text {n}"},
        }
    )
    assert isinstance(event, RoomMessageText)
    return event


async def test_the_worker_gets_earlier_rooms_while_a_gap_is_fetched(
    env: tuple[Lotse, BotContext, FakeMatrix, Database],
) -> None:
    bot, _ctx, _matrix, _db = env
    seen_at_backfill: list[Batch | None] = []

    class Gateway:
        user_id = UserID("@lotse:example.org")

        async def backfill(self, room_id: RoomID, prev_batch: str, until: str) -> list[Any]:
            seen_at_backfill.append(bot.queue.get_nowait() if not bot.queue.empty() else None)
            return [_text(room_id, 10), _text(room_id, 11)]

    def room(events: list[Any], limited: bool) -> Any:
        return SimpleNamespace(timeline=SimpleNamespace(events=events, limited=limited, prev_batch="p"))

    resp = SimpleNamespace(
        rooms=SimpleNamespace(
            join={GROUP: room([_text(GROUP, 1)], False), DIRECT: room([_text(DIRECT, 12)], True)},
            invite={},
            leave={},
        )
    )

    rest = await bot._collect(Gateway(), resp, "since")  # type: ignore[arg-type]

    handed = seen_at_backfill[0]
    assert handed is not None and handed.token is None  # no token before the whole sync is in
    assert {i.room_id for i in handed.items} == {GROUP}
    # The gap's room follows in order, oldest first, with the sync's own event last.
    messages = [i for i in rest if isinstance(i, IncomingMessage)]
    assert [m.event_id for m in messages] == ["$t10", "$t11", "$t12"]


async def test_rooms_unknown_to_the_store_are_registered_in_one_write(
    env: tuple[Lotse, BotContext, FakeMatrix, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    _bot, ctx, _matrix, db = env
    rooms = [RoomID(f"!r{n}:example.org") for n in range(500)]
    counted = Counted(db, monkeypatch)

    await retention.register_rooms(ctx, [GROUP, *rooms])

    assert counted.reads <= 1 and counted.writes <= 1  # before: a read and a write per room
    assert await ctx.state.room_kind(rooms[0]) == "group"
    assert await ctx.state.room_kind(DIRECT) == "direct"
    assert await db.fetchval("SELECT kind FROM room WHERE room_id = ?", (GROUP,)) == "group"
    assert await db.fetchval("SELECT COUNT(*) FROM room") == 502


async def test_room_kinds_are_remembered_and_follow_every_change(tmp_path: Path) -> None:
    ctx, _matrix, db = await make_context(tmp_path)
    try:
        room = RoomID("!kind:example.org")
        assert await ctx.state.room_kind(room) is None
        await ctx.state.set_room_kind(room, "intake")
        assert await ctx.state.room_kind(room) == "intake"
        await ctx.state.forget_room(room)
        assert await ctx.state.room_kind(room) is None
        assert await db.fetchval("SELECT COUNT(*) FROM room WHERE room_id = ?", (room,)) == 0
        await ctx.state.add_rooms({room: "group"})
        await ctx.state.add_rooms({room: "team"})  # a known room keeps its kind
        assert await ctx.state.room_kind(room) == "group"
        assert await db.fetchval("SELECT kind FROM room WHERE room_id = ?", (room,)) == "group"
        marked = [EventID(f"$h{n}") for n in range(700)]
        for event_id in marked[::2]:
            ctx.state.mark_handled(event_id)
        await db.flush()
        assert await ctx.state.handled_among(marked) == set(marked[::2])
    finally:
        await db.close()


async def test_a_first_sync_is_not_kept_alive_after_the_start(
    env: tuple[Lotse, BotContext, FakeMatrix, Database],
) -> None:
    """The first sync holds the state of every room the bot is in: once its position and
    invitations are taken, nothing may keep it (a bot in 1,000 rooms kept ~20 MiB for good)."""
    bot, _ctx, _matrix, _db = env
    alive: list[weakref.ref[Any]] = []

    class Response:
        next_batch = "s1"
        rooms = SimpleNamespace(join={GROUP: None}, invite={}, leave={})

    class Gateway:
        user_id = UserID("@lotse:example.org")

        async def sync(self, since: str | None, sync_filter: Any, timeout_ms: int) -> Response:
            response = Response()
            alive.append(weakref.ref(response))
            return response

    assert await bot._first_sync(Gateway()) == "s1"  # type: ignore[arg-type]
    gc.collect()
    assert alive[0]() is None
    assert bot.queue.get_nowait() == Batch([], "s1")


async def test_memory_is_handed_back_after_a_large_catch_up(
    env: tuple[Lotse, BotContext, FakeMatrix, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, ctx, matrix, _db = env
    released: list[int] = []
    monkeypatch.setattr(app, "_release_memory", lambda: released.append(1))
    backlog = [i for n in range(app.RELEASE_AFTER_ITEMS // 2) for i in message(GROUP, n, "alt")]
    for batch in (
        Batch(message(GROUP, 90_001, "klein"), "t1"),  # a sync like any other: nothing to give back
        Batch(backlog[: len(backlog) // 2], None),  # a catch-up in two batches
        Batch(backlog[len(backlog) // 2 :], "t2"),
        None,
    ):
        bot.queue.put_nowait(batch)

    await bot._work(ctx, matrix)  # type: ignore[arg-type]

    assert released == [1]
    assert await ctx.state.get(SYNC_TOKEN) == "t2"


def _create(room: RoomID) -> Any:
    event = RoomCreateEvent.from_dict(
        {
            "type": "m.room.create",
            "event_id": f"$create-{room[1:6]}",
            "sender": WORKER,
            "origin_server_ts": 1_700_000_000_000,
            "room_id": room,
            "state_key": "",
            "content": {"creator": WORKER, "room_version": "10"},
        }
    )
    assert isinstance(event, RoomCreateEvent)
    return event


class GapGateway:
    """Records which rooms' gaps were fetched and what the worker had been handed by then."""

    user_id = UserID("@lotse:example.org")

    def __init__(self, bot: Lotse) -> None:
        self.bot = bot
        self.fetched: list[RoomID] = []
        self.handed: list[set[RoomID]] = []

    async def backfill(self, room_id: RoomID, prev_batch: str, until: str) -> list[Any]:
        self.fetched.append(room_id)
        handed: set[RoomID] = set()
        while not self.bot.queue.empty():
            batch = self.bot.queue.get_nowait()
            assert batch is not None
            handed |= {i.room_id for i in batch.items}
        self.handed.append(handed)
        return [_text(room_id, 10)]


def _sync(join: dict[RoomID, tuple[list[Any], bool]]) -> Any:
    rooms = {
        room_id: SimpleNamespace(timeline=SimpleNamespace(events=events, limited=limited, prev_batch="p"))
        for room_id, (events, limited) in join.items()
    }
    return SimpleNamespace(rooms=SimpleNamespace(join=rooms, invite={}, leave={}))


async def test_a_new_rooms_timeline_from_its_creation_has_no_gap_to_fetch(
    env: tuple[Lotse, BotContext, FakeMatrix, Database],
) -> None:
    """Synapse marks a just-joined room's timeline limited even when it holds all of it."""
    bot, _ctx, _matrix, _db = env
    gateway = GapGateway(bot)
    resp = _sync({DIRECT: ([_create(DIRECT), _text(DIRECT, 1)], True), GROUP: ([_text(GROUP, 2)], True)})

    rest = await bot._collect(gateway, resp, "since")  # type: ignore[arg-type]

    assert gateway.fetched == [GROUP], "a timeline that starts with the room's creation was fetched again"
    assert gateway.handed == [{DIRECT}]  # the new room went to the worker before the other's gap
    assert [i.event_id for i in rest if isinstance(i, IncomingMessage)] == ["$t10", "$t2"]


async def test_a_command_does_not_wait_for_another_rooms_gap(
    env: tuple[Lotse, BotContext, FakeMatrix, Database],
) -> None:
    bot, _ctx, _matrix, _db = env
    gateway = GapGateway(bot)
    # The room with the gap comes first in the sync.
    resp = _sync({DIRECT: ([_text(DIRECT, 1)], True), GROUP: ([_text(GROUP, 2)], False)})

    await bot._collect(gateway, resp, "since")  # type: ignore[arg-type]

    assert gateway.fetched == [DIRECT]
    assert gateway.handed == [{GROUP}], "the other room's command waited for the gap"

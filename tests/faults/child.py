"""One bot-side job, run in a process the fault test kills with SIGKILL at random moments.

    python -m tests.faults.child KIND FOLDER

The job works on a real SQLite store in FOLDER and on a "server" that is a journal file in
FOLDER: every side effect (a message sent, a redaction) is appended and fsynced before the
call returns, and deduplicated the way Synapse deduplicates (by transaction ID; a redaction by
the event it redacts, whose transaction ID the bot derives from it). Each start replays the
job from the beginning, as the bot replays events after a crash (the sync token is saved only
after a batch was handled). The child prints "working" once it has started, "finished" when
the job is complete.

Kinds: consent (answers to the consent question), sweep (retention of expired messages),
erasure (a client's erasure request), report (the weekly leadership report).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot.consent import rights, runtime
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.stats import delivery
from bot.store.consent import EventMeta
from tests.support import FakeMatrix, Sent, make_context

CLIENTS = 400
EVENTS = 600
LATENCY = 0.004  # seconds per server call: a fast homeserver on the same machine
TEAM = RoomID("!team:example.org")
ADMIN_ROOM = RoomID("!admin:example.org")
LEAD_ROOM = RoomID("!leitung:example.org")
WORKER = UserID("@worker:example.org")
CLIENT = UserID("@klient:example.org")
ROOM = RoomID("!beratung:example.org")
CHAT = RoomID("!chat:example.org")


class JournalServer(FakeMatrix):
    """A FakeMatrix whose effects survive the process: appended to a journal, fsynced."""

    def __init__(self, journal: Path) -> None:
        super().__init__()
        self.journal = journal
        self.txns: set[str] = set()
        self.redactions: set[str] = set()
        if journal.exists():
            for line in journal.read_text().splitlines():
                entry = json.loads(line)
                if entry["kind"] == "send":
                    self.txns.add(entry["txn"])
                else:
                    self.redactions.add(entry["event"])

    def _append(self, entry: dict[str, Any]) -> None:
        with self.journal.open("a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    async def send_text(  # type: ignore[override]
        self, room_id: RoomID, body: str, txn_id: str, **_: Any
    ) -> EventID | None:
        await asyncio.sleep(LATENCY)
        if txn_id not in self.txns:
            self.txns.add(txn_id)
            self._append({"kind": "send", "room": room_id, "txn": txn_id, "head": body[:40]})
        self.sent.append(Sent(room_id, body, txn_id))
        return EventID(f"$sent-{txn_id}")

    async def send_file(  # type: ignore[override]
        self, room_id: RoomID, data: bytes, filename: str, mimetype: str, txn_id: str
    ) -> EventID | None:
        return await self.send_text(room_id, filename, txn_id)

    async def redact(self, room_id: RoomID, event_id: EventID, reason: str) -> bool:
        await asyncio.sleep(LATENCY)
        if event_id not in self.redactions:
            self.redactions.add(event_id)
            self._append({"kind": "redact", "room": room_id, "event": event_id})
        self.redacted.append((room_id, event_id))
        return True


def old(days: int) -> int:
    return int((dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).timestamp() * 1000)


async def seed(ctx: BotContext, kind: str) -> None:
    """The same starting point every time, written once (the first start seeds it)."""
    if await ctx.state.get("fault:seeded") is not None:
        return
    await ctx.state.set_room_kind(TEAM, "team")
    if kind == "consent":
        for i in range(CLIENTS):
            client = UserID(f"@klient{i}:example.org")
            await ctx.remember_person(client)
            await ctx.consent.create_intake(
                RoomID(f"!chat{i}:example.org"),
                ctx.subject(client),
                worker=None,
                notify_room=TEAM,
                state="consent",
            )
            await ctx.state.set_language(ctx.subject(client), "de")
    elif kind == "sweep":
        room = RoomID("!gruppe:example.org")
        await ctx.state.set_room_kind(room, "group")  # policy "team": one year
        await ctx.consent.record_events(
            EventMeta(EventID(f"$old{i}"), room, ctx.subject(WORKER), old(400) + i, "m.room.message", ())
            for i in range(EVENTS)
        )
    elif kind == "erasure":
        await ctx.remember_person(CLIENT)
        await ctx.state.set_room_kind(CHAT, "intake")
        await ctx.state.set_room_kind(ROOM, "consultation")
        intake = await ctx.consent.create_intake(
            CHAT, ctx.subject(CLIENT), worker=ctx.subject(WORKER), notify_room=TEAM, state="erase_confirm"
        )
        await ctx.consent.update_intake(intake.intake_id, consultation_room=ROOM, prior_state="active")
        await ctx.consent.record_events(
            EventMeta(EventID(f"$msg{i}"), ROOM, ctx.subject(CLIENT), old(2) + i, "m.room.message", ())
            for i in range(EVENTS)
        )
    elif kind == "report":
        pass
    await ctx.consent.db.flush()
    await ctx.state.put("fault:seeded", "1")


async def job(ctx: BotContext, kind: str) -> None:
    if kind == "consent":
        # The answers arrive as events; each is handled unless it was marked handled.
        for intake in await ctx.consent.unclaimed_intakes():
            event = EventID(f"$answer-{intake.intake_id}")
            if await ctx.state.is_handled(event):
                continue
            await runtime.on_text(ctx, intake, "ja", event)
            await ctx.state.mark_handled(event)
    elif kind == "sweep":
        from bot.retention.sweeper import sweep

        while True:
            result = await sweep(ctx, "schedule")
            if result.redacted == 0:
                break
    elif kind == "erasure":
        event = EventID("$confirm")
        intake = await ctx.consent.intake_by_room(CHAT)
        if intake is not None and not await ctx.state.is_handled(event):
            await runtime.on_text(ctx, intake, "ja", event)
            await ctx.state.mark_handled(event)
        while await rights.resume_postponed_erasures(ctx):
            pass
    elif kind == "report":
        await delivery.scheduled(ctx)


async def main(kind: str, folder: Path) -> None:
    ctx, _, db = await make_context(
        folder,
        workers=[WORKER],
        rooms={"team": TEAM, "admin": ADMIN_ROOM, "leadership": LEAD_ROOM},
        retention={"sweep_minutes": 1000},
    )
    ctx.matrix = JournalServer(folder / "server.jsonl")
    # A fixed Tuesday, so "last week" is the same week in every start.
    if kind == "report":
        ctx.clock = lambda: dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC).timestamp()
    try:
        await seed(ctx, kind)
        print("working", flush=True)
        await job(ctx, kind)
        await db.flush()
        print("finished", flush=True)
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))

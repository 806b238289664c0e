"""Twelve weeks of made-up, plausible activity for the demo, so its first report shows
what leadership will see instead of a chart of zeros.

Everything goes through the store API the bot itself uses. The people are invented
(``@demo-…:demo.invalid``, pseudonymised like real ones), their rooms are marked synthetic
(never swept, never contacted), and every report that counts them says it contains demo data.
The rhythm is that of a small counselling service that is growing: more new clients every
few weeks, most contacts in office hours, answers mostly within a working day, a few
evening messages, now and then a declined or withdrawn consent and a rights request.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from bot.consent.runtime import PURPOSE
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.stats.officehours import OfficeHours
from bot.stats.report import office_hours
from bot.store.consent import EventMeta

SEEDED = "demo_seeded"
_DOMAIN = "demo.invalid"
_WORKERS = 6
_MINUTE = 60_000


@dataclass
class SeedResult:
    clients: int = 0
    messages: int = 0


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def _next_open(hours: OfficeHours, at: dt.datetime) -> dt.datetime:
    """The first office minute at or after ``at`` (quarter-hour steps are plenty for a demo)."""
    for _ in range(4 * 24 * 8):
        if hours.is_open(at):
            return at
        at += dt.timedelta(minutes=15)
    return at


class _Writer:
    """Numbers the made-up events and keeps the seeding's writes in one place."""

    def __init__(self, ctx: BotContext, now: dt.datetime) -> None:
        self.ctx = ctx
        self.now = now
        self.events: list[EventMeta] = []
        self.n = 0

    def message(self, room: RoomID, sender: str, at: dt.datetime) -> bool:
        if at >= self.now:
            return False
        self.n += 1
        self.events.append(
            EventMeta(EventID(f"$demo-{self.n}"), room, sender, _ms(at), "m.room.encrypted", ())
        )
        return True


async def seed_demo_activity(
    ctx: BotContext,
    team_room: RoomID,
    *,
    weeks: int = 13,
    now: dt.datetime | None = None,
    seed: int = 49,
) -> SeedResult | None:
    """Seed once per store; ``None`` if it was seeded before."""
    if await ctx.state.get(SEEDED):
        return None
    rng = random.Random(seed)
    hours = office_hours(ctx)
    now = now or dt.datetime.now(dt.UTC)
    local_now = now.astimezone(hours.tz)
    monday = (local_now - dt.timedelta(days=local_now.weekday() + 7 * (weeks - 1))).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    result = SeedResult()
    out = _Writer(ctx, now)
    await ctx.state.set_room_kind(team_room, "team")
    workers = [ctx.subject(UserID(f"@demo-fachkraft-{i}:{_DOMAIN}")) for i in range(1, _WORKERS + 1)]

    for week in range(weeks):
        week_start = monday + dt.timedelta(weeks=week)
        # A service that is being discovered: from about six new clients a week to about twelve.
        for _ in range(max(3, round(6 + week * 0.5 + rng.uniform(-1.5, 1.5)))):
            first = week_start + dt.timedelta(days=rng.randrange(5), hours=rng.uniform(8.5, 16.5))
            if first >= now:
                continue
            result.clients += 1
            await _client(ctx, out, rng, hours, team_room, rng.choice(workers), result.clients, first)
    await ctx.consent.record_events(out.events)
    result.messages = len(out.events)
    await ctx.state.put(SEEDED, f"{result.clients} clients, {result.messages} messages")
    return result


async def _client(
    ctx: BotContext,
    out: _Writer,
    rng: random.Random,
    hours: OfficeHours,
    team_room: RoomID,
    worker: str,
    n: int,
    first: dt.datetime,
) -> None:
    subject = ctx.subject(UserID(f"@demo-klient-{n}:{_DOMAIN}"))
    intake_room = RoomID(f"!demo-erstkontakt-{n}:{_DOMAIN}")
    await ctx.state.set_room_kind(intake_room, "intake", synthetic=True)
    intake = await ctx.consent.create_intake(
        intake_room, subject, worker=worker, notify_room=team_room, state="active"
    )
    consent = {"subject": subject, "scope": "client", "purpose": PURPOSE, "notice_version": "1"}
    # The consent question, a few minutes before the answer; some never answer.
    bot = ctx.subject(ctx.matrix.user_id)
    if out.message(intake_room, bot, first - dt.timedelta(minutes=rng.uniform(2, 20))):
        await ctx.consent.update_intake(intake.intake_id, question_event=out.events[-1].event_id)
    if rng.random() < 0.08:
        await ctx.consent.update_intake(intake.intake_id, state="consent")
        return
    if rng.random() < 0.1:
        await ctx.consent.append(
            **consent, language="de", decision="declined", method="text", at_ms=_ms(first)
        )
        await ctx.consent.update_intake(intake.intake_id, state="declined")
        return
    language = "en" if rng.random() < 0.2 else "de"
    await ctx.consent.append(**consent, language=language, decision="given", method="text", at_ms=_ms(first))
    room = RoomID(f"!demo-beratung-{n}:{_DOMAIN}")
    await ctx.state.set_room_kind(room, "consultation", synthetic=True)
    await ctx.consent.update_intake(intake.intake_id, consultation_room=room)

    at = first + dt.timedelta(minutes=rng.uniform(10, 90))
    for _ in range(rng.randint(2, 12)):  # conversations over the following weeks
        if not _conversation(out, rng, hours, room, subject, worker, at):
            break
        at += dt.timedelta(days=rng.expovariate(1 / 5), hours=rng.uniform(-3, 3))
        # Most people write in the daytime; some late in the evening or at the weekend.
        if rng.random() < 0.82:
            at = _next_open(hours, at) + dt.timedelta(minutes=rng.uniform(0, 300))
    if at < out.now and rng.random() < 0.05:
        await ctx.consent.append(
            **consent, language=language, decision="withdrawn", method="command", at_ms=_ms(at)
        )
        # The bot closes the counselling room at once (its notice there is the evidence).
        out.message(room, bot, at + dt.timedelta(seconds=rng.uniform(0.5, 3)))
    for kind, share, days in (("access", 0.08, 0.2), ("erasure", 0.03, 1.0)):
        asked = first + dt.timedelta(days=rng.uniform(1, 40))
        if rng.random() < share and asked < out.now:
            served = asked + dt.timedelta(minutes=rng.uniform(1, days * 1440))
            await ctx.stats.add_rights_request(kind, subject, _ms(asked), _ms(min(served, out.now)))


def _conversation(
    out: _Writer,
    rng: random.Random,
    hours: OfficeHours,
    room: RoomID,
    client: str,
    worker: str,
    at: dt.datetime,
) -> bool:
    """A client writes one to three messages; the worker answers in office time."""
    for _ in range(rng.randint(1, 3)):
        if not out.message(room, client, at):
            return False
        at += dt.timedelta(minutes=rng.uniform(0.5, 4))
    # Most answers come within a few office hours; some take a day or two.
    delay = rng.lognormvariate(4.2, 1.0) if rng.random() < 0.85 else rng.uniform(480, 1400)
    answer = _next_open(hours, at) + dt.timedelta(minutes=delay)
    answer = _next_open(hours, answer)
    for _ in range(rng.randint(1, 2)):
        if not out.message(room, worker, answer):
            return True
        answer += dt.timedelta(minutes=rng.uniform(1, 6))
    return True

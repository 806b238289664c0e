"""bot/commands/handlers/retention.py through the dispatcher, as an admin in the admin room."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.context import BotContext
from bot.ids import RoomID, UserID
from bot.retention.resolve import resolve
from bot.retention.sweeper import room_refs, scheduled_sweep
from bot.store.db import Database
from tests.support import make_context
from tests.unit.retention_fakes import (
    ADMIN_ROOM,
    T_MS,
    RecordingMatrix,
    add_events,
    retention_context,
)

ADMIN = UserID("@admin:example.org")
WORKER = UserID("@worker:example.org")
C = RoomID("!consult:example.org")
UNKNOWN = RoomID("!nowhere:example.org")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[BotContext, RecordingMatrix, Database]]:
    ctx, matrix, db = await retention_context(tmp_path, admins=[ADMIN])
    await ctx.state.set_room_kind(C, "consultation")
    matrix.room_names[C] = "Beratung Nord"
    try:
        yield ctx, matrix, db
    finally:
        await db.close()


def de(ctx: BotContext, key: str, **values: str) -> str:
    return ctx.catalog.text("de", key, **values)


async def say(
    ctx: BotContext, body: str, *, sender: UserID = ADMIN, room: RoomID = ADMIN_ROOM, kind: str = "admin"
) -> str:
    reply = await handle_message(ctx, COMMANDS, sender=sender, room_id=room, room_kind=kind, body=body)
    assert reply is not None
    return reply.text


async def sweep_by_command(ctx: BotContext) -> str:
    """!löschlauf: answered at once, the sweep in the background; returns the report when done."""
    assert await say(ctx, "!löschlauf") == de(ctx, "sweep.started")
    for _ in range(500):
        if not ctx.sweep_lock.locked():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    return ctx.matrix.texts_to(ADMIN_ROOM)[-1]  # type: ignore[attr-defined,no-any-return]


async def resolution_of(ctx: BotContext, room: RoomID) -> tuple[str | None, str]:
    r = resolve(
        room,
        "consultation",
        ctx.policies.current,
        await ctx.retention.assignments(),
        await room_refs(ctx, room),
    )
    return (r.policy.name if r.policy else None, r.reason)


async def test_policies_are_listed(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, _ = env
    lines = (await say(ctx, "!richtlinien")).splitlines()
    assert lines[0] == de(ctx, "policy.list.header", files="default.toml")
    assert len(lines) == 1 + len(ctx.policies.current.policies)
    for name, line in zip(ctx.policies.current.policies, lines[1:], strict=True):
        assert line.startswith(f"• {name}: ")
    [kurz] = [line for line in lines if line.startswith("• kurz:")]
    assert de(ctx, "policy.line", name="kurz", max_age="10s") in kurz
    assert de(ctx, "policy.media", age="5s") in kurz
    assert de(ctx, "kind.consultation") in kurz
    [standard] = [line for line in lines if line.startswith("• standard:")]
    assert de(ctx, "policy.default") in standard
    [pflicht] = [line for line in lines if line.startswith("• pflicht:")]
    assert de(ctx, "policy.min_age", age="1min") in pflicht


async def test_policy_list_names_a_refused_reload(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, _ = env
    (ctx.policies.directory / "zz.toml").write_text("[policy.kaputt\n", encoding="utf-8")
    assert ctx.policies.reload() is not None
    text = await say(ctx, "!richtlinien")
    assert "zz.toml" in text
    assert "• kurz:" in text  # the set in force is still listed


async def test_one_policy_in_detail(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, _ = env
    text = await say(ctx, "!richtlinie kurz")
    assert de(ctx, "policy.details", source="default.toml", description="Beratung, kurz") in text
    unknown = await say(ctx, "!richtlinie nix")
    assert unknown == de(ctx, "policy.unknown", name="nix", names="standard, kurz, pflicht, lang")


def named(ctx: BotContext, name: str = "Beratung Nord") -> str:
    return de(ctx, "roomref.named", name=name)


async def test_room_policy_explains_why(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, _ = env
    text = await say(ctx, f"!raumregel {C}")
    why = de(ctx, "why.kind", kind=de(ctx, "kind.consultation"))
    # The room by its name, never by its ID.
    assert text.splitlines()[0] == de(ctx, "retention.room_policy", room=named(ctx), policy="kurz", why=why)
    assert C not in text

    await ctx.retention.assign(C, "lang", "someone")
    text = await say(ctx, "!raumregel beratung nord")
    assert text.splitlines()[0] == de(
        ctx, "retention.room_policy", room=named(ctx), policy="lang", why=de(ctx, "why.assigned")
    )

    await ctx.consent.set_hold(C, T_MS + 86_400_000, "someone")
    text = await say(ctx, f"!raumregel {C}")
    assert de(ctx, "retention.room_held", until="2023-11-15") in text


async def test_room_policy_for_unknown_and_malformed_rooms(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, _, _ = env
    assert await say(ctx, f"!raumregel {UNKNOWN}") == de(ctx, "retention.room_unknown", room=UNKNOWN)
    assert await say(ctx, "!raumregel küche") == de(ctx, "roomref.not_found", word="küche")
    assert await say(ctx, "!raumregel #7") == de(ctx, "roomref.no_case", n="7")
    # Without an argument: the room the command was typed in (which has no name here).
    text = await say(ctx, "!raumregel")
    assert text.startswith(de(ctx, "roomref.unnamed", kind=de(ctx, "kind.admin")) + ": ")
    assert ADMIN_ROOM not in text


async def test_assign_is_audited_and_changes_the_resolution(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, _, _ = env
    assert await resolution_of(ctx, C) == ("kurz", "kind")

    text = await say(ctx, f"!zuweisen {C} lang")
    assert text == de(ctx, "assign.done", room=named(ctx), before="–", after="lang")
    assert await ctx.retention.assignments() == {C: "lang"}
    assert await resolution_of(ctx, C) == ("lang", "assigned")

    # The room by its name, in as many words as it has; the policy is the last word.
    await say(ctx, "!zuweisen Beratung Nord pflicht")
    assert await resolution_of(ctx, C) == ("pflicht", "assigned")

    text = await say(ctx, f"!zuweisen {C} aus")
    assert text == de(ctx, "assign.done", room=named(ctx), before="pflicht", after="–")
    assert await ctx.retention.assignments() == {}
    assert await resolution_of(ctx, C) == ("kurz", "kind")

    entries = list(reversed(await ctx.retention.audit_entries()))
    assert [(e["action"], e["target"], e["before"], e["after"]) for e in entries] == [
        ("assign", C, json.dumps(None), json.dumps("lang")),
        ("assign", C, json.dumps("lang"), json.dumps("pflicht")),
        ("assign", C, json.dumps("pflicht"), json.dumps(None)),
    ]
    # The actor is the admin's pseudonym, never the Matrix ID.
    assert {e["actor"] for e in entries} == {ctx.subject(ADMIN)}
    assert all(ADMIN not in str(tuple(e)) for e in entries)


async def test_assign_unknown_policy_is_answered_politely(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, _, _ = env
    text = await say(ctx, f"!zuweisen {C} ewig")
    assert text == de(ctx, "policy.unknown", name="ewig", names="standard, kurz, pflicht, lang")
    assert await ctx.retention.assignments() == {}
    assert await ctx.retention.audit_entries() == []


async def test_assign_needs_a_known_room_and_both_arguments(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, _, _ = env
    assert await say(ctx, f"!zuweisen {C}") == de(ctx, "assign.usage")
    assert await say(ctx, f"!zuweisen {UNKNOWN} lang") == de(ctx, "retention.room_unknown", room=UNKNOWN)
    assert await say(ctx, "!zuweisen raum lang") == de(ctx, "roomref.not_found", word="raum")
    assert await ctx.retention.assignments() == {}
    assert await ctx.retention.audit_entries() == []


async def test_the_word_in_the_help_lifts_the_assignment_and_policy_names_stay_policies(
    tmp_path: Path,
) -> None:
    ctx, _, db = await make_context(tmp_path, admins=[ADMIN], rooms={"admin": ADMIN_ROOM})
    try:
        await ctx.state.set_room_kind(C, "consultation")
        assert "„aus“" in de(ctx, "assign.usage")
        await say(ctx, f"!zuweisen {C} verwaltung")
        await say(ctx, f"!zuweisen {C} aus")
        assert await ctx.retention.assignments() == {}
        # A shipped policy named "standard" is assigned, not mistaken for "remove".
        await say(ctx, f"!zuweisen {C} standard")
        assert await ctx.retention.assignments() == {C: "standard"}
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("sender", "room", "kind", "key"),
    [
        (WORKER, ADMIN_ROOM, "admin", "dispatch.forbidden"),
        (ADMIN, C, "consultation", "dispatch.wrong_room"),
        (ADMIN, RoomID("!team:example.org"), "team", "dispatch.wrong_room"),
    ],
)
async def test_others_and_other_rooms_are_refused(
    env: tuple[BotContext, RecordingMatrix, Database], sender: UserID, room: RoomID, kind: str, key: str
) -> None:
    ctx, matrix, _ = env
    await add_events(ctx, C, 20)
    for body in (f"!zuweisen {C} lang", "!löschlauf", "!richtlinien", "!probelauf", "!löschbericht"):
        command = body.split()[0][1:]
        assert await say(ctx, body, sender=sender, room=room, kind=kind) == de(ctx, key, command=command)
    assert await ctx.retention.assignments() == {}
    assert await ctx.retention.audit_entries() == []
    assert matrix.redacted == []


async def test_dry_run_command(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, _ = env
    await add_events(ctx, C, 20, 7, media=True)
    await add_events(ctx, C, 30)
    lines = (await say(ctx, "!probelauf")).splitlines()
    kind = de(ctx, "kind.consultation")
    assert lines == [
        de(ctx, "dryrun.header"),
        de(ctx, "dryrun.line", room=named(ctx), kind=kind, policy="kurz", n="2", media="2"),
        de(ctx, "dryrun.total", n="2"),
    ]
    assert matrix.redacted == [] and matrix.sent == [] and matrix.state == []

    await ctx.consent.set_hold(C, T_MS + 86_400_000, "someone")
    lines = (await say(ctx, "!probelauf")).splitlines()
    assert de(ctx, "dryrun.held", room=named(ctx), kind=kind) in lines
    assert lines[-1] == de(ctx, "dryrun.total", n="0")


async def test_sweep_command_is_audited(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, _ = env
    await add_events(ctx, C, 20, media=True)
    text = await sweep_by_command(ctx)
    [entry] = await ctx.retention.audit_entries()
    run = json.loads(entry["after"])["run"]
    assert text == de(ctx, "sweep.done", run=str(run), redacted="1", media="1", failures="0")
    assert entry["action"] == "sweep" and entry["actor"] == ctx.subject(ADMIN)
    assert len(matrix.redacted) == 1


async def test_one_sweep_at_a_time(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, _ = env
    await add_events(ctx, C, 20)
    async with ctx.sweep_lock:  # a sweep is running (scheduled or started by someone else)
        assert await say(ctx, "!löschlauf") == de(ctx, "sweep.running")
        assert await scheduled_sweep(ctx) is None
    assert matrix.redacted == []
    await sweep_by_command(ctx)
    assert len(matrix.redacted) == 1


async def test_report_command(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, _ = env
    await add_events(ctx, C, 20)
    await sweep_by_command(ctx)
    text = await say(ctx, "!löschbericht 7")
    assert text.splitlines()[0] == de(ctx, "report.title", days="7", runs="1")
    assert de(ctx, "report.removed", redacted="1", media="0", failures="0") in text
    assert await say(ctx, "!löschbericht viele") == de(ctx, "report.bad_days", word="viele")


async def test_reload_reports_retention_and_audits(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, _ = env
    lines = (await say(ctx, "!neu-laden")).splitlines()
    assert lines[-1] == de(ctx, "reload.retention_ok", n="4")
    [entry] = await ctx.retention.audit_entries()
    assert (entry["action"], entry["target"]) == ("reload", "retention")
    assert json.loads(entry["after"]) == ["standard", "kurz", "pflicht", "lang"]

    (ctx.policies.directory / "default.toml").write_text('[policy.x]\nmax_age = "bald"\n', encoding="utf-8")
    lines = (await say(ctx, "!neu-laden")).splitlines()
    error = ctx.policies.error
    assert error is not None
    assert lines[-1] == de(ctx, "reload.retention_failed", file="default.toml", line="2", reason=error.reason)
    assert set(ctx.policies.current.policies) == {"standard", "kurz", "pflicht", "lang"}
    assert len(await ctx.retention.audit_entries()) == 1  # a refused reload changes nothing

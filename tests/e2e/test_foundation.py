"""The foundation, end to end against a real Synapse: encrypted rooms, invites, restarts."""

from __future__ import annotations

import sqlite3

import pytest

from bot.i18n import Catalog
from tests.e2e.conftest import BotHarness, PersonaFactory

pytestmark = pytest.mark.e2e

CAT = Catalog("de")
HELP_DE = CAT.text("de", "help.header")
HELP_EN = CAT.text("en", "help.header")


async def test_worker_gets_encrypted_help_in_encrypted_room(bot: BotHarness, persona: PersonaFactory) -> None:
    worker = await persona("worker")
    bot.workers = [worker.user_id]
    await bot.start()

    room = await worker.create_room(invite=[bot.user_id], encrypted=True, name="Team")
    await worker.wait_for_member(room, bot.user_id, "join")
    # The bot greets once it has joined; then answers !hilfe.
    await worker.wait_for(lambda: worker.from_user(room, bot.user_id), what="greeting")
    command = await worker.send(room, "!hilfe")
    replies = await worker.wait_for(
        lambda: [m for m in worker.from_user(room, bot.user_id) if m.in_reply_to == command],
        what="help reply",
    )
    assert len(replies) == 1
    reply = replies[0]
    assert reply.encrypted, "the bot must answer encrypted in an encrypted room"
    assert reply.source["type"] == "m.room.message"
    assert HELP_DE in reply.body
    assert "!sprache" in reply.body
    assert "!status" not in reply.body  # a worker is no admin
    assert worker.undecryptable == 0


async def test_english_command_word_gets_english_answer(bot: BotHarness, persona: PersonaFactory) -> None:
    worker = await persona("worker")
    bot.workers = [worker.user_id]
    await bot.start()
    room = await worker.create_room(invite=[bot.user_id])
    await worker.wait_for_member(room, bot.user_id, "join")
    command = await worker.send(room, "!HELP")
    reply = await worker.wait_for(
        lambda: [m for m in worker.from_user(room, bot.user_id) if m.in_reply_to == command],
        what="reply",
    )
    assert HELP_EN in reply[0].body


async def test_group_invite_from_non_worker_is_rejected_politely(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    stranger = await persona("client")
    await bot.start()
    room = await stranger.create_room(invite=[bot.user_id], encrypted=True, name="Party")
    content = await stranger.wait_for_member(room, bot.user_id, "leave")
    assert content.get("reason") == CAT.text("de", "invite.reject.group")


async def test_worker_direct_chat_bare_words_and_remembered_language(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    client = await persona("worker")
    bot.workers = [client.user_id]
    await bot.start()
    room = await client.create_room(invite=[bot.user_id], direct=True)
    await client.wait_for_member(room, bot.user_id, "join")
    await client.wait_for(lambda: client.from_user(room, bot.user_id), what="greeting")
    command = await client.send(room, "Hilfe")
    reply = await client.wait_for(
        lambda: [m for m in client.from_user(room, bot.user_id) if m.in_reply_to == command],
        what="reply",
    )
    assert HELP_DE in reply[0].body
    assert reply[0].encrypted

    # Choosing English is remembered for later answers.
    choose = await client.send(room, "sprache 2")
    await client.wait_for(
        lambda: [m for m in client.from_user(room, bot.user_id) if m.in_reply_to == choose],
        what="language",
    )
    again = await client.send(room, "hilfe")
    reply = await client.wait_for(
        lambda: [m for m in client.from_user(room, bot.user_id) if m.in_reply_to == again],
        what="reply",
    )
    assert HELP_EN in reply[0].body

    # Something that is no command gets a polite answer, not silence.
    chatter = await client.send(room, "Guten Morgen, ich habe eine Frage")
    reply = await client.wait_for(
        lambda: [m for m in client.from_user(room, bot.user_id) if m.in_reply_to == chatter],
        what="reply",
    )
    assert reply[0].body == CAT.text("en", "dispatch.not_understood")


def _sync_token(bot: BotHarness) -> str:
    with sqlite3.connect(bot.data_dir / "lotse.db") as db:
        return str(db.execute("SELECT value FROM kv WHERE key = 'sync_token'").fetchone()[0])


def _set_sync_token(bot: BotHarness, token: str) -> None:
    with sqlite3.connect(bot.data_dir / "lotse.db") as db:
        db.execute("UPDATE kv SET value = ? WHERE key = 'sync_token'", (token,))


async def test_first_start_does_not_replay_history(bot: BotHarness, persona: PersonaFactory, synapse) -> None:
    worker = await persona("worker")
    bot.workers = [worker.user_id]
    # The bot's account is already in a room with commands in its history (e.g. the data
    # directory was lost). The room is unencrypted so that decryption is not why it stays quiet.
    room = await worker.create_room(invite=[bot.user_id], encrypted=False)
    bot_login = synapse.login(bot.user_id, bot.password)
    status, _ = synapse.api("POST", f"/_matrix/client/v3/join/{room}", {}, bot_login.access_token)
    assert status == 200
    old = [await worker.send(room, "!hilfe") for _ in range(5)]

    await bot.start()
    fresh = await worker.send(room, "!hilfe")
    await worker.wait_for(
        lambda: [m for m in worker.from_user(room, bot.user_id) if m.in_reply_to == fresh],
        what="reply",
    )
    await worker.sync(timeout_ms=1500)
    replied_to = [m.in_reply_to for m in worker.from_user(room, bot.user_id)]
    assert not set(old) & set(replied_to), "history was replayed as commands"
    assert replied_to.count(fresh) == 1


async def test_restart_answers_backlog_exactly_once(bot: BotHarness, persona: PersonaFactory) -> None:
    worker = await persona("worker")
    bot.workers = [worker.user_id]
    # A small timeline limit makes the 30-command backlog arrive as a "limited" sync,
    # so the back-fill path is exercised too.
    bot.extra = {"sync_timeline_limit": 10}
    await bot.start()
    device_before = bot.instance.gateway.device_id  # type: ignore[union-attr]
    room = await worker.create_room(invite=[bot.user_id], encrypted=True)
    await worker.wait_for_member(room, bot.user_id, "join")
    await worker.wait_for(lambda: worker.from_user(room, bot.user_id), what="greeting")
    stale_token = _sync_token(bot)

    before = [await worker.send(room, f"!hilfe {i}") for i in range(3)]
    await worker.wait_for(
        lambda: {m.in_reply_to for m in worker.from_user(room, bot.user_id)} >= set(before),
        what="answers before restart",
    )
    await bot.stop()

    # Make the restart start from a token older than the answered commands, as after a crash
    # just before the token was saved: those commands must still not be answered twice.
    _set_sync_token(bot, stale_token)
    backlog = [await worker.send(room, "!hilfe") for _ in range(30)]

    await bot.start()
    assert bot.instance.gateway.device_id == device_before  # type: ignore[union-attr]
    await worker.wait_for(
        lambda: {m.in_reply_to for m in worker.from_user(room, bot.user_id)} >= set(backlog),
        timeout=90,
        what="answers to the backlog",
    )
    await worker.sync(timeout_ms=3000)
    replies = [m.in_reply_to for m in worker.from_user(room, bot.user_id)]
    for event_id in before + backlog:
        assert replies.count(event_id) == 1, f"{event_id} answered {replies.count(event_id)} times"
    assert all(m.encrypted for m in worker.from_user(room, bot.user_id))

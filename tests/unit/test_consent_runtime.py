"""bot/consent/runtime.py and rights.py against a recording FakeMatrix and a real SQLite store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.consent import rights, runtime
from bot.consent.notices import NoticeSet, load_notices
from bot.context import BotContext
from bot.i18n import Catalog
from bot.ids import EventID, RoomID, UserID
from bot.store.consent import EventMeta, Intake
from tests.support import REPO, FakeMatrix, make_context

CLIENT = UserID("@client:example.org")
OTHER = UserID("@other:example.org")
WORKER = UserID("@worker:example.org")
ADMIN = UserID("@admin:example.org")
TEAM = RoomID("!team:example.org")
ADMIN_ROOM = RoomID("!admin:example.org")
ROOM = RoomID("!intake-client:example.org")
OTHER_ROOM = RoomID("!intake-other:example.org")

CATALOG = Catalog("de")
SHIPPED_VERSION = load_notices(REPO / "policies" / "consent", ("de", "en")).version
UNFILLED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_EVENTS = itertools.count(1)


def de(key: str, **values: str) -> str:
    return CATALOG.text("de", key, **values)


def en(key: str, **values: str) -> str:
    return CATALOG.text("en", key, **values)


@dataclass
class Env:
    ctx: BotContext
    matrix: FakeMatrix

    async def intake(self, room: RoomID = ROOM) -> Intake:
        intake = await self.ctx.consent.intake_by_room(room)
        assert intake is not None
        return intake

    async def says(self, text: str, room: RoomID = ROOM) -> EventID:
        """The client writes ``text`` in the intake room."""
        event = EventID(f"$ev{next(_EVENTS)}")
        await runtime.on_text(self.ctx, await self.intake(room), text, event)
        return event

    def last_to(self, room: RoomID) -> str:
        texts = self.matrix.texts_to(room)
        assert texts, f"nothing was sent to {room}"
        return texts[-1]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ctx, matrix, db = await make_context(
        tmp_path, workers=[WORKER], admins=[ADMIN], rooms={"team": TEAM, "admin": ADMIN_ROOM}
    )
    db._batch_window = 0.0  # commit each awaited write at once: the flow awaits every write
    try:
        yield Env(ctx, matrix)
        # Whatever a test did: no text went out with a placeholder left unfilled.
        for sent in matrix.sent:
            assert not UNFILLED.search(sent.body), (sent.room_id, sent.body)
    finally:
        await db.close()


async def client_started(env: Env, client: UserID = CLIENT, room: RoomID = ROOM) -> Intake:
    return await runtime.start_intake(
        env.ctx, room, client, worker=None, notify_room=None, client_present=True
    )


async def worker_started(env: Env, client: UserID = CLIENT, room: RoomID = ROOM) -> Intake:
    intake = await runtime.start_intake(
        env.ctx, room, client, worker=WORKER, notify_room=TEAM, client_present=False
    )
    await runtime.client_joined(env.ctx, intake, f"join-{room}")
    return intake


async def consented(env: Env, client: UserID = CLIENT, room: RoomID = ROOM) -> Intake:
    """A client with a worker, consent given, consultation room open."""
    await worker_started(env, client, room)
    for answer in ("1", "ja", "ja"):
        await env.says(answer, room)
    intake = await env.intake(room)
    assert intake.state == "active"
    assert intake.consultation_room is not None
    return intake


# --- starting an intake --------------------------------------------------------------------


async def test_client_started_intake_sends_menu_and_tells_the_team(env: Env) -> None:
    intake = await client_started(env)
    assert (intake.state, intake.worker, intake.notify_room) == ("language", None, TEAM)
    menu = env.matrix.texts_to(ROOM)
    assert len(menu) == 1
    lines = menu[0].splitlines()
    # No words before a language is chosen; each language by its own name, with "write N" in it.
    assert lines[:3] == ["👋 🌐", "1. Deutsch – Hallo! Schreib 1", "2. English – Hello! Write 2"]
    # A right-to-left entry is isolated, so that its number and words keep their order.
    assert lines[3] == "3. \u2067العربية – مرحبًا! اكتب 3\u2069"
    assert lines[5:] == [
        "5. Українська – Вітаю! Напишіть 5",
        "6. Русский – Здравствуйте! Напишите 6",
        "7. Türkçe – Merhaba! 7 yazın",
        "8. Leichte Sprache – Hallo! Schreib 8",
    ]
    assert env.matrix.texts_to(TEAM) == [de("notify.new_intake", n=str(intake.intake_id))]
    # The team hears that there is someone, never who.
    assert CLIENT not in env.matrix.texts_to(TEAM)[0]
    assert intake.subject == env.ctx.subject(CLIENT)
    assert await env.ctx.person(intake.subject) == CLIENT  # kept sealed, to invite later
    assert env.matrix.created == []


async def test_worker_started_intake_waits_for_the_client(env: Env) -> None:
    intake = await runtime.start_intake(
        env.ctx, ROOM, CLIENT, worker=WORKER, notify_room=TEAM, client_present=False
    )
    assert intake.state == "waiting"
    assert intake.worker == env.ctx.subject(WORKER)
    assert env.matrix.sent == []  # no menu before the client is there; the worker knows already
    await runtime.client_joined(env.ctx, intake, "join")
    assert (await env.intake()).state == "language"
    assert env.matrix.texts_to(ROOM)[0].splitlines()[1] == "1. Deutsch – Hallo! Schreib 1"
    # A second join event changes nothing.
    await runtime.client_joined(env.ctx, await env.intake(), "join-again")
    assert len(env.matrix.texts_to(ROOM)) == 1


async def test_german_consent_is_recorded(env: Env) -> None:
    await client_started(env)
    await env.says("1")
    assert env.last_to(ROOM) == de("intake.age.question", age="16")
    await env.says("ja")
    question = env.last_to(ROOM)
    assert question.endswith(de("intake.consent.question"))
    assert (await env.intake()).question_event is not None
    event = await env.says("ja")

    subject = env.ctx.subject(CLIENT)
    history = await env.ctx.consent.history(subject)
    assert len(history) == 1
    entry = history[0]
    assert (entry.scope, entry.decision, entry.method) == ("client", "given", "text")
    assert entry.notice_version == SHIPPED_VERSION == env.ctx.consent_notices.get().version
    assert (entry.language, entry.purpose, entry.by_other) == ("de", "counselling", False)
    assert entry.event_id == event
    intake = await env.intake()
    assert (intake.state, intake.minor) == ("active", False)
    # No worker yet: the client waits, the team is told; no room with anybody.
    assert env.last_to(ROOM) == de("intake.consent.waiting_for_worker")
    assert env.last_to(TEAM) == de("notify.ready_unclaimed", n=str(intake.intake_id))
    assert env.matrix.created == []


async def test_english_consent_needs_english_words(env: Env) -> None:
    await client_started(env)
    await env.says("2")  # English, second in the menu
    assert await env.ctx.state.language(env.ctx.subject(CLIENT)) == "en"
    assert env.last_to(ROOM) == en("intake.age.question", age="16")
    await env.says("yes")
    assert env.last_to(ROOM).endswith(en("intake.consent.question"))
    await env.says("ja")  # German "yes" is no answer in English
    assert env.last_to(ROOM) == en("intake.consent.again")
    assert await env.ctx.consent.history(env.ctx.subject(CLIENT)) == []
    await env.says("Yes!")
    [entry] = await env.ctx.consent.history(env.ctx.subject(CLIENT))
    assert (entry.decision, entry.language, entry.method) == ("given", "en", "text")


async def test_full_text_on_request(env: Env) -> None:
    await client_started(env)
    await env.says("1")
    await env.says("ja")
    await env.says("volltext")
    full_and_question = env.matrix.texts_to(ROOM)[-2:]
    assert full_and_question[0].startswith("**Datenschutzhinweis")
    assert full_and_question[1].endswith(de("intake.consent.question"))
    assert (await env.intake()).state == "consent"


async def test_consent_with_worker_opens_a_room(env: Env) -> None:
    intake = await consented(env)
    [created] = env.matrix.created
    assert created["room_id"] == intake.consultation_room
    assert created["invite"] == [WORKER, CLIENT]
    assert created["moderators"] == [WORKER]
    assert created["is_direct"] is False
    assert created["name"] == de("room.consultation.name", n=str(intake.intake_id))
    assert await env.ctx.state.room_kind(created["room_id"]) == "consultation"
    assert env.last_to(ROOM) == de("intake.room_ready")
    assert env.last_to(TEAM) == de("notify.room_ready", n=str(intake.intake_id))
    [entry] = await env.ctx.consent.history(env.ctx.subject(CLIENT))
    assert (entry.decision, entry.method) == ("given", "text")


async def test_number_answer_is_recorded_as_number(env: Env) -> None:
    await worker_started(env)
    for answer in ("1", "1", "1."):
        await env.says(answer)
    [entry] = await env.ctx.consent.history(env.ctx.subject(CLIENT))
    assert (entry.decision, entry.method) == ("given", "number")
    assert len(env.matrix.created) == 1


async def test_no_is_declined_and_opens_nothing(env: Env) -> None:
    intake = await worker_started(env)
    for answer in ("1", "ja", "nein"):
        await env.says(answer)
    [entry] = await env.ctx.consent.history(env.ctx.subject(CLIENT))
    assert (entry.decision, entry.method) == ("declined", "text")
    assert (await env.intake()).state == "declined"
    assert env.matrix.created == []
    assert env.matrix.power == {}
    assert env.last_to(TEAM) == de("notify.declined", n=str(intake.intake_id))
    assert de("intake.declined", other_channels="x").split("x")[0] in env.matrix.texts_to(ROOM)[-1]


async def test_garbage_is_asked_again_without_recording(env: Env) -> None:
    await worker_started(env)
    await env.says("1")
    await env.says("ja")
    sent = len(env.matrix.sent)
    for unclear in ("hä", "ja?", "OK 👍", "y"):
        await env.says(unclear)
        assert env.matrix.texts_to(ROOM)[-1] == de("intake.consent.again")
    assert len(env.matrix.sent) == sent + 4
    assert await env.ctx.consent.history(env.ctx.subject(CLIENT)) == []
    assert (await env.intake()).state == "consent"
    assert env.matrix.created == []


async def test_a_question_before_consent_reaches_the_team_and_a_worker_answers(env: Env) -> None:
    intake = await worker_started(env)
    await env.says("1")
    await env.says("ja")
    await env.says("ja, aber was passiert mit meinen Fotos?")
    assert env.last_to(ROOM) == de("intake.consent.question_forwarded")
    question = "ja, aber was passiert mit meinen Fotos?"
    assert env.last_to(TEAM) == de("notify.question", n=str(intake.intake_id), question=question)
    assert (await env.intake()).state == "consent"
    assert await env.ctx.consent.history(intake.subject) == []
    await handle_message(env.ctx, COMMANDS, sender=WORKER, room_id=TEAM, room_kind="team", body="!bestätigen")
    reply = await handle_message(
        env.ctx,
        COMMANDS,
        sender=WORKER,
        room_id=TEAM,
        room_kind="team",
        body=f"!antwort {intake.intake_id} Die Fotos sieht nur deine Fachkraft.",
    )
    assert reply is not None and reply.text == de("intake.answer.sent", n=str(intake.intake_id))
    texts = env.matrix.texts_to(ROOM)
    assert texts[-2] == de("intake.answer_from_team", answer="Die Fotos sieht nur deine Fachkraft.")
    assert texts[-1] == de("intake.consent.again_after_answer")
    # A ✅ on the re-ask counts like one on the question.
    fresh = await env.intake()
    assert fresh.reask_event is not None
    await runtime.on_reaction(env.ctx, fresh, "✅", fresh.reask_event, EventID("$r9"))
    [entry] = await env.ctx.consent.history(intake.subject)
    assert (entry.decision, entry.method) == ("given", "reaction")


async def test_reaction_on_the_question_counts(env: Env) -> None:
    await worker_started(env)
    await env.says("1")
    await env.says("ja")
    intake = await env.intake()
    assert intake.question_event is not None
    # A reaction on some other message is ignored.
    await runtime.on_reaction(env.ctx, intake, "👍", EventID("$elsewhere"), EventID("$r1"))
    await runtime.on_reaction(env.ctx, intake, "❤️", intake.question_event, EventID("$r2"))
    assert await env.ctx.consent.history(intake.subject) == []
    # 👍 means "seen" as often as "yes": it is not explicit consent.
    await runtime.on_reaction(env.ctx, intake, "👍🏽", intake.question_event, EventID("$r3"))
    assert await env.ctx.consent.history(intake.subject) == []
    await runtime.on_reaction(env.ctx, intake, "✅", intake.question_event, EventID("$r4"))
    [entry] = await env.ctx.consent.history(intake.subject)
    assert (entry.decision, entry.method, entry.event_id) == ("given", "reaction", "$r4")
    assert len(env.matrix.created) == 1


async def test_minor_needs_the_guardian_then_the_room_opens(env: Env) -> None:
    intake = await worker_started(env)
    for answer in ("1", "nein", "ja"):
        await env.says(answer)
    intake = await env.intake()
    assert (intake.state, intake.minor) == ("guardian", True)
    assert env.matrix.created == []
    assert env.last_to(TEAM) == de("notify.guardian_needed", n=str(intake.intake_id), age="16")
    assert await runtime.guardian_confirmed(env.ctx, intake, WORKER, "$g1")
    history = await env.ctx.consent.history(intake.subject)
    assert [(e.scope, e.decision, e.by_other) for e in history] == [
        ("client", "given", False),
        ("guardian", "confirmed", True),
    ]
    assert (await env.intake()).state == "active"
    assert len(env.matrix.created) == 1
    # Only once.
    assert not await runtime.guardian_confirmed(env.ctx, await env.intake(), WORKER, "$g2")


async def test_claiming_after_consent_opens_the_room(env: Env) -> None:
    await client_started(env)
    for answer in ("1", "ja", "ja"):
        await env.says(answer)
    assert env.matrix.created == []
    await runtime.worker_claims(env.ctx, await env.intake(), WORKER, TEAM, "$claim")
    [created] = env.matrix.created
    assert created["invite"] == [WORKER, CLIENT]
    assert (await env.intake()).worker == env.ctx.subject(WORKER)


async def test_withdraw_closes_the_consultation_room(env: Env) -> None:
    intake = await consented(env)
    room = intake.consultation_room
    assert room is not None
    await runtime.withdraw(env.ctx, intake, "$w0")
    assert env.last_to(ROOM) == de("withdraw.confirm")
    assert room not in env.matrix.power  # asked first: nothing closed yet
    await env.says("nein")
    assert env.last_to(ROOM) == de("withdraw.cancelled")
    await runtime.withdraw(env.ctx, await env.intake(), "$w0b")
    await env.says("ja")
    assert env.matrix.power[room] == {"events_default": 100}
    assert env.last_to(room) == de("room.closed")
    history = await env.ctx.consent.history(intake.subject)
    assert [(e.decision, e.method) for e in history] == [("given", "text"), ("withdrawn", "command")]
    assert (await env.intake()).state == "withdrawn"
    assert env.last_to(ROOM) == de("withdraw.done")
    assert env.last_to(TEAM) == de("notify.withdrawn", n=str(intake.intake_id))
    # Withdrawing again: nothing to withdraw.
    await runtime.withdraw(env.ctx, await env.intake(), "$w2")
    assert env.last_to(ROOM) == de("withdraw.nothing")
    assert len(await env.ctx.consent.history(intake.subject)) == 2


async def test_withdraw_command_in_the_intake_room(env: Env) -> None:
    intake = await consented(env)
    reply = await handle_message(
        env.ctx, COMMANDS, sender=CLIENT, room_id=ROOM, room_kind="intake", body="stopp"
    )
    assert reply is None  # the runtime answered by itself
    assert env.last_to(ROOM) == de("withdraw.confirm")
    # The command again confirms it.
    await handle_message(env.ctx, COMMANDS, sender=CLIENT, room_id=ROOM, room_kind="intake", body="widerruf")
    assert intake.consultation_room in env.matrix.power
    # Somebody else in a room that is not theirs cannot.
    other = await handle_message(
        env.ctx, COMMANDS, sender=OTHER, room_id=ROOM, room_kind="intake", body="widerruf"
    )
    assert other is not None
    assert other.text == de("rights.not_yours")


async def test_new_notice_version_asks_again(env: Env) -> None:
    intake = await consented(env)
    # The organisation publishes a new notice version (as a reload would).
    env.ctx.consent_notices.current = NoticeSet("99", env.ctx.consent_notices.get().by_language)
    assert await runtime.remind_outdated_consent(env.ctx, intake, "$m1")
    assert env.last_to(intake.consultation_room) == de("room.reconsent_pending")  # type: ignore[arg-type]
    assert (await env.intake()).state == "consent"
    await env.says("ja")
    history = await env.ctx.consent.history(intake.subject)
    assert [(e.decision, e.notice_version) for e in history] == [("given", SHIPPED_VERSION), ("given", "99")]
    assert env.last_to(ROOM) == de("intake.consent.renewed")
    assert len(env.matrix.created) == 1  # the same room goes on


# --- access (Art. 15) ----------------------------------------------------------------------


def _events(sender: str, room: RoomID, n: int, *, tag: str, media: tuple[str, ...] = ()) -> list[EventMeta]:
    base = 1_700_000_000_000
    return [
        EventMeta(
            EventID(f"${tag}{i}"), room, sender, base + i * 60_000, "m.room.message", media if i == 0 else ()
        )
        for i in range(n)
    ]


async def the_receipt(env: Env) -> dict[str, object]:
    """The one erasure receipt of a test (after completion it no longer carries the pseudonym)."""
    [row] = await env.ctx.consent.db.fetchall("SELECT * FROM erasure_receipt")
    return dict(row)


async def two_clients_with_messages(env: Env) -> tuple[Intake, Intake]:
    mine = await consented(env, CLIENT, ROOM)
    theirs = await consented(env, OTHER, OTHER_ROOM)
    env.matrix.uploaders.update({"mxc://example.org/mine": CLIENT, "mxc://example.org/theirs": OTHER})
    assert mine.consultation_room and theirs.consultation_room
    me, them, worker = env.ctx.subject(CLIENT), env.ctx.subject(OTHER), env.ctx.subject(WORKER)
    await env.ctx.consent.record_events(
        [
            *_events(me, ROOM, 2, tag="mi", media=("mxc://example.org/mine",)),
            *_events(me, mine.consultation_room, 3, tag="mc"),
            *_events(worker, mine.consultation_room, 5, tag="wc"),
            *_events(them, theirs.consultation_room, 7, tag="tc", media=("mxc://example.org/theirs",)),
            *_events(them, OTHER_ROOM, 4, tag="ti"),
        ]
    )
    return mine, theirs


async def test_export_includes_own_messages_only_when_the_organisation_enables_it(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    assert mine.consultation_room is not None
    env.matrix.history_texts = [
        (ROOM, CLIENT, 1_000, "Hallo"),
        (mine.consultation_room, CLIENT, 2_000, "Meine Frage\nzweite Zeile"),
        (mine.consultation_room, WORKER, 3_000, "Antwort der Fachkraft"),
    ]
    assert "your_messages" not in await rights.collect(env.ctx, mine.subject)
    s = env.ctx.settings
    on = s.consent.model_copy(update={"export_messages": True})
    env.ctx.settings = s.model_copy(update={"consent": on})
    data = await rights.collect(env.ctx, mine.subject)
    assert [m["text"] for m in data["your_messages"]] == ["Hallo", "Meine Frage\nzweite Zeile"]
    assert "_id" not in json.dumps(data) and "Antwort der Fachkraft" not in json.dumps(data)
    text = rights.readable(env.ctx, data, "de")
    assert "Einzelchat mit Lotse: Hallo" in text and "    zweite Zeile" in text
    # Read at request time, never stored: the database has no trace of the text.
    rows = await env.ctx.consent.db.fetchall("SELECT * FROM event_meta")
    assert "Meine Frage" not in repr([tuple(r) for r in rows])


async def test_collect_returns_only_the_requesters_data(env: Env) -> None:
    mine, theirs = await two_clients_with_messages(env)
    data = await rights.collect(env.ctx, mine.subject)
    dump = json.dumps(data, ensure_ascii=False)

    assert sorted((r["kind"], r["messages"]) for r in data["rooms"]) == [("consultation", 3), ("intake", 2)]
    assert [i["number"] for i in data["intakes"]] == [mine.intake_id]
    assert [(e["scope"], e["decision"]) for e in data["consent_history"]] == [("client", "given")]
    assert data["controller"] == env.ctx.settings.organisation.name
    # Attributable: whose data, made when, every room by name, the notice text's checksum.
    assert data["person"] == CLIENT and data["generated"]
    assert {r["name"] for r in data["rooms"]} == {"Einzelchat mit Lotse", f"Fall {mine.intake_id}"}
    [given] = data["consent_history"]
    assert given["language"] == "de" and len(given["notice_sha256"]) == 64
    assert data["intakes"][0]["age_at_least_minimum"] in (True, None)
    text = rights.readable(env.ctx, data, "de")
    assert CLIENT in text and "Einzelchat mit Lotse" in text and "Matrix-Server" in text
    # Nothing about anybody else, and no other identifiers.
    dump = dump.replace(json.dumps(CLIENT), "")
    forbidden = [
        theirs.subject,
        env.ctx.subject(WORKER),
        OTHER,
        WORKER,
        OTHER_ROOM,
        ROOM,
        mine.consultation_room,
        theirs.consultation_room,
        "mxc://",
        "$tc",
        "$wc",
    ]
    for value in forbidden:
        assert value and value not in dump, value
    assert all(r["messages"] not in (4, 5, 7, 8, 12) for r in data["rooms"])


async def test_collect_for_nobody_is_empty(env: Env) -> None:
    await two_clients_with_messages(env)
    data = await rights.collect(env.ctx, env.ctx.subject(UserID("@nobody:example.org")))
    assert (data["rooms"], data["intakes"], data["consent_history"], data["erasures"]) == ([], [], [], [])


async def test_export_sends_json_and_text(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    reply = await handle_message(
        env.ctx,
        COMMANDS,
        sender=CLIENT,
        room_id=ROOM,
        room_kind="intake",
        body="meine-daten",
        event_id=EventID("$x1"),
    )
    assert reply is None
    files = [s for s in env.matrix.sent if s.filename is not None]
    assert [f.room_id for f in files] == [ROOM, ROOM]
    json_file, text_file = files
    assert json_file.filename and json_file.filename.endswith(".json")
    assert text_file.filename and text_file.filename.endswith(".txt")
    assert json_file.data is not None and text_file.data is not None
    exported = json.loads(json_file.data)
    expected = await rights.collect(env.ctx, mine.subject)
    exported.pop("generated")
    expected.pop("generated")
    # This very request is in the log now, answered: the next export lists it.
    assert exported.pop("rights_requests") == []
    assert [r["kind"] for r in expected.pop("rights_requests")] == ["access"]
    assert exported == expected
    readable = text_file.data.decode()
    assert readable.startswith(de("export.title", organisation=env.ctx.settings.organisation.name))
    assert de("decision.given") in readable
    assert not UNFILLED.search(readable)
    assert env.ctx.subject(OTHER) not in readable
    assert de("export.sending") in env.matrix.texts_to(ROOM)


# --- erasure (Art. 17) ---------------------------------------------------------------------


async def _count(env: Env, table: str, subject: str, column: str = "subject") -> int:
    db = env.ctx.consent.db
    return int(await db.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = ?", (subject,)))  # noqa: S608


async def test_erase_redacts_only_the_requesters_events(env: Env) -> None:
    mine, theirs = await two_clients_with_messages(env)
    assert mine.consultation_room is not None
    await rights.erase(env.ctx, mine, "$erase1")

    mine_events = {(ROOM, EventID(f"$mi{i}")) for i in range(2)} | {
        (mine.consultation_room, EventID(f"$mc{i}")) for i in range(3)
    }
    assert set(env.matrix.redacted) == mine_events
    assert len(env.matrix.redacted) == 5
    assert env.matrix.deleted_media == ["mxc://example.org/mine"]

    # Complete: the receipt no longer carries the person's (recomputable) pseudonym.
    assert await env.ctx.consent.receipts(mine.subject) == []
    receipt = await the_receipt(env)
    assert str(receipt["subject"]).startswith("erased-")
    assert (receipt["redacted"], receipt["media_deleted"], receipt["held_rooms"], receipt["failures"]) == (
        5,
        1,
        0,
        0,
    )
    assert receipt["held_until"] is None
    # Nothing held: every record about the requester is gone, the others' are all there.
    for table in ("consent_log", "intake", "person", "user_pref"):
        assert await _count(env, table, mine.subject) == 0, table
        assert await _count(env, table, theirs.subject) > 0, table
    assert await _count(env, "event_meta", mine.subject, "sender") == 0
    assert await _count(env, "event_meta", theirs.subject, "sender") == 11
    assert await _count(env, "event_meta", env.ctx.subject(WORKER), "sender") == 5

    date = dt.datetime.fromtimestamp(receipt["requested_at"] / 1000, dt.UTC).date().isoformat()
    assert env.matrix.texts_to(ADMIN_ROOM) == [
        de(
            "erase.protocol",
            receipt=str(receipt["seq"]),
            date=date,
            redacted="5",
            media="1",
            failures="0",
        )
    ]
    # The protocol names nobody, not even by a pseudonym's prefix that logs might show.
    assert mine.subject[:6] not in env.matrix.texts_to(ADMIN_ROOM)[0]
    told = env.last_to(ROOM)
    assert told.startswith(de("erase.done", redacted="5", media="1"))
    assert told.endswith(de("erase.limits"))
    assert de("erase.held", until="x").split("x")[0] not in told
    assert env.matrix.power[mine.consultation_room] == {"events_default": 100}
    assert theirs.consultation_room not in env.matrix.power
    assert de("notify.erased", n=str(mine.intake_id)) in env.matrix.texts_to(TEAM)


async def test_erase_respects_a_legal_hold(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    held_room = mine.consultation_room
    assert held_room is not None
    until = dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    await env.ctx.consent.set_hold(held_room, int(until.timestamp() * 1000), env.ctx.subject(ADMIN))
    await rights.erase(env.ctx, mine, "$erase2")

    assert set(env.matrix.redacted) == {(ROOM, EventID(f"$mi{i}")) for i in range(2)}
    assert all(room != held_room for room, _ in env.matrix.redacted)
    [receipt] = await env.ctx.consent.receipts(mine.subject)
    assert (receipt["redacted"], receipt["held_rooms"]) == (2, 1)
    assert receipt["held_until"] == int(until.timestamp() * 1000)
    # The held room's metadata stays (it is needed to erase later), and with it the intake.
    assert await _count(env, "event_meta", mine.subject, "sender") == 3
    assert await _count(env, "consent_log", mine.subject) == 0
    assert await _count(env, "intake", mine.subject) == 1
    told = env.last_to(ROOM)
    assert de("erase.held", until="2099-12-31") in told
    protocol = env.last_to(ADMIN_ROOM)
    assert "2099-12-31" in protocol


async def test_expired_hold_does_not_hold(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    assert mine.consultation_room is not None
    await env.ctx.consent.set_hold(mine.consultation_room, 1_000, env.ctx.subject(ADMIN))
    await rights.erase(env.ctx, mine, "$erase3")
    assert len(env.matrix.redacted) == 5
    assert await _count(env, "intake", mine.subject) == 0


async def test_erase_reports_redactions_the_server_refused(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    env.matrix.refuse_redaction_in = {ROOM}
    await rights.erase(env.ctx, mine, "$erase4")
    [receipt] = await env.ctx.consent.receipts(mine.subject)
    assert (receipt["redacted"], receipt["failures"], receipt["held_rooms"]) == (3, 2, 1)
    assert de("erase.retrying", failures="2") in env.last_to(ROOM)
    protocol = env.matrix.texts_to(ADMIN_ROOM)[-1]
    assert "nicht gelöscht; neuer Versuch ab" in protocol
    # Not forgotten: the refused ones are kept and tried again once their time has come.
    assert await rights.resume_postponed_erasures(env.ctx) == 0  # not yet
    env.matrix.refuse_redaction_in = set()
    await env.ctx.consent.db.write("UPDATE erasure_pending SET not_before = 0")  # as if an hour passed
    assert await rights.resume_postponed_erasures(env.ctx) == 1
    receipt = await the_receipt(env)
    assert (receipt["redacted"], receipt["failures"], receipt["held_rooms"]) == (5, 0, 0)
    assert str(receipt["subject"]).startswith("erased-")  # complete now: unlinked
    for table in ("consent_log", "intake", "person"):
        assert await _count(env, table, mine.subject) == 0, table


async def test_erase_waits_for_a_documentation_duty(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    env.ctx.policies.current.policies["beratung"] = dataclasses.replace(
        env.ctx.policies.current.policies["beratung"], min_age=dt.timedelta(days=365 * 200)
    )
    await rights.erase(env.ctx, mine, "$erase6")
    [receipt] = await env.ctx.consent.receipts(mine.subject)
    # Counselling rooms and the intake chat must keep their messages (a long duty): nothing goes yet.
    assert receipt["redacted"] == 0 and receipt["held_rooms"] == 2 and receipt["held_until"] is not None
    assert "Dokumentationspflicht" in env.matrix.texts_to(ADMIN_ROOM)[-1]
    assert await rights.resume_postponed_erasures(env.ctx) == 0


async def test_erase_has_the_server_redact_as_the_client_where_the_bot_may_not(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    env.matrix.refuse_redaction_in = {ROOM}
    refused = [e.event_id for e in await env.ctx.consent.events_of(mine.subject, [ROOM])]
    env.matrix.as_user_fails = {refused[0]}
    await rights.erase(env.ctx, mine, "$erase5")
    # Only the rooms where the bot was refused, never an empty list ("all rooms" to Synapse).
    assert env.matrix.as_user_calls == [(CLIENT, [ROOM])]
    [receipt] = await env.ctx.consent.receipts(mine.subject)
    assert (receipt["redacted"], receipt["failures"]) == (4, 1)
    assert de("erase.retrying", failures="1") in env.last_to(ROOM)


async def test_delete_command_asks_first_and_no_cancels(env: Env) -> None:
    await consented(env)
    reply = await handle_message(
        env.ctx, COMMANDS, sender=CLIENT, room_id=ROOM, room_kind="intake", body="löschen"
    )
    assert reply is not None and reply.text == de("erase.confirm")
    intake = await env.intake()
    assert (intake.state, intake.prior_state) == ("erase_confirm", "active")
    await env.says("nein")
    assert env.last_to(ROOM) == de("erase.cancelled")
    assert (await env.intake()).state == "active"
    assert env.matrix.redacted == []
    assert await env.ctx.consent.receipts(intake.subject) == []


async def test_delete_command_then_yes_erases(env: Env) -> None:
    intake = await consented(env)
    await env.ctx.consent.record_events(_events(intake.subject, ROOM, 2, tag="d"))
    await handle_message(env.ctx, COMMANDS, sender=CLIENT, room_id=ROOM, room_kind="intake", body="loeschen")
    await env.says("ja")
    assert len(env.matrix.redacted) == 2
    assert (await the_receipt(env))["redacted"] == 2
    assert await env.ctx.consent.intake_by_room(ROOM) is None


async def test_after_erasure_with_hold_next_message_is_not_a_cancellation(env: Env) -> None:
    intake = await consented(env)
    assert intake.consultation_room is not None
    await env.ctx.consent.set_hold(intake.consultation_room, 4_102_444_799_000, env.ctx.subject(ADMIN))
    await handle_message(env.ctx, COMMANDS, sender=CLIENT, room_id=ROOM, room_kind="intake", body="löschen")
    await env.says("ja")
    assert await env.ctx.consent.receipts(intake.subject)
    # The kept intake (its room is held) must not still wait for a confirmation.
    await env.says("danke")
    assert env.last_to(ROOM) != de("erase.cancelled")
    after = await env.ctx.consent.intake_by_room(ROOM)
    assert after is None or after.state != "active"
    assert len(await env.ctx.consent.receipts(intake.subject)) == 1  # no second erasure


async def test_export_is_never_sent_into_an_unencrypted_room(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    env.matrix.unencrypted = {ROOM}
    await rights.send_export(env.ctx, mine, "$x9")
    assert not [s for s in env.matrix.sent if s.filename is not None]
    assert env.last_to(ROOM) == de("export.not_encrypted")


async def test_exports_are_limited_per_day_with_a_polite_answer(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    for i in range(rights.EXPORTS_PER_DAY + 1):
        await rights.send_export(env.ctx, mine, f"$exp{i}")
    files = [s for s in env.matrix.sent if s.filename is not None]
    assert len(files) == 2 * rights.EXPORTS_PER_DAY
    assert env.last_to(ROOM) == de("export.limit", n=str(rights.EXPORTS_PER_DAY))


async def test_delete_after_an_unconfirmed_withdrawal_erases(env: Env) -> None:
    intake = await consented(env)
    await runtime.withdraw(env.ctx, intake, "$w-first")
    assert (await env.intake()).pending == "withdraw"
    await handle_message(env.ctx, COMMANDS, sender=CLIENT, room_id=ROOM, room_kind="intake", body="löschen")
    await env.says("ja")
    assert await env.ctx.consent.intake_by_room(ROOM) is None  # erased, not merely withdrawn
    assert (await the_receipt(env))["subject"]


async def test_a_reaction_on_an_old_reask_does_not_count_for_a_new_question(env: Env) -> None:
    await worker_started(env)
    await env.says("1")
    await env.says("ja")
    await env.says("hä")  # re-ask
    old_reask = (await env.intake()).reask_event
    assert old_reask is not None
    await env.says("volltext")  # the question is asked anew
    fresh = await env.intake()
    assert fresh.reask_event is None
    await runtime.on_reaction(env.ctx, fresh, "✅", old_reask, EventID("$late"))
    assert await env.ctx.consent.history(fresh.subject) == []


async def test_no_new_conversation_while_an_erasure_still_waits(env: Env) -> None:
    intake = await consented(env)
    assert intake.consultation_room is not None
    await env.ctx.consent.set_hold(intake.consultation_room, 4_102_444_799_000, env.ctx.subject(ADMIN))
    await rights.erase(env.ctx, intake, "$erase-held")
    await env.says("hallo, ich möchte neu anfangen")
    assert env.last_to(ROOM) == de("intake.erasing")
    assert await env.ctx.consent.history(intake.subject) == []  # no new consent asked or given


async def test_a_resumed_erasure_still_honours_a_documentation_duty(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    assert mine.consultation_room is not None
    await env.ctx.consent.set_hold(mine.consultation_room, 4_102_444_799_000, env.ctx.subject(ADMIN))
    await rights.erase(env.ctx, mine, "$erase-duty")
    redacted = len(env.matrix.redacted)
    await env.ctx.consent.lift_hold(mine.consultation_room)  # the hold ends …
    env.ctx.policies.current.policies["beratung"] = dataclasses.replace(
        env.ctx.policies.current.policies["beratung"], min_age=dt.timedelta(days=365 * 200)
    )  # … but a documentation duty binds now
    assert await rights.resume_postponed_erasures(env.ctx) == 0
    assert len(env.matrix.redacted) == redacted
    assert await env.ctx.consent.pending_reason(mine.subject, mine.consultation_room) == "min_age"


async def test_a_file_the_server_did_not_delete_is_tried_again(env: Env) -> None:
    mine, _ = await two_clients_with_messages(env)
    env.matrix.refuse_media_files = {"mxc://example.org/mine"}
    await rights.erase(env.ctx, mine, "$erase-file")
    assert env.matrix.deleted_media == []
    assert await env.ctx.consent.pending_reason(mine.subject, ROOM) == "retry"
    env.matrix.refuse_media_files = set()
    await env.ctx.consent.db.write("UPDATE erasure_pending SET not_before = 0")
    assert await rights.resume_postponed_erasures(env.ctx) == 1
    assert env.matrix.deleted_media == ["mxc://example.org/mine"]
    receipt = await the_receipt(env)
    assert (receipt["media_deleted"], receipt["failures"], receipt["held_rooms"]) == (1, 0, 0)

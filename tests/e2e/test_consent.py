"""Consent end to end: intake, consent, consultation room, withdrawal, access, erasure."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.i18n import Catalog
from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona

pytestmark = pytest.mark.e2e

CAT = Catalog("de")
REPO = Path(__file__).resolve().parents[2]
OTHER_CHANNELS = "Telefon 0123-456 (Mo–Fr 9–16 Uhr)"


def frag(lang: str, key: str) -> str:
    """The catalog text up to its first placeholder: what a test can look for."""
    return CAT.text(lang, key).split("{")[0].strip().splitlines()[0]


@dataclass
class Org:
    bot: BotHarness
    worker: Persona
    client: Persona
    admin: Persona
    team: str
    admin_room: str
    policies: Path

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.bot.data_dir / "lotse.db")

    def consent_rows(self) -> list[tuple[str, str, str, str]]:
        with self.db() as db:
            return db.execute(
                "SELECT scope, decision, method, notice_version FROM consent_log ORDER BY seq"
            ).fetchall()


@pytest.fixture
async def org(bot: BotHarness, persona: PersonaFactory, tmp_path: Path) -> AsyncIterator[Org]:
    worker, client, admin = await persona("worker"), await persona("client"), await persona("admin")
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    admin_room = await admin.create_room(invite=[bot.user_id], name="Admin")
    bot.workers = [worker.user_id]
    bot.admins = [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room}
    bot.extra = {
        "policies_dir": policies,
        "consent": {"minimum_age": 16, "retention_days": 90},
        "organisation": {"name": "Beratung Nord", "other_channels": OTHER_CHANNELS},
    }
    await bot.start()
    await worker.wait_for_member(team, bot.user_id, "join")
    await admin.wait_for_member(admin_room, bot.user_id, "join")
    yield Org(bot, worker, client, admin, team, admin_room, policies)


async def command(p: Persona, room: str, bot: str, text: str, timeout: float = 30.0) -> str:
    """Send a command and return the bot's threaded reply."""
    event = await p.send(room, text)
    replies = await p.wait_for(
        lambda: [m for m in p.from_user(room, bot) if m.in_reply_to == event], timeout, f"reply to {text}"
    )
    return str(replies[0].body)


async def acknowledge_rules(org: Org) -> None:
    reply = await command(org.worker, org.team, org.bot.user_id, "!bestätigen")
    assert frag("de", "rules.acknowledged") in reply


async def self_intake(org: Org, language: str = "1") -> str:
    """The client writes to the bot on their own and picks a language; returns the intake room."""
    room = await org.client.create_room(invite=[org.bot.user_id], direct=True)
    await org.client.wait_for_text(room, org.bot.user_id, "1. Deutsch")
    await org.client.send(room, language)
    return room


async def test_self_started_intake_consent_claim_and_room(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room = await self_intake(org, "2")  # English
    # The team hears of a new anonymous intake, with nothing to read.
    await worker.wait_for_text(org.team, bot, frag("de", "notify.new_intake"))
    await client.wait_for_text(room, bot, "Are you 16 years or older?")
    await client.send(room, "yes")
    question = await client.wait_for_text(room, bot, frag("en", "intake.consent.question"))
    # The period comes from the retention policy for consultation rooms (policies/default.toml).
    assert "Beratung Nord" in question.body and "180 days" in question.body
    await client.send(room, "maybe later")
    await client.wait_for_text(room, bot, frag("en", "intake.consent.again"))
    await client.send(room, "full")
    await client.wait_for_text(room, bot, "Privacy notice (Art. 13 GDPR)")
    # Before consent, only the bot and the client are in the room.
    members = await client.client.joined_members(room)
    assert {m.user_id for m in members.members} == {bot, client.user_id}

    await client.send(room, "Yes!")
    await client.wait_for_text(room, bot, frag("en", "intake.consent.waiting_for_worker"))
    await worker.wait_for_text(org.team, bot, frag("de", "notify.ready_unclaimed"))
    assert org.consent_rows() == [("client", "given", "text", "1")]

    # Claiming needs the usage rules acknowledged first.
    reply = await command(worker, org.team, bot, "!übernehmen 1")
    assert frag("de", "rules.required") in reply
    await acknowledge_rules(org)
    reply = await command(worker, org.team, bot, "!übernehmen 1")
    assert frag("de", "intake.claim.done_open") in reply

    consultation = await worker.accept_invite_from(bot, exclude={org.team})
    assert await client.accept_invite_from(bot, exclude={room}) == consultation
    await client.wait_for_text(room, bot, frag("en", "intake.room_ready"))
    welcome = await client.wait_for_text(consultation, bot, "Welcome to your counselling room")
    assert welcome.encrypted and "180 days" in welcome.body
    # The worker moderates, the client talks.
    with org.db() as db:
        kind = db.execute("SELECT kind FROM room WHERE room_id = ?", (consultation,)).fetchone()
    assert kind == ("consultation",)
    state = await worker.client.room_get_state_event(consultation, "m.room.power_levels")
    assert state.content["users"].get(worker.user_id) == 50
    assert client.user_id not in state.content["users"]
    # Everything the bot said to this client was in English.
    assert all("Ich " not in m.body for m in client.from_user(room, bot) if "1. Deutsch" not in m.body)


async def test_an_intake_starts_only_in_a_private_encrypted_1to1(org: Org, persona: PersonaFactory) -> None:
    """``is_direct`` is the inviter's word: the bot checks the room itself, says why, and leaves."""
    bot, client, worker = org.bot.user_id, org.client, org.worker
    plain = await client.create_room(invite=[bot], direct=True, encrypted=False)
    said = await client.wait_for_text(plain, bot, "nicht verschlüsselt")
    assert not said.encrypted
    await client.wait_for_member(plain, bot, "leave")
    other = await persona("client")
    crowded = await client.create_room(invite=[bot, other.user_id], direct=True)
    await client.wait_for_text(crowded, bot, "noch andere Personen")
    await client.wait_for_member(crowded, bot, "leave")
    await worker.sync()
    assert not [m for m in worker.from_user(org.team, bot) if "Neue Anfrage" in m.body]
    with org.db() as db:
        assert db.execute("SELECT COUNT(*) FROM intake").fetchone() == (0,)
    # One conversation per person: a second 1:1 chat is pointed to the first one.
    first = await self_intake(org)
    second = await client.create_room(invite=[bot], direct=True)
    await client.wait_for_text(second, bot, "Du hast schon einen Chat mit mir")
    await client.wait_for_member(second, bot, "leave")
    with org.db() as db:
        assert db.execute("SELECT room_id FROM intake").fetchall() == [(first,)]


async def test_declining_keeps_nothing_and_tells_the_worker_only_that(org: Org) -> None:
    bot, client = org.bot.user_id, org.client
    room = await self_intake(org, "1")
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, "1")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.question"))
    secret = "Mein Geheimnis 4711 bitte nicht speichern"
    await client.send(room, secret)
    await client.wait_for_text(room, bot, frag("de", "intake.consent.again"))
    await client.send(room, "Nein.")
    declined = await client.wait_for_text(room, bot, frag("de", "intake.declined"))
    assert OTHER_CHANNELS in declined.body
    note = await org.worker.wait_for_text(org.team, bot, frag("de", "notify.declined"))
    assert secret not in note.body
    assert org.consent_rows() == [("client", "declined", "text", "1")]
    assert not client.invites, "no consultation room after a no"
    await org.bot.stop()
    # No message text anywhere in the bot's storage, WAL included.
    for path in org.bot.data_dir.rglob("*"):
        if path.is_file():
            assert b"Geheimnis 4711" not in path.read_bytes(), path


async def test_worker_started_intake_with_reaction_consent(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    await acknowledge_rules(org)
    reply = await command(worker, org.team, bot, f"!neu {client.user_id}")
    assert frag("de", "intake.new.created") in reply
    room = await client.accept_invite_from(bot)
    await client.wait_for_text(room, bot, "1. Deutsch")
    await client.send(room, "Deutsch")
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, "JA.")
    question = await client.wait_for_text(room, bot, frag("de", "intake.consent.question"))
    await client.react(room, question.event_id, "✅️")
    consultation = await client.accept_invite_from(bot, exclude={room})
    assert await worker.accept_invite_from(bot, exclude={org.team}) == consultation
    assert org.consent_rows() == [
        ("worker_rules", "acknowledged", "command", "1"),
        ("client", "given", "reaction", "1"),
    ]

    # Polite answers to bad input.
    assert frag("de", "intake.new.not_found") in await command(
        worker, org.team, bot, "!neu @niemand:localhost"
    )
    assert frag("de", "intake.new.not_found") in await command(worker, org.team, bot, "!neu niemand")
    assert frag("de", "intake.unknown") in await command(worker, org.team, bot, "!übernehmen 999")


async def worker_started_consent(org: Org, adult: str) -> str:
    """A worker starts an intake; the client picks German, answers the age question and says
    yes to the notice. Returns the intake room."""
    bot, client, worker = org.bot.user_id, org.client, org.worker
    await acknowledge_rules(org)
    await command(worker, org.team, bot, f"!neu {client.user_id}")
    room = await client.accept_invite_from(bot)
    await client.wait_for_text(room, bot, "1. Deutsch")
    await client.send(room, "1")
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, adult)
    await client.wait_for_text(room, bot, frag("de", "intake.consent.question"))
    await client.send(room, "ja")
    return room


async def test_a_question_is_not_consent_and_reaches_a_person(org: Org) -> None:
    """ "ja?", "OK 👍", 👍: no consultation room; a real question goes to the team and is answered."""
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room = await self_intake(org)
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, "ja")
    question = await client.wait_for_text(room, bot, frag("de", "intake.consent.question"))
    await client.react(room, question.event_id, "👍")
    for unclear in ("ja?", "OK 👍", "klar?", "y"):
        await client.send(room, unclear)
    await client.wait_for(
        lambda: len([m for m in client.from_user(room, bot) if m.body.startswith("Damit ich dich")]) == 4,
        what="four re-asks",
    )
    await client.send(room, "ja, aber was passiert mit meinen Fotos?")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.question_forwarded"))
    passed_on = await worker.wait_for_text(org.team, bot, "hat vor der Einwilligung eine Frage")
    assert "was passiert mit meinen Fotos?" in passed_on.body and client.user_id not in passed_on.body
    assert org.consent_rows() == []
    assert not [r for r in client.invites if r != room], "no consultation room without consent"

    await acknowledge_rules(org)
    reply = await command(worker, org.team, bot, "!antwort 1 Die Fotos sieht nur deine Fachkraft.")
    assert frag("de", "intake.answer.sent") in reply
    await client.wait_for_text(room, bot, "Antwort aus dem Team:\nDie Fotos sieht nur deine Fachkraft.")
    reask = await client.wait_for(
        lambda: [m for m in client.from_user(room, bot) if m.body.startswith("Wenn du so weit bist")],
        what="the question again after the answer",
    )
    # A ✅ on the re-ask counts like one on the question.
    await client.react(room, reask[0].event_id, "✅")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.waiting_for_worker"))
    assert org.consent_rows()[-1] == ("client", "given", "reaction", "1")


async def test_the_worker_can_remove_someone_invited_by_mistake(org: Org, persona: PersonaFactory) -> None:
    worker = org.worker
    _room, consultation = await open_consultation(org)
    stranger = await persona("stranger")
    gateway = org.bot.instance.gateway if org.bot.instance else None
    assert gateway is not None
    assert await gateway.invite(consultation, stranger.user_id)  # the wrong person, by mistake
    await worker.sync()
    kicked = await worker.client.room_kick(consultation, stranger.user_id, "falsch eingeladen")
    assert not hasattr(kicked, "status_code"), kicked
    # Power and encryption stay the bot's alone.
    state = await worker.client.room_get_state_event(consultation, "m.room.power_levels")
    levels = state.content
    assert levels["users"].get(worker.user_id) == 50 and levels["kick"] == 50
    assert levels["state_default"] == 100 and levels["invite"] == 100 and levels["ban"] == 100
    changed = await worker.client.room_put_state(
        consultation, "m.room.power_levels", {**levels, "users": {**levels["users"], worker.user_id: 100}}
    )
    assert getattr(changed, "status_code", None) == "M_FORBIDDEN"


async def test_minor_needs_guardian_confirmation(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room = await worker_started_consent(org, adult="nein")
    await client.wait_for_text(room, bot, "Weil du unter 16 bist")
    await worker.wait_for_text(org.team, bot, "Die Person ist unter 16")
    assert not client.invites or set(client.invites) == {room}
    # How the guardians consented is evidence: without it, the worker is told what to add.
    reply = await command(worker, org.team, bot, "!vormund 1")
    assert "!vormund 1 schriftlich, Akte 12" in reply
    reply = await command(worker, org.team, bot, "!vormund 1 schriftlich, Akte 7")
    assert frag("de", "intake.guardian.recorded") in reply
    await client.accept_invite_from(bot, exclude={room})
    with org.db() as db:
        rows = db.execute(
            "SELECT scope, decision, actor IS NOT NULL, note FROM consent_log ORDER BY seq"
        ).fetchall()
    assert rows[-2:] == [("client", "given", 0, None), ("guardian", "confirmed", 1, "schriftlich, Akte 7")]


async def open_consultation(org: Org) -> tuple[str, str]:
    """A worker-started intake through to an open consultation room: (intake room, consultation)."""
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room = await worker_started_consent(org, adult="ja")
    consultation = await client.accept_invite_from(bot, exclude={room})
    await worker.accept_invite_from(bot, exclude={org.team})
    await client.wait_for_text(consultation, bot, "Willkommen in eurem Beratungsraum")
    await worker.sync()
    return room, consultation


async def test_a_workers_overview_shows_what_is_unanswered(org: Org, persona: PersonaFactory) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room, consultation = await open_consultation(org)
    await worker.send(consultation, "Hallo, wie geht es?")
    for text in ("Gut, danke", "Ich habe noch eine Frage"):
        await client.send(consultation, text)
    await worker.wait_for(
        lambda: len([m for m in worker.messages if m.body == "Ich habe noch eine Frage"]) == 1
    )
    newcomer = await persona("client")  # someone else writes to the bot: a request nobody took yet
    waiting_room = await newcomer.create_room(invite=[bot], direct=True)
    await newcomer.wait_for_text(waiting_room, bot, "1. Deutsch")
    overview = await command(worker, org.team, bot, "!fälle")
    lines = overview.splitlines()
    assert lines[0] == "Deine Fälle (1):"
    assert lines[1].startswith("• #1 – zuletzt heute") and "2 unbeantwortet seit heute" in lines[1]
    assert "Warten auf Übernahme im Team: #2" in overview
    # Short enough for a phone, and nothing anyone wrote or any ID is in it.
    assert len(overview) < 300 and "Frage" not in overview and client.user_id not in overview
    assert room not in overview and consultation not in overview


async def test_new_notice_version_asks_again(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room, consultation = await open_consultation(org)
    for lang in ("de", "en"):
        path = org.policies / "consent" / f"{lang}.md"
        path.write_text(path.read_text().replace('version = "1"', 'version = "2"'))
    reply = await command(org.admin, org.admin_room, bot, "!neu-laden")
    assert "consent: Version 2 geladen" in reply
    await client.send(consultation, "Hallo, eine Frage")
    await worker.wait_for_text(consultation, bot, frag("de", "room.reconsent_pending"))
    await client.wait_for_text(room, bot, frag("de", "intake.notice_changed"))
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.renewed"))
    assert org.consent_rows()[-1] == ("client", "given", "text", "2")

    # A broken file is refused with file and line; version 2 stays in force.
    (org.policies / "consent" / "de.md").write_text('+++\nversion = "3"\neffective = 2026-13-01\n+++\nx\n')
    reply = await command(org.admin, org.admin_room, bot, "!neu-laden")
    assert "de.md, Zeile" in reply and "Version 2" in reply


async def test_withdrawal_closes_room_and_informs_worker(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room, consultation = await open_consultation(org)
    # A slip of the thumb ends nothing: the bot asks once, and anything but yes cancels.
    await client.send(room, "Widerruf")
    await client.wait_for_text(room, bot, frag("de", "withdraw.confirm"))
    await client.send(room, "oh, falsch getippt")
    await client.wait_for_text(room, bot, frag("de", "withdraw.cancelled"))
    assert org.consent_rows()[-1][:2] == ("client", "given")
    await client.send(room, "Widerruf")
    await client.sync()
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("de", "withdraw.done"))
    await worker.wait_for_text(org.team, bot, frag("de", "notify.withdrawn"))
    await worker.wait_for_text(consultation, bot, frag("de", "room.closed"))
    state = await worker.client.room_get_state_event(consultation, "m.room.power_levels")
    assert state.content["events_default"] == 100
    denied = await worker.client.room_send(
        consultation,
        "m.room.message",
        {"msgtype": "m.text", "body": "noch da?"},
        ignore_unverified_devices=True,
    )
    assert getattr(denied, "status_code", None) == "M_FORBIDDEN"
    assert org.consent_rows()[-1][:2] == ("client", "withdrawn")


async def test_export_with_own_messages_when_enabled(org: Org) -> None:
    """With consent.export_messages on, the export holds the client's own messages, decrypted
    from the homeserver at request time; the worker's are not in it."""
    bot, client, worker = org.bot.user_id, org.client, org.worker
    await org.bot.stop()
    org.bot.extra["consent"] = {**org.bot.extra["consent"], "export_messages": True}
    await org.bot.start()
    room, consultation = await open_consultation(org)
    await client.send(consultation, "Meine Nachricht an die Beratung")
    await worker.send(consultation, "Antwort der Fachkraft")
    await client.wait_for(lambda: [m for m in client.messages if m.body == "Antwort der Fachkraft"])
    await client.send(room, "meine-daten")
    files = await client.wait_for(
        lambda: [m for m in client.from_user(room, bot) if m.body.endswith(".json")], what="the export"
    )
    data = json.loads(await client.download(files[0].source["content"]))
    texts = [m["text"] for m in data["your_messages"]]
    assert "Meine Nachricht an die Beratung" in texts and "Antwort der Fachkraft" not in texts
    with org.db() as db:
        tables = ("SELECT * FROM event_meta", "SELECT * FROM kv", "SELECT * FROM consent_log")
        dump = "\n".join(repr(r) for sql in tables for r in db.execute(sql))
    assert "Meine Nachricht an die Beratung" not in dump


async def test_rights_typed_in_the_counselling_room_are_answered_in_the_1to1_chat(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room, consultation = await open_consultation(org)
    await client.send(consultation, "meine-daten")
    await client.wait_for_text(consultation, bot, frag("de", "rights.answered_in_direct"))
    await client.wait_for(
        lambda: [m for m in client.from_user(room, bot) if m.body.endswith(".json")], what="the export"
    )
    await client.send(consultation, "!widerruf")
    await client.wait_for_text(room, bot, frag("de", "withdraw.confirm"))
    # The worker sees a pointer, never the answer itself.
    await worker.sync()
    assert not [m for m in worker.from_user(consultation, bot) if m.body.endswith(".json")]
    assert org.consent_rows()[-1][:2] == ("client", "given")


async def test_access_request_sends_only_own_data(org: Org, persona: PersonaFactory) -> None:
    bot, client = org.bot.user_id, org.client
    room, consultation = await open_consultation(org)
    for i in range(3):
        await client.send(consultation, f"Nachricht {i}")
    other = await persona("client")
    other_room = await other.create_room(invite=[bot], direct=True)
    await other.wait_for_text(other_room, bot, "1. Deutsch")
    await other.send(other_room, "1")

    await client.send(room, "meine-daten")
    files = await client.wait_for(
        lambda: (
            [m for m in client.from_user(room, bot) if m.source["content"].get("msgtype") == "m.file"]
            if len([m for m in client.from_user(room, bot) if m.source["content"].get("msgtype") == "m.file"])
            >= 2
            else None
        ),
        what="two files",
    )
    by_name = {m.source["content"]["body"].rsplit(".", 1)[1]: m for m in files}
    assert all(m.encrypted for m in files)
    data = json.loads(await client.download(by_name["json"].source["content"]))
    text = (await client.download(by_name["txt"].source["content"])).decode()
    assert [e["decision"] for e in data["consent_history"]] == ["given"]
    consult = next(r for r in data["rooms"] if r["kind"] == "consultation")
    assert consult["messages"] == 3
    # Attributable: it names the person, the time it was made, the rooms by name.
    assert data["person"] == client.user_id and client.user_id in text
    assert consult["name"] == "Fall 1" and "Fall 1 (seit" in text
    assert len(data["consent_history"][0]["notice_sha256"]) == 64
    assert "Matrix-Server" in text
    blob = json.dumps(data) + text
    for foreign in (org.worker.user_id, other.user_id, other_room, consultation, room):
        assert foreign not in blob
    assert "eingewilligt" in text


async def test_erasure_redacts_messages_and_respects_legal_hold(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room, consultation = await open_consultation(org)
    sent = [await client.send(consultation, f"Bitte löschen {i}") for i in range(3)]
    await worker.wait_for(
        lambda: len([m for m in worker.messages if m.event_id in sent]) == 3, what="messages"
    )

    reply = await command(client, room, bot, "löschen")
    assert frag("de", "erase.confirm") in reply
    await client.send(room, "ja")
    done = await client.wait_for_text(room, bot, "Erledigt:")
    assert "Kopien auf deinem Gerät" in done.body
    # Also the client's answers in the intake room (the bot created it, so it may redact there).
    in_intake = [m.event_id for m in client.from_user(room, client.user_id)]
    assert f"Erledigt: {len(sent) + len(in_intake)} Nachrichten gelöscht" in done.body
    await client.wait_for(lambda: all(e in client.redactions for e in in_intake), what="intake redactions")
    # The other member sees the client's messages redacted.
    await worker.wait_for(lambda: all(e in worker.redactions for e in sent), what="redactions")
    await org.admin.wait_for_text(org.admin_room, bot, "Löschprotokoll")
    await worker.wait_for_text(org.team, bot, frag("de", "notify.erased"))
    with org.db() as db:
        assert db.execute("SELECT COUNT(*) FROM consent_log WHERE scope = 'client'").fetchone() == (0,)
        assert db.execute("SELECT redacted, held_rooms FROM erasure_receipt").fetchall() == [
            (len(sent) + len(in_intake), 0)
        ]
        assert db.execute("SELECT COUNT(*) FROM intake").fetchone() == (0,)
        assert db.execute(
            "SELECT COUNT(*) FROM person WHERE subject NOT IN (SELECT subject FROM consent_log)"
        ).fetchone() == (0,)


async def test_erasure_in_a_chat_the_client_created(org: Org) -> None:
    """The bot has no power in the client's own 1:1 chat; the homeserver redacts as the client."""
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room = await self_intake(org)
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.question"))
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.waiting_for_worker"))
    await client.send(room, "Noch eine Frage zu meinem Termin")
    await worker.wait_for_text(org.team, bot, frag("de", "notify.ready_unclaimed"))
    reply = await command(client, room, bot, "löschen")
    assert frag("de", "erase.confirm") in reply
    await client.send(room, "ja")
    done = await client.wait_for_text(room, bot, "Erledigt:", timeout=90)
    # Everything the client wrote here, the confirmation included.
    mine = [m.event_id for m in client.from_user(room, client.user_id)]
    assert len(mine) >= 6
    assert f"Erledigt: {len(mine)} Nachrichten gelöscht" in done.body, done.body
    await client.wait_for(lambda: all(e in client.redactions for e in mine), 60, "redactions as the client")
    with org.db() as db:
        assert db.execute("SELECT redacted, failures FROM erasure_receipt").fetchall() == [(len(mine), 0)]

    # Writing again later: first what happened, and a new intake only after a yes.
    new_requests = len([m for m in worker.from_user(org.team, bot) if "Neue Anfrage" in m.body])
    await client.send(room, "Hallo, ist da wer?")
    await client.wait_for_text(room, bot, "Auf deinen Wunsch wurden deine Daten bei Lotse gelöscht")
    await client.send(room, "nein")
    await client.wait_for_text(room, bot, "Gut, dann bleibt alles gelöscht")
    await client.send(room, "ja")
    await client.wait_for(
        lambda: len([m for m in client.from_user(room, bot) if "1. Deutsch" in m.body]) == 2, what="new menu"
    )
    await worker.wait_for(
        lambda: (
            len([m for m in worker.from_user(org.team, bot) if "Neue Anfrage" in m.body]) == new_requests + 1
        ),
        what="one new request, only after the yes",
    )


async def test_erasure_deletes_only_the_clients_own_files(org: Org) -> None:
    """A client cannot have a colleague's file deleted by posting its URL as their own image."""
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room, consultation = await open_consultation(org)
    _, workers_file = await worker.send_file(consultation, b"\x89PNG worker's file")
    _, own_file = await client.send_file(consultation, b"\x89PNG client's own file")
    forged = await client.client.room_send(
        consultation,
        "m.room.message",
        {"msgtype": "m.image", "body": "bild.png", "url": workers_file},
        ignore_unverified_devices=True,
    )
    assert hasattr(forged, "event_id")
    await client.send(room, "löschen")
    await client.wait_for_text(room, bot, frag("de", "erase.confirm"))
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, "Erledigt:")
    assert await worker.media_exists(workers_file), "a colleague's file was deleted"
    assert not await worker.media_exists(own_file)
    await worker.wait_for(lambda: forged.event_id in worker.redactions, what="the forged message redacted")


async def test_erasure_postponed_in_room_under_legal_hold(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    room, consultation = await open_consultation(org)
    sent = [await client.send(consultation, f"Dokumentationspflicht {i}") for i in range(2)]
    reply = await command(org.admin, org.admin_room, bot, f"!aufbewahren {consultation} 2099-12-31")
    assert "bis 2099-12-31" in reply
    await worker.wait_for(
        lambda: len([m for m in worker.messages if m.event_id in sent]) == 2, what="messages"
    )
    await command(client, room, bot, "löschen")
    await client.send(room, "ja")
    done = await client.wait_for_text(room, bot, "Erledigt")
    assert "2099-12-31" in done.body
    await worker.sync(timeout_ms=1500)
    assert not any(e in worker.redactions for e in sent), "held messages were redacted"
    with org.db() as db:
        assert db.execute("SELECT held_rooms, held_until IS NOT NULL FROM erasure_receipt").fetchall() == [
            (1, 1)
        ]

    # When the hold ends, the postponed part of the erasure is carried out.
    reply = await command(org.admin, org.admin_room, bot, f"!aufbewahren {consultation} aus")
    assert frag("de", "hold.lifted") in reply
    await worker.wait_for(lambda: all(e in worker.redactions for e in sent), what="postponed redactions")
    await org.admin.wait_for_text(org.admin_room, bot, "Die Aufbewahrungspflicht ist abgelaufen")
    with org.db() as db:
        assert db.execute("SELECT held_rooms FROM erasure_receipt").fetchall() == [(0,)]
        assert db.execute("SELECT COUNT(*) FROM erasure_pending").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM intake").fetchone() == (0,)


async def test_consent_record_and_intake_survive_sigkill(org: Org) -> None:
    bot, client, worker = org.bot.user_id, org.client, org.worker
    await org.bot.stop()
    await org.bot.start_process()
    room = await self_intake(org, "1")
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.question"))
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("de", "intake.consent.waiting_for_worker"))
    org.bot.kill_process()
    assert org.consent_rows() == [("client", "given", "text", "1")]

    await org.bot.start_process()
    await acknowledge_rules(org)
    reply = await command(worker, org.team, bot, "!übernehmen 1")
    assert frag("de", "intake.claim.done_open") in reply
    await client.accept_invite_from(bot, exclude={room})
    assert [r for r in org.consent_rows() if r[0] == "client"] == [("client", "given", "text", "1")]
    # Nothing was answered twice after the restart.
    answers = [m.body[:30] for m in client.from_user(room, bot)]
    assert len(answers) == len(set(answers)), answers

"""The clients' languages end to end (#16): a client completes the intake in Arabic and in
Ukrainian against the real Synapse; the notice they read is the one in their language, it is
laid out right to left where it should be, and the consent log says which one they read."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.i18n import Catalog
from bot.render import strip_bidi_marks
from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona, Seen

pytestmark = pytest.mark.e2e

CAT = Catalog("de")


@dataclass
class Setup:
    bot: BotHarness
    worker: Persona
    client: Persona
    team: str

    def consent_rows(self) -> list[tuple[str, str, str, str]]:
        with sqlite3.connect(self.bot.data_dir / "lotse.db") as db:
            return db.execute(
                "SELECT decision, method, language, notice_hash FROM consent_log WHERE scope = 'client'"
            ).fetchall()


@pytest.fixture
async def setup(bot: BotHarness, persona: PersonaFactory) -> AsyncIterator[Setup]:
    worker, client = await persona("worker"), await persona("client")
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    bot.workers = [worker.user_id]
    bot.rooms = {"team": team}
    bot.extra = {
        "consent": {"minimum_age": 16, "retention_days": 90},
        "organisation": {"name": "Beratung Nord"},
    }
    await bot.start()
    await worker.wait_for_member(team, bot.user_id, "join")
    yield Setup(bot, worker, client, team)


def plain(m: Seen) -> str:
    """What the client reads, without the invisible direction marks."""
    return strip_bidi_marks(m.body)


async def said(client: Persona, room: str, bot: str, text: str, after: int = 0) -> Seen:
    """The bot's message in ``room`` containing ``text`` (marks ignored), from the ``after``-th on."""
    found: Seen = await client.wait_for(
        lambda: next((m for m in client.from_user(room, bot)[after:] if text in plain(m)), None),
        what=f"“{text[:40]}”",
    )
    return found


def first_line(language: str, key: str, **values: str) -> str:
    return CAT.text(language, key, **values).split("{")[0].splitlines()[0].strip()


async def test_intake_in_arabic(setup: Setup) -> None:
    bot, client = setup.bot.user_id, setup.client
    room = await client.create_room(invite=[bot], direct=True)
    menu = await client.wait_for_text(room, bot, "1. Deutsch")
    # Every language by its own name in the first message.
    for name in ("العربية", "فارسی", "Українська", "Русский", "Türkçe", "Leichte Sprache"):
        assert name in menu.body
    await client.send(room, "٣")  # Arabic-Indic three, as an Arabic keyboard types it
    age = await said(client, room, bot, first_line("ar", "intake.age.question", age="16"))
    assert "16" in plain(age)
    # Right to left: a formatted body that says so, numbers in left-to-right spans.
    content = age.source["content"]
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"].startswith('<div dir="rtl">')
    assert '<span dir="ltr">\u200e16</span>' in content["formatted_body"]
    assert content["body"].startswith("\u200f")

    await client.send(room, "نعم")
    asked = await said(client, room, bot, first_line("ar", "intake.consent.question"))
    summary = plain(asked).split("\n\n" + CAT.text("ar", "intake.consent.question"))[0]
    # The Arabic notice from policies/consent/ar.md, with the retention period in Arabic.
    assert summary.startswith("**باختصار – حماية البيانات لدى Beratung Nord**")
    assert "«انسحاب»" in summary and "يومًا" in summary
    html = asked.source["content"]["formatted_body"]
    assert html.startswith('<div dir="rtl">') and "<strong>" in html
    assert '<span dir="ltr">Beratung Nord</span>' in html

    seen = len(client.from_user(room, bot))
    await client.send(room, "النص الكامل")
    full = await said(client, room, bot, "إشعار حماية البيانات (المادة 13", after=seen)
    await said(client, room, bot, first_line("ar", "intake.consent.question"), after=seen + 1)
    await client.send(room, "١")
    await said(client, room, bot, first_line("ar", "intake.consent.waiting_for_worker"))

    # The consent log: given, by number, in Arabic, and its checksum is of what the client read.
    [(decision, method, language, digest)] = setup.consent_rows()
    assert (decision, method, language) == ("given", "number", "ar")
    assert digest == hashlib.sha256(f"{summary}\n\n{plain(full)}".encode()).hexdigest()
    # The team is told in German, and nothing the client wrote is in it.
    note = await setup.worker.wait_for_text(
        setup.team, bot, first_line("de", "notify.ready_unclaimed", n="1")
    )
    assert "نعم" not in note.body


async def test_intake_in_ukrainian_and_the_data_in_ukrainian(setup: Setup) -> None:
    bot, client = setup.bot.user_id, setup.client
    room = await client.create_room(invite=[bot], direct=True)
    await client.wait_for_text(room, bot, "5. Українська")
    await client.send(room, "українська")  # the language's name instead of its number
    age = await client.wait_for_text(room, bot, "Вам 16 років або більше?")
    assert "formatted_body" not in age.source["content"]  # left to right: plain, as in German
    await client.send(room, "Так")
    asked = await client.wait_for_text(room, bot, first_line("uk", "intake.consent.question"))
    summary = asked.body.split("\n\n" + CAT.text("uk", "intake.consent.question"))[0]
    assert summary.startswith("**Коротко – захист даних в організації Beratung Nord**")
    assert "«відкликати»" in summary and "180 днів" in summary  # the counselling rooms' policy
    assert '<div dir="rtl">' not in asked.source["content"]["formatted_body"]

    seen = len(client.from_user(room, bot))
    await client.send(room, "повний текст")
    full = await said(client, room, bot, "Повідомлення про захист даних (ст. 13", after=seen)
    await client.send(room, "так")
    await client.wait_for_text(room, bot, first_line("uk", "intake.consent.waiting_for_worker"))
    [(decision, method, language, digest)] = setup.consent_rows()
    assert (decision, method, language) == ("given", "text", "uk")
    assert digest == hashlib.sha256(f"{summary}\n\n{full.body}".encode()).hexdigest()

    # Rights in Ukrainian words: the data, in Ukrainian.
    await client.send(room, "мої дані")
    files = await client.wait_for(
        lambda: [m for m in client.from_user(room, bot) if m.body.endswith(".json")], what="the export"
    )
    data = json.loads(await client.download(files[0].source["content"]))
    [entry] = data["consent_history"]
    assert entry["language"] == "uk" and entry["notice_sha256"] == digest
    [txt] = await client.wait_for(
        lambda: [m for m in client.from_user(room, bot) if m.body.endswith(".txt")], what="the text file"
    )
    text = (await client.download(txt.source["content"])).decode()
    assert text.startswith("Ваші дані в організації Beratung Nord") and "згоду надано" in text

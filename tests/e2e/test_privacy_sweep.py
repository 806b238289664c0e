"""After a scripted run through the real Synapse, nothing in the logs, the database or any
file of the data directory holds a message text or a user ID in clear (issue #14.4).

The one exception is the end-to-end encryption store (``nio-store/``): like every Matrix
client, the bot must remember whose devices it encrypts for; it holds user and device IDs,
never message text. It is checked for message text only, and is 0600 like the keys.
"""

from __future__ import annotations

import logging
import stat
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.test_stats import intake, say

pytestmark = pytest.mark.e2e


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def files_under(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file()]


async def test_no_message_text_or_user_id_in_clear_anywhere(bot: BotHarness, persona: PersonaFactory) -> None:
    logs = Collect()
    logging.getLogger().addHandler(logs)
    try:
        worker, client = await persona("worker"), await persona("client")
        team = await worker.create_room(invite=[bot.user_id], name="Team")
        bot.workers = [worker.user_id]
        bot.rooms = {"team": team}
        bot.extra = {"retention": {"sweep_minutes": 1000}}
        await bot.start()
        room = await intake(bot.user_id, worker, client, team)
        secrets = [f"GEHEIM{uuid.uuid4().hex}" for _ in range(3)]
        await client.send(room, f"{secrets[0]} mein Vermieter will mich rauswerfen")
        await worker.wait_for(
            lambda: [m for m in worker.messages if m.room_id == room and secrets[0] in str(m.body)],
            what="message",
        )
        await worker.send(room, f"{secrets[1]} Ich helfe dir.")
        await say(worker, team, bot.user_id, "!fälle")
        chat = (await bot.instance.ctx.consent.intake_by_consultation(room)).room_id  # type: ignore[union-attr]
        await client.send(chat, f"meine-daten {secrets[2]}")
        await client.wait_for(
            lambda: [
                m
                for m in client.from_user(chat, bot.user_id)
                if m.source["content"].get("msgtype") == "m.file"
            ],
            timeout=60,
            what="the export",
        )
    finally:
        await bot.stop()
        logging.getLogger().removeHandler(logs)

    people = [worker.user_id, client.user_id]
    words = [*secrets, *people, *(p.split(":")[0][1:] for p in people)]
    found: list[str] = []
    text = "\n".join(logs.lines)
    found += [f"log: {w}" for w in words if w in text]
    for path in files_under(bot.data_dir):
        data = path.read_bytes()
        e2ee = "nio-store" in path.parts
        for w in secrets if e2ee else words:
            if w.encode() in data:
                found.append(f"{path.relative_to(bot.data_dir)}: {w}")
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            found.append(f"{path.relative_to(bot.data_dir)}: readable by others")
    assert found == [], found

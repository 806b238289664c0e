"""The bot on PostgreSQL end to end ([store] url): intake, consent and a retention sweep in a
real Synapse, the evidence in PostgreSQL, nothing in a SQLite file, and a restart that resumes
from the PostgreSQL store without answering twice. The throwaway PostgreSQL is the session's
(tests/postgres.py)."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import Catalog
from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona
from tests.postgres import ThrowawayPostgres

pytestmark = pytest.mark.e2e

CAT = Catalog("de")
REPO = Path(__file__).resolve().parents[2]
LIFETIME_S = 8
POLICIES = f"""
default = "lang"

[policy.kurz]
description = "Test: sehr kurze Frist"
max_age = "{LIFETIME_S}s"
room_kinds = ["consultation"]

[policy.lang]
max_age = "1y"
room_kinds = ["admin", "team", "intake", "direct", "leadership", "group"]
"""


def frag(key: str) -> str:
    return CAT.text("de", key).split("{")[0].strip().splitlines()[0]


@dataclass
class Org:
    bot: BotHarness
    worker: Persona
    client: Persona
    admin: Persona
    team: str
    admin_room: str
    server: ThrowawayPostgres
    url: str

    async def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import asyncpg

        conn = await asyncpg.connect(self.url, password=self.server.password)
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()


@pytest.fixture
async def org(
    bot: BotHarness, persona: PersonaFactory, tmp_path: Path, postgres_server: ThrowawayPostgres
) -> AsyncIterator[Org]:
    schema, _ = await postgres_server.create_schema()
    url = postgres_server.url(schema, password=False)
    secret = tmp_path / "store-password"
    secret.write_text(postgres_server.password + "\n")
    worker, client, admin = await persona("worker"), await persona("client"), await persona("admin")
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    (policies / "default.toml").unlink()
    (policies / "test.toml").write_text(POLICIES)
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    admin_room = await admin.create_room(invite=[bot.user_id], name="Admin")
    bot.workers, bot.admins = [worker.user_id], [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room}
    bot.extra = {
        "policies_dir": policies,
        "retention": {"sweep_minutes": 1000},
        "store": {"url": url, "password_file": str(secret)},
    }
    await bot.start()
    await worker.wait_for_member(team, bot.user_id, "join")
    await admin.wait_for_member(admin_room, bot.user_id, "join")
    try:
        yield Org(bot, worker, client, admin, team, admin_room, postgres_server, url)
    finally:
        await bot.stop()
        postgres_server.release([(schema, False)])


async def command(p: Persona, room: str, bot: str, text: str, timeout: float = 30.0) -> str:
    event = await p.send(room, text)
    replies = await p.wait_for(
        lambda: [m for m in p.from_user(room, bot) if m.in_reply_to == event], timeout, f"reply to {text}"
    )
    return str(replies[0].body)


async def test_intake_consent_and_sweep_with_the_store_on_postgresql(org: Org) -> None:
    bot, client, worker, admin = org.bot.user_id, org.client, org.worker, org.admin
    # The client writes to the bot, picks German, is of age and consents.
    room = await client.create_room(invite=[bot], direct=True)
    await client.wait_for_text(room, bot, "1. Deutsch")
    await client.send(room, "1")
    await worker.wait_for_text(org.team, bot, frag("notify.new_intake"))
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("intake.consent.question"))
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, frag("intake.consent.waiting_for_worker"))
    assert await org.rows("SELECT scope, decision, method FROM consent_log ORDER BY seq") == [
        ("client", "given", "text")
    ]

    # The worker acknowledges the rules and takes the case: the counselling room opens.
    await command(worker, org.team, bot, "!bestätigen")
    assert frag("intake.claim.done_open") in await command(worker, org.team, bot, "!übernehmen 1")
    consultation = await worker.accept_invite_from(bot, exclude={org.team})
    assert await client.accept_invite_from(bot, exclude={room}) == consultation
    await client.wait_for_text(consultation, bot, "Willkommen in eurem Beratungsraum")
    said = [await client.send(consultation, "Hallo, ich brauche Hilfe mit der Wohnung")]
    said.append(await worker.send(consultation, "Gern, was ist passiert?"))
    for _ in range(300):  # the metadata of both messages is recorded in PostgreSQL
        recorded = {r[0] for r in await org.rows("SELECT event_id FROM event_meta")}
        if set(said) <= recorded:
            break
        await asyncio.sleep(0.1)
    assert set(said) <= recorded
    assert await org.rows("SELECT kind FROM room WHERE room_id = $1", consultation) == [("consultation",)]
    assert not (org.bot.data_dir / "lotse.db").exists(), "the SQLite store was used"

    # The sweep redacts the expired counselling messages and keeps the evidence in PostgreSQL.
    await asyncio.sleep(LIFETIME_S + 1)
    event = await admin.send(org.admin_room, "!löschlauf")
    reports = await admin.wait_for(
        lambda: [
            m
            for m in admin.from_user(org.admin_room, bot)
            if m.in_reply_to == event and re.match(r"Löschlauf \d+ fertig", m.body)
        ],
        120,
        "the sweep's report",
    )
    assert re.search(
        r"Löschlauf \d+ fertig: [1-9]\d* Nachrichten gelöscht, \d+ Dateien entfernt, 0 Fehler",
        reports[0].body,
    )
    await worker.wait_for(lambda: all(e in worker.redactions for e in said), what="redactions")
    runs = await org.rows("SELECT trigger, redacted, failures, finished_at IS NOT NULL FROM retention_run")
    assert len(runs) == 1 and runs[0][0] == "command" and runs[0][1] >= 2 and runs[0][2:] == (0, True)
    assert ("sweep",) in await org.rows("SELECT action FROM audit_log")
    redacted = await org.rows("SELECT event_id FROM event_meta WHERE redacted_at IS NOT NULL")
    assert set(said) <= {r[0] for r in redacted}

    # A restart resumes from the PostgreSQL store: nothing is answered twice.
    before = len(client.from_user(room, bot))
    await org.bot.stop()
    await org.bot.start()
    reply = await command(client, room, bot, "hilfe")
    assert reply
    await client.sync(timeout_ms=1000)
    assert len(client.from_user(room, bot)) == before + 1
    assert await org.rows("SELECT COUNT(*) FROM consent_log WHERE scope = 'client'") == [(1,)]

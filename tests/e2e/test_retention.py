"""Retention end to end: policies enforced on real messages in a real Synapse."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.devserver.synapse import SynapseServer
from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LIFETIME_S = 8
TEST_POLICIES = f"""
default = "kurz"

[policy.kurz]
description = "Test: sehr kurze Frist"
max_age = "{LIFETIME_S}s"
media_max_age = "4s"
room_kinds = ["group"]

[policy.lang]
max_age = "1y"
room_kinds = ["admin", "team", "consultation", "intake", "direct", "leadership"]
"""


@dataclass
class Setup:
    bot: BotHarness
    worker: Persona
    admin: Persona
    team: str
    admin_room: str
    policies: Path

    async def admin_says(self, text: str, timeout: float = 60) -> str:
        return await say(self.admin, self.admin_room, self.bot.user_id, text, timeout)

    async def admin_sweeps(self, timeout: float = 120) -> str:
        """!löschlauf is answered at once; the report follows, also as a reply, when it is done."""
        event = await self.admin.send(self.admin_room, "!löschlauf")
        replies = await self.admin.wait_for(
            lambda: [
                m
                for m in self.admin.from_user(self.admin_room, self.bot.user_id)
                if m.in_reply_to == event and re.match(r"Löschlauf \d+ fertig", m.body)
            ],
            timeout,
            "the sweep's report",
        )
        return str(replies[0].body)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.bot.data_dir / "lotse.db")


async def say(p: Persona, room: str, bot: str, text: str, timeout: float = 60) -> str:
    event = await p.send(room, text)
    replies = await p.wait_for(
        lambda: [m for m in p.from_user(room, bot) if m.in_reply_to == event], timeout, f"reply to {text}"
    )
    return str(replies[0].body)


@pytest.fixture
async def setup(bot: BotHarness, persona: PersonaFactory, tmp_path: Path) -> AsyncIterator[Setup]:
    yield await start_setup(bot, persona, tmp_path, {"sweep_minutes": 1000})


@pytest.fixture
async def purging(bot: BotHarness, persona: PersonaFactory, tmp_path: Path) -> AsyncIterator[Setup]:
    """The bot is a server admin and may purge history (``retention.purge_history``)."""
    yield await start_setup(bot, persona, tmp_path, {"sweep_minutes": 1000, "purge_history": True})


async def start_setup(
    bot: BotHarness,
    persona: PersonaFactory,
    tmp_path: Path,
    retention: dict[str, object],
    *,
    process: bool = False,
) -> Setup:
    """A worker with a team room, an admin with the admin room, and the test policies;
    the bot in-process or (``process``) as its own process, for tests that kill it."""
    worker, admin = await persona("worker"), await persona("admin")
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    (policies / "default.toml").unlink()
    (policies / "test.toml").write_text(TEST_POLICIES)
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    admin_room = await admin.create_room(invite=[bot.user_id], name="Admin")
    bot.workers, bot.admins = [worker.user_id], [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room}
    bot.extra = {"policies_dir": policies, "retention": retention}
    await (bot.start_process() if process else bot.start())
    await admin.wait_for_member(admin_room, bot.user_id, "join")
    return Setup(bot, worker, admin, team, admin_room, policies)


async def group_room_with_history(s: Setup, before_bot: int, name: str = "Gruppe") -> tuple[str, list[str]]:
    """A worker's group room where the bot is moderator, with messages older than the bot."""
    worker = s.worker
    room = await worker.create_room(invite=[], name=name, moderators=[s.bot.user_id])
    old = [await worker.send(room, f"vor dem Bot {i}") for i in range(before_bot)]
    await worker.client.room_invite(room, s.bot.user_id)
    await worker.wait_for_member(room, s.bot.user_id, "join")
    return room, old


async def test_sweep_redacts_expired_messages_and_media_and_proves_it(setup: Setup) -> None:
    s, bot, worker = setup, setup.bot.user_id, setup.worker
    room, old = await group_room_with_history(s, 2, "Gruppe Nord")
    image, mxc = await worker.send_file(room, b"\x89PNG fake image bytes")
    text = await worker.send(room, "nach dem Bot")
    held_room, held_old = await group_room_with_history(s, 1, "Gruppe Süd")
    reply = await s.admin_says(f"!aufbewahren {held_room} 2099-12-31")
    assert "2099-12-31" in reply
    # The history from before the bot joined is recorded too.
    await worker.wait_for(
        lambda: _recorded(s, [*old, image, text]), timeout=30, what="metadata of all messages recorded"
    )

    await asyncio.sleep(LIFETIME_S + 1)
    young = await worker.send(room, "ganz frisch")
    dry = await s.admin_says("!probelauf")
    # Rooms by name, never by ID.
    line = next((line for line in dry.splitlines() if "„Gruppe Nord“" in line), dry)
    assert "kurz" in line and int(re.search(r"(\d+) Nachrichten", line).group(1)) >= 4  # type: ignore[union-attr]
    held_line = next(line for line in dry.splitlines() if "„Gruppe Süd“" in line)
    assert "Aufbewahrungspflicht" in held_line
    assert room not in dry and held_room not in dry
    await worker.sync(timeout_ms=1000)
    assert not worker.redactions, "the dry run deleted something"

    done = await s.admin_sweeps()
    assert re.search(
        r"Löschlauf \d+ fertig: \d+ Nachrichten gelöscht, [1-9]\d* Dateien entfernt, 0 Fehler", done
    )
    expired = [*old, image, text]
    await worker.wait_for(lambda: all(e in worker.redactions for e in expired), what="redactions")
    assert young not in worker.redactions
    assert not any(e in worker.redactions for e in held_old), "a room under legal hold lost messages"
    assert not await worker.media_exists(mxc), "the image is still in the media repository"

    state = await worker.client.room_get_state_event(room, "m.room.retention")
    assert state.content == {"max_lifetime": LIFETIME_S * 1000}
    await worker.wait_for_text(room, bot, f"nach {LIFETIME_S} Sekunden automatisch gelöscht")

    report = await s.admin_says("!löschbericht")
    assert "Gruppe:" in report and re.search(r"gelöscht: [1-9]\d* Nachrichten", report)
    # Not for workers, and not outside the admin room.
    refused = await say(worker, s.team, bot, "!löschlauf")
    assert "dürfen nur bestimmte Rollen" in refused
    with s.db() as db:
        actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions[:2] == ["hold_set", "sweep"]


def _recorded(s: Setup, events: list[str]) -> bool:
    with s.db() as db:
        found = {r[0] for r in db.execute("SELECT event_id FROM event_meta")}
    return set(events) <= found


async def test_broken_policy_file_is_refused_and_old_rules_stay(setup: Setup) -> None:
    s, worker = setup, setup.worker
    _room, old = await group_room_with_history(s, 1)
    (s.policies / "test.toml").write_text(
        TEST_POLICIES.replace(f'max_age = "{LIFETIME_S}s"', 'max_age = "bald"')
    )
    reply = await s.admin_says("!neu-laden")
    assert re.search(
        r"Löschfristen: NICHT geladen – test\.toml, Zeile 6: .*'bald' is not a duration", reply
    ), reply
    # check-config names the same problem and fails.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    check = subprocess.run(  # noqa: ASYNC221 - the CLI as an operator runs it
        [sys.executable, "-m", "bot", "-c", str(s.bot.config_toml()), "check-config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert check.returncode == 2 and "test.toml: line 6" in check.stderr, check
    # The last good rules are still enforced.
    await asyncio.sleep(LIFETIME_S + 1)
    await s.admin_sweeps()
    await worker.wait_for(
        lambda: all(e in worker.redactions for e in old), what="redaction under the old rules"
    )
    policies = await s.admin_says("!richtlinien")
    assert "kurz: löschen nach 8s" in policies and "test.toml, Zeile 6" in policies


async def test_sweep_killed_midway_resumes_without_double_work(setup: Setup) -> None:
    s, worker = setup, setup.worker
    room, _ = await group_room_with_history(s, 0)
    messages = [await worker.send(room, f"Nachricht {i}") for i in range(150)]
    await s.bot.stop()
    await s.bot.start_process()
    await asyncio.sleep(LIFETIME_S + 1)
    await s.admin.send(s.admin_room, "!löschlauf")
    await worker.wait_for(
        lambda: len([e for e in messages if e in worker.redactions]) >= 10, what="sweep started"
    )
    s.bot.kill_process()
    partial = len([e for e in messages if e in worker.redactions])
    await s.bot.start_process()
    await s.admin_says("!löschlauf", timeout=120)
    await worker.wait_for(
        lambda: all(e in worker.redactions for e in messages),
        timeout=60,
        what=f"all redacted (killed after {partial})",
    )
    await worker.sync(timeout_ms=2000)
    twice = [e for e in messages if worker.redaction_counts[e] != 1]
    assert not twice, f"{len(twice)} events redacted more than once (killed after {partial})"


async def test_a_room_everyone_left_is_purged_on_the_server_not_redacted_one_by_one(
    purging: Setup, synapse: SynapseServer
) -> None:
    """Nobody but the bot is left in a group room: no client would receive a redaction there,
    so the sweep purges its expired history on the server in one go and marks what the server
    no longer has. Unexpired messages stay, a room under a legal hold keeps everything, and a
    room someone is still in is redacted event by event as before."""
    s, worker = purging, purging.worker
    left, left_old = await group_room_with_history(s, 6, "Gruppe Ende")
    held, held_old = await group_room_with_history(s, 3, "Gruppe Akte")
    stays, stays_old = await group_room_with_history(s, 3, "Gruppe Weiter")
    assert "2099-12-31" in await s.admin_says(f"!aufbewahren {held} 2099-12-31")
    await worker.wait_for(
        lambda: _recorded(s, [*left_old, *held_old, *stays_old]), timeout=60, what="all recorded"
    )
    await asyncio.sleep(LIFETIME_S + 1)
    young = {room: await worker.send(room, "noch jung") for room in (left, held, stays)}
    await worker.wait_for(lambda: _recorded(s, list(young.values())), timeout=30, what="young recorded")
    for room in (left, held):
        await worker.client.room_leave(room)

    done = await s.admin_sweeps()
    assert re.search(r"Löschlauf \d+ fertig: \d+ Nachrichten gelöscht, 0 Dateien entfernt, 0 Fehler", done)

    account = synapse.register(f"srvadmin-{os.getpid()}-{len(left_old)}{id(s) % 10_000}", "pw", admin=True)

    def on_server(room: str) -> dict[str, dict[str, object]]:
        status, body = synapse.api(
            "GET", f"/_synapse/admin/v1/rooms/{room}/messages?dir=b&limit=1000", token=account.access_token
        )
        assert status == 200, body
        return {e["event_id"]: e for e in body["chunk"]}

    # Purged: gone from the server, or (the event at the purge point, which Synapse keeps)
    # redacted. The young message is still there, whole.
    events = on_server(left)
    survivors = [e for e in left_old if e in events]
    assert all(events[e].get("unsigned", {}).get("redacted_because") for e in survivors), survivors
    assert len(survivors) <= 1, "the room was redacted event by event, not purged"
    assert events[young[left]]["content"], "an unexpired message was removed"
    # Held: everything still there, unredacted.
    events = on_server(held)
    assert all(events[e]["content"] for e in [*held_old, young[held]])
    # Someone stays: redacted event by event (and not purged after: that would take the
    # redaction events with it before the member's client saw them), young kept.
    await worker.wait_for(lambda: all(e in worker.redactions for e in stays_old), what="redactions")
    assert young[stays] not in worker.redactions
    with s.db() as db:
        still_open = {r[0] for r in db.execute("SELECT event_id FROM event_meta WHERE redacted_at IS NULL")}
        purges = db.execute("SELECT purges FROM retention_run ORDER BY seq DESC LIMIT 1").fetchone()[0]
    assert not still_open & {*left_old, *stays_old}
    assert {*held_old, *young.values()} <= still_open
    assert purges >= 1

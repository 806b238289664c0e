"""A full disk under the running bot (issue #14.3): the bot's data directory is a small file
system of its own (a tmpfs in a mount namespace of the bot's process), which the test fills while
a client is in the middle of giving consent. The store takes no writes; the bot holds what it was
given instead of dropping it, takes in nothing new, and tells the admin room. Once there is room
again it carries on: the consent recorded exactly once, the client welcomed, every command that
waited answered, every message's metadata recorded once, and the admins told it is over."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona
from tests.reliability import record

pytestmark = pytest.mark.e2e

SIZE = "96m"


def namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def fill(filler: Path) -> None:
    """Append to ``filler`` until the file system says it is full (again: space SQLite gives
    back when a write fails is taken at once, as by a log that keeps growing)."""
    for size in (1 << 20, 4096, 512):
        with contextlib.suppress(OSError), filler.open("ab", buffering=0) as f:
            while True:
                f.write(b"\0" * size)


async def keep_full(filler: Path, stop: asyncio.Event) -> None:
    while not stop.is_set():
        fill(filler)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


@contextlib.contextmanager
def store_of(root: Path, tmp: Path) -> Iterator[sqlite3.Connection]:
    """A copy of the bot's store (SQLite resolves /proc/PID/root to this namespace's files)."""
    for name in ("lotse.db", "lotse.db-wal"):
        if (root / name).exists():
            (tmp / name).write_bytes((root / name).read_bytes())
    conn = sqlite3.connect(tmp / "lotse.db")
    try:
        yield conn
    finally:
        conn.close()


def get_health(log: Path) -> tuple[int, dict[str, Any]]:
    found = re.search(r"health and metrics on (http://\S+/health)", log.read_text())
    assert found, "the bot did not say where its health endpoint is"
    try:
        with urllib.request.urlopen(found.group(1), timeout=10) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def say(person: Persona, room: str, bot: str, text: str, expect: str, timeout: float = 60) -> None:
    await person.send(room, text)
    await person.wait_for_text(room, bot, expect, timeout=timeout)


@pytest.mark.skipif(not namespaces_work(), reason="needs unshare -m and tmpfs mounts (root in a sandbox)")
async def test_a_full_disk_stalls_the_bot_without_losing_anything(
    bot: BotHarness, persona: PersonaFactory, tmp_path: Path
) -> None:
    worker, admin, client = await persona("worker"), await persona("admin"), await persona("client")
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    admin_room = await admin.create_room(invite=[bot.user_id], name="Lotse Admin")
    bot.workers, bot.admins = [worker.user_id], [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room}
    bot.extra = {"retention": {"sweep_minutes": 1000}}
    data = bot.data_dir
    data.mkdir(parents=True, exist_ok=True)
    # The data directory on a file system of its own, seen only by the bot's process.
    wrapper = [
        "unshare",
        "-m",
        "sh",
        "-c",
        f'mount -t tmpfs -o size={SIZE},mode=0700 tmpfs "{data}" && exec "$@"',
        "sh",
    ]
    await bot.start_process(wrapper=wrapper)
    assert bot.process is not None
    root = Path(f"/proc/{bot.process.pid}/root") / str(data).lstrip("/")  # the bot's view of it
    await worker.wait_for_member(team, bot.user_id, "join")
    await admin.wait_for_member(admin_room, bot.user_id, "join")
    await say(admin, admin_room, bot.user_id, "!hilfe", "!")  # the bot has spoken in the admin room
    await say(worker, team, bot.user_id, "!bestätigen", "")
    await worker.send(team, f"!neu {client.user_id}")
    intake = await client.accept_invite_from(bot.user_id)
    await client.wait_for_text(intake, bot.user_id, "1. Deutsch")
    await say(client, intake, bot.user_id, "1", "Bist du 16 Jahre oder älter?")
    await say(client, intake, bot.user_id, "ja", "Bist du damit einverstanden?")

    full_at = time.monotonic()
    filler, stop = root / "filler", asyncio.Event()
    fill(filler)
    keeper = asyncio.create_task(keep_full(filler, stop))
    try:
        # The client says yes; the worker writes on. Until the store fails a write (SQLite may
        # still fill space its journal holds), more of it arrives.
        consent = await client.send(intake, "ja")
        asked = [await worker.send(team, "!hilfe")]
        for _ in range(40):
            if admin.from_user(admin_room, bot.user_id) and any(
                "Datenbank" in m.body for m in admin.from_user(admin_room, bot.user_id)
            ):
                break
            asked.append(await worker.send(team, "!hilfe"))
            await admin.sync(timeout_ms=500)
        await admin.wait_for_text(admin_room, bot.user_id, "der Speicher ist voll", timeout=60)
        # The disk stays full a while; what arrives meanwhile waits (no answer, nothing lost).
        await worker.sync(timeout_ms=500)
        answered = len(worker.from_user(team, bot.user_id))
        for _ in range(3):
            asked.append(await worker.send(team, "!hilfe"))
        await asyncio.sleep(6)
        await worker.sync(timeout_ms=500)
        assert len(worker.from_user(team, bot.user_id)) == answered, "the bot answered with a full store"
        status, health = await asyncio.to_thread(get_health, bot.data_dir.parent / "bot.log")
        assert status == 503 and health["checks"]["store"] == {
            "ok": False,
            "error": "unwritable",
            "reason": "full",
        }
        assert bot.process.poll() is None, "the bot died of a full disk"
        welcomed = [m for m in client.from_user(intake, bot.user_id) if "Willkommen" in m.body]
        assert not welcomed, "consent was confirmed although it could not be stored"
    finally:
        stop.set()
        await keeper
        filler.unlink()
        full_s = time.monotonic() - full_at

    await admin.wait_for_text(admin_room, bot.user_id, "nimmt wieder Daten an", timeout=120)
    consultation = await client.accept_invite_from(bot.user_id, exclude={intake})
    await client.wait_for_text(consultation, bot.user_id, "Willkommen in eurem Beratungsraum", timeout=60)
    await worker.wait_for(
        lambda: {m.in_reply_to for m in worker.from_user(team, bot.user_id)} >= set(asked) or None,
        timeout=120,
        what="an answer to every command sent while the disk was full",
    )
    assert bot.process.poll() is None
    copy = tmp_path / "copy"
    copy.mkdir()
    with store_of(root, copy) as db:
        decisions = db.execute(
            "SELECT COUNT(*) FROM consent_log WHERE scope = 'client' AND decision = 'given'"
        ).fetchone()
        assert decisions == (1,), "the client's consent must be recorded exactly once"
        recorded = {r[0] for r in db.execute("SELECT event_id FROM event_meta")}
        total = db.execute("SELECT COUNT(*) FROM event_meta").fetchone()[0]
    assert {consent, *asked} <= recorded, "a message's metadata was lost"
    assert total == len(recorded)
    record(
        "store",
        "## A full or read-only store\n\n"
        "`tests/e2e/test_full_store.py`: the bot's data directory on a small file system of its own, "
        "filled while a client gave consent and a worker sent commands; "
        "`tests/unit/test_store_unwritable.py`: "
        "SQLite full (page limit) and read-only, PostgreSQL in read-only transactions.\n\n"
        "| run | figures |\n| --- | --- |\n"
        f"| latest | disk full for {full_s:.0f} s; {len(asked) + 1} messages arrived meanwhile, "
        f"none answered while full, all answered after; consent recorded once; "
        f"{total} events recorded, none twice; the admin room told twice (full, over) |",
    )


@pytest.mark.skipif(not namespaces_work(), reason="needs unshare -m and tmpfs mounts (root in a sandbox)")
@pytest.mark.parametrize("disk", ["full", "read-only"])
def test_a_start_on_a_full_or_read_only_disk_says_so_and_exits(disk: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "lotse.toml"
    config.write_text(
        f'data_dir = "{data}"\n[homeserver]\nurl = "http://127.0.0.1:9"\n'
        '[bot]\nuser_id = "@lotse:localhost"\npassword = "x"\n'
    )
    spoil = (
        f'chmod 700 "{data}" && dd if=/dev/zero of="{data}/filler" bs=1M count=20 2>/dev/null; true'
        if disk == "full"
        else f'mount -o remount,ro "{data}"'
    )
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=8m tmpfs "{data}" && {spoil} && exec "$@"',
            "sh",
            sys.executable,
            "-m",
            "bot",
            "-c",
            str(config),
            "run",
        ],
        capture_output=True,
        text=True,
        timeout=60,  # before the fix the process never ended: the store's thread kept it alive
        check=False,
    )
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Lotse stopped: "), done.stderr
    assert ("full" if disk == "full" else "Read-only file system") in lines[0]

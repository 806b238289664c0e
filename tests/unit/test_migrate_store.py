"""``lotse migrate-store``: a filled SQLite store copied into PostgreSQL, verified; and the
``[store]`` configuration. Needs the session's throwaway PostgreSQL (tests/postgres.py)."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.config import ConfigError, StoreSettings, load_settings
from bot.devserver.seed import seed_demo_activity
from bot.ids import EventID, RoomID
from bot.store import copy as store_copy
from bot.store.consent import ConsentStore, EventMeta
from bot.store.copy import CopyRefused, copy_store
from bot.store.db import Database
from bot.store.invitations import InvitationStore
from bot.store.stats import StatsStore
from tests import support
from tests.support import BOT, make_context

STORE_BACKENDS = ("postgresql",)

TEAM = RoomID("!team:localhost")
NOW = dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.UTC)  # a Thursday in 2026-W49
HELD = RoomID("!held:localhost")


async def fill(tmp_path: Path) -> Path:
    """A SQLite store with rows in every table: the demo's twelve weeks and the rest."""
    ctx, _, db = await make_context(tmp_path, sqlite=True, rooms={"team": TEAM})
    try:
        assert await seed_demo_activity(ctx, TEAM, now=NOW) is not None
        await ctx.state.mark_handled(EventID("$handled"))
        await ctx.state.set_language("subject-1", "en")
        await ctx.state.add_waiting_key(EventID("$waiting"), TEAM, 1)
        await ctx.consent.put_person("subject-1", b"\x00sealed\xff")
        await ctx.consent.set_hold(HELD, 2**41, "admin")
        receipt = await ctx.consent.write_receipt(
            "subject-2",
            requested_at=5,
            redacted=3,
            media_deleted=1,
            held_rooms=1,
            held_until=None,
            failures=0,
        )
        await ctx.consent.add_pending_erasure("subject-2", HELD, receipt, reason="hold")
        await ctx.consent.record_events(
            [EventMeta(EventID("$m"), HELD, "subject-2", 7, "m.room.message", ("mxc://a/b",))]
        )
        await ctx.retention.assign(TEAM, "kurz", "admin")
        run = await ctx.retention.start_run("command")
        await ctx.retention.add_room_result(run, "team", "kurz", redacted=2, media=1, failures=0)
        await ctx.retention.finish_run(run, redacted=2, media=1, failures=0, retries=0, purges=0)
        await ctx.retention.audit("admin", "assign", TEAM, None, {"policy": "kurz", "ratio": 0.25})
        await InvitationStore(db).create(
            worker="worker-1",
            worker_room=RoomID("!w:localhost"),
            language="tr",
            page_key="p" * 64,
            token_hash="t" * 64,
            pairing_hash="c" * 64,
            expires_at=2**41,
        )
        from bot.stats import report as stats_report
        from bot.stats.periods import parse_period

        await stats_report.build(ctx, parse_period("2026-W47"))  # freezes the week: stats_*
        # The newest intake erased: SQLite's numbering remembers it, the copy must too.
        newest = await db.fetchval("SELECT MAX(intake_id) FROM intake")
        subject = await db.fetchval("SELECT subject FROM intake WHERE intake_id = ?", (newest,))
        await ctx.consent.erase_subject(subject, keep_rooms=[])
        await db.flush()
    finally:
        await db.close()
    source = tmp_path / "lotse.db"
    with sqlite3.connect(source) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        empty = [t for t in tables if not conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]]  # noqa: S608
    assert empty == [], f"the test store should fill every table: {empty}"
    return source


def counts(source: Path) -> dict[str, int]:
    with sqlite3.connect(source) as conn:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] != "sqlite_sequence"
        ]
        return {n: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}  # noqa: S608


async def test_a_filled_store_is_copied_and_verified(tmp_path: Path) -> None:
    source = await fill(tmp_path / "old")
    before = source.read_bytes()
    url = await support.STORE.url(tmp_path / "new")
    said: list[str] = []
    results = await copy_store(source, url, say=said.append)
    assert {r.table: r.rows for r in results} == counts(source)
    assert all(r.ok and len(r.checksum) == 64 for r in results)
    # Parents before children: the foreign keys held during the copy.
    order = [r.table for r in results]
    assert order.index("erasure_receipt") < order.index("erasure_pending")
    assert order.index("retention_run") < order.index("retention_run_room")
    assert order.index("stats_period") < order.index("stats_cell")
    assert source.read_bytes() == before  # the source is left as it was

    old, new = await Database.open(source), await Database.connect(url)
    try:
        new.start_writer()
        assert await new.schema_version() == await old.schema_version()
        # The same answers through the store API.
        subjects = [r[0] for r in await old.fetchall("SELECT DISTINCT subject FROM consent_log ORDER BY 1")]
        for subject in subjects[:20]:
            assert await ConsentStore(new).history(subject) == await ConsentStore(old).history(subject)
        lo, hi = int(dt.datetime(2026, 9, 1, tzinfo=dt.UTC).timestamp() * 1000), int(NOW.timestamp() * 1000)
        assert await StatsStore(new).activity(lo, hi, "bot") == await StatsStore(old).activity(lo, hi, "bot")
        assert await StatsStore(new).frozen("2026-W47") == await StatsStore(old).frozen("2026-W47")
        assert await ConsentStore(new).sealed_id("subject-1") == b"\x00sealed\xff"
        assert await ConsentStore(new).due_erasures(2**42) == await ConsentStore(old).due_erasures(2**42)
        # Numbering goes on after the highest number SQLite ever gave, erased ones included.
        with sqlite3.connect(source) as conn:
            last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'intake'").fetchone()[0]
            assert last > conn.execute("SELECT MAX(intake_id) FROM intake").fetchone()[0]
        intake = await ConsentStore(new).create_intake(
            RoomID("!new:localhost"), "subject-9", worker=None, notify_room=None, state="waiting"
        )
        assert intake.intake_id == last + 1
    finally:
        await old.close()
        await new.close()


async def test_only_an_empty_target(tmp_path: Path) -> None:
    source = await fill(tmp_path / "old")
    url = await support.STORE.url(tmp_path / "new")
    await copy_store(source, url)
    with pytest.raises(CopyRefused, match="not empty: Lotse's tables there hold rows"):
        await copy_store(source, url)

    other = await support.STORE.url(tmp_path / "other")
    db = await Database.connect(other)
    try:
        db.start_writer()
        await db.write("CREATE TABLE patients (name TEXT)")
    finally:
        await db.close()
    with pytest.raises(CopyRefused, match=r"tables that are not Lotse's \(patients\)"):
        await copy_store(source, other)
    db = await Database.connect(other)
    try:
        assert await db.schema_version() == 0  # nothing was changed
    finally:
        await db.close()


async def test_a_copy_that_differs_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = await fill(tmp_path / "old")
    url = await support.STORE.url(tmp_path / "new")
    real = store_copy._copy

    class Lossy:
        """The connection, but the first row of consent_log gets lost on the way."""

        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def __getattr__(self, name: str) -> Any:
            return getattr(self.conn, name)

        async def copy_records_to_table(self, table: str, *, records: list[Any], columns: list[str]) -> Any:
            if table == "consent_log":
                records = records[1:]
            return await self.conn.copy_records_to_table(table, records=records, columns=columns)

    async def lossy(src: sqlite3.Connection, conn: Any, tables: list[str]) -> Any:
        return await real(src, Lossy(conn), tables)

    monkeypatch.setattr(store_copy, "_copy", lossy)
    with sqlite3.connect(source) as conn:
        n = conn.execute("SELECT COUNT(*) FROM consent_log").fetchone()[0]
    with pytest.raises(
        CopyRefused, match=rf"differs from the source in consent_log \({n} rows, {n - 1} copied\)"
    ):
        await copy_store(source, url)
    db = await Database.connect(url)
    try:
        assert await db.fetchval("SELECT COUNT(*) FROM intake") == 0  # rolled back: nothing kept
    finally:
        await db.close()
    monkeypatch.setattr(store_copy, "_copy", real)
    assert all(r.ok for r in await copy_store(source, url))  # and it can be done again


CONFIG = """
    data_dir = "{data}"
    [homeserver]
    url = "http://127.0.0.1:1"
    [bot]
    user_id = "{bot}"
    password = "x"
"""


async def test_the_command_copies_and_reports_read_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await fill(tmp_path / "data_parent")
    data = tmp_path / "data_parent"  # make_context's store is data_parent/lotse.db
    config = tmp_path / "lotse.toml"
    config.write_text(textwrap.dedent(CONFIG.format(data=data, bot=BOT)))
    schema_url = await support.STORE.url(tmp_path / "pg")
    server = support.STORE.server
    url = schema_url.replace(f":{server.password}@", "@")  # the password from a file instead
    secret = tmp_path / "db-password"
    secret.write_text(server.password + "\n")

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["-c", str(config), *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    # The CLI runs its own event loop: give it a thread of its own.
    import asyncio

    code, out, err = await asyncio.to_thread(
        run, "migrate-store", "--to", url, "--password-file", str(secret)
    )
    assert code == 0, err
    assert "counts and checksums match" in out and "consent_log" in out and server.password not in out
    code, out, err = await asyncio.to_thread(
        run, "migrate-store", "--to", url, "--password-file", str(secret)
    )
    assert code == 1 and "not empty" in err

    # The leadership report from either store is the same, byte for byte.
    code, from_sqlite, err = await asyncio.to_thread(
        run, "report", "--period", "2026-W48", "--format", "json"
    )
    assert code == 0, err
    config.write_text(
        textwrap.dedent(CONFIG.format(data=data, bot=BOT))
        + f'[store]\nurl = "{url}"\npassword_file = "{secret}"\n'
    )
    code, from_postgres, err = await asyncio.to_thread(
        run, "report", "--period", "2026-W48", "--format", "json"
    )
    assert code == 0, err
    assert from_postgres == from_sqlite and '"demo_data": true' in from_sqlite
    code, out, _ = await asyncio.to_thread(run, "check-config")
    assert code == 0 and "store:            PostgreSQL postgresql://lotse@127.0.0.1:" in out


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://lotse@db/lotse", "is not a PostgreSQL URL"),
        ("postgresql://lotse@db.example.org/lotse", "is not encrypted: add ?sslmode=verify-full"),
        ("postgresql://lotse:s3cret@db.example.org/lotse?sslmode=prefer", "is not encrypted"),
        ("postgresql://lotse@127.0.0.1", "names no database"),
        ("postgresql://127.0.0.1/lotse", "names no user"),
    ],
)
def test_store_url_is_checked(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("?", r"\?")) as info:
        StoreSettings(url=url)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://lotse@127.0.0.1:5432/lotse",
        "postgres://lotse@localhost/lotse",
        "postgresql://lotse@db.example.org/lotse?sslmode=verify-full",
        "postgresql:///lotse?host=/run/postgresql&user=lotse",
    ],
)
def test_good_store_urls(url: str) -> None:
    assert StoreSettings(url=url).url == url


def test_store_password_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LOTSE_"):
            monkeypatch.delenv(name)
    secret = tmp_path / "pw"
    secret.write_text("geheim\n")
    config = tmp_path / "lotse.toml"
    base = textwrap.dedent(CONFIG.format(data=tmp_path / "data", bot=BOT))
    config.write_text(
        base + f'[store]\nurl = "postgresql://lotse@127.0.0.1/lotse"\npassword_file = "{secret}"\n'
    )
    settings = load_settings(config, env_file=None)
    assert settings.store.password_value() == "geheim"
    assert settings.store.describe(settings.data_dir) == "PostgreSQL postgresql://lotse@127.0.0.1/lotse"
    secret.unlink()
    with pytest.raises(ConfigError) as info:
        load_settings(config, env_file=None)
    assert any(p.startswith("store: cannot read secret file") for p in info.value.problems)
    monkeypatch.setenv("LOTSE_STORE__URL", "postgresql://lotse:pw@db.example.org/lotse")
    with pytest.raises(ConfigError) as info:
        load_settings(config, env_file=None)
    assert any("[from the environment variable LOTSE_STORE__URL]" in p for p in info.value.problems)
    assert not any(":pw@" in p for p in info.value.problems)
    assert StoreSettings().describe(Path("data")) == f"SQLite {Path('data') / 'lotse.db'}"


async def test_a_store_that_cannot_be_reached_is_said_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traceback and no password: where, and why (refused, wrong password)."""
    import asyncio

    server = support.STORE.server
    schema_url = await support.STORE.url(tmp_path / "pg")
    config = tmp_path / "lotse.toml"
    base = textwrap.dedent(CONFIG.format(data=tmp_path / "data", bot=BOT))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "lotse.db").write_bytes(b"")

    def run(url: str, *argv: str) -> tuple[int, str]:
        config.write_text(base + f'[store]\nurl = "{url}"\n')
        code = cli.main(["-c", str(config), *argv])
        return code, capsys.readouterr().err

    from bot.devserver.synapse import free_port

    closed = f"postgresql://lotse:hunter2@127.0.0.1:{free_port()}/postgres"
    code, err = await asyncio.to_thread(run, closed, "migrate")
    assert code == 1 and "Lotse stopped: cannot open the store at postgresql://lotse:***@127.0.0.1:" in err
    assert "hunter2" not in err and "Traceback" not in err
    wrong = schema_url.replace(f":{server.password}@", ":wrong@")
    code, err = await asyncio.to_thread(run, wrong, "migrate")
    assert code == 1 and "password authentication failed" in err and ":wrong@" not in err
    code, err = await asyncio.to_thread(run, wrong, "migrate-store", "--from", str(tmp_path / "empty.db"))
    assert code == 1 and "does not exist: nothing to copy" in err

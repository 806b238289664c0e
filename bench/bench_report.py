"""The leadership report over 1,000,000 message-metadata rows (issue #15.5 and #15.1).

    .venv/bin/python bench/bench_report.py [--rows 1000000] [--people 850] [--rounds 3]
                                           [--reports 2] [--no-bot]

A store is filled as a counselling service of that size would fill it: ``--people`` people
(one in sixteen a worker, in six teams; the others clients, each with an intake and a
counselling room), ``--rows`` metadata rows over five weeks (the last reporting month that is
over and the week before it), conversations in turns, the bot's own messages, reactions, team
rooms, consents, rights requests, retention runs. Then, side by side in one run:

1. **The monthly report**, each measurement a fresh process: the first time (its weeks and the
   month are not frozen yet) and once frozen, wall time and peak memory (VmHWM of that
   process, and its growth over the process after start-up; and the peak of the child process
   that counts the freeze, reported separately); against a bare SQL group-by of the same
   figures (rows per role, people, rooms, client turns, per week and team) as the floor.
   ``lotse report`` (the CLI, start-up included) over the same store, once each way.
2. **The bot answering meanwhile**: through a private Synapse, a worker's ``hilfe`` to Lotse
   (its own process, on that store) and to the bare nio bot (``bench/common.py``) in turns,
   bare then Lotse, while an admin's ``!statistik MONTH`` makes and posts the report; p50/p95 of
   each and the ratio; the bot's peak memory (VmHWM) and its freezing process's (from the bot's
   log). ``--reports`` times, the frozen figures cleared in between.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import os
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import machine, percentile, record
from bot.pseudonym import Pseudonymizer, load_or_create_key
from bot.stats.periods import Period, period_containing

TZ = ZoneInfo("Europe/Berlin")
BOT_LOCALPART = "lotsebench"
BOT = f"@{BOT_LOCALPART}:localhost"  # the private Synapse's server name
TEAMS = 6
HERE = Path(__file__).resolve().parent

# Measured before the fixes, at b04bf93 (2026-12-03, 1,000,000 rows, 850 people, two rounds on a
# shared 2-core machine): the first report froze its weeks and months from every row, three
# times over, with three HMACs per row, on the event loop and inside the message worker. Then
# at 0c69b70 (same machine and store, three rounds): the counting in a worker thread of the bot.
BEFORE_TEXT = """Before: the counting in a worker thread of the bot's own process (0c69b70, same store and
machine, three rounds; the floor 1.54 s):

| | wall time | ratio to the floor | peak memory | target |
| --- | --- | --- | --- | --- |
| report, first time | 23.36 (15.85–31.22) s | 15.2× | 262 (255–263) MiB (in the bot's process) | < 250 MB |
| `lotse report`, first / frozen | 32.02 s / 2.58 s | | 255 / 95 MiB | |
| `hilfe` meanwhile: bare p50 / p95 | 0.22 s / 0.46 s | | | |
| `hilfe` meanwhile: Lotse p50 / p95 | 0.30 s / 0.76 s (report: 56.4, 54.7 s) | **1.35× / 1.67×** | | ≤ 1.2 |

The counting thread shared the interpreter (the GIL) with the bot's event loop and took a whole
core of two, and the month's million tuples stayed in the bot's memory high-water mark. Now a
child process (`bot/stats/freezer_process.py`, nice 10 and SCHED_BATCH) opens its own read-only
connection to the store, counts the periods a report needs (the weeks a month needs first, then
the month, and the trend's periods in the same process) and hands each one back to the bot,
whose one writer stores it; then it exits. The bot only passes small pickles on. Its peak is
reported above beside the report's process, not hidden.

Before the first fix (b04bf93, same store and machine, two rounds; the floor 1.79 and 3.35 s in
those rounds):

| | wall time | ratio to the floor | peak memory |
| --- | --- | --- | --- |
| report, first time | 116 and 161 s | **54×** | 694 MiB |
| report, frozen | 0.04–0.10 s | | 97 MiB |
| `lotse report`, first / frozen | 147 s / 1.5 s | | 693 / 95 MiB |
| `hilfe` meanwhile: bare p50 / p95 | 0.14 s / 0.21 s | | |
| `hilfe` meanwhile: Lotse p50 / p95 | **97.9 s / 118 s** (report: 98, 119 s) | **≈ 680× / 570×** | |

Before, every week read its rows and the week after it (late answers), the month read them all
again, each row got three HMACs (room, sender, team) and became a dataclass, all on the event
loop, and `!statistik` ran inside the worker that answers everyone: no command was answered
until the report was posted. After: the month and its weeks share one read of the store, a day
at a time (the store's one connection serves the bot in between); one HMAC per distinct person,
room and team; tuples with shared strings; each week counted only as far as its contacts'
answers need; a week's contacts paired and timed once for the organisation and its teams; the
counting in a worker thread, with a short switch interval and no cyclic garbage collection while
it runs (with the default 5 ms and the collector's full passes over millions of tuples, `hilfe`
was 1.40× the bare bot at p50 and 2.81× at p95 in this benchmark), since replaced by the child
process; `!statistik` answers at once and makes the report in the background. Once frozen, a
report reads only `stats_cell` (the rollups)."""


def report_month(today: dt.date | None = None) -> Period:
    """The last reporting month that is over (its weeks too)."""
    return period_containing(today or dt.datetime.now(TZ).date(), "month").previous()


def _id(prefix: str, n: int) -> str:
    return prefix + base64.urlsafe_b64encode(hashlib.sha256(f"{prefix}{n}".encode()).digest()).decode()[:43]


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def fill(data: Path, rows: int, people: int, bot_user: str, month: Period, seed: int = 15) -> dict[str, Any]:
    """A store at ``data`` (lotse.db, keys/pseudonym.key), filled; returns what went in."""
    from bot.store.db import DB_FILE, Database

    async def schema() -> None:
        db = await Database.open(data / DB_FILE)
        await db.migrate()
        await db.close()

    os.umask(0o077)  # Lotse refuses a data directory others can read
    data.mkdir(parents=True, exist_ok=True)
    asyncio.run(schema())
    key = load_or_create_key(data / "keys" / "pseudonym.key")
    subject = Pseudonymizer(key)
    rnd = random.Random(seed)
    workers_n = max(6, people // 16)
    clients_n = people - workers_n
    workers = [subject(f"@worker{i}:bench.invalid") for i in range(workers_n)]
    clients = [subject(f"@client{i}:bench.invalid") for i in range(clients_n)]
    bot = subject(bot_user)
    teams = [f"!{_id('t', i)[1:19]}:bench.invalid" for i in range(TEAMS)]
    team_workers = {t: workers[i::TEAMS] for i, t in enumerate(teams)}
    start = dt.datetime.combine(month.start - dt.timedelta(days=7), dt.time(0), TZ)
    end = dt.datetime.combine(month.end, dt.time(0), TZ)
    lo, hi = _ms(start), _ms(end)
    now = _ms(dt.datetime.now(TZ))

    con = sqlite3.connect(data / DB_FILE)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    room_rows: list[tuple[str, str, int]] = [(t, "team", lo - 86_400_000 * 90) for t in teams]
    intakes, consents, events = [], [], []
    rooms: list[tuple[str, str, str, list[str]]] = []  # (room, client, team, its workers)
    for i, c in enumerate(clients):
        team = teams[i % TEAMS]
        intake_room = f"!{_id('i', i)[1:19]}:bench.invalid"
        room = f"!{_id('r', i)[1:19]}:bench.invalid"
        mine = team_workers[team]
        worker = mine[i % len(mine)]
        rooms.append((room, c, team, [worker, worker, worker, mine[(i + 1) % len(mine)]]))
        # Most clients came before the span; one in seven is new in it.
        new = rnd.random() < 1 / 7
        created = rnd.randrange(lo, hi - 86_400_000) if new else lo - rnd.randrange(1, 300) * 86_400_000
        question = _id("$q", i)
        events.append((question, intake_room, bot, created + 60_000, "m.room.message"))
        room_rows += [(intake_room, "intake", created), (room, "consultation", created + 120_000)]
        intakes.append((intake_room, c, worker, "active", team, question, room, created, created + 120_000))
        consents.append((c, "given", created + 90_000))
    for i in range(max(3, clients_n // 40)):  # some say no (no counselling room)
        c = subject(f"@declined{i}:bench.invalid")
        intake_room = f"!{_id('d', i)[1:19]}:bench.invalid"
        created = rnd.randrange(lo, hi - 86_400_000)
        room_rows.append((intake_room, "intake", created))
        question = _id("$dq", i)
        events.append((question, intake_room, bot, created + 60_000, "m.room.message"))
        intakes.append((intake_room, c, None, "declined", teams[i % TEAMS], question, None, created, created))
        consents.append((c, "declined", created + 90_000))
    for c in rnd.sample(clients, max(3, clients_n // 50)):  # and some withdraw
        consents.append((c, "withdrawn", rnd.randrange(lo, hi - 86_400_000)))

    # Conversations: alternating turns of one to four messages, a client's at any hour, the
    # answers mostly in office hours; the bot says something now and then; reactions.
    per_room = rows * 94 // 100 // len(rooms)
    n = 0
    for room, client, _, who in rooms:
        ts = lo + rnd.randrange(0, 3_600_000)
        step = (hi - lo) // per_room
        speaker_client = True
        left = per_room
        while left > 0:
            run = min(left, rnd.randint(1, 4))
            sender = client if speaker_client else rnd.choice(who)
            for _ in range(run):
                ts += rnd.randint(step // 4, step * 7 // 4)
                if ts >= hi:
                    ts = hi - rnd.randrange(1, 3_600_000)
                kind = "m.room.message" if rnd.random() < 0.97 else "m.reaction"
                events.append((_id("$", n), room, sender, ts, kind))
                n += 1
            left -= run
            speaker_client = not speaker_client
    while len(events) < rows:  # the rest: team rooms and the bot's own messages
        if rnd.random() < 0.5:
            room, sender = rnd.choice(teams), rnd.choice(workers)
        else:
            room, sender = rnd.choice(rooms)[0], bot
        events.append((_id("$", n), room, sender, rnd.randrange(lo, hi), "m.room.message"))
        n += 1
    con.executemany("INSERT INTO room (room_id, kind, joined_at) VALUES (?, ?, ?)", room_rows)
    con.executemany(
        "INSERT INTO intake (room_id, subject, worker, state, notify_room, question_event,"
        " consultation_room, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        intakes,
    )
    con.executemany(
        "INSERT INTO consent_log (subject, scope, purpose, notice_version, language, decision,"
        " method, recorded_at) VALUES (?, 'client', 'counselling', '1', 'de', ?, 'number', ?)",
        sorted(consents, key=lambda c: c[2]),
    )
    con.executemany(
        "INSERT INTO consent_log (subject, scope, purpose, notice_version, language, decision,"
        " method, recorded_at) VALUES (?, 'worker_rules', 'employment', '1', 'de', 'acknowledged',"
        " 'command', ?)",
        [(w, lo - 86_400_000 * 100) for w in workers],
    )
    con.executemany(
        "INSERT INTO event_meta (event_id, room_id, sender, ts, type) VALUES (?, ?, ?, ?, ?)", events
    )
    rights = []
    for i in range(max(4, clients_n // 25)):
        at = rnd.randrange(lo, hi)
        rights.append(
            ("access" if i % 3 else "erasure", rnd.choice(clients), at, at + rnd.randrange(1, 72) * 3_600_000)
        )
    con.executemany(
        "INSERT INTO rights_request (kind, subject, requested_at, served_at) VALUES (?, ?, ?, ?)", rights
    )
    runs = [
        (t, t + 40_000, "schedule", rnd.randrange(0, 400), rnd.randrange(0, 20), 0)
        for t in range(lo, min(hi, now), 86_400_000)
    ]
    con.executemany(
        "INSERT INTO retention_run (started_at, finished_at, trigger, redacted, media_deleted, failures)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        runs,
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return {
        "rows": len(events),
        "people": workers_n + clients_n,
        "clients": clients_n,
        "workers": workers_n,
        "rooms": len(room_rows),
        "bot_subject": bot,
    }


# -- one measurement, in a process of its own -------------------------------------------------


def _settings(data: Path, bot_user: str = BOT) -> Any:
    from bot.config import Settings

    return Settings(
        homeserver={"url": "http://127.0.0.1:9"},
        bot={"user_id": bot_user, "password": "unused"},
        data_dir=data,
        log_level="WARNING",
    )


def _rss_mib() -> float:
    """This process's peak resident memory since it started (VmHWM; ru_maxrss would include the
    parent's at the time of the fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


FLOOR_ROWS = """
SELECT e.room_id AS room, e.sender AS sender, e.ts AS ts, i.notify_room AS team,
       CASE WHEN EXISTS (SELECT 1 FROM intake c WHERE c.subject = e.sender) THEN 'client'
            ELSE 'worker' END AS role
FROM event_meta e JOIN room r ON r.room_id = e.room_id AND r.kind = 'consultation'
LEFT JOIN intake i ON i.consultation_room = e.room_id
WHERE e.type IN ('m.room.message', 'm.room.encrypted', 'm.sticker') AND e.ts >= ? AND e.ts < ?
  AND e.sender != ?
"""


def child_sql(data: Path, month: Period, bot_subject: str) -> dict[str, Any]:
    """The floor: the report's message figures by a bare SQL group-by (per week and team, and
    for the month: rows per role, people, rooms, client turns)."""
    from bot.store.db import DB_FILE

    lo, hi = month.bounds_ms(TZ)
    base = _rss_mib()
    t0 = time.perf_counter()
    con = sqlite3.connect(data / DB_FILE)
    m = f"WITH m AS ({FLOOR_ROWS})"
    out = []
    out += con.execute(
        f"{m} SELECT (ts - ?) / 604800000 AS week, team, role, COUNT(*), COUNT(DISTINCT sender),"  # noqa: S608
        " COUNT(DISTINCT room) FROM m GROUP BY week, team, role",
        (lo, lo, hi, bot_subject),
    ).fetchall()
    out += con.execute(
        f"{m} SELECT role, COUNT(*), COUNT(DISTINCT sender), COUNT(DISTINCT room) FROM m GROUP BY role",  # noqa: S608
        (lo, hi, bot_subject),
    ).fetchall()
    out += con.execute(
        f"{m} SELECT (ts - ?) / 604800000 AS week, team, COUNT(*) FROM (SELECT ts, team, role,"  # noqa: S608
        " LAG(role) OVER (PARTITION BY room ORDER BY ts) AS prev FROM m)"
        " WHERE role = 'client' AND (prev IS NULL OR prev = 'worker') GROUP BY week, team",
        (lo, lo, hi, bot_subject),
    ).fetchall()
    con.close()
    return {
        "wall": time.perf_counter() - t0,
        "rss": _rss_mib(),
        "growth": _rss_mib() - base,
        "rows": len(out),
    }


def child_report(data: Path, month: Period) -> dict[str, Any]:
    """One monthly report as the CLI makes it (build, then the text), timed inside the process."""
    from bot.offline import offline_context
    from bot.stats import report as stats_report

    # The freezing process reports its own peak (VmHWM) in a log line of the report's process.
    # Not ru_maxrss of the children: Linux counts the parent's memory at the fork in it.
    peaks: list[float] = []

    class Peaks(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found = re.search(r"its peak memory (\d+) MiB", record.getMessage())
            if found:
                peaks.append(float(found.group(1)))

    rollup_log = logging.getLogger("bot.stats.rollup")
    rollup_log.addHandler(Peaks())
    rollup_log.setLevel(logging.INFO)

    async def go() -> dict[str, Any]:
        ctx, db = await offline_context(_settings(data))
        try:
            base = _rss_mib()
            t0 = time.perf_counter()
            report = await stats_report.build(ctx, month)
            text = stats_report.render_text(ctx, report, "de")
            wall = time.perf_counter() - t0
            return {
                "wall": wall,
                "rss": _rss_mib(),
                "growth": _rss_mib() - base,
                "chars": len(text),
                # The freezing process's peak (none once frozen): counted, not hidden.
                "freezer": max(peaks, default=0.0),
            }
        finally:
            await db.close()

    return asyncio.run(go())


def in_child(*args: str) -> dict[str, Any]:
    """Run this script with ``args`` in a new process; its JSON answer plus its own peak RSS."""
    proc = subprocess.Popen(  # noqa: S603 - this script
        [sys.executable, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args}: exit {proc.returncode}")
    answer: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    answer["maxrss"] = usage.ru_maxrss / 1024
    return answer


def cli(data: Path, month: Period) -> dict[str, Any]:
    """``lotse report --period MONTH`` as an admin types it: wall time and the process's peak RSS."""
    config = data.parent / "report.toml"
    config.write_text(
        f'data_dir = "{data}"\nlog_level = "WARNING"\n[homeserver]\nurl = "http://127.0.0.1:9"\n'
        f'[bot]\nuser_id = "{BOT}"\npassword = "unused"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot", "-c", str(config), "report", "--period", month.label],
        cwd=HERE.parent,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("lotse report failed")
    return {"wall": wall, "maxrss": usage.ru_maxrss / 1024}


def unfreeze(data: Path) -> None:
    """Forget every frozen period, so the next report freezes again (the bot is not running)."""
    from bot.store.db import DB_FILE

    con = sqlite3.connect(data / DB_FILE)
    con.execute("DELETE FROM stats_cell")
    con.execute("DELETE FROM stats_period")
    con.commit()
    con.close()


def offline(data: Path, month: Period, rounds: int, bot_subject: str) -> dict[str, list[dict[str, Any]]]:
    """Floor, first report, frozen report: interleaved, ``rounds`` times; then the CLI once each way."""
    got: dict[str, list[dict[str, Any]]] = {
        "sql": [],
        "first": [],
        "frozen": [],
        "cli_first": [],
        "cli_frozen": [],
    }
    for r in range(rounds):
        unfreeze(data)
        got["sql"].append(in_child("--child", "sql", str(data), month.label, bot_subject))
        got["first"].append(in_child("--child", "report", str(data), month.label))
        got["frozen"].append(in_child("--child", "report", str(data), month.label))
        print(
            f"round {r + 1}: sql {got['sql'][-1]['wall']:.2f} s, "
            f"first report {got['first'][-1]['wall']:.2f} s"
            f" ({got['first'][-1]['rss']:.0f} MiB, freezing process {got['first'][-1]['freezer']:.0f} MiB),"
            f" frozen {got['frozen'][-1]['wall']:.3f} s"
            f" ({got['frozen'][-1]['maxrss']:.0f} MiB)",
            flush=True,
        )
    unfreeze(data)
    got["cli_first"].append(cli(data, month))
    got["cli_frozen"].append(cli(data, month))
    print(
        f"lotse report: first {got['cli_first'][0]['wall']:.2f} s, "
        f"frozen {got['cli_frozen'][0]['wall']:.2f} s"
    )
    return got


# -- the bot answering while it makes the report ----------------------------------------------


async def _answer(p: Any, room: str, bot_id: str) -> float:
    from bench.procs import ask_for_help

    return await ask_for_help(p, room, bot_id, timeout=300)


def _lotse_config(
    tmp: Path, data: Path, server: Any, password: str, worker: str, admin: str, rooms: dict[str, str]
) -> Path:
    lines = [
        f"data_dir = {json.dumps(str(data))}",
        'log_level = "INFO"',
        "[homeserver]",
        f"url = {json.dumps(server.url)}",
        "[bot]",
        f"user_id = {json.dumps(BOT)}",
        f"password = {json.dumps(password)}",
        "[roles]",
        f"workers = {json.dumps([worker])}",
        f"admins = {json.dumps([admin])}",
        "[rooms]",
        *(f"{k} = {json.dumps(v)}" for k, v in rooms.items()),
        "[onboarding]",
        "page_port = 0",
        "[health]",
        "port = 0",
        "[retention]",
        "sweep_minutes = 100000",
    ]
    path = tmp / "lotse.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def _start_lotse(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    start = log.stat().st_size if log.exists() else 0  # noqa: ASYNC240 - a small log, once
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603, ASYNC220 - our own bot, once per report
            [sys.executable, "-m", "bot", "-c", str(config), "run"],
            cwd=HERE.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while b"Lotse is running" not in log.read_bytes()[start:]:  # noqa: ASYNC240 - polled twice a second
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Lotse did not start: {log.read_text()[-2000:]}")  # noqa: ASYNC240
        await asyncio.sleep(0.2)
    return proc


def _vmhwm_mib(pid: int) -> float:
    """Another process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _freezer_peaks(log: Path) -> list[float]:
    """The freezing processes' peaks as the bot logged them (each reports its own VmHWM)."""
    return [float(m) for m in re.findall(r"its peak memory (\d+) MiB", log.read_text())]


def _stop_lotse(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def fresh_session(data: Path) -> None:
    """Forget the bot's login and encryption state from an earlier run on another Synapse (a
    store kept with --keep): the rooms, people and messages stay."""
    import shutil

    from bot.store.db import DB_FILE

    shutil.rmtree(data / "nio-store", ignore_errors=True)
    for name in ("session.json", "keys/store.key", "keys/cross_signing.json"):
        (data / name).unlink(missing_ok=True)
    con = sqlite3.connect(data / DB_FILE)
    con.execute("DELETE FROM kv")
    con.commit()
    con.close()


async def online(tmp: Path, data: Path, month: Period, reports: int) -> dict[str, Any]:
    """``hilfe`` to the bare bot and to Lotse in turns while Lotse makes ``!statistik MONTH``."""
    from bench.common import bare_bot, persona
    from bot.devserver.synapse import SynapseServer, free_port

    tmp = tmp / f"online-{uuid.uuid4().hex[:6]}"  # a store kept with --keep outlives a run
    fresh_session(data)
    (tmp / "synapse").mkdir(parents=True)
    server = SynapseServer(tmp / "synapse", free_port())
    server.start()
    proc: subprocess.Popen[bytes] | None = None
    got: dict[str, Any] = {"bare": [], "lotse": [], "report_s": []}
    try:
        password = uuid.uuid4().hex
        server.register(BOT_LOCALPART, password, admin=True, user_type="bot")
        bare_id, stop_bare = await bare_bot(server, tmp / "bare")
        worker = await persona(server, tmp, "worker")
        admin = await persona(server, tmp, "admin")
        admin_room = await admin.create_room(invite=[BOT])
        leadership = await admin.create_room(invite=[BOT])
        config = _lotse_config(
            tmp,
            data,
            server,
            password,
            worker.user_id,
            admin.user_id,
            {"admin": admin_room, "leadership": leadership},
        )
        log = tmp / "lotse.log"
        bare_chat = await worker.create_room(invite=[bare_id], direct=True)
        lotse_chat = await worker.create_room(invite=[BOT], direct=True)
        await worker.wait_for_member(bare_chat, bare_id, "join", timeout=120)
        for n in range(reports):
            unfreeze(data)
            proc = await _start_lotse(config, log)
            await worker.wait_for_member(lotse_chat, BOT, "join", timeout=120)
            await admin.wait_for_member(admin_room, BOT, "join", timeout=120)
            await admin.wait_for_member(leadership, BOT, "join", timeout=120)
            for _ in range(3):  # warm up both
                await _answer(worker, bare_chat, bare_id)
                await _answer(worker, lotse_chat, BOT)
            await admin.sync()
            posted = len(admin.from_user(leadership, BOT))
            started = time.monotonic()
            await admin.send(admin_room, f"!statistik {month.label}")
            bare, lotse = [], []
            done = None
            while done is None:
                bare.append(await _answer(worker, bare_chat, bare_id))
                lotse.append(await _answer(worker, lotse_chat, BOT))
                await admin.sync()
                # Text, page, PDF and CSV in the leadership room: the report is there.
                if len(admin.from_user(leadership, BOT)) >= posted + 4:
                    done = time.monotonic() - started
            got["bare"] += bare
            got["lotse"] += lotse
            got["report_s"].append(done)
            got.setdefault("bot_rss", []).append(_vmhwm_mib(proc.pid))
            print(
                f"report {n + 1}: posted after {done:.1f} s; 'hilfe' meanwhile ({len(bare)} each):"
                f" bare p50 {statistics.median(bare):.2f} s, Lotse p50 {statistics.median(lotse):.2f} s,"
                f" worst {max(lotse):.2f} s",
                flush=True,
            )
            _stop_lotse(proc)
            proc = None
        got["freezer_rss"] = _freezer_peaks(log)
        await stop_bare()
        for p in (worker, admin):
            await p.close()
    finally:
        if proc is not None:
            _stop_lotse(proc)
        server.stop()
    return got


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs) if runs else float("nan")


def _range(runs: list[dict[str, Any]], key: str, fmt: str = ".2f") -> str:
    values = [r[key] for r in runs]
    if not values:
        return "–"
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def section(
    args: argparse.Namespace,
    filled: dict[str, Any],
    month: Period,
    off: dict[str, Any],
    on: dict[str, Any] | None,
) -> str:
    sql, first, frozen = off["sql"], off["first"], off["frozen"]
    first_ratio = _med(first, "wall") / _med(sql, "wall")
    lines = [
        f"## Report: one month over {filled['rows']:,} metadata rows (`bench_report.py`, issue #15.5/#15.1)",
        "",
        f"A store as a counselling service fills it: {filled['people']} people "
        f"({filled['workers']} workers in "
        f"{TEAMS} teams, the others clients with intake and counselling room), {filled['rooms']} rooms, "
        f"{filled['rows']:,} metadata rows over five weeks (conversations in turns, the bot's messages, "
        f"reactions, team rooms), consents, rights requests, retention runs. The report for {month.label} "
        "(and its twelve-month trend), each in a fresh process, interleaved with the floor: a bare SQL "
        "group-by of the message figures (rows per role, people, rooms, client turns; per week, team and "
        f"month). Peak memory is the process's high-water mark (VmHWM). {machine()}.",
        "",
        "| | wall time | ratio to the floor | peak memory (process) | growth | freezing process's peak "
        "| target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| bare SQL group-by (floor) | {_range(sql, 'wall')} s | 1 | {_range(sql, 'rss', '.0f')} MiB | "
        f"{_range(sql, 'growth', '.0f')} MiB | | |",
        f"| report, first time (freezes weeks and months) | {_range(first, 'wall')} s | "
        f"**{first_ratio:.1f}×** | "
        f"{_range(first, 'rss', '.0f')} MiB | {_range(first, 'growth', '.0f')} MiB | "
        f"{_range(first, 'freezer', '.0f')} MiB | < 250 MB each |",
        f"| report, frozen | {_range(frozen, 'wall', '.3f')} s | "
        f"{_med(frozen, 'wall') / _med(sql, 'wall'):.2f}× | "
        f"{_range(frozen, 'rss', '.0f')} MiB | {_range(frozen, 'growth', '.0f')} MiB | none | "
        "< 1 s, < 250 MB |",
        f"| `lotse report --period {month.label}` (CLI, start-up included), first / frozen | "
        f"{off['cli_first'][0]['wall']:.2f} s / {off['cli_frozen'][0]['wall']:.2f} s | | "
        f"{off['cli_first'][0]['maxrss']:.0f} / {off['cli_frozen'][0]['maxrss']:.0f} MiB "
        "(the larger of the CLI and its freezing process) | | | |",
    ]
    if on is not None and on["bare"]:
        b50, b95 = percentile(on["bare"], 50), percentile(on["bare"], 95)
        l50, l95 = percentile(on["lotse"], 50), percentile(on["lotse"], 95)
        lines += [
            "",
            f"`hilfe` answered while an admin's `!statistik {month.label}` freezes and posts the report "
            f"(Lotse in its own process on that store, {len(on['report_s'])}× with the frozen figures "
            "cleared; "
            f"{len(on['lotse'])} commands to each bot, in turns with the bare nio bot on the same Synapse; "
            f"report posted after {', '.join(f'{s:.1f}' for s in on['report_s'])} s):",
            "",
            "| | p50 | p95 | worst |",
            "| --- | --- | --- | --- |",
            f"| bare nio bot | {b50:.2f} s | {b95:.2f} s | {max(on['bare']):.2f} s |",
            f"| Lotse | {l50:.2f} s | {l95:.2f} s | {max(on['lotse']):.2f} s |",
            f"| ratio | **{l50 / b50:.2f}×** | **{l95 / b95:.2f}×** | | (target ≤ 1.2) |",
        ]
        if on.get("bot_rss"):
            peaks = on.get("freezer_rss") or [float("nan")]
            lines += [
                "",
                "Peak memory meanwhile (VmHWM): the bot's process "
                f"{', '.join(f'{m:.0f}' for m in on['bot_rss'])} MiB (start-up, sync and the report's "
                "rendering included), its freezing process "
                f"{', '.join(f'{m:.0f}' for m in peaks)} MiB (each reports its own; target < 250 MB each).",
            ]
    if BEFORE_TEXT:
        lines += ["", BEFORE_TEXT]
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        what, data, label = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
        from bot.stats.periods import parse_period

        month = parse_period(label)
        if what == "fill":
            filled = fill(data, int(sys.argv[5]), int(sys.argv[6]), BOT, month)
            (data.parent / "filled.json").write_text(json.dumps(filled))
            return 0
        answer = child_sql(data, month, sys.argv[5]) if what == "sql" else child_report(data, month)
        print(json.dumps(answer))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=850)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reports", type=int, default=2)
    parser.add_argument("--no-bot", action="store_true", help="only the offline part (no Synapse)")
    parser.add_argument("--keep", type=Path, default=None, help="fill (or reuse) the store here")
    args = parser.parse_args()
    month = report_month()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.keep or Path(tmp_name)
        data = tmp / "data"
        t0 = time.perf_counter()
        if not (data.parent / "filled.json").exists():
            # In a process of its own: this one stays small, so the processes it starts do not
            # inherit a large high-water mark.
            subprocess.run(  # noqa: S603 - this script
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "fill",
                    str(data),
                    month.label,
                    str(args.rows),
                    str(args.people),
                ],
                check=True,
            )
        filled = json.loads((data.parent / "filled.json").read_text())
        print(f"store: {filled} in {time.perf_counter() - t0:.1f} s; month {month.label}", flush=True)
        off = offline(data, month, args.rounds, filled["bot_subject"])
        on = None if args.no_bot else asyncio.run(online(tmp, data, month, args.reports))
    if off["first"]:
        ratio = _med(off["first"], "wall") / _med(off["sql"], "wall")
        print(
            f"ratio report/floor: first {ratio:.2f}x ({_med(off['first'], 'wall'):.2f} s, "
            f"{max(r['rss'] for r in off['first']):.0f} MiB, its freezing process "
            f"{max(r['freezer'] for r in off['first']):.0f} MiB), frozen {_med(off['frozen'], 'wall'):.3f} s"
        )
    if on is not None:
        print(
            f"ratio lotse/bare 'hilfe' during the report: p50 "
            f"{percentile(on['lotse'], 50) / percentile(on['bare'], 50):.2f}x, p95 "
            f"{percentile(on['lotse'], 95) / percentile(on['bare'], 95):.2f}x"
        )
    record("report", section(args, filled, month, off, on))
    return 0


if __name__ == "__main__":
    sys.exit(main())

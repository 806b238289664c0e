"""Command latency of an idle bot, side by side with a bare nio bot (issue #15.1, idle).

    .venv/bin/python bench/bench_latency.py [--commands 100]

Lotse and a bare matrix-nio bot run at the same time on one Synapse, each in a process of its
own. A worker has an encrypted 1:1 chat with each and sends ``!hilfe`` to one, waits for the
answer, then to the other (the order swapped every time), ``--commands`` times each. Printed:
p50 and p95 of the time from sending to seeing the answer, and the ratio Lotse / bare bot
(target ≤ 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import persona
from bench.procs import BotProcess, ask_for_help, settle
from bench.restartable import bot_account
from bench.results import machine, percentile, record
from bot.devserver.synapse import SynapseServer, free_port
from tests.e2e.personas import Persona

# Measured by the session that filed issue #15 (in-process bots, before b04bf93): p50 1.06×, p95
# 1.07×. This script's own first run, at b04bf93, is kept beside it.
BEFORE = {"commit": "b04bf93", "p50": 0.97, "p95": 1.00}


async def chat_with(worker: Persona, bot: BotProcess) -> str:
    room = await worker.create_room(invite=[bot.user_id], direct=True)
    await worker.wait_for_member(room, bot.user_id, "join", timeout=120)
    await settle(worker, 2)  # the bot's greeting, its device keys
    return room


async def measure(
    worker: Persona, bots: dict[str, tuple[BotProcess, str]], commands: int
) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {name: [] for name in bots}
    order = list(bots)
    for i in range(commands):
        for name in order if i % 2 == 0 else reversed(order):
            bot, room = bots[name]
            got[name].append(await ask_for_help(worker, room, bot.user_id, timeout=120))
    return got


def section(commands: int, got: dict[str, list[float]]) -> str:
    def p(name: str, q: float) -> float:
        return percentile(got[name], q)

    r50, r95 = p("lotse", 50) / p("bare", 50), p("lotse", 95) / p("bare", 95)
    ms = {(n, q): f"{p(n, q) * 1000:.0f} ms" for n in got for q in (50, 95)}
    return f"""## Latency: `!hilfe` to an idle bot (`bench_latency.py --commands {commands}`, issue #15.1)

A worker sends `!hilfe` in an encrypted 1:1 chat and waits for the answer, {commands} times to
each bot, alternating between a bare matrix-nio bot and Lotse (both running at the same time on
the same Synapse, each in its own process). {machine()}.

| | p50 | p95 | ratio p50 | ratio p95 |
| --- | --- | --- | --- | --- |
| bare nio bot | {ms["bare", 50]} | {ms["bare", 95]} | 1 | 1 |
| Lotse | {ms["lotse", 50]} | {ms["lotse", 95]} | **{r50:.2f}×** (≤ 1.2) | **{r95:.2f}×** (≤ 1.2) |
| before ({BEFORE["commit"]}) | | | {BEFORE["p50"]:.2f}× | {BEFORE["p95"]:.2f}× |
"""


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=100)
    args = parser.parse_args()
    logging.getLogger("nio").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = SynapseServer(tmp / "synapse", free_port())
        (tmp / "synapse").mkdir()
        server.start()
        procs: list[BotProcess] = []
        try:
            worker = await persona(server, tmp, "worker")
            bare = BotProcess("bare", server.url, *bot_account(server, "bare"), tmp / "bare", [])
            lotse = BotProcess(
                "lotse", server.url, *bot_account(server, "lotse"), tmp / "lotse", [worker.user_id]
            )
            procs = [bare, lotse]
            for bot in procs:
                bot.start()
            bots = {
                "bare": (bare, await chat_with(worker, bare)),
                "lotse": (lotse, await chat_with(worker, lotse)),
            }
            got = await measure(worker, bots, args.commands)
            await worker.close()
        finally:
            for bot in procs:
                bot.stop()
            server.stop()
    for name, values in got.items():
        p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
        print(f"{name:5}: p50 {p50:6.1f} ms, p95 {p95:6.1f} ms")
    r50 = percentile(got["lotse"], 50) / percentile(got["bare"], 50)
    r95 = percentile(got["lotse"], 95) / percentile(got["bare"], 95)
    mean = statistics.mean(got["lotse"]) / statistics.mean(got["bare"])
    print(f"ratio lotse/bare: p50 {r50:.2f}×, p95 {r95:.2f}× (mean {mean:.2f}×)")
    record("latency", section(args.commands, got))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Bots as child processes (bench/botproc.py) and a person asking them for help: what the latency
and footprint benchmarks share."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.personas import Persona

BOTPROC = Path(__file__).resolve().parent / "botproc.py"


class BotProcess:
    """``bench/botproc.py KIND …`` started and stopped; its memory read from /proc."""

    def __init__(self, kind: str, url: str, user_id: str, password: str, data: Path, workers: list[str]):
        self.kind = kind
        self.user_id = user_id
        self.args = [kind, url, user_id, password, str(data), *workers]
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> float:
        log = (self.data.parent / f"{self.data.name}.log").open("ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(BOTPROC), *self.args], stdout=log, stderr=subprocess.STDOUT
        )
        return self.started

    def memory_mib(self) -> tuple[float, float]:
        """(resident now, peak resident) of the bot's process, MiB."""
        assert self.proc is not None
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


async def ask_for_help(person: Persona, room: str, bot: str, timeout: float = 300) -> float:
    """Send ``!hilfe`` and wait for the bot's answer to it; seconds from sending to seeing it."""
    sent_at = time.monotonic()
    event_id = await person.send(room, "!hilfe")
    await answer_to(person, room, bot, {event_id}, timeout)
    return time.monotonic() - sent_at


async def answer_to(person: Persona, room: str, bot: str, asked: set[str], timeout: float) -> None:
    await person.wait_for(
        lambda: any(m.in_reply_to in asked for m in person.from_user(room, bot)),
        timeout,
        f"{bot}'s answer",
    )


async def settle(person: Persona, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await person.sync(timeout_ms=500)
        await asyncio.sleep(0)

"""The child process that counts a period's first freeze: ``python -m bot.stats.freezer_process``.

Freezing a month reads a million metadata rows and counts them for seconds on a whole core.
In the bot's own process that holds the interpreter (the GIL) against the event loop, and the
month's tuples raise the bot's memory for good. So the bot starts this process for it: at a
lower priority, with its own read-only connection to the store, it computes the periods (the
weeks a month needs, then the month) and hands each one back to the bot, whose one writer
stores it; it waits for that before it goes on, so a month adds up its weeks as stored. It
never writes, and it exits when done, its memory with it.

The protocol, both ways: frames of a 4-byte length and a pickle (parent and child are the same
program; nothing else writes to these pipes). In: a :class:`Job`, then one acknowledgement per
period handed back. Out: ``("freeze", FrozenPeriod)`` per period, then ``("done", Done)``, or
``("failed", reason)``. Its log goes to stderr, configured as the bot's (:mod:`bot.logsetup`);
like the bot it logs pseudonyms and counts only (the store holds nothing else).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.i18n import Catalog
    from bot.pseudonym import Pseudonymizer
    from bot.stats.freezing import CountingSettings
    from bot.store.db import StoreLocation
    from bot.store.stats import FrozenPeriod

log = logging.getLogger(__name__)

MODULE = "bot.stats.freezer_process"
# Below the bot (nice 0): under load the scheduler gives the bot's answers the cores first.
NICENESS = 10
LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class Job:
    periods: tuple[str, ...]  # their labels (2026-11, 2026-W47), in the order to freeze them
    store: StoreLocation
    stats: CountingSettings
    catalog: Catalog
    pseudonyms: Pseudonymizer
    bot_subject: str
    log_level: str


@dataclass(frozen=True)
class Done:
    seconds: float
    peak_kib: int  # the child's VmHWM: what the month's rows cost, reported, not hidden


def frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(data)) + data


def _read(stream: IO[bytes]) -> Any:
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        raise EOFError("the bot closed the pipe")
    (size,) = LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the bot closed the pipe")
    return pickle.loads(data)  # noqa: S301 - from the bot that started this process


def _write(stream: IO[bytes], message: object) -> None:
    stream.write(frame(message))
    stream.flush()


def peak_kib() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def lower_priority() -> None:
    """Nice, and where the system allows, SCHED_BATCH (a CPU-bound job the scheduler need not
    wake promptly). Not SCHED_IDLE: on a busy machine that could starve the report for good."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


async def _run(job: Job, inbox: IO[bytes], outbox: IO[bytes]) -> None:
    from bot.stats import freezing
    from bot.stats.periods import parse_period
    from bot.store.db import Database
    from bot.store.stats import StatsStore

    async def hand_back(period: FrozenPeriod) -> None:
        # Blocking I/O is fine here: this process does nothing else meanwhile.
        _write(outbox, ("freeze", period))
        answer = _read(inbox)
        if answer != "stored":
            raise RuntimeError(f"the bot did not store {period.period}: {answer}")

    db = await Database.open_reader(job.store)
    try:
        counter = freezing.Counter(
            StatsStore(db), job.stats, job.catalog, job.pseudonyms, job.bot_subject, hand_back
        )
        for label in job.periods:
            await freezing.get(counter, parse_period(label), freezing.Source(counter))
    finally:
        await db.close()


def main() -> int:
    # The protocol's channel is the original stdout; anything printed goes to stderr instead.
    outbox = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inbox = sys.stdin.buffer
    lower_priority()
    # No cyclic garbage collection: a freeze makes millions of tuples without cycles, and each
    # full pass walks them all. The process exits afterwards, its memory with it.
    gc.disable()
    started = time.monotonic()
    try:
        job: Job = _read(inbox)
    except EOFError:
        return 2
    from bot.logsetup import configure

    configure(job.log_level)
    try:
        asyncio.run(_run(job, inbox, outbox))
    except Exception as exc:
        # The type only: the bot logs that the freeze failed; details stay in this log.
        log.exception("freezing %s failed", ", ".join(job.periods))
        with contextlib.suppress(OSError):
            _write(outbox, ("failed", type(exc).__name__))
        return 1
    _write(outbox, ("done", Done(time.monotonic() - started, peak_kib())))
    return 0


if __name__ == "__main__":
    # Run as the module's own name, not as __main__: what it pickles (Done) must unpickle in
    # the bot as bot.stats.freezer_process.Done.
    from bot.stats.freezer_process import main as _main

    sys.exit(_main())

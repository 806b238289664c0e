"""Periodic jobs (retention sweeps, postponed erasures, reports) with their own error handling.

A job that fails is logged and tried again at its next interval; it never takes the bot down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    interval: float
    run: Callable[[], Awaitable[object]]
    # Seconds before the first run: lets start-up finish first.
    first_delay: float = 5.0


class Scheduler:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: dict[str, asyncio.Event] = {}
        # Told after every run of a periodic job: (job name, succeeded). Metrics use it.
        self.observer: Callable[[str, bool], None] | None = None

    def start(self, job: Job) -> None:
        wake = self._wake.setdefault(job.name, asyncio.Event())
        task = asyncio.create_task(self._loop(job, wake), name=f"job:{job.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def spawn(self, name: str, work: Awaitable[object]) -> None:
        """One-off background work (a sweep an admin started): kept referenced, errors logged,
        cancelled with the other jobs at shutdown."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed", name)

        task = asyncio.create_task(guarded(), name=f"once:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def trigger(self, name: str) -> None:
        """Run a job now instead of waiting for its interval."""
        if name in self._wake:
            self._wake[name].set()

    async def _loop(self, job: Job, wake: asyncio.Event) -> None:
        delay = job.first_delay
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
            wake.clear()
            delay = job.interval
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s failed; next try in %.0fs", job.name, job.interval)
                self._observe(job.name, False)
            else:
                self._observe(job.name, True)

    def _observe(self, name: str, ok: bool) -> None:
        if self.observer is not None:
            try:
                self.observer(name, ok)
            except Exception:
                log.exception("observing job %s failed", name)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

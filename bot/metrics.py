"""Prometheus metrics: how much the bot does and whether it keeps up, never about whom.

Every bot has its own :class:`CollectorRegistry` (several bots run in one test session, and the
global registry would mix them). Labels are only ever a command's key, an outcome, a job's
name or an event kind: values from fixed sets in the code. :func:`label` enforces that: a value
that looks like anything else (a user, room or event ID, free text) becomes ``other``, so no
personal data can reach a label even by mistake.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Lower-case words with spaces, dots, dashes and underscores: a command key ("my_data"), a job
# name ("leadership report"), an outcome. No "@", "!", "$", "#", ":" — every Matrix ID has one.
_LABEL = re.compile(r"[a-z][a-z0-9 _.-]{0,39}")

COMMAND_OUTCOMES = ("ok", "refused", "forbidden", "wrong_room", "rules_pending", "unknown", "error")


def label(value: str) -> str:
    """``value`` if it is a plain word from the code's fixed sets, else ``other``."""
    return value if _LABEL.fullmatch(value) else "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("lotse_events", "Events the bot handled, by kind", ["kind"], registry=r)
        self.commands = Counter(
            "lotse_commands", "Commands, by command and outcome", ["command", "outcome"], registry=r
        )
        self.sweeps = Counter("lotse_sweeps", "Retention sweeps, by outcome", ["outcome"], registry=r)
        self.redactions = Counter("lotse_redactions", "Messages redacted by retention sweeps", registry=r)
        self.media_deleted = Counter("lotse_media_deleted", "Media files deleted by retention", registry=r)
        self.failures = Counter("lotse_failures", "Failures, by where they happened", ["kind"], registry=r)
        self.jobs = Counter(
            "lotse_job_runs", "Runs of periodic jobs, by job and outcome", ["job", "outcome"], registry=r
        )
        self.job_last_success = Gauge(
            "lotse_job_last_success_timestamp_seconds",
            "When a periodic job last finished without error (Unix time)",
            ["job"],
            registry=r,
        )
        self.last_sweep = Gauge(
            "lotse_last_sweep_timestamp_seconds", "When the last retention sweep finished", registry=r
        )
        self.syncs = Counter("lotse_syncs", "Completed syncs with the homeserver", registry=r)
        self.sync_lag = Gauge(
            "lotse_sync_lag_seconds", "Seconds since the last sync with the homeserver completed", registry=r
        )
        self.queue_depth = Gauge("lotse_queue_depth", "Synced batches waiting to be handled", registry=r)
        self.waiting_for_keys = Gauge(
            "lotse_events_waiting_for_keys", "Encrypted events waiting for their room key", registry=r
        )
        self.event_delay = Histogram(
            "lotse_event_delay_seconds",
            "From an event's server timestamp to the bot handling it",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
            registry=r,
        )
        self.store_writable = Gauge(
            "lotse_store_writable", "1 while the store takes writes, 0 while they are held", registry=r
        )
        self.started = Gauge("lotse_start_time_seconds", "When this bot process started", registry=r)
        self.started.set(time.time())

    # -- what the bot reports ----------------------------------------------------------------

    def event(self, kind: str, server_ts_ms: int | None = None, now: float | None = None) -> None:
        self.events.labels(label(kind)).inc()
        if server_ts_ms is not None:
            delay = (now if now is not None else time.time()) - server_ts_ms / 1000
            if delay >= 0:
                self.event_delay.observe(delay)

    def command(self, key: str, outcome: str) -> None:
        self.commands.labels(label(key), outcome if outcome in COMMAND_OUTCOMES else "other").inc()

    def failure(self, kind: str) -> None:
        self.failures.labels(label(kind)).inc()

    def sweep(self, outcome: str, *, redacted: int = 0, media: int = 0, failures: int = 0) -> None:
        self.sweeps.labels(label(outcome)).inc()
        self.redactions.inc(redacted)
        self.media_deleted.inc(media)
        if failures:
            self.failures.labels("retention").inc(failures)
        if outcome == "ok":
            self.last_sweep.set(time.time())

    def job_finished(self, name: str, ok: bool) -> None:
        self.jobs.labels(label(name), "ok" if ok else "error").inc()
        if ok:
            self.job_last_success.labels(label(name)).set(time.time())
        else:
            self.failure("job")

    def track(
        self,
        *,
        queue_depth: Callable[[], float],
        waiting_for_keys: Callable[[], float],
        sync_age: Callable[[], float],
        store_writable: Callable[[], float] = lambda: 1.0,
    ) -> None:
        """Gauges read at scrape time from the running bot."""
        self.queue_depth.set_function(queue_depth)
        self.waiting_for_keys.set_function(waiting_for_keys)
        self.sync_lag.set_function(sync_age)
        self.store_writable.set_function(store_writable)

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))

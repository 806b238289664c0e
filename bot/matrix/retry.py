"""When to try a homeserver request again, and how long to wait first.

Three kinds of failure are worth retrying: rate limiting (HTTP 429 / ``M_LIMIT_EXCEEDED``,
which says how long to wait in ``retry_after_ms``), server errors (5xx, e.g. while a reverse
proxy has no backend) and transport errors (connection refused, timeouts). Everything else
(403, 404, 400 …) is an answer, and repeating the request would only repeat the answer.

The wait grows exponentially from ``base`` up to ``cap`` with full jitter, so a fleet of
clients does not reconnect in lock-step after an outage. A server-given ``retry_after_ms``
is honoured but bounded by ``cap``: a server asking for five minutes must not stall a reply
that long, and the next attempt simply gets a new answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 0.5
    cap: float = 30.0
    # None: retry forever (the sync loop); a number bounds one-off requests such as sends.
    max_attempts: int | None = 8

    def delay(
        self, attempt: int, retry_after_ms: int | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` starts at 1)."""
        if retry_after_ms is not None and retry_after_ms > 0:
            return min(retry_after_ms / 1000.0, self.cap)
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt - 1, 32))
        r: float = (rng or random).random()
        # Keep at least half the ceiling so a retry never comes back instantly.
        return ceiling / 2 + r * ceiling / 2

    def gives_up_after(self, attempt: int) -> bool:
        return self.max_attempts is not None and attempt >= self.max_attempts


def is_retryable_status(http_status: int | None, errcode: str | None) -> bool:
    if errcode == "M_LIMIT_EXCEEDED" or http_status == 429:
        return True
    return http_status is not None and 500 <= http_status < 600

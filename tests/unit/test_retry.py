"""bot/matrix/retry.py: back-off delays and which failures are retried."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.matrix.retry import RetryPolicy, is_retryable_status


class FixedRandom(random.Random):
    """A Random whose random() always returns ``value``."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def ceiling(policy: RetryPolicy, attempt: int) -> float:
    return min(policy.cap, policy.base * 2 ** (attempt - 1))


def test_delay_bounds_with_extreme_jitter() -> None:
    p = RetryPolicy(base=0.5, cap=30.0)
    # attempt 1: ceiling 0.5, attempt 4: ceiling 4.0
    assert p.delay(1, rng=FixedRandom(0.0)) == pytest.approx(0.25)
    assert p.delay(1, rng=FixedRandom(1.0)) == pytest.approx(0.5)
    assert p.delay(4, rng=FixedRandom(0.0)) == pytest.approx(2.0)
    assert p.delay(4, rng=FixedRandom(1.0)) == pytest.approx(4.0)
    assert p.delay(4, rng=FixedRandom(0.5)) == pytest.approx(3.0)


def test_delay_grows_then_is_capped() -> None:
    p = RetryPolicy(base=0.5, cap=30.0)
    rng = FixedRandom(0.999)
    delays = [p.delay(a, rng=rng) for a in range(1, 20)]
    assert delays == sorted(delays)
    assert delays[1] > delays[0] * 1.9  # doubles while below the cap
    assert max(delays) <= 30.0
    # From attempt 8 on (0.5 * 2**7 = 64 > 30) the ceiling is the cap.
    assert all(d == pytest.approx(30.0 * 0.5 + 0.999 * 15.0) for d in delays[7:])


def test_delay_minimum_is_half_the_cap_when_capped() -> None:
    p = RetryPolicy(base=1.0, cap=10.0)
    assert p.delay(50, rng=FixedRandom(0.0)) == pytest.approx(5.0)


@given(attempt=st.integers(min_value=1, max_value=1000), r=st.floats(0.0, 1.0))
def test_property_jitter_within_half_ceiling_and_ceiling(attempt: int, r: float) -> None:
    p = RetryPolicy(base=0.5, cap=30.0)
    c = ceiling(p, attempt)
    d = p.delay(attempt, rng=FixedRandom(r))
    assert c / 2 <= d <= c
    assert d <= p.cap


def test_delay_uses_module_random_without_rng() -> None:
    p = RetryPolicy(base=2.0, cap=30.0)
    for _ in range(50):
        assert 1.0 <= p.delay(1) <= 2.0


def test_retry_after_is_honoured() -> None:
    p = RetryPolicy(base=0.5, cap=30.0)
    assert p.delay(1, retry_after_ms=1500, rng=FixedRandom(0.0)) == pytest.approx(1.5)
    # Independent of the attempt number and of the jitter.
    assert p.delay(7, retry_after_ms=1500, rng=FixedRandom(0.9)) == pytest.approx(1.5)


def test_retry_after_is_capped() -> None:
    p = RetryPolicy(base=0.5, cap=30.0)
    assert p.delay(1, retry_after_ms=5 * 60 * 1000) == pytest.approx(30.0)


@pytest.mark.parametrize("retry_after", [0, -100, None])
def test_non_positive_retry_after_falls_back_to_backoff(retry_after: int | None) -> None:
    p = RetryPolicy(base=0.5, cap=30.0)
    assert p.delay(3, retry_after_ms=retry_after, rng=FixedRandom(1.0)) == pytest.approx(2.0)


def test_delay_for_very_late_attempts_is_the_cap() -> None:
    p = RetryPolicy(base=0.5, cap=30.0, max_attempts=None)
    assert p.delay(1025, rng=FixedRandom(1.0)) == pytest.approx(30.0)


def test_gives_up_after_max_attempts() -> None:
    p = RetryPolicy(max_attempts=3)
    assert [p.gives_up_after(a) for a in (1, 2, 3, 4)] == [False, False, True, True]


def test_never_gives_up_without_max_attempts() -> None:
    p = RetryPolicy(max_attempts=None)
    assert not any(p.gives_up_after(a) for a in (1, 10, 10_000, 10**9))


def test_default_policy_bounds_one_off_requests() -> None:
    p = RetryPolicy()
    assert p.max_attempts is not None
    assert p.gives_up_after(p.max_attempts)


@pytest.mark.parametrize(
    ("status", "errcode", "expected"),
    [
        (429, None, True),
        (429, "M_LIMIT_EXCEEDED", True),
        (400, "M_LIMIT_EXCEEDED", True),
        (None, "M_LIMIT_EXCEEDED", True),
        (500, None, True),
        (502, "M_UNKNOWN", True),
        (503, None, True),
        (599, None, True),
        (600, None, False),
        (499, None, False),
        (400, "M_BAD_JSON", False),
        (401, "M_UNKNOWN_TOKEN", False),
        (403, "M_FORBIDDEN", False),
        (404, "M_NOT_FOUND", False),
        (200, None, False),
        (None, None, False),
    ],
)
def test_is_retryable_status(status: int | None, errcode: str | None, expected: bool) -> None:
    assert is_retryable_status(status, errcode) is expected

"""Metrics never carry personal data in labels; /health's report deadline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.health import report_due
from bot.metrics import Metrics, label

TZ = ZoneInfo("Europe/Berlin")
EIGHT = dt.time(8, 0)


@pytest.mark.parametrize(
    "value",
    ["@anna:example.org", "!room:example.org", "$event", "#team:example.org", "Hallo Welt", "x" * 60, ""],
)
def test_anything_but_a_plain_word_becomes_other(value: str) -> None:
    assert label(value) == "other"


@pytest.mark.parametrize("value", ["help", "my_data", "leadership report", "room aliases", "clock_ahead"])
def test_plain_words_from_the_code_stay(value: str) -> None:
    assert label(value) == value


def test_each_bot_has_its_own_registry_and_ids_never_reach_it() -> None:
    one, two = Metrics(), Metrics()
    one.command("help", "ok")
    one.command("@anna:example.org", "ok")
    one.event("message", server_ts_ms=0)
    one.job_finished("!room:example.org", False)
    one.sweep("ok", redacted=3, media=1, failures=2)
    text = one.exposition().decode()
    assert 'lotse_commands_total{command="help",outcome="ok"} 1.0' in text
    assert 'lotse_commands_total{command="other",outcome="ok"} 1.0' in text
    assert "lotse_redactions_total 3.0" in text
    assert 'lotse_failures_total{kind="retention"} 2.0' in text
    assert 'lotse_failures_total{kind="job"} 1.0' in text
    assert "example.org" not in text
    assert 'command="help"' not in two.exposition().decode()


def test_report_is_due_two_hours_after_its_time() -> None:
    started = dt.datetime(2026, 11, 1, tzinfo=TZ).timestamp()  # running for weeks
    monday = dt.datetime(2026, 11, 30, 9, 0, tzinfo=TZ)  # Monday of week 49, 9:00
    assert report_due(monday, 0, EIGHT, None, started) == ("2026-W48", False)  # 1 h late: grace
    late = monday.replace(hour=10, minute=30)
    assert report_due(late, 0, EIGHT, None, started) == ("2026-W48", True)
    assert report_due(late, 0, EIGHT, "2026-W48", started) == ("2026-W48", False)
    # Sunday: last Monday's report (week 47) is the one that should be out.
    sunday = dt.datetime(2026, 11, 29, 12, 0, tzinfo=TZ)
    assert report_due(sunday, 0, EIGHT, "2026-W47", started) == ("2026-W47", False)
    # A bot started after the report was due gets two hours to catch up.
    restarted = late.timestamp() - 600
    assert report_due(late, 0, EIGHT, None, restarted) == ("2026-W48", False)

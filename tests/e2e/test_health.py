"""/health and /metrics, fetched over HTTP from a running bot against the real homeserver."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory, with_team

pytestmark = pytest.mark.e2e

_SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def value(found: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in found if n == name and all(lab.get(k) == w for k, w in labels.items()))


async def test_health_and_metrics_over_http(bot: BotHarness, persona: PersonaFactory) -> None:
    worker, team = await with_team(bot, persona)
    assert bot.instance is not None and bot.instance.health_url is not None
    base = bot.instance.health_url
    assert base.startswith("http://127.0.0.1:"), "loopback by default"

    command = await worker.send(team, "!hilfe")
    await worker.wait_for(
        lambda: [m for m in worker.from_user(team, bot.user_id) if m.in_reply_to == command], what="reply"
    )
    await worker.send(team, "!gibtsnicht")

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/health") as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            assert resp.headers["Cache-Control"] == "no-store"
        assert body["status"] == "ok"
        checks = body["checks"]
        assert set(checks) == {"sync", "store", "sweep", "report"}
        assert checks["sync"]["running"] is True and checks["sync"]["last_sync_age_seconds"] < 60
        assert checks["store"]["ok"] is True
        assert checks["sweep"]["ok"] is True  # just started: the first sweep is not due yet
        assert checks["report"] == {"ok": True, "configured": False, "last_period": None}

        for _ in range(50):  # the unknown command is handled a moment after the help
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = await resp.text()
            found = samples(text)
            if value(found, "lotse_commands_total", outcome="unknown"):
                break
            await asyncio.sleep(0.2)
        assert value(found, "lotse_commands_total", command="help", outcome="ok") >= 1
        assert value(found, "lotse_commands_total", outcome="unknown") >= 1
        assert value(found, "lotse_events_total", kind="message") >= 2
        assert value(found, "lotse_events_total", kind="recorded") >= 2
        assert value(found, "lotse_syncs_total") >= 1
        assert [n for n, _, _ in found if n == "lotse_queue_depth"]
        assert 0 <= value(found, "lotse_sync_lag_seconds") < 60
        assert value(found, "lotse_event_delay_seconds_count") >= 2

        # No personal data in any label: no user, room or event ID, no message text.
        for _, labels, _ in found:
            for v in labels.values():
                assert not re.search(r"[@!$#:]", v), v
                assert "gibtsnicht" not in v
        for secret in (worker.user_id, team, bot.user_id, "gibtsnicht"):
            assert secret not in text

        # A sync loop that stopped is reported as failing (503), with the reason.
        bot.instance.last_sync -= 10_000
        async with http.get(f"{base}/health") as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["status"] == "failing" and body["checks"]["sync"]["ok"] is False
        async with http.get(f"{base}/nothing") as resp:
            assert resp.status == 404

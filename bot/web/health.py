"""The monitoring listener: ``GET /health`` (JSON, 200 or 503) and ``GET /metrics`` (Prometheus).

Its own small aiohttp server on ``[health] bind:port`` (loopback by default), apart from the
join page: the join page faces clients through the reverse proxy, this one faces the
organisation's monitoring only. No access log, nothing cached.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.metrics import Metrics

log = logging.getLogger(__name__)

HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class HealthServer:
    def __init__(
        self, bind: str, port: int, metrics: Metrics, checks: Callable[[], Awaitable[dict[str, Any]]]
    ):
        self.bind = bind
        self.port = port
        self.metrics = metrics
        self.checks = checks
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self.app = app

    async def start(self) -> str | None:
        """Listen; return the base URL, or None if the address is taken (logged, not fatal)."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.bind, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            log.error("the health endpoint cannot listen on %s:%d (%s)", self.bind, self.port, exc.strerror)
            await runner.cleanup()
            return None
        self._runner = runner
        port = self.port
        sockets = getattr(getattr(site, "_server", None), "sockets", None) or []
        if sockets:
            port = int(sockets[0].getsockname()[1])
        host = self.bind if ":" not in self.bind else f"[{self.bind}]"
        log.info("health and metrics on http://%s:%d/health and /metrics", host, port)
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        try:
            body = await self.checks()
        except Exception:
            log.exception("health check failed")
            body = {"status": "failing", "checks": {}}
        status = 200 if body.get("status") == "ok" else 503
        return web.json_response(body, status=status, headers=HEADERS)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.exposition(), headers={**HEADERS, "Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _other(self, request: web.Request) -> web.Response:
        return web.Response(text="", status=404, headers=HEADERS)

"""The join page's small web server (aiohttp), behind the organisation's reverse proxy.

One route: ``GET /j/<page secret>``. The page of an open invitation shows how to join; any
other address, and an invitation that expired, was revoked or used, gets the "expired" page.
Nothing is cached, nothing is logged (the address is the secret: no access log), no referrer
leaves the page, and the Content-Security-Policy allows no script, no image, no form.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.context import BotContext
from bot.onboarding import codes, service
from bot.onboarding.page import CONTENT_SECURITY_POLICY, JoinDetails, expired_page, join_page
from bot.store.invitations import OPEN

log = logging.getLogger(__name__)

HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


class JoinPageServer:
    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self._runner: web.AppRunner | None = None
        app = web.Application()
        app.router.add_get("/j/{secret}", self._page)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self.app = app

    async def start(self) -> str | None:
        """Listen; return the public base URL of the page, or None if it could not listen."""
        s = self.ctx.settings.onboarding
        # access_log=None: every request's path is an invitation's secret.
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, s.page_bind, s.page_port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            log.error(
                "the join page cannot listen on %s:%d (%s); invitations go out without page and QR code",
                s.page_bind,
                s.page_port,
                exc.strerror,
            )
            await runner.cleanup()
            return None
        self._runner = runner
        port = s.page_port
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            port = int(sockets[0].getsockname()[1])
        host = s.page_bind if ":" not in s.page_bind else f"[{s.page_bind}]"
        url = s.page_url or f"http://{host}:{port}"
        log.info("join page listening on %s:%d", s.page_bind, port)
        return url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _other(self, request: web.Request) -> web.Response:
        return web.Response(text="", status=404, headers=HEADERS)

    async def _page(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        secret = request.match_info["secret"]
        invitation = (
            await ctx.invitations.by_page(codes.page_key(secret)) if codes.is_page_secret(secret) else None
        )
        if invitation is None:
            languages = [lang.code for lang in ctx.catalog.languages]  # whose it was: unknown
            return _html(expired_page(ctx.catalog, languages), 404)
        if invitation.state_at(service.now_ms(ctx)) != OPEN:
            return _html(expired_page(ctx.catalog, [invitation.language]), 410)
        secrets = codes.derive(secret)
        details = JoinDetails(
            language=invitation.language,
            organisation=ctx.settings.organisation.name,
            homeserver=service.homeserver_address(ctx),
            token=secrets.token,
            pairing_code=secrets.pairing_display,
            bot=str(ctx.matrix.user_id),
            expires=service.format_moment(ctx, invitation.expires_at, invitation.language),
        )
        return _html(join_page(ctx.catalog, details))

"""Invitations for clients without an account: !einladen, !einladungen, !zurückziehen."""

from __future__ import annotations

from bot.commands.handlers.general import choose_language
from bot.commands.types import CommandError, Reply, Request
from bot.context import BotContext
from bot.onboarding import service


async def invite(ctx: BotContext, req: Request) -> None:
    language = ctx.catalog.default_language
    if req.args:
        chosen = choose_language(ctx, req.args[0])
        if chosen is None:
            codes = ", ".join(lang.code for lang in ctx.catalog.languages)
            raise CommandError("onboarding.invite.bad_language", word=req.args[0][:40], languages=codes)
        language = chosen
    problem = await service.create(ctx, req.sender, req.room_id, req.language, language, str(req.event_id))
    if problem is not None:
        raise CommandError(problem)


async def invitations(ctx: BotContext, req: Request) -> Reply:
    return Reply(await service.list_open(ctx, req.sender, req.language))


async def revoke(ctx: BotContext, req: Request) -> Reply:
    word = req.args[0] if req.args else ""
    text = word.strip().lstrip("#")
    if not (text.isascii() and text.isdigit()):
        raise CommandError("onboarding.revoke.usage")
    return Reply(await service.revoke(ctx, req.sender, int(text), req.language))

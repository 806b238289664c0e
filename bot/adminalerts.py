"""Telling the admin room what went wrong under the bot, and when it is over.

- The store takes no writes: its writer holds what it cannot commit (bot/store/db.py), so the bot
  stalls instead of losing anything; the admins must know why the bot went quiet and what to
  check. The message goes straight to the homeserver, not through the stalled worker, once per
  spell.
- The homeserver was away (longer than ``homeserver.outage_notice_seconds``): the bot waited and
  caught up; the admins learn how long, so that a quiet hour is explained.
"""

from __future__ import annotations

import logging

from bot.context import BotContext
from bot.ids import txn_id_for

log = logging.getLogger(__name__)


def reason_text(ctx: BotContext, language: str, reason: str) -> str:
    return ctx.catalog.text(language, f"store.reason.{reason}")


async def unwritable(ctx: BotContext, reason: str, started_ms: int) -> None:
    room = ctx.admin_room()
    if room is None:
        log.error("the store takes no writes (%s) and no admin room is configured to say so", reason)
        return
    language = ctx.catalog.default_language
    text = ctx.catalog.text(language, "store.unwritable", reason=reason_text(ctx, language, reason))
    await ctx.matrix.send_text(room, text, txn_id_for("store-unwritable", str(started_ms)))


async def writable_again(ctx: BotContext, reason: str, held_s: float, started_ms: int) -> None:
    room = ctx.admin_room()
    if room is None:
        return
    language = ctx.catalog.default_language
    minutes = max(1, round(held_s / 60))
    text = ctx.catalog.text(
        language, "store.writable_again", reason=reason_text(ctx, language, reason), minutes=str(minutes)
    )
    await ctx.matrix.send_text(room, text, txn_id_for("store-writable", str(started_ms)))


async def homeserver_back(ctx: BotContext, away_s: float, now_ms: int) -> None:
    room = ctx.admin_room()
    if room is None:
        return
    language = ctx.catalog.default_language
    minutes = max(1, round(away_s / 60))
    text = ctx.catalog.text(language, "homeserver.back", minutes=str(minutes))
    await ctx.matrix.send_text(room, text, txn_id_for("homeserver-back", str(now_ms)))

"""A bot context on the database alone, for commands that need no homeserver (reports,
the demo's seeding): any call to the homeserver is refused."""

from __future__ import annotations

import json

from bot.config import Settings
from bot.context import BotContext
from bot.pseudonym import Pseudonymizer, load_or_create_key
from bot.retention.service import SNAPSHOT
from bot.roles import RoleResolver
from bot.store.db import Database


async def offline_context(settings: Settings) -> tuple[BotContext, Database]:
    """A context on the database alone, for reports: any homeserver call is refused."""
    from bot.app import build_context

    class Offline:
        online = False
        user_id = settings.bot.uid

        def __getattr__(self, name: str) -> object:
            raise RuntimeError("reports work offline")

    async def no_members(_room: object) -> None:
        return None

    db = await Database.open(settings.data_dir / "lotse.db")
    await db.migrate()
    db.start_writer()
    key = load_or_create_key(settings.pseudonym_key_file or settings.data_dir / "keys" / "pseudonym.key")
    ctx = build_context(
        settings,
        db,
        Offline(),  # type: ignore[arg-type]
        RoleResolver([], [], [], [], no_members),
        {},
        Pseudonymizer(key),
    )
    if ctx.policies.reload() is not None:
        stored = await ctx.state.get(SNAPSHOT)
        if stored:
            ctx.policies.restore(json.loads(stored))
    return ctx, db

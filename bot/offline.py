"""A bot context on the database alone, for commands that need no homeserver (reports,
the demo's seeding): any call to the homeserver is refused."""

from __future__ import annotations

import json

from bot.config import ConfigError, Settings
from bot.context import BotContext
from bot.pseudonym import Pseudonymizer, load_or_create_key
from bot.retention.service import SNAPSHOT
from bot.roles import RoleResolver
from bot.store.db import DB_FILE, Database


async def offline_context(settings: Settings, *, create: bool = False) -> tuple[BotContext, Database]:
    """A context on the database alone, for reports: any homeserver call is refused.

    Without ``create`` a data directory without Lotse's database is refused: a report on a
    mistyped path must not quietly start a new store with new keys.
    """
    from bot.app import build_context

    if not create and settings.store.url is None and not (settings.data_dir / DB_FILE).is_file():
        raise ConfigError(
            [
                f"data_dir: {settings.data_dir} holds no Lotse database (lotse.db). Check data_dir "
                "in the configuration (or LOTSE_DATA_DIR); the bot creates it on its first start."
            ]
        )

    class Offline:
        online = False
        user_id = settings.bot.uid

        def __getattr__(self, name: str) -> object:
            raise RuntimeError("reports work offline")

    async def no_members(_room: object) -> None:
        return None

    db = await Database.open_store(settings)
    if not create and await db.schema_version() == 0:
        await db.close()
        raise ConfigError(
            [
                f"store.url: {settings.store.describe(settings.data_dir)} holds no Lotse store yet. "
                "Check the URL; the bot creates its tables on its first start (or copy an existing "
                "store there with lotse migrate-store)."
            ]
        )
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

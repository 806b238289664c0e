"""From a message to a reply: parse the command, authorise it from the table, run the handler.

In group rooms only ``!``-prefixed words are commands. In a 1:1 room with the bot the ``!`` is
optional, because clients on phones should not need to find that key. Reply fallbacks (the
``> <@user> …`` quote that some clients put at the top of a reply) are skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from dataclasses import dataclass

from bot.commands.registry import CommandTable
from bot.commands.types import NO_EVENT, ONE_TO_ONE, Command, CommandError, Reply, Request
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.render import strip_bidi_marks
from bot.roles import Role

log = logging.getLogger(__name__)

MAX_ARGS = 20


@dataclass(frozen=True)
class Parsed:
    word: str
    args: tuple[str, ...]
    explicit: bool  # typed with "!"


def parse(body: str, *, direct: bool) -> Parsed | None:
    # Direction marks that right-to-left keyboards and copies add are not part of any word.
    lines = strip_bidi_marks(body).strip().splitlines()
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    text = "\n".join(lines).strip()
    if not text:
        return None
    explicit = text.startswith("!")
    if explicit:
        text = text[1:].lstrip()
    elif not direct:
        return None
    parts = text.split()
    if not parts:
        return None
    return Parsed(parts[0], tuple(parts[1 : 1 + MAX_ARGS]), explicit)


# What a client may ask for wherever they are; outside the 1:1 chat it is answered there.
CLIENT_RIGHTS = frozenset({"withdraw", "my_data", "delete", "help"})


def echo(word: str, limit: int = 24) -> str:
    """A typed word, safe to repeat back: without bidi overrides, zero-width or control
    characters (which could make the bot's answer read differently), and short."""
    clean = "".join(ch for ch in word if unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs"))
    return clean[:limit] + ("…" if len(clean) > limit else "")


def client_rights_command(table: CommandTable, body: str) -> bool:
    """``widerruf``, ``!meine-daten``, ``löschen``, ``hilfe`` … typed on their own."""
    parsed = parse(body, direct=True)
    if parsed is None or len(parsed.args) > 2:
        return False
    found, parsed = lookup(table, parsed)
    return found is not None and found[0].key in CLIENT_RIGHTS and len(parsed.args) <= 1


def lookup(table: CommandTable, parsed: Parsed) -> tuple[tuple[Command, str] | None, Parsed]:
    """The command a message names; "meine daten" is read as "meine-daten" (people type the
    hyphen as a space)."""
    found = table.lookup(parsed.word)
    if found is None and parsed.args:
        joined = f"{parsed.word}-{parsed.args[0]}"
        found = table.lookup(joined)
        if found is not None:
            return found, Parsed(joined, parsed.args[1:], parsed.explicit)
    return found, parsed


def is_command(table: CommandTable, body: str, room_kind: str) -> bool:
    """Whether a message names a command (used to route 1:1 intake text to the consent flow)."""
    parsed = parse(body, direct=room_kind in ONE_TO_ONE)
    return parsed is not None and (parsed.explicit or lookup(table, parsed)[0] is not None)


async def handle_message(
    ctx: BotContext,
    table: CommandTable,
    *,
    sender: UserID,
    room_id: RoomID,
    room_kind: str,
    body: str,
    event_id: EventID = NO_EVENT,
) -> Reply | None:
    """The reply to one message, or None when the message is not meant for the bot
    (or the handler answered by itself)."""
    direct = room_kind in ONE_TO_ONE
    parsed = parse(body, direct=direct)
    if parsed is None:
        if direct and body.strip():
            lang = await ctx.language_of(sender) or ctx.catalog.default_language
            return Reply(ctx.catalog.text(lang, "dispatch.not_understood"))
        # Most of a group room's messages end here: no store read for them (catching up after
        # downtime goes through thousands).
        return await _missing_bang_hint(ctx, table, sender, room_kind, body)
    stored_lang = await ctx.language_of(sender)
    return await _dispatch(ctx, table, parsed, sender, room_id, room_kind, event_id, stored_lang)


async def _missing_bang_hint(
    ctx: BotContext, table: CommandTable, sender: UserID, room_kind: str, body: str
) -> Reply | None:
    """ "übernehmen 12" in the team room: a command without its "!". One hint per person and
    day, and only for a short message that starts with a command this person may use here."""
    parsed = parse(body, direct=True)
    if parsed is None or len(parsed.args) > 3:
        return None
    found = table.lookup(parsed.word)
    if found is None or not found[0].allowed(await ctx.roles.roles(sender), room_kind):
        return None
    day = dt.datetime.fromtimestamp(ctx.clock(), dt.UTC).date().isoformat()
    key = f"hint:{ctx.subject(sender)}:{day}"
    if await ctx.state.get(key):
        return None
    await ctx.state.put(key, "1")
    stored_lang = await ctx.language_of(sender)
    lang = stored_lang or (found[1] if ctx.catalog.has_language(found[1]) else ctx.catalog.default_language)
    example = " ".join([found[0].name(lang), *parsed.args])
    return Reply(ctx.catalog.text(lang, "dispatch.missing_bang", example=example))


async def _dispatch(
    ctx: BotContext,
    table: CommandTable,
    parsed: Parsed,
    sender: UserID,
    room_id: RoomID,
    room_kind: str,
    event_id: EventID,
    stored_lang: str | None,
) -> Reply | None:
    found, parsed = lookup(table, parsed)
    lang = stored_lang or ctx.catalog.default_language
    if found is None:
        ctx.metrics.command("none", "unknown")
        near = table.closest(parsed.word)
        if near is not None and (parsed.explicit or not parsed.args):
            name = near[0].name(lang)
            return Reply(
                ctx.catalog.text(lang, "dispatch.did_you_mean", word=echo(parsed.word), command=name)
            )
        if not parsed.explicit:
            # Plain talk in the 1:1 chat: no command meant, so no "unknown command" either.
            return Reply(ctx.catalog.text(lang, "dispatch.not_understood"))
        return Reply(ctx.catalog.text(lang, "dispatch.unknown", word=echo(parsed.word)))
    cmd, word_lang = found
    # Someone who typed "help" gets English until they choose a language.
    lang = stored_lang or (word_lang if ctx.catalog.has_language(word_lang) else lang)
    roles = await ctx.roles.roles(sender)
    if not cmd.allowed(roles, room_kind):
        if cmd.roles & roles:
            ctx.metrics.command(cmd.key, "wrong_room")
            return Reply(ctx.catalog.text(lang, "dispatch.wrong_room", command=cmd.name(lang)))
        ctx.metrics.command(cmd.key, "forbidden")
        return Reply(ctx.catalog.text(lang, "dispatch.forbidden", command=cmd.name(lang)))
    if cmd.requires_rules and Role.WORKER in roles:
        from bot.commands.handlers.consent import rules_acknowledged, rules_prompt

        if not await rules_acknowledged(ctx, sender):
            ctx.metrics.command(cmd.key, "rules_pending")
            return await rules_prompt(ctx, lang)
    request = Request(sender, room_id, room_kind, roles, lang, parsed.args, table, event_id)
    log.info(
        "command %s from %s (%s) in %s room",
        cmd.key,
        ctx.log_tag(sender),
        _role_label(roles),
        room_kind,
    )
    try:
        reply = await cmd.handler(ctx, request)
    except CommandError as err:
        ctx.metrics.command(cmd.key, "refused")
        return Reply(ctx.catalog.text(lang, err.key, **err.values))
    except Exception:
        ctx.metrics.command(cmd.key, "error")
        raise
    ctx.metrics.command(cmd.key, "ok")
    return reply


def _role_label(roles: frozenset[Role]) -> str:
    return "+".join(sorted(r.value for r in roles))

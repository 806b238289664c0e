"""help, language, status."""

from __future__ import annotations

from bot import __version__
from bot.commands.types import ONE_TO_ONE, Command, CommandError, Reply, Request
from bot.context import BotContext


def syntax(ctx: BotContext, cmd: Command, language: str, *, direct: bool = False) -> str:
    # In the 1:1 chat the "!" is optional; not showing it spares phone users a hard-to-find key.
    parts = [("" if direct else "!") + cmd.name(language)]
    for arg in cmd.args:
        label = ctx.catalog.text(language, arg.label_key)
        parts.append(f"<{label}>" if arg.required else f"[{label}]")
    return " ".join(parts)


def example(ctx: BotContext, cmd: Command, language: str, *, direct: bool = False) -> str:
    """The command's example (``cmd.<key>.example``), typed as it is typed here."""
    return ("" if direct else "!") + ctx.catalog.text(language, f"cmd.{cmd.key}.example")


async def help_command(ctx: BotContext, req: Request) -> Reply:
    """``hilfe``: the three things most used in this kind of room first, each with an example,
    then the rest; ``hilfe BEFEHL``: one command's syntax, what it does and an example."""
    lang = req.language
    t = ctx.catalog.text
    direct = req.room_kind in ONE_TO_ONE
    if req.args:
        found = req.table.lookup(req.args[0])
        if found is None or not found[0].allowed(req.roles, req.room_kind):
            raise CommandError("help.unknown_topic", word=req.args[0][:40])
        cmd = found[0]
        return Reply(
            "\n".join(
                [
                    syntax(ctx, cmd, lang, direct=direct),
                    t(lang, f"cmd.{cmd.key}.help"),
                    t(lang, "help.example", example=example(ctx, cmd, lang, direct=direct)),
                ]
            )
        )
    top = req.table.top(req.roles, req.room_kind)
    rest = [c for c in req.table.visible(req.roles, req.room_kind) if c not in top]
    lines = [t(lang, "help.header")]
    if top:
        lines.append(t(lang, "help.top"))
    for cmd in top:
        lines.append(f"• {syntax(ctx, cmd, lang, direct=direct)} — {t(lang, f'cmd.{cmd.key}.help')}")
        lines.append("   " + t(lang, "help.example", example=example(ctx, cmd, lang, direct=direct)))
    if top and rest:
        lines.append(t(lang, "help.more"))
    for cmd in rest:
        lines.append(f"• {syntax(ctx, cmd, lang, direct=direct)} — {t(lang, f'cmd.{cmd.key}.help')}")
    lines.append(t(lang, "help.footer.direct" if direct else "help.footer"))
    return Reply("\n".join(lines))


def _language_menu(ctx: BotContext, lang: str) -> str:
    lines = [ctx.catalog.text(lang, "language.menu")]
    for i, language in enumerate(ctx.catalog.languages, start=1):
        lines.append(f"{i}. {language.native_name} ({language.code})")
    return "\n".join(lines)


def choose_language(ctx: BotContext, answer: str) -> str | None:
    """A language code from a typed code, number from the menu, or the language's own name."""
    answer = answer.strip().casefold().rstrip(".")
    languages = ctx.catalog.languages
    if answer.isascii() and answer.isdigit() and 1 <= int(answer) <= len(languages):
        return languages[int(answer) - 1].code
    for language in languages:
        if answer in (language.code.casefold(), language.native_name.casefold()):
            return language.code
    return None


async def language_command(ctx: BotContext, req: Request) -> Reply:
    if not req.args:
        return Reply(_language_menu(ctx, req.language))
    code = choose_language(ctx, req.args[0])
    if code is None:
        raise CommandError("language.unknown", word=req.args[0][:40])
    await ctx.state.set_language(ctx.subject(req.sender), code)
    name = next(lang.native_name for lang in ctx.catalog.languages if lang.code == code)
    return Reply(ctx.catalog.text(code, "language.set", language=name))


async def status_command(ctx: BotContext, req: Request) -> Reply:
    uptime_min = int((ctx.clock() - ctx.started_at) // 60)
    t = ctx.catalog.text
    hs = t(req.language, "status.online" if ctx.matrix.online else "status.offline")
    return Reply(t(req.language, "status.text", version=__version__, uptime=str(uptime_min), homeserver=hs))

"""help, language, status."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from bot import __version__
from bot.commands.types import ONE_TO_ONE, Command, CommandError, Reply, Request
from bot.context import BotContext
from bot.i18n import is_variant


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


def language_names(ctx: BotContext) -> list[tuple[str, set[str]]]:
    """Per language (menu order), the names a person may type for it, normalised: its code,
    its own name, its name in every language offered (CLDR: "Arabisch", "Arabic", "عربی"), and
    the other names its catalog lists (``language.other_names``: "عربي", "farsi")."""
    from bot.consent.answers import normalize, word_set

    languages = ctx.catalog.languages
    out = []
    for language in languages:
        names = {normalize(language.code), normalize(language.native_name)}
        names |= word_set(ctx.catalog.text(language.code, "language.other_names"))
        if not is_variant(language.code):  # CLDR calls plain German "Deutsch"
            for other in languages:
                try:
                    names.add(normalize(Locale.parse(language.code).get_display_name(other.code) or ""))
                except (UnknownLocaleError, ValueError):
                    continue
        out.append((language.code, names - {""}))
    return out


def choose_language(ctx: BotContext, answer: str) -> str | None:
    """A language code from a typed code, the number from the menu (also in Arabic or Persian
    digits: ٣, ۳), or the language's name in any language offered."""
    from bot.consent.answers import normalize, number

    languages = ctx.catalog.languages
    n = number(answer)
    if n is not None:
        return languages[n - 1].code if 1 <= n <= len(languages) else None
    text = normalize(answer)
    for code, names in language_names(ctx):
        if text in names:
            return code
    return None


async def language_command(ctx: BotContext, req: Request) -> Reply:
    if not req.args:
        return Reply(_language_menu(ctx, req.language))
    # "sprache Leichte Sprache", "язык русский": a name may have more than one word.
    typed = " ".join(req.args)
    code = choose_language(ctx, typed)
    if code is None:
        raise CommandError("language.unknown", word=typed[:40])
    await ctx.state.set_language(ctx.subject(req.sender), code)
    name = next(lang.native_name for lang in ctx.catalog.languages if lang.code == code)
    return Reply(ctx.catalog.text(code, "language.set", language=name))


async def status_command(ctx: BotContext, req: Request) -> Reply:
    uptime_min = int((ctx.clock() - ctx.started_at) // 60)
    t = ctx.catalog.text
    hs = t(req.language, "status.online" if ctx.matrix.online else "status.offline")
    return Reply(t(req.language, "status.text", version=__version__, uptime=str(uptime_min), homeserver=hs))

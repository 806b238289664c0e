"""bot/commands: parsing, the command table, authorisation and the general handlers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import __version__
from bot.commands.dispatch import MAX_ARGS, ONE_TO_ONE, Parsed, handle_message, is_command, parse
from bot.commands.registry import COMMANDS, CommandTable, normalize_word
from bot.commands.types import (
    ALL_ROLES,
    ALL_ROOM_KINDS,
    Command,
    CommandError,
    Reply,
    Request,
)
from bot.consent.runtime import notice_values
from bot.context import BotContext
from bot.i18n import Catalog
from bot.ids import RoomID, UserID
from bot.roles import Role
from tests.support import FakeMatrix, acknowledge_rules, make_context

ADMIN = UserID("@admin:example.org")
WORKER = UserID("@worker:example.org")
WORKER_HINT = UserID("@hinted:example.org")
TEAM_HINT = RoomID("!team-hint:example.org")
CLIENT = UserID("@client:example.org")
BOTH = UserID("@boss:example.org")  # admin and worker
USER_FOR_ROLE = {Role.ADMIN: ADMIN, Role.WORKER: WORKER, Role.CLIENT: CLIENT}
ROOM = RoomID("!room:example.org")

CATALOG = Catalog("de")


def de(key: str, **values: str) -> str:
    return CATALOG.text("de", key, **values)


def en(key: str, **values: str) -> str:
    return CATALOG.text("en", key, **values)


def fake(ctx: BotContext) -> FakeMatrix:
    assert isinstance(ctx.matrix, FakeMatrix)
    return ctx.matrix


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[BotContext]:
    context, _, db = await make_context(tmp_path, workers=[WORKER, BOTH], admins=[ADMIN, BOTH])
    db._batch_window = 0.0  # commit each awaited write at once: these tests wait for every write
    context.clock = lambda: 1_000_600.0
    context.started_at = 1_000_000.0
    try:
        yield context
    finally:
        await db.close()


async def say(
    ctx: BotContext,
    body: str,
    *,
    sender: UserID = CLIENT,
    kind: str = "direct",
    table: CommandTable = COMMANDS,
) -> Reply | None:
    return await handle_message(ctx, table, sender=sender, room_id=ROOM, room_kind=kind, body=body)


async def text_of(ctx: BotContext, body: str, **kwargs: object) -> str:
    reply = await say(ctx, body, **kwargs)  # type: ignore[arg-type]
    assert reply is not None
    return reply.text


# --- parse ---------------------------------------------------------------------------------


def test_parse_group_needs_bang() -> None:
    assert parse("!hilfe", direct=False) == Parsed("hilfe", (), True)
    assert parse("hilfe", direct=False) is None
    assert parse("wie geht es?", direct=False) is None


def test_parse_direct_bang_optional() -> None:
    assert parse("hilfe", direct=True) == Parsed("hilfe", (), False)
    assert parse("!hilfe", direct=True) == Parsed("hilfe", (), True)


def test_parse_args_and_whitespace() -> None:
    assert parse("  !  Hilfe   Status  \n", direct=False) == Parsed("Hilfe", ("Status",), True)
    assert parse("!sprache\n2", direct=False) == Parsed("sprache", ("2",), True)
    assert parse("\tsprache\t en ", direct=True) == Parsed("sprache", ("en",), False)


def test_parse_keeps_case_for_lookup() -> None:
    parsed = parse("!HILFE", direct=False)
    assert parsed is not None
    assert parsed.word == "HILFE"


@pytest.mark.parametrize("body", ["", "   ", "\n\n", "!", "!   ", "> only a quote", "> a\n> b\n"])
@pytest.mark.parametrize("direct", [True, False])
def test_parse_empty(body: str, direct: bool) -> None:
    assert parse(body, direct=direct) is None


def test_parse_skips_reply_fallback() -> None:
    body = "> <@alice:example.org> !status\n> second quoted line\n\n!hilfe sprache"
    assert parse(body, direct=False) == Parsed("hilfe", ("sprache",), True)
    # The quote alone must not be taken as a command, even though it contains "!status".
    assert parse("> <@alice:example.org> !status\n\nhallo", direct=False) is None
    assert parse("> <@alice:example.org> !status\n\nhallo", direct=True) == Parsed("hallo", (), False)


def test_parse_only_leading_quotes_are_skipped() -> None:
    assert parse("!hilfe\n> x", direct=False) == Parsed("hilfe", (">", "x"), True)


def test_parse_limits_args() -> None:
    body = "!hilfe " + " ".join(str(i) for i in range(MAX_ARGS + 5))
    parsed = parse(body, direct=False)
    assert parsed is not None
    assert parsed.args == tuple(str(i) for i in range(MAX_ARGS))


@given(st.text(max_size=200))
def test_property_group_needs_explicit_bang(body: str) -> None:
    parsed = parse(body, direct=False)
    if parsed is not None:
        assert parsed.explicit
        assert parsed.word
        assert not any(ch.isspace() for ch in parsed.word)
        assert len(parsed.args) <= MAX_ARGS


# --- the command table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("Hilfe", "hilfe"),
        ("HILFE", "hilfe"),
        ("hilfe!", "hilfe"),
        ("!hilfe", "hilfe"),
        ("Hilfe?", "hilfe"),
        ("status.", "status"),
        ("sprache,", "sprache"),
        ("  help:; ", "help"),
        ("hílfé", "hilfe"),
        ("SPRÄCHE", "sprache"),
        ("ＨＥＬＰ", "help"),  # full-width letters from some phone keyboards
    ],
)
def test_normalize_word(typed: str, normal: str) -> None:
    assert normalize_word(typed) == normal


@pytest.mark.parametrize(
    ("typed", "key", "lang"),
    [
        ("hilfe", "help", "de"),
        ("Hilfe!", "help", "de"),
        ("help", "help", "en"),
        ("HELP?", "help", "en"),
        ("sprache", "language", "de"),
        ("Language", "language", "en"),
        ("status", "status", "de"),  # shared word: first language listed wins
        ("Status.", "status", "de"),
    ],
)
def test_lookup(typed: str, key: str, lang: str) -> None:
    found = COMMANDS.lookup(typed)
    assert found is not None
    assert (found[0].key, found[1]) == (key, lang)


@pytest.mark.parametrize("typed", ["foo", "", "hilf", "helpme", "!", "hilfe sprache"])
def test_lookup_unknown(typed: str) -> None:
    assert COMMANDS.lookup(typed) is None


async def _noop(ctx: BotContext, req: Request) -> Reply:
    return Reply("noop")


def _cmd(key: str, names: dict[str, str]) -> Command:
    return Command(key, names, ALL_ROLES, ALL_ROOM_KINDS, _noop)


def test_duplicate_names_raise() -> None:
    with pytest.raises(ValueError, match="used twice"):
        CommandTable([_cmd("a", {"de": "foo"}), _cmd("b", {"en": "foo"})])


def test_duplicate_names_after_normalising_raise() -> None:
    with pytest.raises(ValueError, match="used twice"):
        CommandTable([_cmd("a", {"de": "Über"}), _cmd("b", {"en": "uber"})])


def test_same_word_in_two_languages_of_one_command_is_fine() -> None:
    table = CommandTable([_cmd("a", {"de": "status", "en": "status"})])
    found = table.lookup("status")
    assert found is not None
    assert found[1] == "de"


def test_real_table_is_consistent() -> None:
    keys = [c.key for c in COMMANDS]
    assert len(keys) == len(set(keys))
    for cmd in COMMANDS:
        assert set(cmd.names) >= {"de", "en"}, cmd.key
        assert cmd.roles, cmd.key
        assert cmd.room_kinds <= ALL_ROOM_KINDS, cmd.key
        for word in cmd.names.values():
            found = COMMANDS.lookup(word)
            assert found is not None
            assert found[0] is cmd


def test_command_name_falls_back_to_english() -> None:
    cmd = _cmd("a", {"en": "thing", "de": "ding"})
    assert cmd.name("de") == "ding"
    assert cmd.name("tr") == "thing"


# --- the authorisation matrix --------------------------------------------------------------


def _spy_table(calls: list[tuple[str, Request]]) -> CommandTable:
    def make(key: str):  # type: ignore[no-untyped-def]
        async def handler(ctx: BotContext, req: Request) -> Reply:
            calls.append((key, req))
            return Reply(f"ran {key}")

        return handler

    return CommandTable(dataclasses.replace(c, handler=make(c.key)) for c in COMMANDS)


MATRIX = [
    (cmd.key, role, kind) for cmd in COMMANDS for role in sorted(Role) for kind in sorted(ALL_ROOM_KINDS)
]


async def _matrix_cell(ctx: BotContext, cmd: Command, role: Role, kind: str) -> list[str]:
    """Run one command as one role in one kind of room; return what is wrong (nothing: fine)."""
    calls: list[tuple[str, Request]] = []
    sender = USER_FOR_ROLE[role]
    roles = frozenset({role})
    reply = await say(ctx, "!" + cmd.names["de"], sender=sender, kind=kind, table=_spy_table(calls))

    # Independent of Command.allowed: the role must be listed and the room kind too.
    expected_allowed = role in cmd.roles and kind in cmd.room_kinds
    cell = f"{cmd.key} as {role} in {kind}"
    problems = []
    if cmd.allowed(roles, kind) is not expected_allowed:
        problems.append(f"{cell}: Command.allowed says {not expected_allowed}")
    if reply is None:
        return [*problems, f"{cell}: no reply"]
    if expected_allowed:
        if reply.text != f"ran {cmd.key}" or [k for k, _ in calls] != [cmd.key]:
            return [*problems, f"{cell}: expected the handler to run, got {reply.text!r}"]
        req = calls[0][1]
        seen = (req.sender, req.room_id, req.room_kind, req.roles, req.language, req.args)
        if seen != (sender, ROOM, kind, roles, "de", ()):
            problems.append(f"{cell}: wrong request {seen}")
    else:
        key = "dispatch.wrong_room" if role in cmd.roles else "dispatch.forbidden"
        if calls:
            problems.append(f"{cell}: the handler ran although it is not allowed")
        if reply.text != de(key, command=cmd.names["de"]):
            problems.append(f"{cell}: expected {key}, got {reply.text!r}")
    return problems


# One test per command and role; the room kinds are iterated inside (a fresh database per
# cell would make this the slowest test of the suite). Every cell is checked before failing.
@pytest.mark.parametrize(("key", "role"), sorted({(k, r) for k, r, _ in MATRIX}))
async def test_authorization_matrix(ctx: BotContext, key: str, role: Role) -> None:
    cmd = next(c for c in COMMANDS if c.key == key)
    sender = USER_FOR_ROLE[role]
    assert await ctx.roles.roles(sender) == frozenset({role})
    if role is Role.WORKER:
        # The rules prompt for workers is tested on its own below.
        await acknowledge_rules(ctx, sender)
    problems = []
    kinds = sorted(k for k_, r, k in MATRIX if (k_, r) == (key, role))
    assert kinds == sorted(ALL_ROOM_KINDS)
    for kind in kinds:
        problems += await _matrix_cell(ctx, cmd, role, kind)
    assert problems == []


def test_matrix_covers_both_outcomes() -> None:
    outcomes = {c.allowed(frozenset({r}), k) for c in COMMANDS for r in Role for k in ALL_ROOM_KINDS}
    assert outcomes == {True, False}
    assert len(MATRIX) == len(COMMANDS.commands) * len(Role) * len(ALL_ROOM_KINDS)


async def test_multi_role_user_gets_union(ctx: BotContext) -> None:
    calls: list[tuple[str, Request]] = []
    reply = await say(ctx, "!status", sender=BOTH, kind="admin", table=_spy_table(calls))
    assert reply == Reply("ran status")
    assert calls[0][1].roles == frozenset({Role.ADMIN, Role.WORKER})


# --- the workers' usage rules gate ---------------------------------------------------------

RULES_GATED = [(cmd.key, kind) for cmd in COMMANDS if cmd.requires_rules for kind in sorted(cmd.room_kinds)]


def _rules_prompt_de(ctx: BotContext) -> str:
    notice = ctx.worker_rules.get().by_language["de"]
    summary, _ = notice.render(notice_values(ctx, "de"))
    return f"{summary}\n\n{de('rules.required', version=notice.version)}"


def test_some_commands_require_the_rules() -> None:
    assert RULES_GATED, "no command requires the usage rules: the gate tests prove nothing"
    assert all(Role.WORKER in c.roles for c in COMMANDS if c.requires_rules)


@pytest.mark.parametrize("key", sorted({k for k, _ in RULES_GATED}))
@pytest.mark.parametrize("sender", [WORKER, BOTH])
async def test_worker_without_rules_gets_the_prompt(ctx: BotContext, key: str, sender: UserID) -> None:
    calls: list[tuple[str, Request]] = []
    cmd = next(c for c in COMMANDS if c.key == key)
    kinds = [k for k_, k in RULES_GATED if k_ == key]
    for kind in kinds:
        reply = await say(ctx, "!" + cmd.names["de"], sender=sender, kind=kind, table=_spy_table(calls))
        assert calls == [], kind
        assert reply == Reply(_rules_prompt_de(ctx), markdown=True), kind
        assert "{" not in reply.text  # placeholders of the rules text are filled

    await acknowledge_rules(ctx, sender)
    for kind in kinds:
        calls.clear()
        reply = await say(ctx, "!" + cmd.names["de"], sender=sender, kind=kind, table=_spy_table(calls))
        assert reply == Reply(f"ran {key}"), kind
        assert [k for k, _ in calls] == [key], kind


async def test_acknowledging_an_older_version_is_not_enough(ctx: BotContext) -> None:
    calls: list[tuple[str, Request]] = []
    await acknowledge_rules(ctx, WORKER, version="0-outdated")
    reply = await say(ctx, "!neu @x:example.org", sender=WORKER, kind="team", table=_spy_table(calls))
    assert reply == Reply(_rules_prompt_de(ctx), markdown=True)
    assert calls == []


async def test_acknowledge_command_unlocks_gated_commands(ctx: BotContext) -> None:
    calls: list[tuple[str, Request]] = []
    table = _spy_table(calls)
    # The real handlers for reading and acknowledging the rules.
    real = {c.key: c for c in COMMANDS}
    table = CommandTable(real[c.key] if c.key in ("rules", "acknowledge") else c for c in table)
    version = ctx.worker_rules.get().version
    rules = await text_of(ctx, "!regeln", sender=WORKER, kind="team", table=table)
    assert rules.endswith(de("rules.how_to_ack", version=version))
    assert "{organisation}" not in rules
    ack = await text_of(ctx, "!bestätigen", sender=WORKER, kind="team", table=table)
    assert ack == de("rules.acknowledged", version=version)
    latest = await ctx.consent.latest(ctx.subject(WORKER), "worker_rules")
    assert latest is not None
    assert (latest.decision, latest.notice_version, latest.method) == ("acknowledged", version, "command")
    assert await text_of(ctx, "!übernehmen 1", sender=WORKER, kind="team", table=table) == "ran claim"
    # Another worker has not acknowledged anything.
    other = await text_of(ctx, "!übernehmen 1", sender=BOTH, kind="team", table=table)
    assert other == _rules_prompt_de(ctx)


async def test_handler_that_answered_itself_returns_none(ctx: BotContext) -> None:
    async def silent(ctx: BotContext, req: Request) -> None:
        return None

    table = CommandTable([Command("x", {"de": "still", "en": "quiet"}, ALL_ROLES, ALL_ROOM_KINDS, silent)])
    assert await say(ctx, "!still", table=table) is None


# --- dispatch ------------------------------------------------------------------------------


async def test_unknown_command(ctx: BotContext) -> None:
    assert await text_of(ctx, "!foo", kind="group") == de("dispatch.unknown", word="foo")
    assert await text_of(ctx, "!foo bar", kind="direct") == de("dispatch.unknown", word="foo")


async def test_unknown_command_word_is_truncated(ctx: BotContext) -> None:
    out = await text_of(ctx, "!" + "x" * 100, kind="group")
    assert out == de("dispatch.unknown", word="x" * 24 + "…")


async def test_plain_text_in_direct_room_not_understood(ctx: BotContext) -> None:
    assert await text_of(ctx, "wie geht es dir?") == de("dispatch.not_understood")


async def test_plain_text_in_intake_room_not_understood(ctx: BotContext) -> None:
    # The intake room is the client's 1:1 chat with the bot: same rules as "direct".
    assert "intake" in ONE_TO_ONE
    assert await text_of(ctx, "wie geht es dir?", kind="intake") == de("dispatch.not_understood")
    assert (await text_of(ctx, "hilfe", kind="intake")).startswith(de("help.header"))


async def test_plain_text_in_group_room_is_ignored(ctx: BotContext) -> None:
    assert ALL_ROOM_KINDS - ONE_TO_ONE
    hints = []
    for kind in sorted(ALL_ROOM_KINDS - ONE_TO_ONE):
        assert await say(ctx, "wie geht es dir?", kind=kind) is None
        hints.append(await say(ctx, "hilfe bitte", kind=kind))
    # What looks like a command without its "!" gets one hint a day, in whichever room first.
    assert [h for h in hints if h is not None] == [hints[0]] and hints[0] is not None


async def test_empty_message_is_ignored(ctx: BotContext) -> None:
    assert await say(ctx, "   ", kind="direct") is None
    assert await say(ctx, "", kind="group") is None


async def test_quote_only_in_direct_room(ctx: BotContext) -> None:
    assert await text_of(ctx, "> <@a:example.org> hi") == de("dispatch.not_understood")


async def test_command_without_bang_in_direct_room(ctx: BotContext) -> None:
    out = await text_of(ctx, "Hilfe")
    assert out.startswith(de("help.header"))


async def test_english_word_answers_in_english(ctx: BotContext) -> None:
    out = await text_of(ctx, "help")
    assert out.splitlines()[0] == en("help.header")
    assert out.splitlines()[-1] == en("help.footer.direct")
    menu = await text_of(ctx, "!language", sender=CLIENT, kind="group")
    assert menu.splitlines()[0] == en("language.menu")
    # Only the word's language: nothing was stored.
    assert await ctx.language_of(CLIENT) is None
    assert (await text_of(ctx, "hilfe")).splitlines()[0] == de("help.header")


async def test_command_error_renders_its_key(ctx: BotContext) -> None:
    async def failing(ctx: BotContext, req: Request) -> Reply:
        raise CommandError("language.unknown", word="klingonisch")

    table = CommandTable([Command("x", {"de": "kaputt", "en": "broken"}, ALL_ROLES, ALL_ROOM_KINDS, failing)])
    assert await text_of(ctx, "!kaputt", table=table) == de("language.unknown", word="klingonisch")
    assert await text_of(ctx, "!broken", table=table) == en("language.unknown", word="klingonisch")


async def test_other_exceptions_propagate(ctx: BotContext) -> None:
    async def crashing(ctx: BotContext, req: Request) -> Reply:
        raise RuntimeError("boom")

    table = CommandTable([Command("x", {"de": "crash", "en": "crash"}, ALL_ROLES, ALL_ROOM_KINDS, crashing)])
    with pytest.raises(RuntimeError, match="boom"):
        await say(ctx, "!crash", table=table)


# --- help ----------------------------------------------------------------------------------


def _listed_words(help_text: str) -> set[str]:
    return {line.split()[1].lstrip("!") for line in help_text.splitlines() if line.startswith("• ")}


@pytest.mark.parametrize("role", sorted(Role))
async def test_help_lists_only_allowed_commands(ctx: BotContext, role: Role) -> None:
    for kind in sorted(ALL_ROOM_KINDS):
        out = await text_of(ctx, "!hilfe", sender=USER_FOR_ROLE[role], kind=kind)
        expected = {c.names["de"] for c in COMMANDS if role in c.roles and kind in c.room_kinds}
        assert _listed_words(out) == expected, kind
        lines = out.splitlines()
        assert lines[0] == de("help.header"), kind
        if kind != "intake":  # the intake room: see test_help_in_intake_room_omits_bang
            assert lines[-1] == de("help.footer.direct" if kind == "direct" else "help.footer"), kind


async def test_help_line_format(ctx: BotContext) -> None:
    out = await text_of(ctx, "!hilfe", sender=ADMIN, kind="admin")
    assert f"• !sprache [Sprache] — {de('cmd.language.help')}" in out.splitlines()
    assert f"• !status — {de('cmd.status.help')}" in out.splitlines()


async def test_help_status_detail(ctx: BotContext) -> None:
    # Syntax, what it does, and an example typed as it is typed here.
    out = await text_of(ctx, "!hilfe status", sender=ADMIN, kind="admin")
    assert out == f"!status\n{de('cmd.status.help')}\n{de('help.example', example='!status')}"
    out = await text_of(ctx, "hilfe status", sender=ADMIN, kind="direct")
    assert out == f"status\n{de('cmd.status.help')}\n{de('help.example', example='status')}"


async def test_help_detail_in_english_and_with_optional_arg(ctx: BotContext) -> None:
    # In the 1:1 chat the "!" is optional and therefore not shown.
    out = await text_of(ctx, "help language", sender=CLIENT, kind="direct")
    assert (
        out == f"language [language]\n{en('cmd.language.help')}\n{en('help.example', example='language de')}"
    )
    out = await text_of(ctx, "!hilfe HILFE!", sender=CLIENT, kind="group")
    assert out == f"!hilfe [Befehl]\n{de('cmd.help.help')}\n{de('help.example', example='!hilfe sprache')}"


async def test_help_for_one_command_has_syntax_explanation_and_example(ctx: BotContext) -> None:
    await acknowledge_rules(ctx, WORKER)
    out = await text_of(ctx, "!hilfe neu", sender=WORKER, kind="team")
    assert out.splitlines() == [
        "!neu <Person> [Kurzname]",
        de("cmd.new_intake.help"),
        de("help.example", example="!neu kim Wohnungssuche"),
    ]


@pytest.mark.parametrize(
    ("kind", "role", "top"),
    [
        ("team", Role.WORKER, ["übernehmen", "fälle", "neu"]),
        ("direct", Role.WORKER, ["neu", "fälle", "einladen"]),
        ("consultation", Role.WORKER, ["fallname", "übergabe", "abschluss"]),
        ("admin", Role.ADMIN, ["raumregel", "probelauf", "aufbewahren"]),
        ("intake", Role.CLIENT, ["sprache", "meine-daten", "widerruf"]),
    ],
)
async def test_help_starts_with_the_three_most_used_here_each_with_an_example(
    ctx: BotContext, kind: str, role: Role, top: list[str]
) -> None:
    direct = kind in ONE_TO_ONE
    lines = (await text_of(ctx, "!hilfe", sender=USER_FOR_ROLE[role], kind=kind)).splitlines()
    assert lines[:2] == [de("help.header"), de("help.top")]
    bang = "" if direct else "!"
    for i, word in enumerate(top):
        command = next(c for c in COMMANDS if c.names["de"] == word)
        assert lines[2 + 2 * i].startswith(f"• {bang}{word}")
        assert lines[3 + 2 * i].strip() == de("help.example", example=bang + de(f"cmd.{command.key}.example"))
    assert lines[8] == de("help.more")


def test_every_command_has_an_example_in_every_language_that_names_it() -> None:
    for cmd in COMMANDS:
        for lang in ("de", "en"):
            example = CATALOG.text(lang, f"cmd.{cmd.key}.example")
            assert example != f"cmd.{cmd.key}.example", (cmd.key, lang)
            found = COMMANDS.lookup(example.split()[0])
            assert found is not None and found[0] is cmd, (cmd.key, lang, example)
            assert example.split()[0] == cmd.name(lang), (cmd.key, lang, example)


def test_every_room_kind_and_role_has_three_most_used_commands_or_all_there_are() -> None:
    for kind in ALL_ROOM_KINDS:
        for role in Role:
            visible = [c for c in COMMANDS.visible(frozenset({role}), kind) if c.key != "help"]
            top = COMMANDS.top(frozenset({role}), kind)
            assert len(top) == min(3, len(visible)), (kind, role)
            assert all(c in visible for c in top)


async def test_help_on_unknown_topic(ctx: BotContext) -> None:
    out = await text_of(ctx, "!hilfe zaubern", kind="group")
    assert out == de("help.unknown_topic", word="zaubern")


async def test_help_hides_forbidden_topics(ctx: BotContext) -> None:
    out = await text_of(ctx, "!hilfe status", sender=CLIENT, kind="direct")
    assert out == de("help.unknown_topic", word="status")


@pytest.mark.parametrize("kind", sorted(ALL_ROOM_KINDS - {"admin", "direct"}))
async def test_wrong_room_advice_works(ctx: BotContext, kind: str) -> None:
    # "!status" is an admin command, but not for this room: the advice names !hilfe, and
    # following it in the same room lists what works here, without status.
    advice = await text_of(ctx, "!status", sender=ADMIN, kind=kind)
    assert advice == de("dispatch.wrong_room", command="status")
    help_word = next(c for c in COMMANDS if c.key == "help").names["de"]
    assert f"!{help_word}" in advice
    assert f"!{help_word} status" not in advice  # that would answer "unknown topic" here
    out = await text_of(ctx, f"!{help_word}", sender=ADMIN, kind=kind)
    assert out.splitlines()[0] == de("help.header")
    assert "status" not in _listed_words(out)
    assert _listed_words(out) == {c.names["de"] for c in COMMANDS if c.allowed(frozenset({Role.ADMIN}), kind)}


def test_help_is_allowed_everywhere_for_everyone() -> None:
    # The wrong-room and forbidden advice both point to !hilfe, so it must always work.
    help_cmd = next(c for c in COMMANDS if c.key == "help")
    assert all(help_cmd.allowed(frozenset({r}), k) for r in Role for k in ALL_ROOM_KINDS)


# --- language ------------------------------------------------------------------------------


async def test_language_menu(ctx: BotContext) -> None:
    out = await text_of(ctx, "sprache")
    lines = out.splitlines()
    assert lines[:3] == [de("language.menu"), "1. Deutsch (de)", "2. English (en)"]
    assert lines[3:] == [
        "3. العربية (ar)",
        "4. فارسی (fa)",
        "5. Українська (uk)",
        "6. Русский (ru)",
        "7. Türkçe (tr)",
        "8. Leichte Sprache (de@ls)",
    ]


@pytest.mark.parametrize("answer", ["2", "en", "EN", "English", "english."])
async def test_language_is_set_and_remembered(ctx: BotContext, answer: str) -> None:
    out = await text_of(ctx, f"!sprache {answer}", kind="group")
    assert out == en("language.set", language="English")
    # The next help is in English even though it is asked for in German.
    help_text = await text_of(ctx, "!hilfe", kind="group")
    assert help_text.splitlines()[0] == en("help.header")
    assert _listed_words(help_text) == {"help", "language"}
    # Unknown-command replies too.
    assert await text_of(ctx, "!foo", kind="group") == en("dispatch.unknown", word="foo")
    # Other users are unaffected.
    other = await text_of(ctx, "!hilfe", sender=WORKER, kind="group")
    assert other.splitlines()[0] == de("help.header")


async def test_language_switch_back(ctx: BotContext) -> None:
    await say(ctx, "language en")
    assert await text_of(ctx, "language deutsch") == de("language.set", language="Deutsch")
    assert (await text_of(ctx, "help")).splitlines()[0] == de("help.header")


async def test_language_is_stored_under_pseudonym(ctx: BotContext) -> None:
    await say(ctx, "!sprache en", kind="group")
    rows = await ctx.state.db.fetchall("SELECT subject, language FROM user_pref")
    assert [tuple(r) for r in rows] == [(ctx.subject(CLIENT), "en")]
    assert CLIENT not in rows[0]["subject"]


@pytest.mark.parametrize("answer", ["klingonisch", "9", "0", "-1", "fr"])
async def test_unknown_language(ctx: BotContext, answer: str) -> None:
    out = await text_of(ctx, f"!sprache {answer}", kind="group")
    assert out == de("language.unknown", word=answer)
    assert await ctx.language_of(CLIENT) is None


@pytest.mark.parametrize("answer", ["٢", "۲", "２"])  # Arabic-Indic, Persian, full-width digits
async def test_digits_of_other_scripts_choose_from_the_menu(ctx: BotContext, answer: str) -> None:
    out = await text_of(ctx, f"!sprache {answer}", kind="group")
    assert out == en("language.set", language="English")
    assert await ctx.language_of(CLIENT) == "en"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("العربية", "ar"),
        ("عربي", "ar"),
        ("Arabisch", "ar"),
        ("arabic", "ar"),
        ("فارسی", "fa"),
        ("فارسي", "fa"),  # with the Arabic keyboard's yeh
        ("Farsi", "fa"),
        ("українська", "uk"),
        ("Ukrainisch", "uk"),
        ("русский", "ru"),
        ("Russisch", "ru"),
        ("Türkçe", "tr"),
        ("turkce", "tr"),
        ("Leichte Sprache", "de@ls"),
        ("einfache sprache", "de@ls"),
        ("Deutsch", "de"),
        ("Німецька", "de"),  # German, named in Ukrainian
    ],
)
async def test_a_language_by_its_name_in_any_language(ctx: BotContext, answer: str, code: str) -> None:
    out = await text_of(ctx, f"!sprache {answer}", kind="group")
    name = next(lang.native_name for lang in ctx.catalog.languages if lang.code == code)
    assert out == ctx.catalog.text(code, "language.set", language=name)
    assert await ctx.language_of(CLIENT) == code


# --- status --------------------------------------------------------------------------------


async def test_status_online(ctx: BotContext) -> None:
    out = await text_of(ctx, "!status", sender=ADMIN, kind="admin")
    assert out == de("status.text", version=__version__, uptime="10", homeserver=de("status.online"))


async def test_status_offline(ctx: BotContext) -> None:
    fake(ctx).online = False
    out = await text_of(ctx, "status", sender=ADMIN, kind="direct")
    assert out == de("status.text", version=__version__, uptime="10", homeserver=de("status.offline"))


async def test_help_in_direct_room_omits_bang(ctx: BotContext) -> None:
    out = await text_of(ctx, "hilfe", sender=CLIENT, kind="direct")
    assert f"• sprache [Sprache] — {de('cmd.language.help')}" in out.splitlines()
    assert "• !" not in out


async def test_help_in_intake_room_omits_bang(ctx: BotContext) -> None:
    out = await text_of(ctx, "hilfe", sender=CLIENT, kind="intake")
    assert "• !" not in out
    assert out.splitlines()[-1] == de("help.footer.direct")


async def test_a_command_without_its_bang_in_a_group_room_gets_one_hint_a_day(tmp_path: Path) -> None:
    ctx, _, db = await make_context(tmp_path, workers=[WORKER_HINT], rooms={"team": TEAM_HINT})
    try:
        await ctx.consent.append(
            subject=ctx.subject(WORKER_HINT),
            scope="worker_rules",
            purpose="employment",
            notice_version=ctx.worker_rules.get().version,
            language="de",
            decision="acknowledged",
            method="command",
        )

        async def say(body: str) -> Reply | None:
            return await handle_message(
                ctx, COMMANDS, sender=WORKER_HINT, room_id=TEAM_HINT, room_kind="team", body=body
            )

        hint = await say("Übernehmen 12")
        assert hint is not None and hint.text.startswith("Meintest du !übernehmen 12?")
        assert await say("übernehmen 13") is None  # once a day
        assert await say("hilfe wäre schön bei dem Fall von gestern") is None  # talk, not a command
    finally:
        await db.close()


async def test_a_hyphenated_command_typed_with_a_space_is_understood(ctx: BotContext) -> None:
    assert is_command(COMMANDS, "meine daten", "intake")
    assert not is_command(COMMANDS, "meine Frage", "intake")


def test_umlauts_may_be_typed_any_way() -> None:
    claim = COMMANDS.lookup("übernehmen")
    assert claim is not None
    for typed in ("uebernehmen", "ubernehmen", "ÜBERNEHMEN", "Uebernehmen!"):
        assert COMMANDS.lookup(typed) == claim, typed
    assert COMMANDS.lookup("loeschen") == COMMANDS.lookup("löschen")


async def test_a_near_miss_gets_a_did_you_mean(ctx: BotContext) -> None:
    out = await text_of(ctx, "!übernehmn 3", kind="group")
    assert out.startswith("„übernehmn“ kenne ich nicht. Meintest du übernehmen?")
    # A lookalike letter (Cyrillic е) never runs the command; at most it is suggested.
    out = await text_of(ctx, "!widеrruf", kind="group")
    assert "Meintest du" in out or "kenne ich nicht" in out


# --- who the sender is: only their ID counts ------------------------------------------------

OUTSIDERS = {
    "stranger named Admin": UserID("@fremder:example.org"),
    "user on another server": UserID("@admin:example.net"),
    "lookalike of the admin": UserID("@admín:example.org"),
}


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
async def test_outsiders_get_only_what_a_client_gets_refused_in_their_language(
    ctx: BotContext, who: str
) -> None:
    """A display name like "Admin", an account elsewhere with the admin's local name, or a
    look-alike ID: none of them gains a role; refusals come in the sender's language."""
    sender = OUTSIDERS[who]
    assert isinstance(ctx.matrix, FakeMatrix)
    ctx.matrix.names[sender] = "Admin"
    await ctx.state.set_language(ctx.subject(sender), "en")
    client = frozenset({Role.CLIENT})
    assert await ctx.roles.roles(sender) == client
    problems = []
    for cmd in COMMANDS:
        for kind in sorted(ALL_ROOM_KINDS):
            calls: list[tuple[str, Request]] = []
            reply = await say(ctx, "!" + cmd.names["en"], sender=sender, kind=kind, table=_spy_table(calls))
            allowed = cmd.allowed(client, kind)
            if allowed != bool(calls):
                problems.append(f"{cmd.key} in {kind}: ran={bool(calls)} allowed={allowed}")
            key = "dispatch.wrong_room" if Role.CLIENT in cmd.roles else "dispatch.forbidden"
            if not allowed and (
                reply is None or reply.text != CATALOG.text("en", key, command=cmd.names["en"])
            ):
                problems.append(f"{cmd.key} in {kind}: refusal {reply and reply.text!r}")
    assert problems == []

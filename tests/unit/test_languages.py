"""The clients' languages (#16): every client text in every language, review marks, the menu,
yes and no per language, right-to-left layout, plain German, and the notice actually shown."""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import re
import shutil
import string
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bot
from bot import cli, render
from bot.commands.dispatch import lookup, parse
from bot.commands.registry import COMMANDS
from bot.consent import flow, runtime
from bot.consent.answers import YesNo, parse_yes_no, word_set
from bot.consent.notices import load_notices
from bot.context import BotContext
from bot.i18n import LOCALES_DIR, Catalog
from bot.i18n.client import CLIENT_COMMANDS, client_keys, is_client_key, status, status_text
from bot.ids import EventID, RoomID, UserID
from bot.office import service as office
from bot.onboarding import page as join
from bot.onboarding import service as onboarding
from tests.support import REPO, FakeMatrix, make_context

BOT_DIR = Path(bot.__file__).parent
CATALOG = Catalog("de")
CLIENT_LANGUAGES = ("de", "en", "ar", "fa", "uk", "ru", "tr", "de@ls")
RTL = ("ar", "fa")
CLIENT = UserID("@client:example.org")
ROOM = RoomID("!intake:example.org")


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


# -- every client text in every language ----------------------------------------------------------


def test_the_menu_offers_every_client_language_german_first_english_second() -> None:
    assert [lang.code for lang in CATALOG.languages] == list(CLIENT_LANGUAGES)


@pytest.mark.parametrize("language", CLIENT_LANGUAGES)
def test_every_client_text_exists_in_every_language(language: str) -> None:
    wanted = client_keys(CATALOG)
    assert len(wanted) > 140, "the client-facing list lost its keys"
    missing = wanted - CATALOG.keys(language)
    assert missing == set(), f"client texts missing in {language}"


def test_client_languages_carry_only_client_texts() -> None:
    # Worker and admin texts stay German and English: a translator is not asked for them.
    for language in CLIENT_LANGUAGES[2:]:
        assert {k for k in CATALOG.keys(language) if not is_client_key(k)} == set(), language


KEY = re.compile(r"""["']((?:[a-z_]+\.)+[a-z_]+)["']""")


def _keys_in(source: str) -> set[str]:
    return {k for k in KEY.findall(source) if k in CATALOG.keys("de")}


def test_what_the_client_reads_is_listed_as_client_facing() -> None:
    """Derived from the code: what the intake flow says to the client, the automatic answer,
    the invitation and the join page, the rights answers. A new client text there that is not
    client-facing (so not required in every language) fails here."""
    sources = [
        inspect.getsource(flow),
        inspect.getsource(runtime.language_menu),
        inspect.getsource(runtime.apply),
        inspect.getsource(runtime.vocabulary),
        inspect.getsource(runtime.notice_values),
        inspect.getsource(office.answer_if_closed),
        inspect.getsource(office.when),
        inspect.getsource(office.emergency),
        inspect.getsource(onboarding.invitation_text),
        inspect.getsource(join),
        (BOT_DIR / "consent" / "rights.py").read_text(encoding="utf-8").split("def protocol")[0],
    ]
    worker_only = {k for k in _keys_in("\n".join(sources)) if k.startswith(("notify.", "erase.protocol"))}
    said = _keys_in("\n".join(sources)) - worker_only - {"erase.reason"}
    assert {"intake.consent.question", "office.closed", "page.title", "export.title"} <= said
    assert {k for k in said if not is_client_key(k)} == set()


def test_placeholders_are_kept_in_every_translation() -> None:
    for key in client_keys(CATALOG):
        source = placeholders(CATALOG.text("de", key))
        for language in CLIENT_LANGUAGES:
            assert placeholders(CATALOG.all_texts(key)[language]) == source, (language, key)


# -- machine translations are marked until reviewed ---------------------------------------------


def test_machine_translations_are_marked_for_review() -> None:
    for language in ("ar", "fa", "uk", "ru", "tr", "de@ls"):
        note = CATALOG.review_note(language)
        assert note is not None and "needs review" in note, language
    assert CATALOG.review_note("de") is None and CATALOG.review_note("en") is None


def _po(review: str | None, fuzzy: bool = False) -> str:
    header = f'"X-Lotse-Review: {review}\\n"\n' if review is not None else ""
    flag = "#, fuzzy\n" if fuzzy else ""
    return (
        'msgid ""\nmsgstr ""\n"Language: ar\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
        f'{header}\n{flag}msgid "help.header"\nmsgstr "هذا ما يمكنني فعله لك:"\n'
    )


def test_an_organisations_review_clears_the_mark(tmp_path: Path) -> None:
    (tmp_path / "ar.po").write_text(_po("reviewed by Samira K., 2027-01-10"), encoding="utf-8")
    assert Catalog("de", [LOCALES_DIR, tmp_path]).review_note("ar") is None
    (tmp_path / "ar.po").write_text(_po(None, fuzzy=True), encoding="utf-8")
    reviewed = Catalog("de", [LOCALES_DIR, tmp_path])
    # Without its own header the shipped mark stays; a fuzzy entry is listed by itself.
    assert reviewed.review_note("ar") is not None
    assert reviewed.fuzzy_keys("ar") == {"help.header"}


def test_texts_missing_lists_what_is_open(tmp_path: Path) -> None:
    statuses = status(CATALOG, REPO / "policies" / "consent")
    by_code = {s.code: s for s in statuses}
    assert by_code["de"].complete and by_code["en"].complete
    assert by_code["ar"].review and by_code["ar"].notice_review and not by_code["ar"].missing
    text = status_text(statuses, only_problems=True)
    assert "ar (العربية): needs review" in text and "de (Deutsch)" not in text

    # A language with a client text missing, and without a notice.
    partial = tmp_path / "po"
    partial.mkdir()
    (partial / "pl.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "help.header"\nmsgstr "Oto, co mogę dla ciebie zrobić:"\n',
        encoding="utf-8",
    )
    pl = next(
        s
        for s in status(Catalog("de", [LOCALES_DIR, partial]), REPO / "policies" / "consent")
        if s.code == "pl"
    )
    assert "intake.consent.question" in pl.missing and pl.notice_missing


def test_lotse_texts_missing_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("LOTSE_CONFIG", str(REPO / "no-such-config.toml"))
    assert cli.main(["texts", "--missing"]) == 0  # nothing missing; reviews are open
    out = capsys.readouterr().out
    for language in ("ar", "fa", "uk", "ru", "tr", "de@ls"):
        assert f"\n{language} (" in "\n" + out
    assert "machine translation, needs review by a native speaker" in out


# -- yes and no, numbers and names, per language --------------------------------------------------

YES_NO = {
    "de": ("ja", "nein"),
    "en": ("yes", "no"),
    "ar": ("نعم", "لا"),
    "fa": ("بله", "نه"),
    "uk": ("так", "ні"),
    "ru": ("да", "нет"),
    "tr": ("evet", "hayır"),
    "de@ls": ("ja", "nein"),
}


@pytest.mark.parametrize("language", CLIENT_LANGUAGES)
def test_yes_and_no_in_every_language(language: str) -> None:
    yes = word_set(CATALOG.text(language, "answer.yes"))
    no = word_set(CATALOG.text(language, "answer.no"))
    casual = word_set(CATALOG.text(language, "answer.casual"))
    assert yes and no and not (yes & no) and not (casual & (yes | no)), language
    y, n = YES_NO[language]
    for text in (y, y.upper() + "!", "1", "١", "۱", "1."):
        assert parse_yes_no(text, yes, no) is YesNo.YES, (language, text)
    for text in (n, n.capitalize(), "2", "٢", "۲"):
        assert parse_yes_no(text, yes, no) is YesNo.NO, (language, text)
    assert parse_yes_no(y + "؟", yes, no) is None  # a question is no answer


def test_spellings_that_differ_by_keyboard() -> None:
    tr_no = word_set(CATALOG.text("tr", "answer.no"))
    assert parse_yes_no("HAYIR", frozenset(), tr_no) is YesNo.NO  # dotless ı typed as I
    fa_yes = word_set(CATALOG.text("fa", "answer.yes"))
    assert parse_yes_no("موافقم", fa_yes, frozenset()) is YesNo.YES
    ar_yes = word_set(CATALOG.text("ar", "answer.yes"))
    assert parse_yes_no("\u200fنعم\u200f", ar_yes, frozenset()) is YesNo.YES  # direction marks
    # Another language's yes is not a yes: "так" is yes in Ukrainian, "so" in Russian.
    ru_yes = word_set(CATALOG.text("ru", "answer.yes"))
    assert parse_yes_no("так", ru_yes, frozenset()) is None


@pytest.mark.parametrize("language", CLIENT_LANGUAGES)
@pytest.mark.parametrize("command", CLIENT_COMMANDS)
def test_the_commands_a_client_is_shown_work_in_their_language(language: str, command: str) -> None:
    """The example in each language's help names the command in that language's words."""
    parsed = parse(CATALOG.text(language, f"cmd.{command}.example"), direct=True)
    assert parsed is not None
    found, _ = lookup(COMMANDS, parsed)
    assert found is not None and found[0].key == command, (language, command, parsed.word)


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("انسحاب", "withdraw"),
        ("بياناتي", "my_data"),
        ("حذف", "delete"),
        ("انصراف", "withdraw"),
        ("اطلاعات من", "my_data"),
        ("відкликати", "withdraw"),
        ("мої дані", "my_data"),
        ("видалити", "delete"),
        ("отозвать", "withdraw"),
        ("мои данные", "my_data"),
        ("удалить", "delete"),
        ("vazgeç", "withdraw"),
        ("verilerim", "my_data"),
        ("sil", "delete"),
        ("\u200fحذف", "delete"),  # with the mark an Arabic keyboard puts in front
    ],
)
def test_rights_commands_typed_in_the_clients_languages(typed: str, command: str) -> None:
    parsed = parse(typed, direct=True)
    assert parsed is not None
    found, _ = lookup(COMMANDS, parsed)
    assert found is not None and found[0].key == command


@pytest.mark.parametrize("language", CLIENT_LANGUAGES)
def test_texts_tell_the_rights_words_of_their_own_language(language: str) -> None:
    """The consent summary names the words to type; each of them is a command in the table."""
    notice = load_notices(REPO / "policies" / "consent", ("de", "en")).by_language[language]
    quoted = re.findall(r"[«„“]([^»“”]+)[»“”]", notice.summary) or re.findall(
        r"schreib: ([\w-]+)", notice.summary
    )
    assert len(quoted) >= 3, language
    for word in quoted:
        parsed = parse(word, direct=True)
        assert parsed is not None and lookup(COMMANDS, parsed)[0] is not None, (language, word)


# -- right to left ------------------------------------------------------------------------------


NUMBERS = {"n", "i", "age", "days", "redacted", "media", "failures", "messages"}


@pytest.mark.parametrize("language", RTL)
def test_rtl_texts_start_in_their_own_script(language: str) -> None:
    """A message's direction is that of its first letter (the rule of Element's dir="auto" and
    of :func:`render.directional`): Arabic and Farsi texts never start with a Latin word or a
    name, whatever the placeholders hold."""
    skip = ("page.", "answer.", "arg.", "cmd.", "decision.", "method.")
    for key in client_keys(CATALOG):
        if key.startswith(skip) or key in ("onboarding.qr.filename", "language.other_names"):
            continue
        values = {p: "12" if p in NUMBERS else "Kim Wolf" for p in placeholders(CATALOG.text("de", key))}
        filled = CATALOG.text(language, key, **values)
        assert render.is_rtl(filled), (language, key, filled[:40])


def test_rtl_messages_are_formatted_right_to_left_with_ltr_fragments_isolated() -> None:
    text = CATALOG.text("ar", "intake.consent.question")
    body, html = render.directional(text, None)
    assert html is not None and html.startswith('<div dir="rtl">') and html.endswith("</div>")
    # Each line starts with a right-to-left mark; numbers and commands are left-to-right spans.
    assert body.split("\n")[1] == f"{render.RLM}{render.LRM}1 = نعم، أوافق"
    assert f'<span dir="ltr">{render.LRM}1</span> = نعم، أوافق' in html
    assert html.count("<br>") == text.count("\n")
    assert render.strip_bidi_marks(body) == text

    mixed = "اكتب إلى @lotse:example.org أو !help، من 9–16 Uhr: 0800 111 0 111."
    body, html = render.directional(mixed, None)
    assert html == (
        f'<div dir="rtl">{render.RLM}اكتب إلى <span dir="ltr">{render.LRM}@lotse:example.org</span> أو '
        f'<span dir="ltr">{render.LRM}!help</span>، من <span dir="ltr">{render.LRM}9–16 Uhr</span>: '
        f'<span dir="ltr">{render.LRM}0800 111 0 111</span>.</div>'
    )
    # Marks go in front of a fragment only: a copied word (a token) carries none after it.
    assert f"@lotse:example.org{render.LRM}" not in body and "0800 111 0 111." in body


def test_markdown_notices_right_to_left() -> None:
    notice = load_notices(REPO / "policies" / "consent", ("de", "en")).by_language["fa"]
    summary, _ = notice.render({"organisation": "Beratung Nord", "retention": "180 روز"})
    _, html = render.directional(summary, render.to_html(summary))
    assert html is not None and html.startswith('<div dir="rtl"><p><strong>')
    assert '<span dir="ltr">Beratung Nord</span>' in html and "&lt;" not in html
    assert '<span dir="ltr">{render.LRM}180</span> روز'.replace("{render.LRM}", render.LRM) in html


def test_left_to_right_messages_are_left_alone() -> None:
    for language in ("de", "en", "uk", "ru", "tr", "de@ls"):
        text = CATALOG.text(language, "intake.consent.question")
        assert render.directional(text, None) == (text, None)
    # A German notification quoting an Arabic question stays German.
    quoted = CATALOG.text("de", "notify.question", n="3", question="هل يرى أحد صوري؟")
    assert render.directional(quoted, None) == (quoted, None)


def test_the_first_message_lists_every_language_in_its_own_script() -> None:
    class Ctx:
        catalog = CATALOG

    menu = runtime.language_menu(Ctx())  # type: ignore[arg-type]
    lines = menu.split("\n")
    assert lines[0] == "👋 🌐"  # no words before a language is chosen
    for i, language in enumerate(CATALOG.languages, start=1):
        assert lines[i].startswith(f"{i}. ") and language.native_name in lines[i]
    # The menu as a whole is left to right: German first.
    assert not render.is_rtl(menu) and render.directional(menu, None) == (menu, None)


def test_the_join_page_right_to_left() -> None:
    details = join.JoinDetails(
        language="ar",
        organisation="Beratung Nord",
        homeserver="https://matrix.example.org",
        token="abcdefghjk23",
        pairing_code="K7M-4PX",
        bot="@lotse:example.org",
        expires="7 ديسمبر",
    )
    page = join.join_page(CATALOG, details)
    assert '<html lang="ar" dir="rtl">' in page
    assert '<input id="token" type="text" dir="ltr" readonly value="abcdefghjk23"' in page
    assert "<bdi>@lotse:example.org</bdi>" in page and "<bdi>Beratung Nord</bdi>" in page
    plain = join.join_page(CATALOG, details.__class__(**{**details.__dict__, "language": "de@ls"}))
    assert '<html lang="de-x-ls">' in plain and "Leichte" not in plain.split("<body>")[0]


# -- plain German --------------------------------------------------------------------------------


def test_plain_german_falls_back_to_german(caplog: pytest.LogCaptureFixture) -> None:
    assert CATALOG.fallbacks("de@ls") == ["de@ls", "de"]
    with caplog.at_level("WARNING", logger="bot.i18n"):
        assert CATALOG.text("de@ls", "notify.declined", n="1") == CATALOG.text("de", "notify.declined", n="1")
    assert caplog.records == []  # a variant lacks worker texts on purpose
    assert CATALOG.text("de@ls", "intake.consent.question") != CATALOG.text("de", "intake.consent.question")
    # Dates and times for plain German are German ones (CLDR's de, via the variant).
    assert office.date_text("de@ls", dt.date(2026, 12, 7)) == "7. Dezember"
    assert office.weekday_date("de@ls", dt.date(2026, 12, 7)) == "Montag, 7. Dezember"
    assert COMMANDS.lookup("widerruf") is not None
    widerruf = next(c for c in COMMANDS if c.key == "withdraw")
    assert widerruf.name("de@ls") == "widerruf" and widerruf.name("ar") == "withdraw"


# -- the notice actually shown -------------------------------------------------------------------


def test_every_client_language_has_its_notice_in_the_same_version() -> None:
    notices = load_notices(REPO / "policies" / "consent", ("de", "en"))
    assert set(CLIENT_LANGUAGES) <= set(notices.by_language)
    # Adding languages changed no version: a consent is to *the* notice, in any language.
    assert notices.version == "1"
    assert {n.version for n in notices.by_language.values()} == {"1"}
    assert notices.for_language("de@ls", "de").language == "de@ls"


@pytest.fixture
async def ctx_without_arabic_notice(tmp_path: Path) -> AsyncIterator[tuple[BotContext, FakeMatrix]]:
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    (policies / "consent" / "ar.md").unlink()
    ctx, matrix, db = await make_context(tmp_path, policies_dir=policies, rooms={"team": "!team:example.org"})
    db._batch_window = 0.0
    try:
        yield ctx, matrix
    finally:
        await db.close()


def _digest(summary: str, full: str) -> str:
    return hashlib.sha256(f"{summary}\n\n{full}".encode()).hexdigest()


async def test_the_consent_log_records_the_language_shown_not_the_one_asked_for(
    ctx_without_arabic_notice: tuple[BotContext, FakeMatrix],
) -> None:
    ctx, matrix = ctx_without_arabic_notice
    intake = await runtime.start_intake(ctx, ROOM, CLIENT, worker=None, notify_room=None, client_present=True)
    for n, text in enumerate(("٣", "نعم", "نعم")):  # Arabic; the age; consent
        fresh = await ctx.consent.intake_by_id(intake.intake_id)
        assert fresh is not None
        await runtime.on_text(ctx, fresh, text, EventID(f"$e{n}"))
    assert await ctx.state.language(ctx.subject(CLIENT)) == "ar"
    # The questions are in Arabic; the notice is the German one, filled in German, as shown.
    question = next(t for t in matrix.texts_to(ROOM) if CATALOG.text("ar", "intake.consent.question") in t)
    german = ctx.consent_notices.get().by_language["de"].render(runtime.notice_values(ctx, "de"))
    assert question.startswith(german[0])
    [record] = await ctx.consent.history(ctx.subject(CLIENT))
    assert (record.decision, record.language) == ("given", "de")
    assert record.notice_hash == _digest(*german)


async def test_the_consent_log_records_arabic_when_arabic_was_shown(tmp_path: Path) -> None:
    ctx, matrix, db = await make_context(tmp_path, rooms={"team": "!team:example.org"})
    db._batch_window = 0.0
    try:
        intake = await runtime.start_intake(
            ctx, ROOM, CLIENT, worker=None, notify_room=None, client_present=True
        )
        for n, text in enumerate(("العربية", "١", "١")):
            fresh = await ctx.consent.intake_by_id(intake.intake_id)
            assert fresh is not None
            await runtime.on_text(ctx, fresh, text, EventID(f"$e{n}"))
        arabic = ctx.consent_notices.get().by_language["ar"].render(runtime.notice_values(ctx, "ar"))
        assert any(t.startswith(arabic[0]) for t in matrix.texts_to(ROOM))
        assert "يومًا" in arabic[0]  # the retention period in Arabic, inside the Arabic notice
        [record] = await ctx.consent.history(ctx.subject(CLIENT))
        assert (record.decision, record.method, record.language) == ("given", "number", "ar")
        assert record.notice_hash == _digest(*arabic)
    finally:
        await db.close()


def test_no_unassigned_or_control_characters_in_the_catalogs() -> None:
    for path in LOCALES_DIR.glob("*.po"):
        text = path.read_text(encoding="utf-8")
        bad = [
            ch for ch in text if unicodedata.category(ch) in ("Cn", "Co", "Cs") or ch in render.BIDI_CONTROLS
        ]
        assert bad == [], path.name


def test_an_outdated_translation_is_listed_and_set_aside(tmp_path: Path) -> None:
    folder = tmp_path / "consent"
    shutil.copytree(REPO / "policies" / "consent", folder)
    for language in ("de", "en"):
        path = folder / f"{language}.md"
        path.write_text(path.read_text(encoding="utf-8").replace('version = "1"', 'version = "2"'))
    notices = load_notices(folder, ("de", "en"))
    assert notices.version == "2" and notices.outdated["ar"] == "1"
    assert notices.for_language("ar", "de").language == "de"
    ar = next(s for s in status(CATALOG, folder) if s.code == "ar")
    assert ar.notice_outdated == "version 1, in force is 2" and not ar.complete
    assert "consent notice ar.md: version 1, in force is 2" in status_text([ar], only_problems=True)


def test_an_organisation_chooses_the_languages_it_offers() -> None:
    offered = Catalog("de", languages=["en", "ar", "de@ls"])
    assert [lang.code for lang in offered.languages] == ["de", "en", "ar", "de@ls"]
    # A language not offered is unknown: its people read the default language.
    assert not offered.has_language("fa")
    assert offered.text("fa", "help.header") == CATALOG.text("de", "help.header")
    assert offered.fallbacks("de@ls") == ["de@ls", "de"]
    assert set(offered.all_texts("arg.language")) == {"de", "en", "ar", "de@ls"}
    with pytest.raises(ValueError, match="xx"):
        Catalog("de", languages=["xx"])


def test_the_languages_setting_is_checked(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from bot.config import Settings

    base = {"homeserver": {"url": "http://127.0.0.1:1"}, "bot": {"user_id": "@b:x", "password": "p"}}
    assert Settings(**base, languages=["de", "ar"]).languages == ["de", "ar"]  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'xx': no message catalog"):
        Settings(**base, languages=["de", "xx"])  # type: ignore[arg-type]

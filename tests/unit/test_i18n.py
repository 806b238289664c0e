"""bot/i18n: the catalogs are complete, consistent and used correctly."""

from __future__ import annotations

import logging
import re
import string
from pathlib import Path

import pytest

import bot
from bot.commands.registry import COMMANDS
from bot.i18n import LOCALES_DIR, Catalog, Language, available_languages

BOT_DIR = Path(bot.__file__).parent
KEY_RE = re.compile(r'"((?:help|cmd|arg|language|status|dispatch|invite|greeting|error)\.[a-z_.]+)"')


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog("de")


def referenced_keys() -> set[str]:
    keys: set[str] = set()
    for path in BOT_DIR.rglob("*.py"):
        keys.update(KEY_RE.findall(path.read_text(encoding="utf-8")))
    for cmd in COMMANDS:
        keys.add(f"cmd.{cmd.key}.help")
        keys.update(arg.label_key for arg in cmd.args)
    return keys


SHIPPED = ("ar", "de", "de@ls", "en", "fa", "ru", "tr", "uk")


def test_shipped_languages() -> None:
    assert available_languages() == SHIPPED
    assert sorted(p.stem for p in LOCALES_DIR.glob("*.po")) == list(SHIPPED)


def test_catalogs_have_the_same_keys(catalog: Catalog) -> None:
    de, en = catalog.keys("de"), catalog.keys("en")
    assert de, "the German catalog is empty"
    assert de - en == set(), "keys only in de"
    assert en - de == set(), "keys only in en"


def test_placeholders_match_between_languages(catalog: Catalog) -> None:
    mismatches = {}
    for key in catalog.keys("de"):
        de = placeholders(catalog.all_texts(key)["de"])
        for lang, text in catalog.all_texts(key).items():
            if placeholders(text) != de:
                mismatches[f"{lang}:{key}"] = (de, placeholders(text))
    assert mismatches == {}


def test_placeholder_scan_is_not_vacuous(catalog: Catalog) -> None:
    # The checker must see the placeholders that are there.
    assert placeholders(catalog.all_texts("status.text")["en"]) == {
        "version",
        "uptime",
        "homeserver",
    }
    assert placeholders(catalog.all_texts("dispatch.wrong_room")["de"]) == {"command"}


def test_every_referenced_key_exists(catalog: Catalog) -> None:
    keys = referenced_keys()
    # The scan must find the keys we know are used; otherwise the test proves nothing.
    assert {
        "dispatch.unknown",
        "dispatch.forbidden",
        "invite.reject.foreign",
        "greeting.direct",
        "error.internal",
        "cmd.status.help",
        "arg.language",
    } <= keys
    for lang in ("de", "en"):
        assert keys - catalog.keys(lang) == set(), f"missing in {lang}"


# Keys of the consent flow and its commands, in either kind of quotes (f-strings use '…').
CONSENT_KEY_RE = re.compile(
    r"""(["'])((?:intake|notify|erase|export|room|rules|reload|hold|answer|consent|decision|method"""
    r"""|withdraw|rights|roomref|casename|person)\.[a-z_.]*[a-z_])\1"""
)
CONSENT_SOURCES = [
    *sorted((BOT_DIR / "consent").glob("*.py")),
    *sorted((BOT_DIR / "commands" / "handlers").glob("*.py")),
    BOT_DIR / "roomnames.py",
]
SCHEMA = (BOT_DIR.parent / "migrations" / "0002_consent.sql").read_text(encoding="utf-8")


def consent_keys() -> set[str]:
    keys: set[str] = set()
    for path in CONSENT_SOURCES:
        keys.update(m.group(2) for m in CONSENT_KEY_RE.finditer(path.read_text(encoding="utf-8")))
    return keys


def check_list(column: str) -> list[str]:
    m = re.search(rf"\b{column}\s+TEXT NOT NULL CHECK \({column} IN\s*\(([^)]*)\)\)", SCHEMA)
    assert m is not None, f"no CHECK list for {column} in 0002_consent.sql"
    return re.findall(r"'([a-z_]+)'", m.group(1))


def test_consent_keys_exist(catalog: Catalog) -> None:
    keys = consent_keys()
    # The scan must find keys we know are used, from each prefix and each kind of quote.
    assert {
        "intake.consent.question",
        "intake.guardian.pending",
        "notify.declined",
        "notify.new_intake",
        "erase.protocol",
        "export.title",
        "room.consultation.name",
        "rules.required",
        "rules.how_to_ack",  # inside an f-string, in single quotes
        "reload.failed",
        "hold.set",
        "answer.yes",
        "consent.retention",
        "withdraw.done",
        "rights.not_yours",
    } <= keys
    for lang in ("de", "en"):
        assert keys - catalog.keys(lang) == set(), f"missing in {lang}"


def test_key_scan_finds_a_missing_key() -> None:
    # The scan itself, on a made-up source: it reads both quote styles and skips f-string stems.
    source = """Say("intake.nope.missing")\nt(lang, 'erase.gone')\nt(lang, f"decision.{x}")\n"""
    found = {m.group(2) for m in CONSENT_KEY_RE.finditer(source)}
    assert found == {"intake.nope.missing", "erase.gone"}


def test_computed_keys_cover_the_schema(catalog: Catalog) -> None:
    rights_py = (BOT_DIR / "consent" / "rights.py").read_text(encoding="utf-8")
    # The keys built at run time, and what they are built from.
    assert 'f"decision.{' in rights_py and 'f"method.{' in rights_py and 'f"export.request.{' in rights_py
    decisions, methods = check_list("decision"), check_list("method")
    assert {"given", "declined", "withdrawn", "acknowledged", "confirmed"} <= set(decisions)
    assert {"text", "number", "reaction", "command"} <= set(methods)
    keys = [f"decision.{d}" for d in decisions] + [f"method.{m}" for m in methods]
    keys += [f"export.request.{kind}" for kind in ("access", "erasure")]  # rights_request's kinds
    for lang in ("de", "en"):
        missing = [k for k in keys if k not in catalog.keys(lang)]
        assert missing == [], f"missing in {lang}"


def test_no_empty_translations(catalog: Catalog) -> None:
    for lang in SHIPPED:
        for key in catalog.keys(lang):
            assert catalog.text(lang, key).strip(), f"{lang}:{key} is empty"


def test_texts_differ_between_languages(catalog: Catalog) -> None:
    assert catalog.text("de", "help.header") == "Das kann ich für dich tun:"
    assert catalog.text("en", "help.header") == "Here is what I can do for you:"


def test_placeholders_are_filled(catalog: Catalog) -> None:
    out = catalog.text("en", "dispatch.unknown", word="frobnicate")
    assert out == ("I don't know the command “frobnicate”. Write !help and I will show you all commands.")


def test_multiline_message(catalog: Catalog) -> None:
    out = catalog.text("de", "status.text", version="1.2", uptime="3", homeserver="ok")
    assert out == "Lotse 1.2 läuft seit 3 Minuten.\nHomeserver: ok"


@pytest.mark.parametrize("language", ["fr", "xx", "", None])
def test_unknown_language_falls_back_to_default(catalog: Catalog, language: str | None) -> None:
    assert catalog.text(language, "help.header") == catalog.text("de", "help.header")


def test_fallback_follows_the_configured_default() -> None:
    en = Catalog("en")
    assert en.text("fr", "help.header") == "Here is what I can do for you:"


def test_missing_placeholder_value_is_shown_literally(catalog: Catalog) -> None:
    out = catalog.text("de", "dispatch.wrong_room")
    assert "{command}" in out
    out = catalog.text("en", "status.text", version="9")
    assert out.startswith("Lotse 9 has been running for {uptime} minutes.")
    assert out.endswith("Homeserver: {homeserver}")


def test_values_are_not_reformatted(catalog: Catalog) -> None:
    # A user's word containing braces must come out as typed.
    out = catalog.text("en", "dispatch.unknown", word="{version}")
    assert "“{version}”" in out


def test_unknown_key_returns_the_key(catalog: Catalog) -> None:
    assert catalog.text("de", "no.such.key") == "no.such.key"


def test_no_catalog_for_default_language() -> None:
    with pytest.raises(ValueError, match="no catalog"):
        Catalog("xx")


def test_languages_default_first_with_native_names() -> None:
    # German 1, English 2, then the clients' languages, plain German last; each by its own name.
    assert Catalog("de").languages == [
        Language("de", "Deutsch"),
        Language("en", "English"),
        Language("ar", "العربية", rtl=True),
        Language("fa", "فارسی", rtl=True),
        Language("uk", "Українська"),
        Language("ru", "Русский"),
        Language("tr", "Türkçe"),
        Language("de@ls", "Leichte Sprache"),
    ]
    assert [lang.code for lang in Catalog("en").languages][:3] == ["en", "de", "ar"]


def test_all_texts(catalog: Catalog) -> None:
    texts = catalog.all_texts("arg.language")
    assert {"de": "Sprache", "en": "language", "tr": "dil"}.items() <= dict(texts).items()
    assert set(texts) == set(SHIPPED)
    assert dict(catalog.all_texts("no.such.key")) == {}


PL_PO = """\
# Lotse — polski.
msgid ""
msgstr ""
"Language: pl\\n"
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "help.header"
msgstr "Oto, co mogę dla ciebie zrobić:"

#, python-brace-format
msgid "dispatch.unknown"
msgstr "Nie znam polecenia „{word}”."
"""


def test_adding_a_language_is_adding_a_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "pl.po").write_text(PL_PO, encoding="utf-8")
    cat = Catalog("de", directories=[LOCALES_DIR, tmp_path])
    # A language from elsewhere comes after the shipped ones in the menu.
    assert [lang.code for lang in cat.languages][-2:] == ["de@ls", "pl"]
    assert Language("pl", "Polski") in cat.languages
    assert cat.has_language("pl")
    assert cat.text("pl", "help.header") == "Oto, co mogę dla ciebie zrobić:"
    assert cat.text("pl", "dispatch.unknown", word="foo") == "Nie znam polecenia „foo”."
    # Keys the new catalog lacks come from the default language (German), with a warning.
    with caplog.at_level(logging.WARNING, logger="bot.i18n"):
        assert cat.text("pl", "help.footer") == cat.text("de", "help.footer")
    assert any("help.footer" in r.getMessage() for r in caplog.records)
    # The built-in catalogs are unaffected.
    assert not Catalog("de").has_language("pl")


def test_extra_directory_overrides_single_texts(tmp_path: Path) -> None:
    (tmp_path / "de.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "help.header"\nmsgstr "Angepasst:"\n',
        encoding="utf-8",
    )
    cat = Catalog("de", directories=[LOCALES_DIR, tmp_path])
    assert cat.text("de", "help.header") == "Angepasst:"
    assert cat.text("de", "help.footer") == Catalog("de").text("de", "help.footer")

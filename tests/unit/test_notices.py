"""bot/consent/notices.py: the versioned consent notice and workers' rules, and their reload."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import string
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.config import Settings
from bot.consent.notices import FULL_MARKER, NoticeError, NoticeHolder, load_notices, parse_notice
from bot.consent.runtime import notice_values
from bot.i18n import Catalog
from bot.ids import RoomID, UserID
from bot.retention.policy import PolicyHolder
from tests.support import REPO, make_context

POLICIES = REPO / "policies"
REQUIRED = ("de", "en")
CATALOG = Catalog("de")
UNFILLED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def notice(
    *,
    version: str = '"1"',
    effective: str = "2026-11-01",
    summary: str = "Kurz: {organisation}",
    full: str = "Der ganze Text.",
) -> str:
    return f"+++\nversion = {version}\neffective = {effective}\n+++\n{summary}\n{FULL_MARKER}\n{full}\n"


def write_set(directory: Path, texts: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for language, text in texts.items():
        (directory / f"{language}.md").write_text(text, encoding="utf-8")
    return directory


def refused(directory: Path) -> NoticeError:
    with pytest.raises(NoticeError) as info:
        load_notices(directory, REQUIRED)
    return info.value


def _values(language: str, policy_texts: dict[str, str] | None = None, **settings: Any) -> dict[str, str]:
    """Notice values with the shipped retention policies, or with ``policy_texts``."""
    s = Settings(
        homeserver={"url": "http://127.0.0.1:1"},
        bot={"user_id": "@lotse:example.org", "password": "x"},
        organisation={"name": "Beratung Nord", "controller": "Verein Nord e. V.", "dpo_contact": "dsb@nord"},
        **settings,
    )
    policies = PolicyHolder(POLICIES)
    if policy_texts is None:
        assert policies.reload() is None
    else:
        assert policies.restore(policy_texts)
    stand_in: Any = SimpleNamespace(settings=s, catalog=CATALOG, policies=policies)
    return notice_values(stand_in, language)


# --- the shipped texts ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["consent", "worker-rules"])
def test_shipped_texts_load(name: str) -> None:
    texts = load_notices(POLICIES / name, REQUIRED)
    assert set(texts.by_language) >= set(REQUIRED)
    assert {n.version for n in texts.by_language.values()} == {texts.version}
    for language, item in texts.by_language.items():
        assert item.language == language
        assert isinstance(item.effective, dt.date)
        assert item.summary and item.full
        assert FULL_MARKER not in item.summary + item.full
    assert texts.by_language["de"].summary != texts.by_language["en"].summary


@pytest.mark.parametrize("name", ["consent", "worker-rules"])
@pytest.mark.parametrize("language", REQUIRED)
def test_shipped_placeholders_render_with_notice_values(name: str, language: str) -> None:
    item = load_notices(POLICIES / name, REQUIRED).by_language[language]
    values = _values(language)
    used = {
        field
        for part in (item.summary, item.full)
        for _, field, _, _ in string.Formatter().parse(part)
        if field is not None
    }
    assert "organisation" in used
    assert used <= set(values), f"placeholders without a value: {used - set(values)}"
    summary, full = item.render(values)
    for text in (summary, full):
        assert not UNFILLED.search(text), UNFILLED.findall(text)
    assert "Beratung Nord" in summary + full
    if name == "consent":
        assert "Verein Nord e. V." in full
        assert values["retention"] in summary


@pytest.mark.parametrize("language", ["ar", "fa", "uk", "ru", "tr", "de@ls"])
def test_translated_consent_notices_render_with_notice_values(language: str) -> None:
    test_shipped_placeholders_render_with_notice_values("consent", language)


# --- the retention period the consent notice promises ----------------------------------------


def _retention(days: str) -> str:
    return CATALOG.text("de", "consent.retention", days=days)


def test_retention_period_comes_from_the_shipped_consultation_policy() -> None:
    # policies/default.toml: "beratung", 180d, covers consultation rooms.
    assert _values("de", consent={"retention_days": 99})["retention"] == _retention("180")


@pytest.mark.parametrize(
    ("toml", "days"),
    [
        ('[policy.b]\nmax_age = "12w"\nroom_kinds = ["consultation"]\n', "84"),
        # min_age wins: that is how long messages really stay.
        ('[policy.b]\nmax_age = "30d"\nmin_age = "200d"\nroom_kinds = ["consultation"]\n', "200"),
        # No policy for consultation rooms, but a default.
        (
            'default = "s"\n[policy.s]\nmax_age = "2y"\n[policy.t]\nmax_age = "1d"\nroom_kinds = ["team"]\n',
            "730",
        ),
        # Less than a day is still promised as one day, not zero.
        ('[policy.b]\nmax_age = "10s"\nroom_kinds = ["consultation"]\n', "1"),
        # Nothing applies: the configured period.
        ('[policy.t]\nmax_age = "1d"\nroom_kinds = ["team"]\n', "99"),
    ],
)
def test_retention_period_follows_the_policy_for_consultation_rooms(toml: str, days: str) -> None:
    values = _values("de", {"p.toml": toml}, consent={"retention_days": 99})
    assert values["retention"] == _retention(days)


def test_render_keeps_unknown_placeholders_and_fills_known_ones() -> None:
    item = parse_notice(Path("de.md"), notice(summary="{organisation} und {unbekannt}", full="{x}"))
    assert item.render({"organisation": "Nord"}) == ("Nord und {unbekannt}", "{x}")
    # A value containing braces is not formatted again.
    assert item.render({"organisation": "{x}"})[0] == "{x} und {unbekannt}"


def test_parse_good_notice() -> None:
    text = notice(version="2026", summary="Eins\nZwei", full="Drei\n\nVier")
    item = parse_notice(Path("/p/en.md"), text)
    assert (item.language, item.version, item.effective) == ("en", "2026", dt.date(2026, 11, 1))
    assert (item.summary, item.full) == ("Eins\nZwei", "Drei\n\nVier")


def test_windows_line_endings_are_fine() -> None:
    item = parse_notice(Path("de.md"), notice().replace("\n", "\r\n"))
    assert (item.version, item.summary, item.full) == ("1", "Kurz: {organisation}", "Der ganze Text.")


def test_effective_may_be_a_quoted_date() -> None:
    assert parse_notice(Path("de.md"), notice(effective='"2026-12-24"')).effective == dt.date(2026, 12, 24)


# --- broken files: refused with file and line ----------------------------------------------


def _error(text: str, name: str = "de.md") -> NoticeError:
    with pytest.raises(NoticeError) as info:
        parse_notice(Path("/policies/consent") / name, text)
    err = info.value
    assert err.path == Path("/policies/consent") / name
    assert f"{err.path}:{err.line}: " in str(err)
    return err


@pytest.mark.parametrize("text", ["", "version = '1'\n", "\n+++\nversion = '1'\n+++\n", "++\n"])
def test_missing_header_fence(text: str) -> None:
    err = _error(text)
    assert err.line == 1
    assert "+++" in err.reason


def test_unclosed_header() -> None:
    err = _error("+++\nversion = '1'\neffective = 2026-11-01\nKurz\n<!-- full -->\nLang\n")
    assert err.line == 1
    assert "not closed" in err.reason


@pytest.mark.parametrize(
    ("header", "line"),
    [
        ('version = "1"\neffective 2026-11-01', 3),
        ('version = "1\neffective = 2026-11-01', 2),
        ('version = "1"\neffective = 2026-02-30', 3),  # no such day
        ('# comment\n\nversion = "1"\nx = = 2\neffective = 2026-11-01', 5),
    ],
)
def test_bad_toml_names_the_file_line(header: str, line: int) -> None:
    err = _error(f"+++\n{header}\n+++\nKurz\n{FULL_MARKER}\nLang\n")
    assert err.line == line
    assert err.reason.startswith("header: ")


def test_bad_toml_in_the_last_header_line() -> None:
    err = _error(f'+++\nversion = "1"\neffective = 2026-11-01\nnote =\n+++\nKurz\n{FULL_MARKER}\nLang\n')
    assert err.line == 4


@pytest.mark.parametrize("version", [None, '""', '"   "', "[]", "{}"])
def test_missing_or_empty_version(version: str | None) -> None:
    header = "effective = 2026-11-01" if version is None else f"version = {version}\neffective = 2026-11-01"
    err = _error(f"+++\n{header}\n+++\nKurz\n{FULL_MARKER}\nLang\n")
    assert err.line == 2
    assert "version" in err.reason


def test_numeric_version_is_accepted_as_text() -> None:
    assert parse_notice(Path("de.md"), notice(version="3")).version == "3"


@pytest.mark.parametrize("effective", ['"bald"', '"2026-13-01"', "1", '""'])
def test_bad_effective_date(effective: str) -> None:
    err = _error(notice(effective=effective))
    assert 2 <= err.line <= 3  # in the header
    assert "effective" in err.reason


def test_missing_effective_date() -> None:
    err = _error(f'+++\nversion = "1"\n+++\nKurz\n{FULL_MARKER}\nLang\n')
    assert err.line == 2
    assert "effective" in err.reason


def test_bad_effective_date_names_its_own_line() -> None:
    assert _error(notice(effective='"bald"')).line == 3


@pytest.mark.parametrize(
    "body",
    [
        "Kurz\nLang\n",  # no marker
        f"Kurz\n{FULL_MARKER}\nLang\n{FULL_MARKER}\nNoch mehr\n",  # two markers
        "Kurz\n<!--full-->\nLang\n",  # not the marker
    ],
)
def test_needs_exactly_one_full_marker(body: str) -> None:
    err = _error(f'+++\nversion = "1"\neffective = 2026-11-01\n+++\n{body}')
    assert err.line == 5  # where the text begins
    assert FULL_MARKER in err.reason


@pytest.mark.parametrize(
    "body",
    [
        f"{FULL_MARKER}\nLang\n",
        f"\n  \n{FULL_MARKER}\nLang\n",
        f"Kurz\n{FULL_MARKER}\n",
        f"Kurz\n{FULL_MARKER}\n \n",
    ],
)
def test_empty_summary_or_full_text(body: str) -> None:
    err = _error(f'+++\nversion = "1"\neffective = 2026-11-01\n+++\n{body}')
    assert err.line == 5
    assert "non-empty" in err.reason


def test_broken_placeholder_names_the_part() -> None:
    head = '+++\nversion = "1"\neffective = 2026-11-01\n+++\n'
    err = _error(f"{head}Eins\nZwei {{organisation\n{FULL_MARKER}\nDrei\n")
    assert (err.line, "placeholder" in err.reason) == (5, True)
    err = _error(f"{head}Eins\nZwei\n{FULL_MARKER}\nDrei\nVier }} x\n")
    assert (err.line, "placeholder" in err.reason) == (8, True)  # the full text starts on line 8


def test_versions_disagreeing_across_languages(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "c", {"de": notice(version='"1"'), "en": notice(version='"2"')})
    err = refused(folder)
    assert err.path.parent == folder
    assert err.path.name in ("de.md", "en.md")
    assert "de=1" in err.reason and "en=2" in err.reason


def test_a_translation_in_another_version_is_set_aside(tmp_path: Path) -> None:
    """German and English decide the version; a translation not yet updated is not in force
    (its readers get the default language's notice, and the consent log says so) instead of
    holding back a changed notice, or being shown under a version it does not say."""
    folder = write_set(
        tmp_path / "c",
        {"de": notice(version='"2"'), "en": notice(version='"2"'), "tr": notice(version='"1"')},
    )
    texts = load_notices(folder, REQUIRED)
    assert (texts.version, set(texts.by_language), dict(texts.outdated)) == ("2", {"de", "en"}, {"tr": "1"})
    assert texts.for_language("tr", "de").language == "de"
    (folder / "tr.md").write_text(notice(version='"2"'), encoding="utf-8")
    texts = load_notices(folder, REQUIRED)
    assert set(texts.by_language) == {"de", "en", "tr"} and not texts.outdated
    # Without required languages, all must agree.
    (folder / "tr.md").write_text(notice(version='"0"'), encoding="utf-8")
    with pytest.raises(NoticeError, match="tr=0"):
        load_notices(folder, ())


def test_missing_required_language(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "c", {"de": notice()})
    err = refused(folder)
    assert (err.path, err.line) == (folder / "en.md", 0)
    assert "required" in err.reason


def test_missing_folder(tmp_path: Path) -> None:
    err = refused(tmp_path / "nowhere")
    assert (err.path, err.line) == (tmp_path / "nowhere", 0)


def test_broken_file_in_a_set_is_named(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "c", {"de": notice(), "en": notice().replace("+++\nKurz", "Kurz")})
    err = refused(folder)
    assert (err.path, err.line) == (folder / "en.md", 1)


def test_for_language_falls_back_to_default(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "c", {"de": notice(summary="de"), "en": notice(summary="en")})
    texts = load_notices(folder, REQUIRED)
    assert texts.for_language("en", "de").summary == "en"
    assert texts.for_language("tr", "de").summary == "de"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "c", {"de": "\ufeff" + notice(), "en": notice()})
    assert load_notices(folder, REQUIRED).version == "1"


# --- the holder ----------------------------------------------------------------------------


def test_holder_keeps_the_last_good_set(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "c", {"de": notice(), "en": notice()})
    holder = NoticeHolder(folder, REQUIRED)
    assert holder.reload() is None
    good = holder.get()
    assert good.version == "1"

    (folder / "en.md").write_text(notice(version='"2"').replace(FULL_MARKER, ""), encoding="utf-8")
    err = holder.reload()
    assert err is not None
    assert (err.path, err.line) == (folder / "en.md", 5)
    assert holder.error is err
    assert holder.get() is good  # still the last good set

    # A fixed folder with a new version replaces it and clears the error.
    write_set(folder, {"de": notice(version='"2"'), "en": notice(version='"2"')})
    assert holder.reload() is None
    assert holder.error is None
    assert holder.get().version == "2"


def test_holder_without_any_good_set(tmp_path: Path) -> None:
    holder = NoticeHolder(tmp_path / "nowhere", REQUIRED)
    with pytest.raises(RuntimeError, match="no valid texts"):
        holder.get()
    err = holder.reload()
    assert err is not None
    with pytest.raises(RuntimeError, match="folder does not exist"):
        holder.get()


def test_holder_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "c", {"de": notice(), "en": notice()})
    holder = NoticeHolder(folder, REQUIRED)
    assert holder.reload() is None
    good = holder.get()
    (folder / "de.md").write_bytes(notice(summary="Datenschutz für Mädchen").encode("cp1252"))
    err = holder.reload()
    assert err is not None
    assert err.path == folder / "de.md"
    assert holder.get() is good


async def test_reload_command_reports_the_broken_file(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    admin, room = UserID("@admin:example.org"), RoomID("!admin:example.org")
    ctx, _, db = await make_context(tmp_path, admins=[admin], rooms={"admin": room}, policies_dir=policies)
    try:
        version = ctx.consent_notices.get().version
        broken = policies / "consent" / "en.md"
        broken.write_text(broken.read_text(encoding="utf-8").replace(FULL_MARKER, ""), encoding="utf-8")
        reply = await handle_message(
            ctx, COMMANDS, sender=admin, room_id=room, room_kind="admin", body="!neu-laden"
        )
        assert reply is not None
        failed, ok, retention = reply.text.splitlines()
        err = ctx.consent_notices.error
        assert err is not None
        assert failed == CATALOG.text(
            "de",
            "reload.failed",
            name="consent",
            file="en.md",
            line=str(err.line),
            reason=err.reason,
            version=version,
        )
        assert ok == CATALOG.text(
            "de", "reload.ok", name="worker-rules", version=ctx.worker_rules.get().version
        )
        # The retention policies are reloaded too, and were fine.
        assert retention == CATALOG.text(
            "de", "reload.retention_ok", n=str(len(ctx.policies.current.policies))
        )
        assert ctx.consent_notices.get().version == version
    finally:
        await db.close()

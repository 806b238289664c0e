"""bot/stats/report.py on a real store: figures, the four renderings, and that none of them
carries an identifier."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.context import BotContext
from bot.stats import report as stats_report
from bot.stats.aggregate import FIGURES
from bot.stats.periods import parse_period
from bot.store.db import Database
from tests.support import make_context
from tests.unit.stats_fixture import PERIOD, Filled, fill, identifiers

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COUNTS = [
    key
    for key in FIGURES
    if key
    not in ("answered_in_target", "median_first_answer", "after_hours", "consent_rate", "rights_turnaround")
]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[BotContext, Database, Filled]]:
    ctx, _, db = await make_context(tmp_path, stats={"k": 3})
    filled = await fill(ctx)
    try:
        yield ctx, db, filled
    finally:
        await db.close()


def value(report: stats_report.StatsReport, key: str) -> float | None:
    return report.cells[key].value


async def test_figures_of_the_week(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, PERIOD)
    assert report.period == PERIOD and report.k == 3 and report.epsilon is None
    assert value(report, "active_rooms") == 8
    assert value(report, "messages_clients") == 16  # bot, outsider, reaction, team room not counted
    assert value(report, "messages_workers") == 8
    assert value(report, "client_contacts") == 8  # a follow-up is not a new request
    assert value(report, "answered_in_target") == 100.0
    assert value(report, "median_first_answer") == pytest.approx(63.5, abs=0.1)
    assert value(report, "after_hours") == 0.0
    assert value(report, "consent_given") == 4
    assert value(report, "consent_declined") == 3
    assert value(report, "consent_rate") == pytest.approx(400 / 7)
    assert value(report, "new_clients") == 4
    assert value(report, "access_requests") == 3
    assert value(report, "retention_removed") == 9
    assert value(report, "retention_media") == 2
    assert value(report, "retention_failures") == 1
    # One person withdrew, one asked for erasure: too few to show.
    assert report.cells["consent_withdrawn"].suppressed and value(report, "consent_withdrawn") is None
    assert report.cells["erasure_requests"].suppressed


async def test_trend_is_twelve_weeks_oldest_first(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, PERIOD)
    labels = [label for label, _ in report.trend]
    assert labels == [p.label for p in PERIOD.trend(12)]
    assert labels[0] == "2026-W36" and labels[-1] == "2026-W47"
    assert report.trend[-1][1] == report.cells
    by_label = dict(report.trend)
    assert by_label["2026-W46"]["active_rooms"].value == 4
    assert by_label["2026-W46"]["answered_in_target"].value == 100.0
    assert by_label["2026-W46"]["median_first_answer"].value == pytest.approx(
        240, abs=0.1
    )  # Wed 14:0x → Thu 09:0x, office time
    assert by_label["2026-W45"]["messages_clients"].value == 3
    assert by_label["2026-W44"]["messages_clients"].value == 0


async def test_month_report(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, parse_period("2026-11"))
    assert [label for label, _ in report.trend][-2:] == ["2026-10", "2026-11"]
    assert value(report, "messages_clients") == 16 + 4 + 3
    text = stats_report.render_text(ctx, report, "en")
    assert text.splitlines()[0] == "📊 Lotse report for November 2026 (2–29 Nov)"
    german = stats_report.render_text(ctx, report, "de")
    assert german.splitlines()[0] == "📊 Lotse-Bericht für November 2026 (2.–29.11.)"


async def test_text_de_and_en(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, PERIOD)
    for lang in ("de", "en"):
        t = ctx.catalog.text
        text = stats_report.render_text(ctx, report, lang)
        lines = text.splitlines()
        # The period as people name it; the machine label stays in file names and the CSV.
        assert (
            lines[0]
            == {
                "de": "📊 Lotse-Bericht für KW 47 (16.–22.11.)",
                "en": "📊 Lotse report for week 47 (16–22 Nov)",
            }[lang]
        )
        assert (
            lines[1]
            == {
                "de": "In KW 47 (16.–22.11.) haben 8 Klient·innen über Lotse Kontakt aufgenommen; 100\u202f%"
                " ihrer Anliegen wurden innerhalb von 8 Arbeitsstunden beantwortet.",
                "en": "In week 47 (16–22 Nov), 8 clients got in touch through Lotse; 100% of their requests"
                " were answered within 8 working hours.",
            }[lang]
        )
        change = {"de": "+12 ggü. KW 46", "en": "+12 vs week 46"}[lang]
        assert f"• {t(lang, 'stats.figure.messages_clients')}: 16 ({change})" in lines
        rate = {"de": "57\u202f%", "en": "57%"}[lang]
        assert f"• {t(lang, 'stats.figure.consent_rate')}: {rate}" in lines
        assert f"• {t(lang, 'stats.figure.consent_withdrawn')}: {t(lang, 'stats.too_few')}" in lines
        # Durations in hours and minutes (63.5 min), and how they changed (from 4 hours).
        answer = {
            "de": "1 Std. 4 min (−2 Std. 56 min ggü. KW 46)",
            "en": "1 h 4 min (−2 h 56 min vs week 46)",
        }
        assert f"• {t(lang, 'stats.figure.median_first_answer')}: {answer[lang]}" in lines
        assert t(lang, "stats.rules", k="3") in lines
        figure_lines = [line for line in lines if line.startswith("• ")]
        privacy = stats_report.privacy_rows(ctx, report, lang)
        assert len(figure_lines) == len(FIGURES) + len(privacy)
        assert "ε" not in text
        assert "2026-W47" not in text and "< 3" not in text
    assert stats_report.render_text(ctx, report, "de") != stats_report.render_text(ctx, report, "en")


async def test_csv_json_png(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, PERIOD)
    text = stats_report.render_csv(ctx, report, "de")
    # For German Excel: a byte-order mark, semicolons, German column names, decimal comma.
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    header, rows = table[0], table[1:]
    t = ctx.catalog.text
    assert header[:2] == ["Zeitraum", "Bereich"] and len(header) == 2 + len(FIGURES)
    column = {key: 2 + i for i, key in enumerate(FIGURES)}
    assert header[column["messages_clients"]] == f"{t('de', 'stats.figure.messages_clients')} (Anzahl)"
    org = {r[0]: r for r in rows if r[1] == "Organisation"}
    assert list(org) == [p.label for p in PERIOD.trend(12)]  # one row per period
    week = org["2026-W47"]
    assert week[column["messages_clients"]] == "16"
    assert week[column["consent_withdrawn"]] == "zu wenige Fälle"
    assert week[column["answered_in_target"]] == "100"
    assert "," in week[column["median_first_answer"]] or week[column["median_first_answer"]].isdigit()
    assert org["2026-W40"][column["median_first_answer"]] == ""  # nothing to compute
    english = stats_report.render_csv(ctx, report, "en")
    assert english.removeprefix("\ufeff").startswith("Period;Scope;")

    data = json.loads(stats_report.render_json(report))
    assert data["period"] == "2026-W47" and data["k"] == 3 and data["epsilon"] is None
    assert set(data["figures"]) == set(FIGURES)
    assert data["figures"]["messages_clients"] == 16
    assert data["figures"]["consent_withdrawn"] == {"suppressed": True}
    assert [t["period"] for t in data["trend"]] == [p.label for p in PERIOD.trend(12)]
    assert data["trend"][-1]["figures"] == data["figures"]

    png = stats_report.render_png(ctx, report, "de")
    assert png.startswith(PNG_MAGIC) and len(png) > 1000


async def test_no_output_contains_an_identifier(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, filled = env
    report = await stats_report.build(ctx, PERIOD)
    labels = [label for label, _ in report.trend]
    secrets = identifiers(ctx, filled, labels)
    assert len(secrets) > 200
    outputs = {
        "text-de": stats_report.render_text(ctx, report, "de"),
        "text-en": stats_report.render_text(ctx, report, "en"),
        "csv": stats_report.render_csv(ctx, report, "de"),
        "json": stats_report.render_json(report),
        "png": stats_report.render_png(ctx, report, "en").decode("latin-1"),
        "repr": repr(report),
    }
    for name, output in outputs.items():
        leaked = [s for s in secrets if s in output]
        assert not leaked, (name, leaked)
    # The check itself works: the identifiers are really the ones the store holds.
    stored = {r[0] for r in await ctx.consent.db.fetchall("SELECT sender FROM event_meta")}
    assert stored <= set(secrets)


async def test_noise(tmp_path: Path) -> None:
    exact_ctx, _, exact_db = await make_context(tmp_path / "exact", stats={"k": 3})
    noisy_ctx, _, noisy_db = await make_context(tmp_path / "noisy", stats={"k": 3, "epsilon": 1.0})
    try:
        await fill(exact_ctx)
        await fill(noisy_ctx)
        exact = await stats_report.build(exact_ctx, PERIOD)
        assert exact.epsilon is None
        differs = False
        for _ in range(4):
            noisy = await stats_report.build(noisy_ctx, PERIOD)
            assert noisy.epsilon == 1.0
            for (label, cells), (_, exact_cells) in zip(noisy.trend, exact.trend, strict=True):
                for key, cell in cells.items():
                    assert cell.suppressed == exact_cells[key].suppressed, (label, key)
                    if cell.value is not None:
                        assert cell.value >= 0, (label, key)
                    if key in COUNTS and cell.value != exact_cells[key].value:
                        differs = True
                    if key not in COUNTS:  # shares and medians are not noised
                        assert cell.value == exact_cells[key].value, (label, key)
        assert differs
        text = stats_report.render_text(noisy_ctx, noisy, "de")
        assert noisy_ctx.catalog.text("de", "stats.noise", epsilon="1") in text.splitlines()
        assert "ε = 1" in stats_report.render_text(noisy_ctx, noisy, "en")
        assert json.loads(stats_report.render_json(noisy))["epsilon"] == 1.0
    finally:
        await exact_db.close()
        await noisy_db.close()

"""The leadership report: one period's anonymised figures, a 12-period trend, the
data-protection section, and renderings as plain-language text, CSV and JSON (the one-page
picture and its PDF are :mod:`bot.stats.page`). Renderings only read a :class:`StatsReport`.
No output contains a user ID, display name, room ID, pseudonym or exact timestamp: only
period labels, figure names and numbers."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from babel.numbers import format_decimal

from bot.context import BotContext
from bot.stats import formatting as fmt
from bot.stats import freezing, rollup
from bot.stats import privacy as dp
from bot.stats.aggregate import FIGURE_UNITS, FIGURES
from bot.stats.anonymize import Cell
from bot.stats.periods import Period
from bot.stats.rollup import office_hours as office_hours
from bot.stats.teams import OTHER, TEAM_FIGURES
from bot.store.stats import FrozenCell


@dataclass(frozen=True)
class StatsReport:
    period: Period
    cells: dict[str, Cell]
    trend: list[tuple[str, dict[str, Cell]]]  # (period label, cells), oldest first
    k: int
    epsilon: float | None
    # (team label, cells) for this period; empty with fewer than two teams.
    teams: list[tuple[str, dict[str, Cell]]] = field(default_factory=list)
    # The demo's made-up history is part of these figures: every rendering says so.
    demo_data: bool = False
    # The data-protection section (its own span: see bot/stats/privacy.py).
    privacy: dp.Privacy | None = None

    @property
    def previous(self) -> dict[str, Cell] | None:
        """The figures of the period before (the trend's second last), if the trend has it."""
        return self.trend[-2][1] if len(self.trend) >= 2 else None


def _cells(row: dict[str, FrozenCell]) -> dict[str, Cell]:
    return {key: Cell(key, c.shown, c.suppressed, c.unit) for key, c in row.items()}


async def build(ctx: BotContext, period: Period) -> StatsReport:
    """The report of a period that is over, from its frozen figures (raises
    :class:`~bot.stats.rollup.PeriodRunning` otherwise); the same every time it is asked for."""
    before = period.trend(ctx.settings.stats.periods_in_trend)[:-1]
    # This period first, then the trend's: all that are not frozen yet in one go.
    this, *earlier = await rollup.frozen_all(ctx, [period, *before])
    trend = [*zip(before, earlier, strict=True), (period, this)]
    rows = dict(this.rows)
    privacy = await dp.build(ctx, period)
    return StatsReport(
        period,
        _cells(rows[freezing.ORGANISATION]),
        [(p.label, _cells(dict(fp.rows)[freezing.ORGANISATION])) for p, fp in trend],
        this.k,
        this.epsilon,
        [(scope, _cells(row)) for scope, row in this.rows if scope != freezing.ORGANISATION],
        demo_data=any(fp.demo_data for _, fp in trend) or privacy.demo_data,
        privacy=privacy,
    )


def language_of(ctx: BotContext) -> str:
    """The leadership room's language: ``[stats] language``, else the organisation's."""
    language = ctx.settings.stats.language
    return language if language and ctx.catalog.has_language(language) else ctx.catalog.default_language


def headline(ctx: BotContext, report: StatsReport, language: str) -> str:
    """The one sentence a manager reads first: who got in touch, and how fast they were answered."""
    t = ctx.catalog.text
    c = report.cells
    period = fmt.period_name(ctx.catalog, report.period, language)
    clients, share = c.get("active_clients"), c.get("answered_in_target")
    target = fmt.number(ctx.settings.stats.target_hours, language, "0.#")
    if clients is None or (clients.value is None and not clients.suppressed):
        return t(language, "stats.headline.unknown", period=period)
    if clients.suppressed:
        return t(language, "stats.headline.few", period=period, k=str(report.k))
    if not clients.value:
        return t(language, "stats.headline.none", period=period)
    values = {"period": period, "clients": fmt.value(ctx.catalog, clients, language), "target": target}
    if fmt.shown(share) is None:
        return t(language, "stats.headline.clients", **values)
    return t(language, "stats.headline.both", share=fmt.value(ctx.catalog, share, language), **values)


def figure_line(ctx: BotContext, report: StatsReport, key: str, language: str) -> str:
    """ "Neue Klient·innen: 12 (+3 ggü. KW 46)": a figure and, when both are shown, its change."""
    t = ctx.catalog.text
    cell = report.cells.get(key)
    line = f"{t(language, f'stats.figure.{key}')}: {fmt.value(ctx.catalog, cell, language)}"
    before = (report.previous or {}).get(key)
    if fmt.shown(cell) is not None and fmt.shown(before) is not None:
        change = fmt.change(ctx.catalog, cell, before, previous_name(ctx, report, language), language)
        line += f" ({change.text})"
    return line


def previous_name(ctx: BotContext, report: StatsReport, language: str) -> str:
    return fmt.period_short(ctx.catalog, report.period.previous(), language)


def privacy_rows(ctx: BotContext, report: StatsReport, language: str) -> list[tuple[str, str]]:
    """The data-protection section as (what, value) rows: text, PDF and e-mail show the same."""
    privacy = report.privacy
    if privacy is None:
        return []
    t = ctx.catalog.text
    cat = ctx.catalog

    def v(key: str) -> str:
        return fmt.value(cat, privacy.cells.get(key), language)

    def is_open(cell: Cell) -> str:
        return t(language, "stats.dp.none") if cell.value == 0 else fmt.value(cat, cell, language)

    sweeps = t(
        language,
        "stats.dp.sweeps_value",
        runs=fmt.number(privacy.sweeps, language),
        expected=fmt.number(privacy.sweeps_expected, language),
        interval=fmt.duration(cat, privacy.sweep_minutes, language),
    )
    if privacy.longest_gap_minutes is not None:
        sweeps += "; " + t(
            language, "stats.dp.gap", gap=fmt.duration(cat, privacy.longest_gap_minutes, language)
        )
    if privacy.unfinished_sweeps:
        sweeps += "; " + t(language, "stats.dp.unfinished", n=str(privacy.unfinished_sweeps))
    as_of = fmt.date(privacy.as_of, language)
    return [
        (t(language, "stats.dp.asked"), v("consent_asked")),
        (t(language, "stats.figure.consent_given"), v("consent_given")),
        (t(language, "stats.figure.consent_declined"), v("consent_declined")),
        (t(language, "stats.figure.consent_withdrawn"), v("consent_withdrawn")),
        (t(language, "stats.dp.honoured"), v("withdrawal_honoured")),
        (t(language, "stats.dp.honoured_time"), v("withdrawal_minutes")),
        (t(language, "stats.figure.access_requests"), v("access_requests")),
        (t(language, "stats.figure.erasure_requests"), v("erasure_requests")),
        (t(language, "stats.dp.completion"), v("rights_turnaround")),
        (t(language, "stats.dp.sweeps"), sweeps),
        (
            t(language, "stats.dp.deleted"),
            t(
                language,
                "stats.dp.deleted_value",
                messages=v("retention_removed"),
                files=v("retention_media"),
            ),
        ),
        (t(language, "stats.figure.retention_failures"), v("retention_failures")),
        (t(language, "stats.dp.open_retries", date=as_of), is_open(privacy.open_retries)),
        (t(language, "stats.dp.open_postponed", date=as_of), is_open(privacy.open_postponed)),
    ]


def privacy_title(ctx: BotContext, report: StatsReport, language: str) -> str:
    assert report.privacy is not None
    return ctx.catalog.text(
        language, "stats.dp.title", period=fmt.period_name(ctx.catalog, report.privacy.period, language)
    )


def render_text(ctx: BotContext, report: StatsReport, language: str) -> str:
    t = ctx.catalog.text
    lines = [
        t(
            language,
            f"stats.title.{report.period.kind}",
            period=fmt.period_name(ctx.catalog, report.period, language),
        ),
        *([t(language, "stats.demo_data")] if report.demo_data else []),
        headline(ctx, report, language),
        "",
    ]
    for key in FIGURES:
        lines.append(f"• {figure_line(ctx, report, key, language)}")
    if report.teams:
        lines += ["", t(language, "stats.teams")]
        for label, cells in report.teams:
            name = t(language, "stats.other_teams") if label == OTHER else label
            values = ", ".join(
                f"{t(language, f'stats.figure.{key}')} {fmt.value(ctx.catalog, cells.get(key), language)}"
                for key in TEAM_FIGURES
            )
            lines.append(f"• {name}: {values}")
    if report.privacy is not None:
        lines += ["", privacy_title(ctx, report, language)]
        lines += [f"• {what}: {value}" for what, value in privacy_rows(ctx, report, language)]
        lines.append(t(language, "stats.dp.note", k=str(report.k)))
    lines.append("")
    lines.append(t(language, "stats.rules", k=str(report.k)))
    if report.epsilon:
        lines.append(t(language, "stats.noise", epsilon=f"{report.epsilon:g}"))
    return "\n".join(lines)


def render_csv(ctx: BotContext, report: StatsReport, language: str) -> str:
    """One row per period (organisation) and per team, one column per figure, as a
    spreadsheet in that language expects it: semicolons, a byte-order mark (Excel then reads
    UTF-8), the column names and decimal marks of the language; hidden figures say so."""
    t = ctx.catalog.text
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [t(language, "stats.csv.period"), t(language, "stats.csv.scope")]
        + [
            f"{t(language, f'stats.figure.{key}')} ({t(language, f'stats.unit.{FIGURE_UNITS[key]}')})"
            for key in FIGURES
        ]
    )

    def value(cell: Cell | None) -> str:
        if cell is None or (cell.value is None and not cell.suppressed):
            return ""
        if cell.suppressed:
            return t(language, "stats.too_few")
        assert cell.value is not None
        return format_decimal(round(cell.value, 1), "0.#", locale=language)

    organisation = t(language, "stats.csv.organisation")
    for label, cells in report.trend:
        writer.writerow([label, organisation] + [value(cells.get(key)) for key in FIGURES])
    for team, cells in report.teams:
        name = t(language, "stats.other_teams") if team == OTHER else team
        writer.writerow([report.period.label, name] + [value(cells.get(key)) for key in FIGURES])
    if report.demo_data:
        writer.writerow([t(language, "stats.demo_data")])
    return out.getvalue()


def render_json(report: StatsReport) -> str:
    def cell(c: Cell) -> object:
        return {"suppressed": True} if c.suppressed else c.value

    p = report.privacy

    return json.dumps(
        {
            "period": report.period.label,
            "k": report.k,
            "epsilon": report.epsilon,
            "figures": {key: cell(c) for key, c in report.cells.items()},
            "trend": [
                {"period": label, "figures": {k: cell(c) for k, c in cells.items()}}
                for label, cells in report.trend
            ],
            "teams": [
                {
                    "team": "other teams" if team == OTHER else team,
                    "figures": {k: cell(c) for k, c in cells.items()},
                }
                for team, cells in report.teams
            ],
            "privacy": None
            if p is None
            else {
                "period": p.period.label,
                "figures": {k: cell(c) for k, c in p.cells.items()},
                "sweeps": p.sweeps,
                "sweeps_expected": p.sweeps_expected,
                "longest_gap_minutes": p.longest_gap_minutes,
                "unfinished_sweeps": p.unfinished_sweeps,
                "open_retries": cell(p.open_retries),
                "open_postponed": cell(p.open_postponed),
                "as_of": p.as_of.isoformat(),
            },
            "demo_data": report.demo_data,
        },
        indent=2,
    )


def render_png(ctx: BotContext, report: StatsReport, language: str) -> bytes:
    """The one-page report as a picture for a phone screen (:mod:`bot.stats.page`)."""
    from bot.stats import page

    return page.render_png(ctx, report, language)


def render_pdf(ctx: BotContext, report: StatsReport, language: str) -> bytes:
    """The same page on A4 for the board, and the data-protection section on a second page."""
    from bot.stats import page

    return page.render_pdf(ctx, report, language)

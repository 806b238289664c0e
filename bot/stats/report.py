"""The leadership report: one period's anonymised figures, a 12-period trend, and renderings
as plain-language text, CSV, JSON and a PNG chart. No output contains a user ID, display
name, room ID, pseudonym or exact timestamp: only period labels, figure names and numbers."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from babel.numbers import format_decimal

from bot.context import BotContext
from bot.stats import rollup
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


def _cells(row: dict[str, FrozenCell]) -> dict[str, Cell]:
    return {key: Cell(key, c.shown, c.suppressed, c.unit) for key, c in row.items()}


async def build(ctx: BotContext, period: Period) -> StatsReport:
    """The report of a period that is over, from its frozen figures (raises
    :class:`~bot.stats.rollup.PeriodRunning` otherwise); the same every time it is asked for."""
    this = await rollup.frozen(ctx, period)
    trend = [(p, await rollup.frozen(ctx, p)) for p in period.trend(ctx.settings.stats.periods_in_trend)]
    rows = dict(this.rows)
    return StatsReport(
        period,
        _cells(rows[rollup.ORGANISATION]),
        [(p.label, _cells(dict(fp.rows)[rollup.ORGANISATION])) for p, fp in trend],
        this.k,
        this.epsilon,
        [(scope, _cells(row)) for scope, row in this.rows if scope != rollup.ORGANISATION],
        demo_data=any(fp.demo_data for _, fp in trend),
    )


def shown(cell: Cell | None, k: int, language: str, ctx: BotContext) -> str:
    if cell is None or (cell.value is None and not cell.suppressed):
        return "–"
    if cell.suppressed:
        # Not "< 5": next to a percentage that reads as "under 5 %".
        return ctx.catalog.text(language, "stats.too_few")
    assert cell.value is not None
    if cell.unit == "percent":
        return f"{round(cell.value)} %"
    if cell.unit == "minutes":
        hours = cell.value / 60
        return (
            ctx.catalog.text(language, "stats.hours", n=format_decimal(hours, "0.0", locale=language))
            if hours >= 1
            else f"{round(cell.value)} min"
        )
    return format_decimal(round(cell.value), "#,##0", locale=language)


def render_text(ctx: BotContext, report: StatsReport, language: str) -> str:
    t = ctx.catalog.text
    c = report.cells

    def v(key: str) -> str:
        return shown(c.get(key), report.k, language, ctx)

    lines = [
        t(language, f"stats.title.{report.period.kind}", period=report.period.label),
        *([t(language, "stats.demo_data")] if report.demo_data else []),
        t(
            language,
            "stats.summary",
            rooms=v("active_rooms"),
            clients=v("messages_clients"),
            share=v("answered_in_target"),
            target=f"{ctx.settings.stats.target_hours:g}",
        ),
        "",
    ]
    for key in FIGURES:
        lines.append(f"• {t(language, f'stats.figure.{key}')}: {v(key)}")
    if report.teams:
        lines += ["", t(language, "stats.teams")]
        for label, cells in report.teams:
            name = t(language, "stats.other_teams") if label == OTHER else label
            values = ", ".join(
                f"{t(language, f'stats.figure.{key}')} {shown(cells.get(key), report.k, language, ctx)}"
                for key in TEAM_FIGURES
            )
            lines.append(f"• {name}: {values}")
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
        },
        indent=2,
    )


def render_png(ctx: BotContext, report: StatsReport, language: str) -> bytes:
    """A trend chart sized for a phone screen: three lines, large type, suppressed = gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label.split("-")[-1] for label, _ in report.trend]
    positions = list(range(len(labels)))
    fig, ax = plt.subplots(figsize=(6, 6), dpi=110)
    for key, style in (("messages_clients", "o-"), ("messages_workers", "s-"), ("active_rooms", "^-")):
        values = [
            (c.value if (c := cells.get(key)) is not None and not c.suppressed else None)
            for _, cells in report.trend
        ]
        ax.plot(
            positions,
            [float("nan") if v is None else v for v in values],
            style,
            label=ctx.catalog.text(language, f"stats.figure.{key}"),
            linewidth=2.5,
            markersize=7,
        )
    ax.set_xticks(positions, labels, rotation=45)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_title(ctx.catalog.text(language, "stats.chart.title"), fontsize=15)
    ax.tick_params(labelsize=11)
    ax.legend(fontsize=11, loc="upper left")
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    fig.text(0.01, 0.01, ctx.catalog.text(language, "stats.rules", k=str(report.k)), fontsize=8)
    if report.demo_data:
        fig.text(
            0.5,
            0.5,
            ctx.catalog.text(language, "stats.demo_mark"),
            fontsize=44,
            color="0.5",
            ha="center",
            va="center",
            rotation=30,
            alpha=0.25,
            fontweight="bold",
        )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()

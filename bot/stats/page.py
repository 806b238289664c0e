"""The one-page report: what a manager reads in thirty seconds.

A headline sentence, six tiles with the change against the period before, and small charts
that argue the case: the share answered in time and the median wait for a first answer over
twelve periods, the clients reached (new and active), the requests outside office hours (the
load that used to land on private phones) and the consent funnel (asked → given → withdrawn).

Two arrangements of the same content: a picture for a phone held upright (1080 px wide, about
twice as tall, large type, tiles two across) and an A4 page for the board (tiles three across),
whose PDF has the data-protection section as its second page. Colours are the Okabe–Ito
palette (told apart with any colour vision), every line also differs by marker and dash, and
every chart has a title in words.
Hidden figures are gaps with a hatched band, never a zero. The picture carries the report's
figures as JSON in its metadata (``Lotse-Report``), so what it shows can be checked by machine.

Only :class:`~bot.stats.report.StatsReport` is read; matplotlib's object API is used without
pyplot, so rendering may run in a worker thread.
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.context import BotContext
from bot.stats import formatting as fmt
from bot.stats.anonymize import Cell
from bot.stats.report import (
    StatsReport,
    headline,
    previous_name,
    privacy_rows,
    privacy_title,
    render_json,
)

# Okabe & Ito (2008): distinguishable with every common kind of colour vision.
BLUE, ORANGE, SKY, GREEN, VERMILLION = "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#D55E00"
INK, SOFT, PAPER, TILE = "#1A1A1A", "#555555", "#FFFFFF", "#EEF3F8"

TILES = (
    "active_clients",
    "new_clients",
    "answered_in_target",
    "median_first_answer",
    "after_hours",
    "consent_given",
)

PHONE_WIDTH_IN, PHONE_DPI = 5.4, 200  # 1080 px
# matplotlib's caches (fonts, text layout) are not made for threads: one rendering at a time.
_RENDERING = threading.Lock()
A4 = (8.27, 11.69)


@dataclass(frozen=True)
class Layout:
    width: float  # inches
    tile_columns: int
    chart_height: float  # inches, one trend chart including its title
    tile_height: float
    base: float  # body font size, points
    funnel_height: float = 1.35


# Both: the four trend charts two by two, the funnel across the width below them.
PHONE = Layout(PHONE_WIDTH_IN, 2, 2.45, 1.0, 11.0)
PAGE = Layout(A4[0], 3, 2.7, 0.95, 10.5, 1.45)


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), facecolor=PAPER)
    FigureCanvasAgg(fig)
    return fig


def _wrap(text: str, width_in: float, size: float) -> str:
    """Wrap to the width: DejaVu Sans averages about 0.55 em per character."""
    chars = max(12, int(width_in * 72 / (size * 0.55)))
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False)) or text


def _one_line(text: str, width_in: float, size: float) -> str:
    """Shortened with "…" to one line of the width (a long organisation name)."""
    chars = max(12, int(width_in * 72 / (size * 0.55)))
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _series(report: StatsReport, key: str) -> list[float | None]:
    return [fmt.shown(cells.get(key)) for _, cells in report.trend]


def _hidden(report: StatsReport, key: str) -> list[bool]:
    return [bool((c := cells.get(key)) is not None and c.suppressed) for _, cells in report.trend]


def _nan(values: Sequence[float | None], scale: float = 1.0) -> list[float]:
    return [float("nan") if v is None else v * scale for v in values]


class _Page:
    def __init__(self, ctx: BotContext, report: StatsReport, language: str, layout: Layout) -> None:
        self.ctx, self.report, self.language, self.layout = ctx, report, language, layout
        self.t = ctx.catalog.text
        self.labels = [fmt.tick(label, language) for label, _ in report.trend]
        self.x = list(range(len(self.labels)))
        self.margin = 0.32
        self.any_hidden = False
        self.legend_rows: dict[int, int] = {}
        self.axis_room = 0.0

    # -- sizes -------------------------------------------------------------------------------

    def _header_lines(self) -> tuple[str, str]:
        width = self.layout.width - 2 * self.margin
        return (
            _wrap(self._title(), width, self.layout.base * 1.55),
            _wrap(headline(self.ctx, self.report, self.language), width, self.layout.base * 1.12),
        )

    def _title(self) -> str:
        name = fmt.period_name(self.ctx.catalog, self.report.period, self.language)
        return name[:1].upper() + name[1:]

    def _header_height(self) -> float:
        s = self.layout.base
        title, head = self._header_lines()
        return (
            0.3 * s / 10
            + 0.33 * (title.count("\n") + 1) * s / 10
            + 0.06
            + 0.26 * (head.count("\n") + 1) * s / 10
        )

    def height(self) -> float:
        lay = self.layout
        rows = -(-len(TILES) // lay.tile_columns)
        tiles = rows * lay.tile_height + (rows - 1) * 0.12
        return (
            self.margin
            + self._header_height()
            + 0.25
            + tiles
            + 0.3
            + 2 * lay.chart_height
            + lay.funnel_height
            + 0.75
            + self.margin
        )

    # -- drawing -----------------------------------------------------------------------------

    def draw(self, fig: Any) -> None:
        lay = self.layout
        W, H = fig.get_figwidth(), fig.get_figheight()
        s = lay.base
        left = self.margin
        # On a fixed page (A4) the content sits at the top and the rules at the foot.
        spare = max(0.0, H - self.height())
        top = H - self.margin
        org = self.ctx.settings.organisation.name
        fig.text(
            left / W,
            top / H,
            _one_line(
                self.t(
                    self.language,
                    "stats.page.kicker",
                    organisation=org,
                    year=str(self.report.period.end.year),
                ),
                W - 2 * left,
                s * 0.85,
            ),
            fontsize=s * 0.85,
            color=SOFT,
            va="top",
        )
        top -= 0.3 * s / 10
        title, head = self._header_lines()
        fig.text(left / W, top / H, title, fontsize=s * 1.55, fontweight="bold", color=INK, va="top")
        top -= 0.33 * (title.count("\n") + 1) * s / 10 + 0.06
        fig.text(left / W, top / H, head, fontsize=s * 1.12, color=INK, va="top", linespacing=1.3)
        top -= 0.26 * (head.count("\n") + 1) * s / 10 + 0.25 + spare * 0.25

        # Tiles
        cols = lay.tile_columns
        gap = 0.12
        tile_w = (W - 2 * left - gap * (cols - 1)) / cols
        for i, key in enumerate(TILES):
            row, col = divmod(i, cols)
            x = left + col * (tile_w + gap)
            y = top - (row + 1) * lay.tile_height - row * gap
            self._tile(fig, (x / W, y / H, tile_w / W, lay.tile_height / H), key)
        rows = -(-len(TILES) // cols)
        top -= rows * lay.tile_height + (rows - 1) * gap + 0.3 + spare * 0.25

        # Trend charts two by two, then the funnel across the width; a title above each.
        charts = [self._in_target, self._first_answer, self._reach, self._after_hours]
        cgap = 0.35
        chart_w = (W - 2 * left - cgap) / 2
        for i, chart in enumerate(charts):
            row, col = divmod(i, 2)
            x = left + col * (chart_w + cgap)
            self._chart(fig, chart, x, top - row * lay.chart_height, chart_w, lay.chart_height, 0.42)
        top -= 2 * lay.chart_height + spare * 0.25
        self._chart(fig, self._funnel, left, top, W - 2 * left, lay.funnel_height, 0.0)
        bottom = top - lay.funnel_height

        # Footer: the rules, in small type.
        foot = [self.t(self.language, "stats.rules", k=str(self.report.k))]
        if self.any_hidden:
            foot.insert(0, self.t(self.language, "stats.legend.hidden"))
        if self.report.epsilon:
            foot.append(self.t(self.language, "stats.noise", epsilon=f"{self.report.epsilon:g}"))
        fig.text(
            left / W,
            (bottom - 0.1) / H,
            "\n".join(_wrap(line, W - 2 * left, s * 0.78) for line in foot),
            fontsize=s * 0.78,
            color=SOFT,
            va="top",
        )
        if self.report.demo_data:
            fig.text(
                0.5,
                0.5,
                self.t(self.language, "stats.demo_mark"),
                fontsize=W * 11,
                color="0.45",
                ha="center",
                va="center",
                rotation=62 if H / W > 1.8 else 55,
                alpha=0.16,
                fontweight="bold",
                zorder=100,
            )

    def _chart(
        self, fig: Any, chart: Any, x: float, top: float, width: float, height: float, axis_room: float
    ) -> None:
        """A chart's title (wrapped to its width) above its plot; ``axis_room``: left of the plot
        for the value labels."""
        W, H = fig.get_figwidth(), fig.get_figheight()
        s = self.layout.base * 0.95
        # Where it goes across; its height follows once the title and legend are known.
        ax = fig.add_axes(((x + axis_room) / W, 0, (width - axis_room - 0.05) / W, 0.1))
        self.axis_room = axis_room
        title = _wrap(chart(ax), width, s)
        title_h = 0.2 * (title.count("\n") + 1) * s / 10 + 0.1
        if id(ax) in self.legend_rows:
            title_h += 0.2 * self.legend_rows[id(ax)] * s / 10 + 0.04
        ticks = 0.32 if axis_room else 0.05
        plot_h = height - title_h - ticks - 0.1
        ax.set_position(
            ((x + axis_room) / W, (top - title_h - plot_h) / H, (width - axis_room - 0.05) / W, plot_h / H)
        )
        fig.text(x / W, top / H, title, fontsize=s, fontweight="bold", color=INK, va="top")

    def _tile(self, fig: Any, rect: tuple[float, float, float, float], key: str) -> None:
        from matplotlib.patches import FancyBboxPatch

        s = self.layout.base
        ax = fig.add_axes(rect)
        ax.set_axis_off()
        ax.add_patch(
            FancyBboxPatch(
                (0, 0),
                1,
                1,
                boxstyle="round,pad=0,rounding_size=0.06",
                transform=ax.transAxes,
                facecolor=TILE,
                edgecolor="none",
                mutation_aspect=rect[2] / rect[3] * (fig.get_figwidth() / fig.get_figheight()),
            )
        )
        cell = self.report.cells.get(key)
        width_in = rect[2] * fig.get_figwidth()
        label = self.t(
            self.language,
            f"stats.tile.{key}",
            target=fmt.number(self.ctx.settings.stats.target_hours, self.language, "0.#"),
        )
        ax.text(0.07, 0.9, _wrap(label, width_in * 0.9, s * 0.82), fontsize=s * 0.82, color=SOFT, va="top")
        value = fmt.value(self.ctx.catalog, cell, self.language)
        hidden = cell is None or fmt.shown(cell) is None
        # As large as the tile allows (bold digits and letters: about 0.62 em each).
        size = min(s * (1.35 if hidden else 2.0), width_in * 0.86 * 72 / (0.62 * max(1, len(value))))
        ax.text(
            0.07,
            0.38,
            value,
            fontsize=size,
            fontweight="bold",
            color=SOFT if hidden else INK,
            va="center",
        )
        before = (self.report.previous or {}).get(key)
        change = fmt.change(
            self.ctx.catalog, cell, before, previous_name(self.ctx, self.report, self.language), self.language
        )
        line = {1: "▲ ", -1: "▼ ", 0: ""}[change.direction] + change.text
        size = min(s * 0.78, width_in * 0.88 * 72 / (0.56 * max(1, len(line))))
        ax.text(0.07, 0.1, line, fontsize=size, color=SOFT, va="bottom")

    # -- charts (each returns its title) ------------------------------------------------------

    def _axes(self, ax: Any, hidden: list[bool] | None = None) -> None:
        s = self.layout.base
        ax.set_xlim(-0.6, len(self.x) - 0.4)
        step = 3 if len(self.x) > 6 else 1
        shown = [i for i in self.x if (len(self.x) - 1 - i) % step == 0]
        ax.set_xticks(shown, [self.labels[i] for i in shown], fontsize=s * 0.72)
        ax.tick_params(axis="y", labelsize=s * 0.75, colors=SOFT)
        ax.tick_params(axis="x", colors=SOFT, length=0)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.spines["left"].set_color("#BBBBBB")
        ax.spines["bottom"].set_color("#BBBBBB")
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
        ax.set_axisbelow(True)
        for i, h in enumerate(hidden or []):
            if h:
                ax.axvspan(
                    i - 0.45, i + 0.45, facecolor="none", edgecolor="#AAAAAA", hatch="///", linewidth=0
                )

    def _note_hidden(self, ax: Any, hidden: list[bool]) -> None:
        if any(hidden):
            self.any_hidden = True

    def _legend(self, ax: Any) -> None:
        """Above the plot, below the title (the chart's frame reserves the room): side by side
        if that fits the chart's width, else one under the other."""
        handles, labels = ax.get_legend_handles_labels()
        fig = ax.figure
        renderer = fig.canvas.get_renderer()
        axes = ax.get_window_extent(renderer)
        # From the chart's left edge (under its title), not the plot's.
        room = self.axis_room * fig.dpi
        for columns in (len(labels), 1):
            legend = ax.legend(
                handles,
                labels,
                fontsize=self.layout.base * 0.72,
                loc="lower left",
                bbox_to_anchor=(-room / axes.width, 1.0),
                borderpad=0,
                frameon=False,
                handlelength=1.6,
                ncols=columns,
                borderaxespad=0.2,
                columnspacing=1.2,
            )
            if legend.get_window_extent(renderer).width <= axes.width + room + 0.1 * fig.dpi:
                break
        self.legend_rows[id(ax)] = -(-len(labels) // columns)

    def _last_label(self, ax: Any, values: list[float | None], text: str, color: str) -> None:
        if values and values[-1] is not None:
            ax.annotate(
                text,
                (self.x[-1], values[-1]),
                xytext=(4, 7),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=self.layout.base * 0.8,
                fontweight="bold",
                color=color,
            )

    def _in_target(self, ax: Any) -> str:
        key = "answered_in_target"
        values, hidden = _series(self.report, key), _hidden(self.report, key)
        self._axes(ax, hidden)
        ax.plot(self.x, _nan(values), "-o", color=BLUE, linewidth=2.6, markersize=5.5)
        ax.set_ylim(0, 112)
        ax.set_yticks([0, 50, 100], [fmt.percent(v, self.language) for v in (0, 50, 100)])
        self._last_label(
            ax, values, fmt.percent(values[-1], self.language) if values[-1] is not None else "", BLUE
        )
        self._note_hidden(ax, hidden)
        target = fmt.number(self.ctx.settings.stats.target_hours, self.language, "0.#")
        return self.t(self.language, "stats.chart.in_target", target=target)

    def _first_answer(self, ax: Any) -> str:
        key = "median_first_answer"
        values, hidden = _series(self.report, key), _hidden(self.report, key)
        self._axes(ax, hidden)
        hours = _nan(values, 1 / 60)
        ax.bar(self.x, hours, color=ORANGE, width=0.62, edgecolor="#9A6A00", linewidth=0.6)
        top = max([h for h in hours if h == h] or [1.0])
        ax.set_ylim(0, top * 1.3 + 0.1)
        unit = self.t(self.language, "stats.duration.hours", n="").strip()
        ax.yaxis.set_major_formatter(
            _formatter(lambda v: f"{fmt.number(v, self.language, '0.#')} {unit}" if v else "0")
        )
        self._note_hidden(ax, hidden)
        return self.t(self.language, "stats.chart.first_answer")

    def _reach(self, ax: Any) -> str:
        active, new = _series(self.report, "active_clients"), _series(self.report, "new_clients")
        hidden = [
            a or b
            for a, b in zip(
                _hidden(self.report, "active_clients"), _hidden(self.report, "new_clients"), strict=True
            )
        ]
        self._axes(ax, hidden)
        ax.plot(
            self.x,
            _nan(active),
            "-o",
            color=BLUE,
            linewidth=2.6,
            markersize=5.5,
            label=self.t(self.language, "stats.legend.active"),
        )
        ax.plot(
            self.x,
            _nan(new),
            "--s",
            color=VERMILLION,
            linewidth=2.2,
            markersize=5,
            label=self.t(self.language, "stats.legend.new"),
        )
        top = max([v for v in (*active, *new) if v is not None] or [1.0])
        ax.set_ylim(0, top * 1.2 + 1)
        ax.yaxis.get_major_locator().set_params(integer=True)
        self._legend(ax)
        self._note_hidden(ax, hidden)
        return self.t(self.language, "stats.chart.reach")

    def _after_hours(self, ax: Any) -> str:
        contacts, share = _series(self.report, "client_contacts"), _series(self.report, "after_hours")
        hidden = _hidden(self.report, "after_hours")
        self._axes(ax, hidden)
        outside = [
            None if c is None or p is None else round(c * p / 100)
            for c, p in zip(contacts, share, strict=True)
        ]
        inside = [None if c is None or o is None else c - o for c, o in zip(contacts, outside, strict=True)]
        ax.bar(
            self.x, _nan(inside), width=0.62, color=SKY, label=self.t(self.language, "stats.legend.in_hours")
        )
        ax.bar(
            self.x,
            _nan(outside),
            bottom=[0 if v is None else v for v in inside],
            width=0.62,
            color=ORANGE,
            hatch="..",
            edgecolor="#9A6A00",
            linewidth=0.6,
            label=self.t(self.language, "stats.legend.after_hours"),
        )
        top = max([c for c in contacts if c is not None] or [1.0])
        ax.set_ylim(0, top * 1.3 + 1)
        ax.yaxis.get_major_locator().set_params(integer=True)
        self._legend(ax)
        if outside and outside[-1] is not None and share[-1] is not None:
            self._last_label(
                ax,
                [None if c is None else float(c) for c in contacts],
                f"{fmt.number(outside[-1], self.language)} ({fmt.percent(share[-1], self.language)})",
                "#9A6A00",
            )
        self._note_hidden(ax, hidden)
        return self.t(self.language, "stats.chart.after_hours")

    def _funnel(self, ax: Any) -> str:
        s = self.layout.base
        steps = [("consent_asked", SKY), ("consent_given", GREEN), ("consent_withdrawn", VERMILLION)]
        cells: list[Cell | None] = [self.report.cells.get(key) for key, _ in steps]
        values = [fmt.shown(c) for c in cells]
        top = max([v for v in values if v is not None] or [1.0]) or 1.0
        # Room on the left for the step names, on the right for the value beside the longest bar.
        label_room = top * 0.32
        y = list(range(len(steps)))[::-1]
        for (key, colour), yy, v, c in zip(steps, y, values, cells, strict=True):
            if v:
                ax.barh(yy, v, color=colour, height=0.64, edgecolor="none")
            ax.text(
                (v or 0) + top * 0.02,
                yy,
                fmt.value(self.ctx.catalog, c, self.language),
                va="center",
                fontsize=s * 0.95,
                fontweight="bold" if v is not None else "normal",
                color=INK if v is not None else SOFT,
            )
            ax.text(
                -top * 0.03,
                yy,
                self.t(self.language, f"stats.funnel.{key}"),
                va="center",
                ha="right",
                fontsize=s * 0.9,
                color=INK,
            )
        ax.axvline(0, color="#BBBBBB", linewidth=0.8)
        ax.set_xlim(-label_room, top * 1.35)
        ax.set_ylim(-0.55, len(steps) - 0.45)
        ax.set_axis_off()
        period = fmt.period_short(self.ctx.catalog, self.report.period, self.language)
        return self.t(self.language, "stats.chart.funnel", period=period)


def _formatter(function: Any) -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: function(v))


def _page_figure(
    ctx: BotContext, report: StatsReport, language: str, layout: Layout, height: float | None
) -> Any:
    page = _Page(ctx, report, language, layout)
    fig = _figure(layout.width, height or page.height())
    page.draw(fig)
    return fig


def render_png(ctx: BotContext, report: StatsReport, language: str) -> bytes:
    """The page for a phone: 1080 px wide, as tall as it needs; the figures as JSON inside."""
    buffer = io.BytesIO()
    with _RENDERING:
        fig = _page_figure(ctx, report, language, PHONE, None)
        fig.savefig(
            buffer,
            format="png",
            dpi=PHONE_DPI,
            facecolor=PAPER,
            metadata={"Title": _plain_title(ctx, report, language), "Lotse-Report": render_json(report)},
        )
    return buffer.getvalue()


def _plain_title(ctx: BotContext, report: StatsReport, language: str) -> str:
    return ctx.catalog.text(
        language,
        f"stats.title.{report.period.kind}",
        period=fmt.period_name(ctx.catalog, report.period, language),
    ).lstrip("📊 ")


def _no_emoji(text: str) -> str:
    """The page's font has no emoji: the text's markers are left out."""
    return text.lstrip("📊🔒 ")


def _privacy_page(ctx: BotContext, report: StatsReport, language: str) -> Any:
    fig = _figure(*A4)
    W, H = A4
    left, top = 0.7, H - 0.8
    t = ctx.catalog.text
    fig.text(
        left / W,
        top / H,
        _wrap(_no_emoji(privacy_title(ctx, report, language)), W - 2 * left, 15),
        fontsize=15,
        fontweight="bold",
        color=INK,
        va="top",
    )
    fig.text(
        left / W,
        (top + 0.3) / H,
        _no_emoji(
            t(
                language,
                f"stats.title.{report.period.kind}",
                period=fmt.period_name(ctx.catalog, report.period, language),
            )
        ),
        fontsize=9,
        color=SOFT,
        va="top",
    )
    top -= 0.55
    intro = _wrap(t(language, "stats.dp.for_dpo"), W - 2 * left, 10)
    fig.text(left / W, top / H, intro, fontsize=10, color=SOFT, va="top")
    top -= 0.19 * (intro.count("\n") + 1) + 0.3
    label_w = (W - 2 * left) * 0.6
    for what, value in privacy_rows(ctx, report, language):
        label = _wrap(what, label_w - 0.2, 10.5)
        shown = _wrap(value, W - 2 * left - label_w, 10.5)
        fig.text(left / W, top / H, label, fontsize=10.5, color=INK, va="top")
        fig.text((left + label_w) / W, top / H, shown, fontsize=10.5, color=INK, va="top", fontweight="bold")
        lines = max(label.count("\n"), shown.count("\n")) + 1
        top -= 0.2 * lines + 0.14
        fig.add_artist(_rule(fig, left, W - left, top + 0.07))
    top -= 0.15
    note = t(language, "stats.dp.note", k=str(report.k))
    fig.text(left / W, top / H, _wrap(note, W - 2 * left, 9), fontsize=9, color=SOFT, va="top")
    if report.demo_data:
        fig.text(
            0.5,
            0.5,
            t(language, "stats.demo_mark"),
            fontsize=90,
            color="0.45",
            ha="center",
            va="center",
            rotation=55,
            alpha=0.16,
            fontweight="bold",
        )
    return fig


def _rule(fig: Any, x0: float, x1: float, y: float) -> Any:
    from matplotlib.lines import Line2D

    W, H = fig.get_figwidth(), fig.get_figheight()
    return Line2D([x0 / W, x1 / W], [y / H, y / H], color="#DDDDDD", linewidth=0.8, transform=fig.transFigure)


def render_pdf(ctx: BotContext, report: StatsReport, language: str) -> bytes:
    """A4: the page for the board, then the data-protection section for the DPO."""
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    title = _plain_title(ctx, report, language)
    with (
        _RENDERING,
        PdfPages(
            buffer, metadata={"Title": title, "Creator": "Lotse", "Producer": "Lotse", "CreationDate": None}
        ) as pdf,
    ):
        pdf.savefig(_page_figure(ctx, report, language, PAGE, A4[1]), facecolor=PAPER)
        if report.privacy is not None:
            pdf.savefig(_privacy_page(ctx, report, language), facecolor=PAPER)
    return buffer.getvalue()

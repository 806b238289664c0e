"""The leadership report by e-mail, for leadership that does not read Matrix.

The same report as in the leadership room, through the organisation's SMTP server
(``[report_mail]``): an HTML message with the page inline (``cid:``), the text as the plain
alternative, and the PDF and the CSV attached. Sent with the standard library's ``smtplib`` in
a worker thread (STARTTLS, TLS from the start, or plain only to a server on this machine; the
password is read from its file when sending).

A delivery that fails is kept (one ``kv`` row per period, so it survives a restart) and tried
again with back-off: after ``retry_minutes``, then twice as long each time, at most six hours
apart, for six days (then the next weekly report is due). The admin room hears of it once when
it first fails, once when it finally went out, and once if Lotse gives up. Recipients the
server refused are tried again alone; those it accepted do not get the report twice.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from bot.config import ReportMailSettings
from bot.context import BotContext
from bot.ids import txn_id_for
from bot.stats import formatting as fmt
from bot.stats import report as stats_report
from bot.stats.aggregate import FIGURES
from bot.stats.periods import parse_period
from bot.stats.teams import OTHER, TEAM_FIGURES

log = logging.getLogger(__name__)

PREFIX = "report_mail:"
MAX_DELAY_MINUTES = 360
GIVE_UP_MS = 6 * 86_400_000


@dataclass
class Pending:
    period: str
    since_ms: int
    next_ms: int
    attempts: int = 0
    told: bool = False  # the admin room knows it failed
    to: list[str] | None = None  # None: every recipient; else those still to be sent to


class MailFailed(Exception):
    """The report did not reach (all) recipients; ``refused`` are the ones still to try."""

    def __init__(self, reason: str, refused: list[str]) -> None:
        super().__init__(reason)
        self.refused = refused


def _now_ms(ctx: BotContext) -> int:
    return int(ctx.clock() * 1000)


async def enqueue(ctx: BotContext, label: str) -> None:
    """Send this period's report by e-mail (now, in the background, and again until it went)."""
    if ctx.settings.report_mail is None:
        return
    await add(ctx, label)
    ctx.scheduler.spawn("report mail", run_due(ctx))


async def add(ctx: BotContext, label: str) -> None:
    """Queue this period's report for e-mail (sent by the next :func:`run_due`)."""
    now = _now_ms(ctx)
    await ctx.state.put(PREFIX + label, json.dumps(asdict(Pending(label, now, now))))


async def pending(ctx: BotContext) -> list[Pending]:
    return [Pending(**json.loads(value)) for _, value in await ctx.stats.kv_with_prefix(PREFIX)]


def delay_minutes(settings: ReportMailSettings, attempts: int) -> float:
    """Back-off after the ``attempts``-th failure: retry_minutes, doubled each time, ≤ 6 h."""
    return float(min(settings.retry_minutes * 2 ** max(0, attempts - 1), MAX_DELAY_MINUTES))


async def run_due(ctx: BotContext) -> None:
    """Send every queued report whose time has come (the report job calls this too)."""
    settings = ctx.settings.report_mail
    if settings is None:
        return
    async with ctx.stats.mailing:
        for entry in await pending(ctx):
            if entry.next_ms <= _now_ms(ctx):
                await _attempt(ctx, settings, entry)


async def _attempt(ctx: BotContext, settings: ReportMailSettings, entry: Pending) -> None:
    key = PREFIX + entry.period
    recipients = entry.to or list(settings.to)
    try:
        message = await compose(ctx, settings, entry.period, recipients)
        await asyncio.to_thread(send, settings, message, recipients)
    except MailFailed as failure:
        await _failed(ctx, settings, entry, str(failure), failure.refused)
        return
    except Exception as exc:  # a report that cannot be built is a failure to deliver, too
        log.exception("report %s: e-mail not built", entry.period)
        await _failed(ctx, settings, entry, type(exc).__name__, recipients)
        return
    await ctx.state.delete(key)
    log.info("leadership report %s sent by e-mail to %d recipients", entry.period, len(recipients))
    if entry.told:
        await _tell_admins(
            ctx,
            "stats.mail.recovered",
            entry.period,
            "recovered",
            attempts=str(entry.attempts + 1),
        )


async def _failed(
    ctx: BotContext, settings: ReportMailSettings, entry: Pending, reason: str, refused: list[str]
) -> None:
    key = PREFIX + entry.period
    now = _now_ms(ctx)
    entry.attempts += 1
    entry.to = refused if refused and set(refused) != set(settings.to) else entry.to
    log.warning("report %s: e-mail failed (attempt %d): %s", entry.period, entry.attempts, reason)
    if now - entry.since_ms >= GIVE_UP_MS:
        await ctx.state.delete(key)
        await _tell_admins(ctx, "stats.mail.gave_up", entry.period, "gave-up", reason=reason)
        return
    wait = delay_minutes(settings, entry.attempts)
    entry.next_ms = now + int(wait * 60_000)
    if not entry.told:
        entry.told = True
        await _tell_admins(
            ctx,
            "stats.mail.failed",
            entry.period,
            "failed",
            reason=reason,
            delay=fmt.duration(ctx.catalog, wait, ctx.catalog.default_language),
        )
    await ctx.state.put(key, json.dumps(asdict(entry)))


async def _tell_admins(ctx: BotContext, key: str, label: str, what: str, **values: str) -> None:
    room = ctx.admin_room()
    if room is None:
        return
    language = ctx.catalog.default_language
    name = fmt.period_name(ctx.catalog, parse_period(label), language)
    text = ctx.catalog.text(language, key, period=name, label=label, **values)
    await ctx.matrix.send_text(room, text, txn_id_for("report-mail", label, what))


# -- the message ---------------------------------------------------------------------------


async def compose(
    ctx: BotContext, settings: ReportMailSettings, label: str, recipients: list[str]
) -> EmailMessage:
    """The report as an e-mail: HTML with the page inline, text, the PDF and the CSV."""
    language = settings.language or stats_report.language_of(ctx)
    report = await stats_report.build(ctx, parse_period(label))

    def pictures() -> tuple[bytes, bytes]:
        return (
            stats_report.render_png(ctx, report, language),
            stats_report.render_pdf(ctx, report, language),
        )

    png, pdf = await asyncio.to_thread(pictures)
    t = ctx.catalog.text
    title = t(
        language,
        f"stats.title.{report.period.kind}",
        period=fmt.period_name(ctx.catalog, report.period, language),
    ).lstrip("📊 ")
    message = EmailMessage()
    demo = f"[{t(language, 'stats.demo_mark')}] " if report.demo_data else ""
    message["Subject"] = demo + title
    message["From"] = settings.sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(ctx.clock(), localtime=True)
    message["Message-ID"] = make_msgid("lotse", settings.sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(stats_report.render_text(ctx, report, language) + "\n")
    cid = make_msgid("page", settings.sender.rpartition("@")[2])
    message.add_alternative(render_html(ctx, report, language, cid[1:-1]), subtype="html")
    message.get_payload()[1].add_related(  # type: ignore[index, union-attr]
        png, "image", "png", cid=cid, filename=f"lotse-{label}.png", disposition="inline"
    )
    message.add_attachment(pdf, "application", "pdf", filename=f"lotse-{label}.pdf")
    message.add_attachment(
        stats_report.render_csv(ctx, report, language).encode("utf-8"),
        "text",
        "csv",
        filename=f"lotse-{label}.csv",
        params={"charset": "utf-8"},  # with its byte-order mark, as German Excel wants it
    )
    return message


def render_html(ctx: BotContext, report: stats_report.StatsReport, language: str, cid: str) -> str:
    """The e-mail's body: the headline, the page (inline), every figure, the data-protection
    section and the rules, in simple tables that mail programs show as they are."""
    t = ctx.catalog.text
    e = html.escape
    cat = ctx.catalog
    head = stats_report.headline(ctx, report, language)
    title = t(
        language, f"stats.title.{report.period.kind}", period=fmt.period_name(cat, report.period, language)
    ).lstrip("📊 ")
    previous = stats_report.previous_name(ctx, report, language)
    cell_style = 'style="padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:top"'
    value_style = 'style="padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:top;white-space:nowrap"'
    soft_style = 'style="padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:top;color:#555"'
    rows = []
    for key in FIGURES:
        cell = report.cells.get(key)
        before = (report.previous or {}).get(key)
        change = (
            fmt.change(cat, cell, before, previous, language).text if fmt.shown(before) is not None else ""
        )
        rows.append(
            f"<tr><td {cell_style}>{e(t(language, f'stats.figure.{key}'))}</td>"
            f"<td {value_style}><b>{e(fmt.value(cat, cell, language))}</b></td>"
            f"<td {soft_style}>{e(change)}</td></tr>"
        )
    parts = [
        f'<!DOCTYPE html><html lang="{e(language)}"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title></head>",
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#1a1a1a;max-width:680px;'
        'margin:0 auto;padding:0 12px">',
        f'<h1 style="font-size:22px">{e(title)}</h1>',
    ]
    if report.demo_data:
        parts.append(f'<p style="color:#b00;font-weight:bold">{e(t(language, "stats.demo_data"))}</p>')
    parts += [
        f'<p style="font-size:17px">{e(head)}</p>',
        f'<p><img src="cid:{e(cid)}" alt="{e(head)}" width="540" '
        'style="width:100%;max-width:540px;height:auto;border:1px solid #ddd"></p>',
        f'<h2 style="font-size:18px">{e(t(language, "stats.mail.figures"))}</h2>',
        f'<table style="border-collapse:collapse">{"".join(rows)}</table>',
    ]
    if report.teams:
        parts.append(f'<h2 style="font-size:18px">{e(t(language, "stats.teams"))}</h2><ul>')
        for label, cells in report.teams:
            name = t(language, "stats.other_teams") if label == OTHER else label
            values = ", ".join(
                f"{t(language, f'stats.figure.{key}')} {fmt.value(cat, cells.get(key), language)}"
                for key in TEAM_FIGURES
            )
            parts.append(f"<li>{e(name)}: {e(values)}</li>")
        parts.append("</ul>")
    if report.privacy is not None:
        privacy_title = stats_report.privacy_title(ctx, report, language).lstrip("🔒 ")
        privacy = "".join(
            f"<tr><td {cell_style}>{e(what)}</td><td {value_style}><b>{e(value)}</b></td></tr>"
            for what, value in stats_report.privacy_rows(ctx, report, language)
        )
        parts += [
            f'<h2 style="font-size:18px">{e(privacy_title)}</h2>',
            f"<p>{e(t(language, 'stats.dp.for_dpo'))}</p>",
            f'<table style="border-collapse:collapse">{privacy}</table>',
            f'<p style="font-size:13px;color:#555">{e(t(language, "stats.dp.note", k=str(report.k)))}</p>',
        ]
    footer = [t(language, "stats.rules", k=str(report.k))]
    if report.epsilon:
        footer.append(t(language, "stats.noise", epsilon=f"{report.epsilon:g}"))
    footer.append(t(language, "stats.mail.attachments"))
    parts += [f'<p style="font-size:13px;color:#555">{e(line)}</p>' for line in footer]
    parts.append("</body></html>")
    return "\n".join(parts)


# -- sending -------------------------------------------------------------------------------


def send(settings: ReportMailSettings, message: EmailMessage, recipients: list[str]) -> None:
    """Deliver through the SMTP server (blocking: call it in a thread). Raises
    :class:`MailFailed` naming the recipients still to be sent to."""
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    host, port, timeout = settings.host, settings.effective_port, settings.timeout_seconds
    # Greet as the sender's domain, not this machine's name (looking that up can hang).
    helo = settings.sender.rpartition("@")[2]
    try:
        smtp = (
            smtplib.SMTP_SSL(host, port, local_hostname=helo, timeout=timeout, context=context)
            if settings.security == "tls"
            else smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
        )
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username is not None:
                smtp.login(settings.username, settings.password() or "")
            refused = smtp.send_message(message, from_addr=settings.sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailFailed(_reason(exc), list(exc.recipients)) from None
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        raise MailFailed(_reason(exc), recipients) from None
    if refused:
        raise MailFailed(
            f"{len(refused)} recipient(s) refused: "
            + "; ".join(f"{code} {msg.decode(errors='replace')}" for code, msg in refused.values()),
            list(refused),
        )


def _reason(exc: BaseException) -> str:
    """What went wrong, short, for a log line and the admin room (never the password)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{exc.smtp_code} {text}"[:200]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values())[
            :200
        ]
    return f"{type(exc).__name__}: {exc}"[:200]

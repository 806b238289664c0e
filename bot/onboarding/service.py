"""Invitations for clients without an account: create, list, revoke, and pair the new account.

A worker's ``!einladen`` creates a single-use, expiring registration token on the homeserver and
answers in the worker's 1:1 chat with the bot: a short note for the worker, the invitation in
the client's language (homeserver, token, three steps, the join page's address) and a QR code
that opens the join page. The new account's first message to the bot carries the pairing code;
it links the new intake to the inviting worker, who is told in their chat with the bot.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from bot.consent import runtime
from bot.context import BotContext
from bot.ids import RoomID, UserID, txn_id_for
from bot.onboarding import codes
from bot.onboarding.qr import qr_png
from bot.store.consent import Intake
from bot.store.invitations import EXPIRED, OPEN, REVOKED, USED, Invitation

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# An account registered in time may write its first message a little after the invitation
# expired: its pairing code works that much longer, if the homeserver says the token was used.
PAIRING_GRACE_MS = 7 * DAY_MS
# Wrong codes one person may send before the bot stops looking codes up for them.
MAX_WRONG_CODES = 5
# Intake states in which a pairing code still makes sense.
_PAIRABLE = frozenset({"waiting", "language", "age", "consent", "guardian", "active"})


def now_ms(ctx: BotContext) -> int:
    return int(ctx.clock() * 1000)


def format_moment(ctx: BotContext, ms: int, language: str) -> str:
    """A point in time in the organisation's time zone, written as the language writes it."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    zone = ZoneInfo(ctx.settings.stats.timezone)
    try:
        date = format_date(moment.astimezone(zone), "medium", locale=language)
        time = format_time(moment, "short", tzinfo=zone, locale=language)
    except (ValueError, LookupError):
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"{date}, {time}"


def homeserver_address(ctx: BotContext) -> str:
    return ctx.settings.onboarding.homeserver_url or ctx.settings.homeserver.url


def page_address(ctx: BotContext, page_secret: str) -> str | None:
    return None if ctx.join_page_url is None else f"{ctx.join_page_url}/j/{page_secret}"


def pairing_hash(ctx: BotContext, code: str) -> str:
    return ctx.pseudonyms.derive("pairing")(code)


def language_name(ctx: BotContext, code: str) -> str:
    return next((lang.native_name for lang in ctx.catalog.languages if lang.code == code), code)


# -- a worker's commands ------------------------------------------------------------------------


async def create(
    ctx: BotContext, worker: UserID, worker_room: RoomID, worker_language: str, language: str, cause: str
) -> str | None:
    """Create an invitation and post it in the worker's chat; a catalog key if that failed."""
    if not ctx.settings.homeserver.admin_api:
        return "onboarding.invite.failed"
    created = now_ms(ctx)
    expires = created + ctx.settings.onboarding.invite_days * DAY_MS
    secrets = codes.new_invitation()
    if not await ctx.matrix.create_registration_token(secrets.token, expires):
        return "onboarding.invite.failed"
    invitation = await ctx.invitations.create(
        worker=await ctx.remember_person(worker),
        worker_room=worker_room,
        language=language,
        page_key=secrets.page_key,
        token_hash=secrets.token_hash,
        pairing_hash=pairing_hash(ctx, secrets.pairing_code),
        expires_at=expires,
        created_at=created,
    )
    log.info("invitation #%d created by %s", invitation.invitation_id, ctx.log_tag(worker))
    t = ctx.catalog.text
    url = page_address(ctx, secrets.page_secret)
    note = t(
        worker_language,
        "onboarding.invite.created",
        n=str(invitation.invitation_id),
        language=language_name(ctx, language),
        expires=format_moment(ctx, expires, worker_language),
    )
    if url is None:
        note += "\n" + t(worker_language, "onboarding.invite.no_page")
    await ctx.matrix.send_text(worker_room, note, txn_id_for(cause, "invite-note"))
    await ctx.matrix.send_text(
        worker_room, invitation_text(ctx, secrets, language, expires, url), txn_id_for(cause, "invite-text")
    )
    if url is not None:
        await ctx.matrix.send_file(
            worker_room,
            qr_png(url),
            t(language, "onboarding.qr.filename"),
            "image/png",
            txn_id_for(cause, "invite-qr"),
        )
    return None


def invitation_text(
    ctx: BotContext, secrets: codes.InvitationSecrets, language: str, expires: int, url: str | None
) -> str:
    """The invitation as the client reads it (or hears it on the phone, or gets it printed)."""
    t = ctx.catalog.text
    parts = [
        t(
            language,
            "onboarding.invite.message",
            organisation=ctx.settings.organisation.name,
            homeserver=homeserver_address(ctx),
            token=secrets.token,
            bot=str(ctx.matrix.user_id),
            code=secrets.pairing_display,
        )
    ]
    if url is not None:
        parts.append(t(language, "onboarding.invite.page", url=url))
    parts.append(t(language, "onboarding.invite.valid", expires=format_moment(ctx, expires, language)))
    return "\n\n".join(parts)


async def _token_uses(ctx: BotContext) -> dict[str, int] | None:
    """Registration token uses by token hash (the store keeps no token in clear)."""
    uses = await ctx.matrix.registration_token_uses()
    return None if uses is None else {codes.token_hash(token): n for token, n in uses.items()}


async def list_open(ctx: BotContext, worker: UserID, language: str) -> str:
    t = ctx.catalog.text
    now = now_ms(ctx)
    invitations = [i for i in await ctx.invitations.of_worker(ctx.subject(worker)) if i.state_at(now) == OPEN]
    if not invitations:
        return t(language, "onboarding.list.none")
    uses = await _token_uses(ctx)
    lines = [t(language, "onboarding.list.header")]
    for invitation in invitations:
        if uses is None:
            status = t(language, "onboarding.list.unknown")
        elif uses.get(invitation.token_hash, 0) > 0:
            status = t(language, "onboarding.list.registered")
        else:
            status = t(language, "onboarding.list.waiting")
        lines.append(
            t(
                language,
                "onboarding.list.item",
                n=str(invitation.invitation_id),
                language=language_name(ctx, invitation.language),
                expires=format_moment(ctx, invitation.expires_at, language),
                status=status,
            )
        )
    lines.append(t(language, "onboarding.list.footer"))
    return "\n".join(lines)


async def revoke(ctx: BotContext, worker: UserID, invitation_id: int, language: str) -> str:
    """Revoke one of the worker's open invitations: the token is deleted on the homeserver and
    the page and the pairing code stop working. Returns the answer for the worker."""
    t = ctx.catalog.text
    invitation = await ctx.invitations.by_id(invitation_id)
    if (
        invitation is None
        or invitation.worker != ctx.subject(worker)
        or invitation.state_at(now_ms(ctx)) != OPEN
    ):
        return t(language, "onboarding.revoke.unknown", n=str(invitation_id))
    await ctx.invitations.close(invitation.invitation_id, REVOKED, at_ms=now_ms(ctx))
    log.info("invitation #%d revoked", invitation.invitation_id)
    if not await _delete_token(ctx, invitation):
        return t(
            language,
            "onboarding.revoke.server_failed",
            n=str(invitation_id),
            expires=format_moment(ctx, invitation.expires_at, language),
        )
    return t(language, "onboarding.revoke.done", n=str(invitation_id))


async def _delete_token(ctx: BotContext, invitation: Invitation) -> bool:
    uses = await ctx.matrix.registration_token_uses()
    if uses is None:
        return False
    token = next((tok for tok in uses if codes.token_hash(tok) == invitation.token_hash), None)
    return token is None or await ctx.matrix.delete_registration_token(token)


# -- the new account's first messages --------------------------------------------------------------


async def expects_pairing(ctx: BotContext) -> bool:
    """Whether some invitation could still be paired: then a new 1:1 chat's first message is
    awaited before the team hears of an anonymous request."""
    return await ctx.invitations.any_open(now_ms(ctx), PAIRING_GRACE_MS)


async def on_client_text(ctx: BotContext, intake: Intake, text: str, cause: str) -> bool:
    """A client's message in their 1:1 chat with the bot: True if it was a pairing code (or an
    attempt at one, answered here); otherwise the team hears of a request it has not yet
    heard of, and the consent flow takes the message."""
    if intake.state in _PAIRABLE and await _try_pairing(ctx, intake, text, cause):
        return True
    await runtime.announce_pending(ctx, intake, cause)
    return False


async def _try_pairing(ctx: BotContext, intake: Intake, text: str, cause: str) -> bool:
    candidates = codes.pairing_candidates(text)
    if not candidates or not await expects_pairing(ctx):
        return False
    misses_key = f"pairing-misses:{intake.subject}"
    misses = int(await ctx.state.get(misses_key) or 0)
    if misses >= MAX_WRONG_CODES:
        if codes.only_a_code(text):
            await _tell_client(ctx, intake, "onboarding.code.too_many", cause)
            return True
        return False
    invitation = await ctx.invitations.open_by_pairing([pairing_hash(ctx, c) for c in candidates])
    if invitation is not None and await _pairable(ctx, invitation):
        await pair(ctx, intake, invitation, cause)
        return True
    if not codes.only_a_code(text):
        return False  # a sentence with some code-like word in it: the flow reads it
    await ctx.state.put(misses_key, str(misses + 1))
    log.info("intake #%d: an unknown pairing code", intake.intake_id)
    await _tell_client(ctx, intake, "onboarding.code.unknown", cause)
    return True


async def _tell_client(ctx: BotContext, intake: Intake, key: str, cause: str) -> None:
    """The client's language may not be known yet: then in every language offered."""
    chosen = await ctx.state.language(intake.subject)
    text = ctx.catalog.text(chosen, key) if chosen else runtime.in_every_language(ctx, key)
    await runtime.say(ctx, intake.room_id, text, f"{cause}:{key}")


async def _pairable(ctx: BotContext, invitation: Invitation) -> bool:
    """Open and not expired; or expired lately, with its token used (the account was made in
    time). An expired one is closed as such."""
    now = now_ms(ctx)
    if now < invitation.expires_at:
        return True
    if now < invitation.expires_at + PAIRING_GRACE_MS:
        uses = await _token_uses(ctx)
        if uses is not None and uses.get(invitation.token_hash, 0) > 0:
            return True
    await ctx.invitations.close(invitation.invitation_id, EXPIRED, at_ms=now)
    return False


async def pair(ctx: BotContext, intake: Intake, invitation: Invitation, cause: str) -> None:
    """Link the intake to the inviting worker: they are responsible, and told in their chat.

    The invitation is closed last: after a crash half-way, the same message pairs again, and
    the sends repeat with the same transaction IDs (the homeserver drops them).
    """
    await ctx.state.delete(f"pairing-misses:{intake.subject}")
    worker = await ctx.person(invitation.worker)
    log.info("intake #%d paired with invitation #%d", intake.intake_id, invitation.invitation_id)
    worker_language = await ctx.state.language(invitation.worker) or ctx.catalog.default_language
    values = {"i": str(invitation.invitation_id), "n": str(intake.intake_id)}
    if worker is None or (intake.worker is not None and intake.worker != invitation.worker):
        # A colleague took the request before the code came: it stays theirs.
        await runtime.announce_pending(ctx, intake, cause)
        await ctx.matrix.send_text(
            invitation.worker_room,
            ctx.catalog.text(worker_language, "onboarding.paired.taken", **values),
            txn_id_for(cause, "paired-worker"),
        )
        await _tell_client(ctx, intake, "onboarding.paired.connected", cause)
        await ctx.invitations.close(invitation.invitation_id, USED, client=intake.subject, at_ms=now_ms(ctx))
        return
    announced = not await runtime.drop_pending_announcement(ctx, intake)
    await runtime.start_with_worker(ctx, intake, worker, invitation.worker_room, invitation.language, cause)
    await ctx.matrix.send_text(
        invitation.worker_room,
        ctx.catalog.text(worker_language, "onboarding.paired.worker", **values),
        txn_id_for(cause, "paired-worker"),
    )
    team = ctx.team_room()
    if announced and team is not None and intake.notify_room == team:
        # The team heard of an anonymous request: it is taken now.
        await ctx.matrix.send_text(
            team,
            ctx.catalog.text(ctx.catalog.default_language, "onboarding.team.paired", n=str(intake.intake_id)),
            txn_id_for(cause, "paired-team"),
        )
    await ctx.invitations.close(invitation.invitation_id, USED, client=intake.subject, at_ms=now_ms(ctx))


async def close_expired(ctx: BotContext) -> int:
    """Hourly: invitations past expiry and grace are closed as expired, and their tokens (which
    the homeserver refuses by now anyway) deleted there. Returns how many were closed."""
    cutoff = now_ms(ctx) - PAIRING_GRACE_MS
    stale = await ctx.invitations.open_expired_before(cutoff)
    if not stale:
        return 0
    uses = await ctx.matrix.registration_token_uses()
    by_hash = {} if uses is None else {codes.token_hash(token): token for token in uses}
    for invitation in stale:
        token = by_hash.get(invitation.token_hash)
        if token is not None:
            await ctx.matrix.delete_registration_token(token)
        await ctx.invitations.close(invitation.invitation_id, EXPIRED, at_ms=now_ms(ctx))
    log.info("%d expired invitations closed", len(stale))
    return len(stale)

"""Carries out the consent flow's effects: texts to the client, the log, rooms, notifications.

This is the one place where the intake meets the homeserver (through ``ctx.matrix``) and the
store. The decisions themselves are made in :mod:`bot.consent.flow`.

Every send derives its transaction ID from the event that caused it, so that handling the
same event twice after a crash posts nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from bot import roomnames
from bot.config import LocalizedText, localized
from bot.consent import flow
from bot.consent.answers import YesNo, is_question, matches_any, parse_yes_no, reaction_answer, word_set
from bot.consent.flow import IntakeView, Vocabulary
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID, txn_id_for
from bot.office import service as office
from bot.render import to_html
from bot.store.consent import Intake

log = logging.getLogger(__name__)

PURPOSE = "counselling"


# -- reading the state ----------------------------------------------------------------------


async def client_language(ctx: BotContext, intake: Intake) -> str:
    return await ctx.state.language(intake.subject) or ctx.catalog.default_language


async def consent_version(ctx: BotContext, subject: str) -> str | None:
    """The notice version of the consent currently in force, or None."""
    latest = await ctx.consent.latest(subject, "client")
    if latest is None or latest.decision != "given":
        return None
    return latest.notice_version


async def view_of(ctx: BotContext, intake: Intake) -> IntakeView:
    return IntakeView(
        intake_id=intake.intake_id,
        state=intake.state,
        language=await ctx.state.language(intake.subject),
        minor=intake.minor,
        worker_assigned=intake.worker is not None,
        has_consultation=intake.consultation_room is not None,
        consent_version=await consent_version(ctx, intake.subject),
        prior_state=intake.prior_state,
        pending=intake.pending,
    )


def vocabulary(ctx: BotContext, language: str) -> Vocabulary:
    from bot.commands.handlers.general import choose_language

    yes = word_set(ctx.catalog.text(language, "answer.yes"))
    no = word_set(ctx.catalog.text(language, "answer.no"))
    full = word_set(ctx.catalog.text(language, "answer.full_text"))
    casual = yes | no | word_set(ctx.catalog.text(language, "answer.casual"))
    return Vocabulary(
        yes_no=lambda text: parse_yes_no(text, yes, no),
        choose_language=lambda text: choose_language(ctx, text),
        is_full_text_request=lambda text: matches_any(text, full),
        minimum_age=ctx.settings.consent.minimum_age,
        is_question=is_question,
        is_casual_answer=lambda text: matches_any(text, casual),
    )


def consultation_retention_days(ctx: BotContext) -> int:
    """What the notice promises: the policy that will apply to the consultation room."""
    from bot.retention.resolve import resolve

    policy = resolve(RoomID(""), "consultation", ctx.policies.current, {}).policy
    if policy is None:
        return ctx.settings.consent.retention_days
    return max(1, round(policy.message_lifetime.total_seconds() / 86400))


def notice_values(ctx: BotContext, language: str) -> dict[str, str]:
    org = ctx.settings.organisation
    default = ctx.catalog.default_language

    def own(value: LocalizedText) -> str:
        # Plain German (de@ls) takes German before the default language.
        chain = ctx.catalog.fallbacks(language)
        lang = next((c for c in chain if not isinstance(value, dict) or c in value), language)
        return localized(value, lang, default)

    return {
        "organisation": org.name,
        "controller": own(org.controller),
        "dpo_contact": own(org.dpo_contact),
        "purposes": own(org.purposes),
        "recipients": own(org.recipients),
        "other_channels": own(org.other_channels),
        "retention": ctx.catalog.text(
            language, "consent.retention", days=str(consultation_retention_days(ctx))
        ),
        "age": str(ctx.settings.consent.minimum_age),
    }


def notice_text(ctx: BotContext, language: str) -> tuple[str, str, str]:
    """The notice as a client who chose ``language`` reads it: the language it is actually in
    (the client's, else its base language for a variant, else the default language), its
    summary and its full text, filled in for that language (so that the text shown and the
    text the consent log's checksum proves are the same)."""
    notice = ctx.consent_notices.get().for_language(language, ctx.catalog.default_language)
    summary, full = notice.render(notice_values(ctx, notice.language))
    return notice.language, summary, full


def notice_shown(ctx: BotContext, language: str) -> tuple[str, str]:
    """The language the notice was actually shown in (after any fallback) and the SHA-256 of
    its text as shown: what a consent record must be able to prove."""
    shown, summary, full = notice_text(ctx, language)
    digest = hashlib.sha256(f"{summary}\n\n{full}".encode()).hexdigest()
    return shown, digest


# -- talking --------------------------------------------------------------------------------


async def say(
    ctx: BotContext,
    room: RoomID,
    text: str,
    cause: str,
    *,
    reply_to: EventID | None = None,
    markdown: bool = False,
) -> EventID | None:
    html = to_html(text) if markdown else None
    return await ctx.matrix.send_text(room, text, txn_id_for(cause, room), reply_to=reply_to, html=html)


# Around a right-to-left line in a left-to-right menu: its number and words keep their order.
_RTL_ISOLATE, _POP_ISOLATE = "\u2067", "\u2069"


def language_menu(ctx: BotContext) -> str:
    """The first message, before anyone knows the client's language: a greeting without words
    and every language by its own name, each with "write N" in that language ("1. Deutsch –
    Hallo! Schreib 1."). The client answers with the number, or the language's name."""
    lines = ["👋 🌐"]
    for i, language in enumerate(ctx.catalog.languages, start=1):
        choose = ctx.catalog.text(language.code, "intake.language.choose", n=str(i))
        entry = f"{language.native_name} – {choose}"
        if language.rtl:
            entry = f"{_RTL_ISOLATE}{entry}{_POP_ISOLATE}"
        lines.append(f"{i}. {entry}")
    return "\n".join(lines)


def in_every_language(ctx: BotContext, key: str) -> str:
    """A text for someone whose language is not known (any more): in every language offered,
    each by its own name, the default language first."""
    parts = []
    for language, text in ctx.catalog.in_every_language(key):
        if language.rtl:
            text = "\n".join(f"{_RTL_ISOLATE}{line}{_POP_ISOLATE}" for line in text.split("\n"))
        parts.append(text)
    return "\n\n".join(parts)


async def forward_question(ctx: BotContext, intake: Intake, question: str, cause: str) -> None:
    """The client's question before consenting, to the team room under the request number.

    The client was told it is passed on; Lotse keeps no copy (it is a message, not metadata).
    """
    room = intake.notify_room or ctx.team_room()
    if room is not None and not ctx.matrix.is_encrypted(room):
        # The client's words only where the homeserver cannot read them: the team hears that
        # there is a question, and answers it in a chat that is encrypted.
        await notify_worker(ctx, intake, "notify.question_unencrypted", cause)
        return
    quoted = " ".join(question.split())[:600]
    await notify_worker(ctx, intake, "notify.question", cause, question=quoted)
    log.info("intake #%d: a question before consent passed to the team", intake.intake_id)


async def answer_question(ctx: BotContext, intake: Intake, answer: str, cause: str) -> None:
    """A worker's answer, to the client in the intake chat; an open consent question stays open."""
    language = await client_language(ctx, intake)
    text = ctx.catalog.text(language, "intake.answer_from_team", answer=answer.strip())
    await say(ctx, intake.room_id, text, f"{cause}:answer")
    if intake.state == "consent":
        await apply(ctx, intake, [flow.AskConsentAgain("intake.consent.again_after_answer")], cause)


async def notify_worker(ctx: BotContext, intake: Intake, key: str, cause: str, **values: str) -> None:
    """Tell the responsible worker (or the team) something about an intake: never content,
    except a question the client asked to be passed on (``values``)."""
    room = intake.notify_room or ctx.team_room()
    if room is None:
        log.warning("intake #%d: no room to notify the worker in", intake.intake_id)
        return
    if not values and await office.hold_if_quiet(
        ctx, intake.worker, intake.notify_room, room, key, intake.intake_id, f"{cause}:{key}"
    ):
        return  # the worker asked for quiet outside their hours: it waits for them
    language = (
        await ctx.state.language(intake.worker) if intake.worker else None
    ) or ctx.catalog.default_language
    text = ctx.catalog.text(
        language, key, n=str(intake.intake_id), age=str(ctx.settings.consent.minimum_age), **values
    )
    await say(ctx, room, text, f"{cause}:{key}")


# -- intake lifecycle -----------------------------------------------------------------------


async def start_intake(
    ctx: BotContext,
    room: RoomID,
    client: UserID,
    *,
    worker: UserID | None,
    notify_room: RoomID | None,
    client_present: bool,
    announce: bool = True,
) -> Intake:
    """A new intake. ``announce=False``: the team hears of it with the client's first message,
    unless that message pairs it with an invitation (see :mod:`bot.onboarding`)."""
    subject = await ctx.remember_person(client)
    worker_subject = await ctx.remember_person(worker) if worker else None
    intake = await ctx.consent.create_intake(
        room,
        subject,
        worker=worker_subject,
        notify_room=notify_room or ctx.team_room(),
        state="language" if client_present else "waiting",
    )
    log.info("intake #%d started (%s)", intake.intake_id, "by worker" if worker else "by client")
    if client_present:
        await say(ctx, room, language_menu(ctx), f"intake:{intake.intake_id}:menu")
    if worker is None and announce:
        await notify_worker(ctx, intake, "notify.new_intake", f"intake:{intake.intake_id}")
    elif worker is None:
        await ctx.state.put(_unannounced(intake.intake_id), "1")
    return intake


def _unannounced(intake_id: int) -> str:
    return f"intake-unannounced:{intake_id}"


async def drop_pending_announcement(ctx: BotContext, intake: Intake) -> bool:
    """Whether the team had not heard of this intake yet; it will not hear of it now."""
    if await ctx.state.get(_unannounced(intake.intake_id)) is None:
        return False
    await ctx.state.delete(_unannounced(intake.intake_id))
    return True


async def announce_pending(ctx: BotContext, intake: Intake, cause: str) -> None:
    """Tell the team of a request it has not heard of yet (its first message was no pairing code)."""
    if await drop_pending_announcement(ctx, intake) and intake.worker is None:
        await notify_worker(ctx, intake, "notify.new_intake", f"intake:{intake.intake_id}")


async def start_with_worker(
    ctx: BotContext, intake: Intake, worker: UserID, notify_room: RoomID, language: str, cause: str
) -> None:
    """An invited client's pairing code: the inviting worker is responsible (and told in
    ``notify_room``); the invitation's language holds unless the client chose one already."""
    subject = await ctx.remember_person(worker)
    await ctx.consent.update_intake(intake.intake_id, worker=subject, notify_room=notify_room)
    fresh = await ctx.consent.intake_by_id(intake.intake_id)
    assert fresh is not None
    view = await view_of(ctx, fresh)
    effects: list[flow.Effect]
    if fresh.state in ("waiting", "language"):
        language = language if ctx.catalog.has_language(language) else ctx.catalog.default_language
        effects = [
            flow.SetLanguage(language),
            flow.Say("onboarding.paired.client"),
            *flow.after_language(view, vocabulary(ctx, language)),
        ]
    else:
        effects = [flow.Say("onboarding.paired.client"), *flow.on_worker_assigned(view)]
    await apply(ctx, fresh, effects, cause)


async def client_joined(ctx: BotContext, intake: Intake, cause: str) -> None:
    if intake.state != "waiting":
        return
    await ctx.consent.update_intake(intake.intake_id, state="language")
    await say(ctx, intake.room_id, language_menu(ctx), f"{cause}:menu")


async def on_text(ctx: BotContext, intake: Intake, text: str, event_id: EventID) -> None:
    if intake.state == "withdrawn" and await ctx.consent.erasure_waiting(intake.subject):
        # A new consent now would be wiped when the waiting part of the erasure finishes.
        language = await client_language(ctx, intake)
        await say(ctx, intake.room_id, ctx.catalog.text(language, "intake.erasing"), f"{event_id}:erasing")
        return
    view = await view_of(ctx, intake)
    language = view.language or ctx.catalog.default_language
    notices = ctx.consent_notices.get()
    effects = flow.on_client_text(view, text, vocabulary(ctx, language), notices.version)
    await apply(ctx, intake, effects, event_id)


async def on_reaction(
    ctx: BotContext, intake: Intake, key: str, relates_to: EventID, event_id: EventID
) -> None:
    answer = reaction_answer(key)
    if answer is None or relates_to not in (intake.question_event, intake.reask_event):
        return
    effects = flow.on_reaction(await view_of(ctx, intake), answer)
    await apply(ctx, intake, effects, event_id)


async def apply(ctx: BotContext, intake: Intake, effects: Sequence[flow.Effect], cause: str) -> None:
    """Carry out effects in order. The intake is re-read after each state change."""
    room = intake.room_id
    for effect in effects:
        # Named by what it does, not by its position: replaying an event after a crash, from
        # the state it had already reached, yields the same transaction IDs, so the homeserver
        # drops the repeated sends.
        step = f"{cause}:{type(effect).__name__}:{getattr(effect, 'key', '')}"
        language = await client_language(ctx, intake)
        t = ctx.catalog.text
        match effect:
            case flow.Say(key, values):
                await say(ctx, room, t(language, key, **{**notice_values(ctx, language), **values}), step)
            case flow.ShowLanguageMenu():
                await say(ctx, room, language_menu(ctx), step)
            case flow.AskAge():
                await say(
                    ctx,
                    room,
                    t(language, "intake.age.question", age=str(ctx.settings.consent.minimum_age)),
                    step,
                )
            case flow.AskConsent():
                _, summary, _ = notice_text(ctx, language)
                question = t(language, "intake.consent.question")
                event = await say(ctx, room, f"{summary}\n\n{question}", step, markdown=True)
                if event is not None:
                    # A ✅ on a re-ask of an earlier question must not count for this one.
                    await ctx.consent.update_intake(intake.intake_id, question_event=event, reask_event=None)
            case flow.AskConsentAgain(key):
                event = await say(ctx, room, t(language, key), step)
                if event is not None:
                    await ctx.consent.update_intake(intake.intake_id, reask_event=event)
            case flow.ForwardQuestion(text):
                await forward_question(ctx, intake, text, step)
            case flow.SetPending(action):
                await ctx.consent.update_intake(intake.intake_id, pending=action)
            case flow.ShowFullNotice():
                _, _, full = notice_text(ctx, language)
                await say(ctx, room, full, step, markdown=True)
            case flow.SetLanguage(code):
                await ctx.state.set_language(intake.subject, code)
            case flow.SetState(state, minor):
                # A confirmation asked for in another state is void in the new one.
                fields: dict[str, object] = {"state": state, "pending": None}
                if minor is not None:
                    fields["minor"] = minor
                await ctx.consent.update_intake(intake.intake_id, **fields)
            case flow.Record(scope, decision, method):
                notices = ctx.consent_notices.get()
                shown, digest = notice_shown(ctx, language)
                await ctx.consent.append(
                    subject=intake.subject,
                    scope=scope,
                    purpose=PURPOSE,
                    notice_version=notices.version,
                    language=shown,
                    notice_hash=digest,
                    decision=decision,
                    method=method,
                    event_id=cause.split(":", 1)[0] if cause.startswith("$") else None,
                )
                log.info("intake #%d: consent %s (%s)", intake.intake_id, decision, method)
            case flow.OpenConsultation():
                await open_consultation(ctx, intake, step)
            case flow.CloseConsultation():
                await close_consultation(ctx, intake, step)
            case flow.NotifyWorker(key):
                await notify_worker(ctx, intake, key, step)
            case flow.StartErasure():
                from bot.consent.rights import erase

                await erase(ctx, intake, step)
                return
        fresh = await ctx.consent.intake_by_id(intake.intake_id)
        if fresh is None:
            return
        intake = fresh


async def worker_left(ctx: BotContext, worker: UserID, cause: str) -> None:
    """A worker who is no longer a worker (left the workers' room) moderates no counselling
    room any more: their power there drops to that of any member, and the team is told which
    cases need a new responsible worker."""
    cases = [i for i in await ctx.consent.intakes_of_worker(ctx.subject(worker)) if i.consultation_room]
    for intake in cases:
        assert intake.consultation_room is not None
        await ctx.matrix.set_user_power(intake.consultation_room, worker, 0)
    if cases:
        log.info("a worker left: moderation removed in %d counselling rooms", len(cases))
        room = ctx.team_room()
        if room is not None:
            numbers = ", ".join(f"#{i.intake_id}" for i in cases)
            text = ctx.catalog.text(ctx.catalog.default_language, "notify.worker_left", cases=numbers)
            await say(ctx, room, text, f"{cause}:worker-left")


async def has_open_intake(ctx: BotContext, client: UserID) -> bool:
    """Whether this person already has a 1:1 chat with the bot that is not closed."""
    intakes = await ctx.consent.intakes_of(ctx.subject(client))
    return any(i.state not in ("declined", "withdrawn") for i in intakes)


async def erasing(ctx: BotContext, client: UserID) -> bool:
    """Whether part of this person's erasure still waits: no new conversation until it is done."""
    return await ctx.consent.erasure_waiting(ctx.subject(client))


async def after_erasure(ctx: BotContext, room: RoomID, text: str, cause: str) -> bool:
    """A message in a 1:1 chat whose person had everything erased: say so and ask before a new
    intake starts (and the team hears of it). False once the person said yes: start anew."""
    marker = await ctx.consent.erased_chat(room)
    if marker is None:
        return False
    # The language was erased too: any language's yes-word counts, the text is in all of them.
    yes = frozenset().union(
        *(word_set(ctx.catalog.text(lang.code, "answer.yes")) for lang in ctx.catalog.languages)
    )
    if marker == "asked" and parse_yes_no(text, yes, frozenset()) is YesNo.YES:
        await ctx.consent.set_erased_chat(room, None)
        return False
    key = "intake.after_erasure" if marker == "erased" else "intake.after_erasure.kept"
    await say(ctx, room, in_every_language(ctx, key), f"{cause}:after-erasure")
    if marker == "erased":
        await ctx.consent.set_erased_chat(room, "asked")
    return True


async def open_consultation(ctx: BotContext, intake: Intake, cause: str) -> None:
    if intake.consultation_room is not None or intake.worker is None:
        return
    client = await ctx.person(intake.subject)
    worker = await ctx.person(intake.worker)
    if client is None or worker is None:
        log.error("intake #%d: cannot open a room, a participant's ID is unknown", intake.intake_id)
        return
    # "Fall 3", or "Fall 3 · Wohnungssuche" with the label the worker gave: never a name.
    label = await roomnames.pending_label(ctx, intake.intake_id)
    room = await ctx.matrix.create_room(
        name=roomnames.consultation_name(ctx, intake.intake_id, label),
        invite=[worker, client],
        is_direct=False,
        moderators=[worker],
    )
    if room is None:
        await notify_worker(ctx, intake, "notify.room_failed", cause)
        return
    await ctx.state.set_room_kind(room, "consultation")
    await ctx.consent.update_intake(intake.intake_id, consultation_room=room)
    await roomnames.keep_label(ctx, intake.intake_id, None)  # the room's name carries it now
    language = await client_language(ctx, intake)
    await say(ctx, intake.room_id, ctx.catalog.text(language, "intake.room_ready"), f"{cause}:client")
    await notify_worker(ctx, intake, "notify.room_ready", cause)
    log.info("intake #%d: consultation room opened", intake.intake_id)


async def welcome_in_consultation(ctx: BotContext, intake: Intake, cause: str) -> None:
    """Posted once the client has joined, so that the client can decrypt it."""
    if intake.consultation_room is None:
        return
    language = await client_language(ctx, intake)
    text = ctx.catalog.text(language, "room.consultation.welcome", **notice_values(ctx, language))
    await ctx.matrix.send_text(
        intake.consultation_room, text, txn_id_for(intake.consultation_room, "welcome")
    )
    from bot.retention.sweeper import period_told

    await period_told(ctx, intake.consultation_room, "consultation")


async def close_consultation(ctx: BotContext, intake: Intake, cause: str) -> None:
    room = intake.consultation_room
    if room is None:
        return
    language = await client_language(ctx, intake)
    await say(ctx, room, ctx.catalog.text(language, "room.closed"), f"{cause}:closed")
    # Nobody but the bot may post any more; what was written stays readable.
    await ctx.matrix.change_power_levels(room, {"events_default": 100})


async def remind_outdated_consent(ctx: BotContext, intake: Intake, cause: str) -> bool:
    """A client writes in the consultation room under an outdated notice: ask again first."""
    notices = ctx.consent_notices.get()
    if intake.state != "active" or await consent_version(ctx, intake.subject) == notices.version:
        return False
    language = await client_language(ctx, intake)
    key = f"reminded:{intake.intake_id}:{notices.version}"
    if await ctx.state.get(key) is None:
        await ctx.state.put(key, "1")
        if intake.consultation_room:
            await say(
                ctx,
                intake.consultation_room,
                ctx.catalog.text(language, "room.reconsent_pending"),
                f"{cause}:room",
            )
        await apply(
            ctx,
            intake,
            [flow.Say("intake.notice_changed"), flow.SetState("consent"), flow.AskConsent()],
            cause,
        )
    return True


async def withdraw(ctx: BotContext, intake: Intake, cause: str) -> None:
    await apply(ctx, intake, flow.on_withdraw(await view_of(ctx, intake)), cause)


async def worker_claims(ctx: BotContext, intake: Intake, worker: UserID, room: RoomID, cause: str) -> None:
    subject = await ctx.remember_person(worker)
    await ctx.consent.update_intake(intake.intake_id, worker=subject, notify_room=room)
    fresh = await ctx.consent.intake_by_id(intake.intake_id)
    assert fresh is not None
    await apply(ctx, fresh, flow.on_worker_assigned(await view_of(ctx, fresh)), cause)


async def guardian_confirmed(
    ctx: BotContext, intake: Intake, worker: UserID, cause: str, note: str | None = None
) -> bool:
    effects = flow.on_guardian_confirmed(await view_of(ctx, intake))
    if not effects:
        return False
    notices = ctx.consent_notices.get()
    shown, digest = notice_shown(ctx, await client_language(ctx, intake))
    await ctx.consent.append(
        subject=intake.subject,
        scope="guardian",
        purpose=PURPOSE,
        notice_version=notices.version,
        language=shown,
        notice_hash=digest,
        decision="confirmed",
        method="command",
        actor=ctx.subject(worker),
        event_id=cause if cause.startswith("$") else None,
        note=note,
    )
    await apply(ctx, intake, [e for e in effects if not isinstance(e, flow.Record)], cause)
    return True


__all__ = ["YesNo"]

"""The client's rights in the chat: access (Art. 15 GDPR) and erasure (Art. 17 GDPR).

Access: everything Lotse stores about the requester and nobody else, as a JSON file for
machines and a text file for people. It contains no other person's data: not the worker's
identity, not room IDs of rooms the requester is not in, no pseudonyms of others.

Erasure: every message the client sent in rooms Lotse administers is redacted, media those
messages referenced is deleted through the admin API where the bot may, and Lotse's own
records about the client are removed, leaving a content-free receipt. A room under a legal
hold (documentation duty) keeps its messages until the hold ends; the client is told until
when. What the server cannot do is said plainly: copies on devices stay, and Synapse keeps
redacted content for its redaction retention period.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from bot import roomnames
from bot.consent.runtime import consultation_retention_days
from bot.context import BotContext
from bot.ids import EventID, RoomID, txn_id_for
from bot.retention.media import MediaOutcome, delete_senders_media
from bot.store.consent import EventMeta, Intake, now_ms

log = logging.getLogger(__name__)


def _instant(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(microsecond=0).isoformat()


def _date(ms: int | None) -> str | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


async def collect(ctx: BotContext, subject: str) -> dict[str, Any]:
    """What Lotse stores about one person, in plain values: attributable (whose data, made
    when) and complete (every room, decision and request), yet nobody else's data."""
    intakes = await ctx.consent.intakes_of(subject)
    default = ctx.catalog.default_language
    language = await ctx.state.language(subject)
    shown = language or default
    stats = {r["room_id"]: r for r in await ctx.consent.message_stats(subject)}
    rooms: list[dict[str, Any]] = []
    for intake in intakes:
        for room, kind, name, since in (
            (intake.room_id, "intake", ctx.catalog.text(shown, "export.room_name.intake"), intake.created_at),
            (intake.consultation_room, "consultation", None, None),
        ):
            if room is None:
                continue
            if name is None:  # the counselling room's name as the client sees it ("Fall 3 · …")
                name = await ctx.matrix.room_name(room) or roomnames.consultation_name(
                    ctx, intake.intake_id, None
                )
            row = stats.get(room)
            rooms.append(
                {
                    "_id": room,  # for fetching the messages below; never exported
                    "name": name,
                    "kind": kind,
                    "case": intake.intake_id,
                    "your_role": "client",
                    "since": _date(since) or (_date(row["first_ts"]) if row else None),
                    "messages": int(row["n"]) if row else 0,
                    "deleted_messages": int(row["redacted"] or 0) if row else 0,
                    "first_message": _date(row["first_ts"]) if row else None,
                    "last_message": _date(row["last_ts"]) if row else None,
                }
            )
    person = await ctx.person(subject)
    messages: list[dict[str, str]] = []
    if ctx.settings.consent.export_messages and person is not None:
        for entry in rooms:
            for ts, text in await ctx.matrix.messages_of(RoomID(str(entry["_id"])), person):
                messages.append({"room": str(entry["name"]), "at": _instant(ts), "text": text})
    for entry in rooms:
        del entry["_id"]
    return {
        "person": person,
        "generated": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "controller": ctx.settings.organisation.name,
        "language": language,
        "consent_history": [
            {
                "scope": e.scope,
                "purpose": e.purpose,
                "notice_version": e.notice_version,
                "notice_sha256": e.notice_hash,
                "language": e.language,
                "decision": e.decision,
                "method": e.method,
                "recorded_by_staff": e.by_other,
                "date": _date(e.recorded_at),
                **({"how": e.note} if e.note else {}),
            }
            for e in await ctx.consent.history(subject)
        ],
        "intakes": [
            {
                "number": i.intake_id,
                "state": i.state,
                "started": _date(i.created_at),
                "age_at_least_minimum": None if i.minor is None else not i.minor,
                "minimum_age": ctx.settings.consent.minimum_age,
            }
            for i in intakes
        ],
        "rooms": rooms,
        "rights_requests": [
            {"kind": kind, "requested": _date(asked), "answered": _date(served)}
            for kind, asked, served in await ctx.stats.requests_of(subject)
        ],
        "retention": {"messages_deleted_after_days": consultation_retention_days(ctx)},
        "pending_requests": ["erasure awaiting your confirmation"]
        if any(i.state == "erase_confirm" for i in intakes)
        else [],
        "erasures": [
            {
                "date": _date(r["completed_at"]),
                "messages_deleted": r["redacted"],
                "media_deleted": r["media_deleted"],
            }
            for r in await ctx.consent.receipts(subject)
        ],
        "where_your_messages_are": (
            f"On the Matrix homeserver of {ctx.settings.organisation.name} ({ctx.settings.server_name}),"
            " visible in your app. Lotse stores no message texts; counts and dates only."
        ),
        "not_stored": "Lotse stores no message texts; counts and dates only.",
        **({"your_messages": messages} if ctx.settings.consent.export_messages else {}),
        **await _invitations(ctx, subject),
    }


async def _invitations(ctx: BotContext, subject: str) -> dict[str, Any]:
    """The invitation that brought this person in, if any (not who sent it: that is the
    worker's data; the case's worker is named in the consultation room)."""
    invitations = await ctx.invitations.of_client(subject)
    if not invitations:
        return {}
    return {
        "invitation": [
            {
                "number": i.invitation_id,
                "language": i.language,
                "created": _date(i.created_at),
                "used": _date(i.closed_at),
            }
            for i in invitations
        ]
    }


def readable(ctx: BotContext, data: dict[str, Any], language: str) -> str:
    t = ctx.catalog.text
    lines = [
        t(language, "export.title", organisation=str(data["controller"])),
        t(language, "export.whose", person=str(data["person"] or "-"), generated=str(data["generated"])),
        "",
    ]
    lines.append(t(language, "export.consent"))
    for entry in data["consent_history"] or []:
        lines.append(
            "  "
            + t(
                language,
                "export.consent.entry",
                date=str(entry["date"]),
                decision=t(language, f"decision.{entry['decision']}"),
                version=str(entry["notice_version"]),
                method=t(language, f"method.{entry['method']}"),
            )
            + (f" – {t(language, 'export.consent.how', how=str(entry['how']))}" if entry.get("how") else "")
        )
        if entry.get("notice_sha256"):
            lines.append(
                "    "
                + t(
                    language,
                    "export.consent.text",
                    language=str(entry["language"]),
                    digest=str(entry["notice_sha256"])[:16],
                )
            )
    if not data["consent_history"]:
        lines.append("  " + t(language, "export.none"))
    lines += ["", t(language, "export.rooms")]
    for room in data["rooms"]:
        lines.append(
            "  "
            + t(
                language,
                "export.room",
                name=str(room["name"]),
                since=str(room["since"] or "-"),
                messages=str(room["messages"]),
                first=str(room["first_message"] or "-"),
                last=str(room["last_message"] or "-"),
            )
        )
    for intake in data["intakes"]:
        if intake["age_at_least_minimum"] is not None:
            key = "export.age.yes" if intake["age_at_least_minimum"] else "export.age.no"
            lines.append("  " + t(language, key, n=str(intake["number"]), age=str(intake["minimum_age"])))
    lines += ["", t(language, "export.requests")]
    for request in data["rights_requests"]:
        lines.append(
            "  "
            + t(
                language,
                f"export.request.{request['kind']}",
                requested=str(request["requested"]),
                answered=str(request["answered"] or "-"),
            )
        )
    if not data["rights_requests"]:
        lines.append("  " + t(language, "export.none"))
    lines += ["", t(language, "export.retention", days=str(data["retention"]["messages_deleted_after_days"]))]
    if data["pending_requests"]:
        lines.append(t(language, "export.pending"))
    lines += [
        "",
        t(language, "export.where", organisation=str(data["controller"]), server=ctx.settings.server_name),
    ]
    if "your_messages" in data:
        lines += ["", t(language, "export.messages")]
        for message in data["your_messages"]:
            text = str(message["text"]).replace("\n", "\n    ")
            lines.append(f"  [{message['at']}] {message['room']}: {text}")
        if not data["your_messages"]:
            lines.append("  " + t(language, "export.none"))
    return "\n".join(lines)


async def send_export(ctx: BotContext, intake: Intake, cause: str) -> None:
    requested = now_ms()
    language = await ctx.state.language(intake.subject) or ctx.catalog.default_language
    if await ctx.stats.requests_since(intake.subject, "access", requested - 86_400_000) >= EXPORTS_PER_DAY:
        # Each export reads the whole store for a person: a limit keeps one account from
        # keeping the bot busy; a real need is served tomorrow or by the data-protection officer.
        await ctx.matrix.send_text(
            intake.room_id,
            ctx.catalog.text(language, "export.limit", n=str(EXPORTS_PER_DAY)),
            txn_id_for(cause, "limit"),
        )
        return
    if not ctx.matrix.is_encrypted(intake.room_id):
        # Everything about a person, readable by the homeserver: never.
        await ctx.matrix.send_text(
            intake.room_id, ctx.catalog.text(language, "export.not_encrypted"), txn_id_for(cause, "refused")
        )
        return
    data = await collect(ctx, intake.subject)
    stamp = dt.date.today().isoformat()
    await ctx.matrix.send_text(
        intake.room_id, ctx.catalog.text(language, "export.sending"), txn_id_for(cause, "intro")
    )
    await ctx.matrix.send_file(
        intake.room_id,
        json.dumps(data, indent=2, ensure_ascii=False).encode(),
        f"lotse-data-{stamp}.json",
        "application/json",
        txn_id_for(cause, "json"),
    )
    await ctx.matrix.send_file(
        intake.room_id,
        readable(ctx, data, language).encode(),
        f"lotse-data-{stamp}.txt",
        "text/plain; charset=utf-8",
        txn_id_for(cause, "txt"),
    )
    await ctx.stats.add_rights_request("access", intake.subject, requested)
    log.info("intake #%d: data export sent", intake.intake_id)


EXPORTS_PER_DAY = 3
RETRY_MS = 3600 * 1000  # a refused redaction is tried again after an hour, then less often
RETRY_MAX_MS = 24 * 3600 * 1000


@dataclass
class _Waiting:
    """A room whose part of the erasure waits, and why (for the receipt and the protocol)."""

    reason: str  # hold | min_age | retry
    until: int | None  # when it may go ahead (retry: the next attempt)
    kind: str
    left: int = 0  # messages still there


async def _kept_until(ctx: BotContext, room: RoomID, kind: str, events: list[EventMeta]) -> int | None:
    """A policy's min_age (documentation duty) also binds an erasure: the room's part waits
    until the youngest of the person's messages there is old enough. None: nothing binds."""
    from bot.retention.resolve import resolve
    from bot.retention.sweeper import room_refs

    if not events:
        return None
    assignments = await ctx.retention.assignments()
    policy = resolve(room, kind, ctx.policies.current, assignments, await room_refs(ctx, room)).policy
    if policy is None or not policy.min_age:
        return None
    until = max(e.ts for e in events) + int(policy.min_age.total_seconds() * 1000)
    return until if until > now_ms() else None


async def _redact_all(
    ctx: BotContext, subject: str, room: RoomID, events: list[EventMeta], reason: str
) -> tuple[list[EventID], list[EventID], int, int]:
    """(redacted, refused, media deleted, media failures) for one room.

    An event whose file the homeserver did not delete counts as refused although its text is
    redacted: it stays open in the store, so the retry deletes the file too."""
    done: list[EventID] = []
    refused: list[EventID] = []
    files_left: list[EventID] = []
    media = media_failed = 0
    for event in events:
        if await ctx.matrix.redact(room, event.event_id, reason):
            done.append(event.event_id)
        else:
            refused.append(event.event_id)
        if ctx.settings.homeserver.admin_api:
            for mxc in event.media:
                outcome = await delete_senders_media(ctx, room, event.sender, mxc, now_ms())
                media += outcome is MediaOutcome.DELETED
                if outcome is MediaOutcome.FAILED:
                    media_failed += 1
                    files_left.append(event.event_id)
    late = await _redact_where_refused(ctx, subject, {room: refused}, reason) if refused else []
    done += late
    refused = [e for e in refused if e not in late]
    refused += [e for e in dict.fromkeys(files_left) if e not in refused]
    done = [e for e in done if e not in files_left]
    await ctx.consent.mark_redacted(done)
    return done, refused, media, media_failed


async def erase(ctx: BotContext, intake: Intake, cause: str) -> None:
    subject = intake.subject
    language = await ctx.state.language(subject) or ctx.catalog.default_language
    requested = now_ms()
    intakes = await ctx.consent.intakes_of(subject)
    rooms: list[tuple[RoomID, str]] = []
    for i in intakes:
        rooms.append((i.room_id, "intake"))
        if i.consultation_room:
            rooms.append((i.consultation_room, "consultation"))
    waiting: dict[RoomID, _Waiting] = {}
    redacted = media_deleted = failures = 0
    reason = ctx.catalog.text(ctx.catalog.default_language, "erase.reason")
    for room, kind in rooms:
        events = await ctx.consent.events_of(subject, [room])
        until = await ctx.consent.hold_until(room, requested)
        if until is not None:
            waiting[room] = _Waiting("hold", until, kind, len(events))
            continue
        kept = await _kept_until(ctx, room, kind, events)
        if kept is not None:
            waiting[room] = _Waiting("min_age", kept, kind, len(events))
            continue
        done, refused, media, _files_failed = await _redact_all(ctx, subject, room, events, reason)
        redacted += len(done)
        media_deleted += media
        failures += len(refused)
        if refused:  # kept, and tried again: nothing the erasure promised is forgotten
            waiting[room] = _Waiting("retry", requested + RETRY_MS, kind, len(refused))
    dated = [w.until for w in waiting.values() if w.reason != "retry" and w.until is not None]
    held_until = max(dated) if dated else None
    receipt = await ctx.consent.write_receipt(
        subject,
        requested_at=requested,
        redacted=redacted,
        media_deleted=media_deleted,
        held_rooms=len(waiting),
        held_until=held_until,
        failures=failures,
    )
    # Tell the worker and the DPO before the records that say whom to tell are gone.
    from bot.consent.runtime import notify_worker

    await notify_worker(ctx, intake, "notify.erased", cause)
    await _protocol(ctx, receipt, requested, redacted, media_deleted, failures, waiting, cause)
    for i in intakes:
        await roomnames.keep_label(ctx, i.intake_id, None)
        if i.consultation_room:
            # Closed for new messages; under a hold what was written stays readable.
            await ctx.matrix.change_power_levels(i.consultation_room, {"events_default": 100})
            # A case label is a note about the client: the room goes back to "Fall 3".
            default_name = roomnames.consultation_name(ctx, i.intake_id, None)
            if await ctx.matrix.room_name(i.consultation_room) not in (None, default_name):
                await ctx.matrix.set_room_state(i.consultation_room, "m.room.name", {"name": default_name})
    for room, w in waiting.items():
        await ctx.consent.add_pending_erasure(
            subject, room, receipt, reason=w.reason, not_before=None if w.reason == "hold" else w.until
        )
    if waiting:
        # The kept intake must not invite a second erasure of the same data.
        for i in intakes:
            await ctx.consent.update_intake(i.intake_id, state="withdrawn")
    await ctx.consent.erase_subject(
        subject, keep_rooms=list(waiting), chats=[i.room_id for i in intakes if i.room_id not in waiting]
    )
    await ctx.stats.add_rights_request("erasure", subject, requested)
    await ctx.invitations.forget_client(subject)
    await ctx.consent.unlink_receipts(subject)
    t = ctx.catalog.text
    parts = [t(language, "erase.done", redacted=str(redacted), media=str(media_deleted))]
    if held_until is not None:
        parts.append(t(language, "erase.held", until=_date(held_until) or ""))
    if any(w.reason == "retry" for w in waiting.values()):
        retry = sum(w.left for w in waiting.values() if w.reason == "retry")
        parts.append(t(language, "erase.retrying", failures=str(retry)))
    parts.append(t(language, "erase.limits"))
    await ctx.matrix.send_text(intake.room_id, "\n\n".join(parts), txn_id_for(cause, "done"))
    log.info("intake #%d: erasure done (receipt %d)", intake.intake_id, receipt)


async def _protocol(
    ctx: BotContext,
    receipt: int,
    requested: int,
    redacted: int,
    media: int,
    failures: int,
    waiting: dict[RoomID, _Waiting],
    cause: str,
) -> None:
    """The deletion protocol for the admin room: what was done, and what remains and why.
    It names no person, not even by pseudonym: the receipt number is the reference."""
    admin_room = ctx.admin_room()
    if admin_room is None:
        return
    default = ctx.catalog.default_language
    t = ctx.catalog.text
    lines = [
        t(
            default,
            "erase.protocol",
            receipt=str(receipt),
            date=_date(requested) or "",
            redacted=str(redacted),
            media=str(media),
            failures=str(failures),
        )
    ]
    for w in waiting.values():
        lines.append(
            "– "
            + t(
                default,
                f"erase.protocol.waiting.{w.reason}",
                room=t(default, f"kind.{w.kind}"),
                n=str(w.left),
                until=_date(w.until) or "-",
            )
        )
    await ctx.matrix.send_text(admin_room, "\n".join(lines), txn_id_for(cause, "protocol"))


async def _redact_where_refused(
    ctx: BotContext, subject: str, refused: dict[RoomID, list[EventID]], reason: str
) -> list[EventID]:
    """Where the bot may not redact (a chat the client created), the homeserver redacts the
    client's messages as the client. Returns the events that are now redacted."""
    if not refused or not ctx.settings.homeserver.admin_api:
        return []
    user = await ctx.person(subject)
    if user is None or not user.endswith(f":{ctx.settings.server_name}"):
        return []  # only a local user's events can be redacted in their name
    failed = await ctx.matrix.redact_as_user(user, sorted(refused), reason)
    if failed is None:
        return []
    return [event for events in refused.values() for event in events if event not in failed]


async def resume_postponed_erasures(ctx: BotContext) -> int:
    """Finish the parts of erasures that waited: a legal hold or a documentation duty that has
    ended, or redactions the homeserver refused before. Returns how many rooms were done."""
    done = 0
    reason = ctx.catalog.text(ctx.catalog.default_language, "erase.reason")
    for subject, room, receipt in await ctx.consent.due_erasures(now_ms()):
        events = await ctx.consent.events_of(subject, [room])
        kind = await ctx.state.room_kind(room) or "consultation"
        reason_now = await ctx.consent.pending_reason(subject, room)
        kept = await _kept_until(ctx, room, kind, events)
        if kept is not None:  # a hold ended, but a documentation duty still binds
            await ctx.consent.reschedule_pending_erasure(
                subject, room, receipt, reason="min_age", not_before=kept, new_failures=0
            )
            continue
        redacted, refused, media, _failed = await _redact_all(ctx, subject, room, events, reason)
        await ctx.consent.count_media(receipt, media)
        if refused:
            attempts = await ctx.consent.pending_attempts(subject, room)
            wait = min(RETRY_MAX_MS, RETRY_MS * 2**attempts)
            # Refusals of a part that waited for a hold or a duty are new failures on the receipt.
            new = len(refused) if reason_now != "retry" else 0
            await ctx.consent.reschedule_pending_erasure(
                subject, room, receipt, reason="retry", not_before=now_ms() + wait, new_failures=new
            )
            await ctx.consent.count_redacted(receipt, len(redacted), recovered=reason_now == "retry")
            log.info("postponed erasure (receipt %d): %d messages still refused", receipt, len(refused))
            continue
        finished = await ctx.consent.finish_pending_erasure(subject, room, len(redacted))
        if finished:
            await ctx.consent.erase_subject(subject, keep_rooms=[])
            await ctx.consent.unlink_receipts(subject)
        admin_room = ctx.admin_room()
        if admin_room is not None:
            text = ctx.catalog.text(
                ctx.catalog.default_language,
                "erase.protocol.resumed",
                receipt=str(receipt),
                redacted=str(len(redacted)),
            )
            await ctx.matrix.send_text(admin_room, text, txn_id_for(f"resume:{receipt}", room))
        log.info("postponed erasure (receipt %d): %d more messages redacted", receipt, len(redacted))
        done += 1
    return done

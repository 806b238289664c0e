"""Admin-room commands for retention: policies, assignments, dry run, sweep, report."""

from __future__ import annotations

from bot.commands.handlers.arguments import room_argument
from bot.commands.types import CommandError, Reply, Request
from bot.context import BotContext
from bot.ids import RoomID, txn_id_for
from bot.retention import report as retention_report
from bot.retention import service
from bot.retention.policy import Policy, format_duration
from bot.retention.resolve import resolve
from bot.retention.sweeper import plan, room_refs
from bot.roomnames import describe


async def _describe(ctx: BotContext, language: str, policy: Policy, default: bool) -> str:
    t = ctx.catalog.text
    parts = [t(language, "policy.line", name=policy.name, max_age=format_duration(policy.max_age))]
    if policy.min_age:
        parts.append(t(language, "policy.min_age", age=format_duration(policy.min_age)))
    if policy.media_max_age:
        parts.append(t(language, "policy.media", age=format_duration(policy.media_max_age)))
    # Rooms a policy file names by ID are shown by name; aliases are names already.
    rooms = [await describe(ctx, RoomID(r), language) if r.startswith("!") else r for r in policy.rooms]
    scope = [t(language, f"kind.{k}") for k in policy.room_kinds] + rooms
    if default:
        scope.append(t(language, "policy.default"))
    if scope:
        parts.append("→ " + ", ".join(scope))
    return " ".join(parts)


async def list_policies(ctx: BotContext, req: Request) -> Reply:
    t = ctx.catalog.text
    current = ctx.policies.current
    lines = [t(req.language, "policy.list.header", files=", ".join(current.files) or "–")]
    for policy in current.policies.values():
        lines.append("• " + await _describe(ctx, req.language, policy, policy.name == current.default))
    if not current.policies:
        lines.append(t(req.language, "policy.none"))
    if ctx.policies.error is not None:
        e = ctx.policies.error
        lines.append(
            t(req.language, "retention.policy_error", file=e.path.name, line=str(e.line), reason=e.reason)
        )
    return Reply("\n".join(lines))


async def show_policy(ctx: BotContext, req: Request) -> Reply:
    if not req.args:
        return await list_policies(ctx, req)
    current = ctx.policies.current
    policy = current.policies.get(req.args[0])
    if policy is None:
        raise CommandError("policy.unknown", name=req.args[0][:40], names=", ".join(current.policies) or "–")
    text = await _describe(ctx, req.language, policy, policy.name == current.default)
    extra = ctx.catalog.text(
        req.language, "policy.details", source=policy.source, description=policy.description or "–"
    )
    return Reply(f"{text}\n{extra}")


async def _known_room(ctx: BotContext, req: Request, typed: str) -> tuple[RoomID, str]:
    """The room an argument names (ID, alias, case number or name) and its kind; a room Lotse
    is not in is refused with what to type instead."""
    room = await room_argument(ctx, typed, req.language)
    kind = ctx.configured_rooms.get(room) or await ctx.state.room_kind(room)
    if kind is None:
        raise CommandError("retention.room_unknown", room=" ".join(typed.split())[:60])
    return room, kind


async def room_policy(ctx: BotContext, req: Request) -> Reply:
    room, kind = await _known_room(ctx, req, " ".join(req.args) if req.args else req.room_id)
    resolution = resolve(
        room, kind, ctx.policies.current, await ctx.retention.assignments(), await room_refs(ctx, room)
    )
    t = ctx.catalog.text
    label = await describe(ctx, room, req.language)
    why = t(req.language, f"why.{resolution.reason}", kind=t(req.language, f"kind.{kind}"))
    if resolution.policy is None:
        return Reply(t(req.language, "retention.room_none", room=label, why=why))
    lines = [
        t(req.language, "retention.room_policy", room=label, policy=resolution.policy.name, why=why),
        await _describe(ctx, req.language, resolution.policy, False),
    ]
    from bot.retention.sweeper import now_ms

    held = await ctx.consent.hold_until(room, now_ms(ctx))
    if held is not None:
        import datetime as dt

        until = dt.datetime.fromtimestamp(held / 1000, dt.UTC).date().isoformat()
        lines.append(t(req.language, "retention.room_held", until=until))
    return Reply("\n".join(lines))


async def assign(ctx: BotContext, req: Request) -> Reply:
    if len(req.args) < 2:
        raise CommandError("assign.usage")
    # The policy is the last word; everything before it names the room ("Lotse Admin kurz").
    room, _ = await _known_room(ctx, req, " ".join(req.args[:-1]))
    name = req.args[-1]
    before = (await ctx.retention.assignments()).get(room)
    if name.casefold() in ("-", "aus", "off", "keine", "none") and name not in ctx.policies.current.policies:
        await ctx.retention.assign(room, None, ctx.subject(req.sender))
        after = None
    else:
        if name not in ctx.policies.current.policies:
            raise CommandError(
                "policy.unknown", name=name[:40], names=", ".join(ctx.policies.current.policies)
            )
        await ctx.retention.assign(room, name, ctx.subject(req.sender))
        after = name
    await ctx.retention.audit(ctx.subject(req.sender), "assign", room, before, after)
    ctx.scheduler.trigger("sweep")  # the room's notice and state follow the new policy
    return Reply(
        ctx.catalog.text(
            req.language,
            "assign.done",
            room=await describe(ctx, room, req.language),
            before=before or "–",
            after=after or "–",
        )
    )


async def dry_run(ctx: BotContext, req: Request) -> Reply:
    t = ctx.catalog.text
    lines = [t(req.language, "dryrun.header")]
    total = 0
    for p in await plan(ctx):
        kind = t(req.language, f"kind.{p.kind}")
        if p.resolution.policy is None:
            continue
        if p.held_until is not None:
            lines.append(
                t(req.language, "dryrun.held", room=await describe(ctx, p.room_id, req.language), kind=kind)
            )
            continue
        if p.expired or p.media_expired:
            lines.append(
                t(
                    req.language,
                    "dryrun.line",
                    room=await describe(ctx, p.room_id, req.language),
                    kind=kind,
                    policy=p.resolution.policy.name,
                    n=str(p.expired),
                    media=str(p.media_expired),
                )
            )
            total += p.expired
    lines.append(t(req.language, "dryrun.total", n=str(total)))
    return Reply("\n".join(lines))


async def sweep_now(ctx: BotContext, req: Request) -> Reply:
    """Starts a sweep in the background (the bot keeps answering meanwhile) and reports when
    it is done; one sweep at a time."""
    if ctx.sweep_lock.locked():
        return Reply(ctx.catalog.text(req.language, "sweep.running"))
    await ctx.sweep_lock.acquire()
    ctx.scheduler.spawn("sweep", _sweep_and_report(ctx, req))
    return Reply(ctx.catalog.text(req.language, "sweep.started"))


async def _sweep_and_report(ctx: BotContext, req: Request) -> None:
    from bot.retention.sweeper import sweep

    try:
        result = await sweep(ctx, "command")
    finally:
        ctx.sweep_lock.release()
    await ctx.retention.audit(ctx.subject(req.sender), "sweep", None, None, {"run": result.run})
    text = ctx.catalog.text(
        req.language,
        "sweep.done",
        run=str(result.run),
        redacted=str(result.redacted),
        media=str(result.media_deleted),
        failures=str(result.failures),
    )
    await ctx.matrix.send_text(
        req.room_id, text, txn_id_for(req.event_id, "sweep-done"), reply_to=req.event_id
    )


async def show_report(ctx: BotContext, req: Request) -> Reply:
    days = 30
    if req.args:
        if not (req.args[0].isascii() and req.args[0].isdigit()):
            raise CommandError("report.bad_days", word=req.args[0][:20])
        days = max(1, min(int(req.args[0]), 3650))
    report = await retention_report.build(ctx, days)
    return Reply(retention_report.render(ctx, report, req.language))


async def reload_retention(ctx: BotContext, req: Request) -> str:
    """One line for the reload command's answer."""
    error = await service.reload(ctx)
    t = ctx.catalog.text
    if error is None:
        await ctx.retention.audit(
            ctx.subject(req.sender), "reload", "retention", None, list(ctx.policies.current.policies)
        )
        ctx.scheduler.trigger("sweep")
        return t(req.language, "reload.retention_ok", n=str(len(ctx.policies.current.policies)))
    return t(
        req.language,
        "reload.retention_failed",
        file=error.path.name,
        line=str(error.line),
        reason=error.reason,
    )

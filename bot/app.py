"""Lotse at run time: wires store, homeserver and handlers together and runs the loops.

Two loops run side by side:

- the **sync loop** long-polls the homeserver, turns each sync into a batch of plain values
  (back-filling timelines the server cut short) and puts the batch on a bounded queue. It
  never waits for a handler, so a slow command cannot delay the next sync. While it fetches a
  room's gap (after downtime), the rooms before it are already on the queue, without a token;
- the **worker** takes batches in order, records the metadata of a batch's events in one
  write, handles each event, and only then stores the sync token of a sync's last batch. A
  crash therefore re-delivers at most the last batches, and events already handled are skipped
  through the ``handled_event`` table (looked up once per batch), so nothing is answered twice
  and nothing is lost.

On the very first start the bot syncs once without handling any message: the rooms' history
is not replayed as commands.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import gc
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import MegolmEvent, RoomCreateEvent, SyncResponse

from bot import adminalerts, roomrefs
from bot.cases import lifecycle as cases
from bot.commands.dispatch import client_rights_command, handle_message, is_command
from bot.commands.registry import COMMANDS, CommandTable
from bot.commands.types import Reply
from bot.config import Settings
from bot.consent import runtime
from bot.consent.notices import NoticeHolder
from bot.consent.rights import resume_postponed_erasures
from bot.context import BotContext, MatrixPort
from bot.health import SyncState, health
from bot.i18n import Catalog
from bot.ids import EventID, RoomID, UserID, txn_id_for
from bot.invites import decide_invite
from bot.keyfiles import private_dir, refuse_exposed
from bot.matrix.client import FIRST_SYNC_FILTER, MatrixGateway
from bot.matrix.crosssign import CrossSigner
from bot.matrix.events import (
    Incoming,
    IncomingInvite,
    IncomingMembership,
    IncomingMessage,
    IncomingReaction,
    RecordedIn,
    Undecryptable,
    convert,
    invites,
    recorded,
)
from bot.office import service as office
from bot.onboarding import service as onboarding
from bot.pseudonym import Pseudonymizer, load_or_create_key
from bot.render import to_html
from bot.retention import service as retention
from bot.retention.policy import PolicyHolder
from bot.retention.sweeper import scheduled_sweep
from bot.roles import Role, RoleResolver
from bot.roomrefs import ConfiguredRefs
from bot.scheduler import Job
from bot.sealing import Sealer, load_or_create_seal_key
from bot.stats import delivery as stats_delivery
from bot.store.consent import ConsentStore, EventMeta
from bot.store.db import Database
from bot.store.retention import RetentionStore
from bot.store.state import StateStore
from bot.store.stats import StatsStore
from bot.web.health import HealthServer
from bot.web.joinpage import JoinPageServer

log = logging.getLogger(__name__)

SYNC_TOKEN = "sync_token"  # noqa: S105 - a key name, not a secret
FILTER_ID = "sync_filter_id"
FILTER_HASH = "sync_filter_hash"
# Keep handled-event markers long enough to cover any realistic downtime.
# Leaving a room is reported without an event of ours to point at.
_NO_EVENT = EventID("$none")
HANDLED_KEEP_MS = 30 * 24 * 3600 * 1000
# At most this many events wait for keys at once: a flood of undecryptable events (a broken
# client, an attacker) must not grow memory and the store without bound.
MAX_WAITING_FOR_KEYS = 500
# How many batches the worker may run ahead of the last saved sync token while invitations
# are handled beside it (a bound on what a crash makes it handle again).
SAVES_AHEAD = 256
# After a sync that brought this many items (a message is two: its metadata and itself), freed
# memory is handed back to the system.
RELEASE_AFTER_ITEMS = 2000


def build_context(
    s: Settings,
    db: Database,
    matrix: MatrixPort,
    roles: RoleResolver,
    configured: dict[RoomID, str],
    pseudonyms: Pseudonymizer,
) -> BotContext:
    return BotContext(
        settings=s,
        catalog=Catalog(s.default_language, languages=s.languages),
        state=StateStore(db),
        pseudonyms=pseudonyms,
        roles=roles,
        matrix=matrix,
        consent=ConsentStore(db),
        sealer=Sealer(load_or_create_seal_key(s.data_dir / "keys" / "seal.key")),
        consent_notices=_texts(s.policies_dir / "consent"),
        worker_rules=_texts(s.policies_dir / "worker-rules"),
        retention=RetentionStore(db),
        policies=PolicyHolder(s.policies_dir),
        stats=StatsStore(db),
        configured_rooms=configured,
        freeze_in_child=True,
    )


def _texts(directory: Path) -> NoticeHolder:
    holder = NoticeHolder(directory, ("de", "en"))
    error = holder.reload()
    if error is not None:
        raise error
    return holder


# Event kinds as the metrics count them (a fixed set: never anything about the event itself).
_EVENT_KINDS: dict[type, str] = {
    IncomingInvite: "invite",
    RecordedIn: "recorded",
    IncomingMessage: "message",
    IncomingReaction: "reaction",
    IncomingMembership: "membership",
    Undecryptable: "undecryptable",
}


def _has_gap(timeline: Any) -> bool:
    """Whether a sync's timeline of a room skipped events the bot must fetch.

    Synapse marks the timeline of a room the bot has just joined as limited even when it holds
    the room's whole history. A timeline that begins with the room's creation has nothing
    before it: the auth rules admit an ``m.room.create`` event only as a room's first event.
    Fetching anyway cost two history requests per new chat, which during a burst of
    invitations slowed every answer on the homeserver (bench_joins)."""
    if not (timeline.limited and timeline.prev_batch):
        return False
    return not (timeline.events and isinstance(timeline.events[0], RoomCreateEvent))


def _release_memory() -> None:
    """Hand freed memory back to the system after a large burst (a first sync's state of every
    room, a catch-up's pages): without it glibc keeps the freed pages, and the bot's resident
    size stays at its peak for good."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _mark_handled(ctx: BotContext, event_id: EventID) -> None:
    """Remember an event as handled, without waiting for the commit: the writer commits in
    order, so the mark lands no later than the sync token that would stop a re-delivery, and
    a commit per message would be the bot's slowest step."""
    ctx.state.mark_handled(event_id).add_done_callback(_retrieved)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # the writer has logged it; the event is handled again after a restart


def s_minutes(minutes: float) -> float:
    return minutes * 60.0


@dataclass
class Batch:
    items: list[Incoming]
    token: str | None


@dataclass
class _Waiting:
    room_id: RoomID
    event: MegolmEvent
    since: float = field(default_factory=time.monotonic)


class Lotse:
    def __init__(self, settings: Settings, *, table: CommandTable = COMMANDS) -> None:
        self.settings = settings
        self.table = table
        self.data_dir = settings.data_dir
        self.queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=64)
        # Invitations are handled one at a time, in the order they came, beside everything else.
        # Side by side (four at a time) they greeted no one sooner on a busy homeserver, which
        # is what limits a burst, but every answer queued there behind their joins: `hilfe`
        # during a burst of 60 took 3.5x a bare bot's time; one at a time about 1.1x (bench_joins).
        self._last_inviting: asyncio.Future[None] | None = None
        self._invites_in_flight = 0
        # Sync tokens waiting to be saved (after their batch's invitations), oldest first.
        self._saves: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last_save: asyncio.Future[None] | None = None
        self._waiting: dict[str, _Waiting] = {}
        self.ready = asyncio.Event()
        self.ctx: BotContext | None = None
        self.gateway: MatrixGateway | None = None
        self.db: Database | None = None
        self.join_page: JoinPageServer | None = None
        self.refs = ConfiguredRefs({})
        # Monitoring: /health and /metrics (bot/web/health.py), and what they read.
        self.health_server: HealthServer | None = None
        self.health_url: str | None = None
        self.last_sync = time.monotonic()
        self._syncer: asyncio.Task[None] | None = None

    # -- start-up --------------------------------------------------------------------------

    async def _open(self) -> tuple[BotContext, MatrixGateway, Database]:
        s = self.settings
        private_dir(self.data_dir)
        self.data_dir.chmod(0o700)
        refuse_exposed(self.data_dir, [s.pseudonym_key_file] if s.pseudonym_key_file else [])
        db = await Database.open_store(s)
        try:
            return await self._open_on(db)
        except BaseException:
            # Else the store's thread (and the homeserver session) keep the process alive after
            # the error was said, and a service manager never sees it stop.
            if self.gateway is not None:
                with contextlib.suppress(Exception):
                    await self.gateway.close()
            await db.close()
            raise

    async def _open_on(self, db: Database) -> tuple[BotContext, MatrixGateway, Database]:
        s = self.settings
        await db.migrate()
        db.start_writer()
        self.db = db
        key_file = s.pseudonym_key_file or (self.data_dir / "keys" / "pseudonym.key")
        pseudonyms = Pseudonymizer(load_or_create_key(key_file))
        gateway = MatrixGateway.from_settings(s)
        self.gateway = gateway
        await gateway.connect()

        # Configured rooms named by alias are checked (creator, pin) before they are used, and
        # tried again in the background until they resolve (bot/roomrefs.py).
        self.refs = ConfiguredRefs.from_settings(s)
        roles = RoleResolver(
            workers=[UserID(u) for u in s.roles.workers],
            admins=[UserID(u) for u in s.roles.admins],
            worker_rooms=[],
            admin_rooms=[],
            members=gateway.roster_members,
        )
        ctx = build_context(s, db, gateway, roles, {}, pseudonyms)
        self.ctx = ctx
        ctx.scheduler.observer = ctx.metrics.job_finished
        ctx.metrics.track(
            queue_depth=self.queue.qsize,
            waiting_for_keys=lambda: len(self._waiting),
            sync_age=lambda: time.monotonic() - self.last_sync,
            store_writable=lambda: 0.0 if db.trouble else 1.0,
        )
        await roomrefs.refresh(ctx, self.refs, alert=False)
        return ctx, gateway, db

    async def _cross_sign(self, gateway: MatrixGateway) -> None:
        signer = CrossSigner(
            gateway,
            gateway.user_id,
            gateway.device_id,
            self.data_dir / "keys" / "cross_signing.json",
            gateway.password,
            gateway.identity_keys(),
        )
        log.info("cross-signing: %s", await signer.ensure())

    # -- main loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        # Every file the bot or its libraries write (the encryption store and its journals
        # included) is readable by the bot's user only.
        os.umask(0o077)
        ctx, gateway, db = await self._open()
        self._watch_store(ctx, db)
        self._watch_homeserver(ctx, gateway)
        worker: asyncio.Task[None] | None = None
        syncer: asyncio.Task[None] | None = None
        try:
            token = await ctx.state.get(SYNC_TOKEN)
            if token is None:
                # First start: take the current position without replaying history. Pending
                # invitations are still answered; the token is saved once they are.
                token = await self._first_sync(gateway)
            else:
                await gateway.crypto_housekeeping()
            await self._cross_sign(gateway)
            if self.settings.homeserver.admin_api:
                await gateway.exempt_from_rate_limits()
            filter_id, digest = await gateway.upload_filter(
                self.settings.sync_timeline_limit,
                await ctx.state.get(FILTER_ID),
                await ctx.state.get(FILTER_HASH),
            )
            await ctx.state.put(FILTER_ID, filter_id)
            await ctx.state.put(FILTER_HASH, digest)
            await ctx.state.forget_handled_before(int(time.time() * 1000) - HANDLED_KEEP_MS)

            await retention.register_rooms(ctx, [RoomID(r) for r in gateway.client.rooms])
            await self._reload_waiting(ctx, gateway)
            await retention.load_at_start(ctx)
            if self.settings.onboarding.page:
                self.join_page = JoinPageServer(ctx)
                ctx.join_page_url = await self.join_page.start()
            if self.settings.health.enabled:
                self.health_server = HealthServer(
                    self.settings.health.bind,
                    self.settings.health.port,
                    ctx.metrics,
                    lambda: health(ctx, self.sync_state()),
                )
                self.health_url = await self.health_server.start()
            ctx.scheduler.start(Job("backfill", 3600, lambda: retention.backfill(ctx), first_delay=1))
            ctx.scheduler.start(
                Job(
                    "sweep",
                    s_minutes(self.settings.retention.sweep_minutes),
                    lambda: scheduled_sweep(ctx),
                    # Soon after a start (a crash loop must not prevent sweeps), not at once.
                    first_delay=min(s_minutes(self.settings.retention.sweep_minutes), 300),
                )
            )
            ctx.scheduler.start(
                Job("leadership report", 300, lambda: stats_delivery.scheduled(ctx), first_delay=30)
            )
            ctx.scheduler.start(
                Job(
                    "erasures",
                    s_minutes(self.settings.consent.erasure_check_minutes),
                    lambda: resume_postponed_erasures(ctx),
                )
            )
            ctx.scheduler.start(
                Job("invitations", 3600, lambda: onboarding.close_expired(ctx), first_delay=60)
            )
            # Notifications kept while a worker asked for quiet go out when their hours begin.
            ctx.scheduler.start(
                Job("held notifications", 60, lambda: office.deliver_held(ctx), first_delay=20)
            )
            if self.refs.aliases:
                every = s_minutes(self.settings.rooms.alias_retry_minutes)
                ctx.scheduler.start(
                    Job(
                        "room aliases",
                        every,
                        lambda: roomrefs.refresh(ctx, self.refs),
                        # Soon: a refused room is reported once the first sync has run.
                        first_delay=min(every, 30),
                    )
                )
            _release_memory()  # what the start-up read (a first sync's state) is gone now
            worker = asyncio.create_task(self._work(ctx, gateway), name="lotse-worker")
            syncer = asyncio.create_task(self._sync_loop(gateway, token, filter_id), name="lotse-sync")
            self._syncer = syncer
            self.ready.set()
            log.info("Lotse is running as device %s", gateway.device_id)
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({stopper, syncer, worker}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await ctx.scheduler.stop()
            if self.join_page is not None:
                await self.join_page.stop()
            if self.health_server is not None:
                await self.health_server.stop()
            if syncer is not None:
                syncer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await syncer
            if worker is not None and not worker.done():
                # Let the worker finish what was synced, so its token is saved.
                await self.queue.put(None)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(worker, timeout=30)
            await gateway.close()
            await db.close()
            log.info("Lotse stopped")

    @staticmethod
    def _watch_store(ctx: BotContext, db: Database) -> None:
        """A store that takes no writes stalls the bot (nothing is lost); the admins are told."""
        spell = [0]

        def unwritable(reason: str) -> None:
            spell[0] = int(time.time() * 1000)
            ctx.metrics.failure("store")
            ctx.scheduler.spawn("store alert", adminalerts.unwritable(ctx, reason, spell[0]))

        def writable_again(reason: str, held_s: float) -> None:
            ctx.scheduler.spawn("store alert", adminalerts.writable_again(ctx, reason, held_s, spell[0]))

        db.on_trouble = unwritable
        db.on_recovered = writable_again

    @staticmethod
    def _watch_homeserver(ctx: BotContext, gateway: MatrixGateway) -> None:
        """After a long outage the admins learn how long the bot waited (it caught up since)."""

        def back(away_s: float) -> None:
            if away_s >= ctx.settings.homeserver.outage_notice_seconds:
                now_ms = int(time.time() * 1000)
                ctx.scheduler.spawn("outage notice", adminalerts.homeserver_back(ctx, away_s, now_ms))

        gateway.on_back_online = back

    async def _first_sync(self, gateway: MatrixGateway) -> str:
        """The current position, without replaying history; pending invitations are still
        answered (the token is saved once they are). A method of its own so that the response,
        the whole state of every room, is not kept alive by the caller."""
        first = await gateway.sync(None, FIRST_SYNC_FILTER, 0)
        self.queue.put_nowait(Batch(list(invites(first, gateway.user_id)), first.next_batch))
        log.info("first start: %d rooms, no history replayed", len(first.rooms.join))
        return str(first.next_batch)

    async def _sync_loop(self, gateway: MatrixGateway, token: str, filter_id: str) -> None:
        while True:
            resp = await gateway.sync(token, filter_id, 30_000)
            self.last_sync = time.monotonic()
            if self.ctx is not None:
                self.ctx.metrics.syncs.inc()
            items = await self._collect(gateway, resp, token)
            await self.queue.put(Batch(items, resp.next_batch))
            token = resp.next_batch

    def sync_state(self) -> SyncState:
        running = self._syncer is not None and not self._syncer.done()
        return SyncState(running, time.monotonic() - self.last_sync)

    async def _collect(self, gateway: MatrixGateway, resp: SyncResponse, since: str) -> list[Incoming]:
        items: list[Incoming] = list(invites(resp, gateway.user_id))
        seen: set[str] = set()
        # Rooms with a gap to fetch last: a command elsewhere does not wait for the fetching.
        rooms = sorted(resp.rooms.join.items(), key=lambda room: _has_gap(room[1].timeline))
        for room_id_str, info in rooms:
            room_id = RoomID(room_id_str)
            events: list[Any] = list(info.timeline.events)
            if _has_gap(info.timeline):
                if items:
                    # The worker starts on the rooms before this one while its gap is fetched
                    # (no token here: that comes with the sync's last batch, once all are in).
                    await self.queue.put(Batch(items, None))
                    items = []
                gap = await gateway.backfill(room_id, info.timeline.prev_batch, since)
                if gap:
                    log.info("back-filled %d events in %s after a limited sync", len(gap), room_id)
                events = gap + events
            for event in events:
                if event.event_id in seen:
                    continue
                seen.add(event.event_id)
                meta = recorded(event)
                if meta is not None:
                    items.append(RecordedIn(room_id, meta))
                value = convert(room_id, event)
                if isinstance(value, Undecryptable):
                    if self._wait_for_key(RoomID(room_id), event):
                        # Ask the sender's devices for the key now; most arrive in seconds.
                        await gateway.request_key(event)
                    continue
                if value is not None:
                    items.append(value)
        items.extend(self._retry_decryption(gateway))
        for room_id_str in resp.rooms.leave:
            items.append(IncomingMembership(RoomID(room_id_str), _NO_EVENT, gateway.user_id, "leave"))
        return items

    def _wait_for_key(self, room_id: RoomID, event: MegolmEvent, since_ms: int | None = None) -> bool:
        """Remember an event to decrypt once its key arrives; True if it is new."""
        if event.event_id in self._waiting:
            return False
        if len(self._waiting) >= MAX_WAITING_FOR_KEYS:
            log.warning(
                "not waiting for the key of event %s: %d events wait already",
                event.event_id,
                len(self._waiting),
            )
            return False
        age_s = 0.0 if since_ms is None else max(0.0, time.time() - since_ms / 1000)
        self._waiting[event.event_id] = _Waiting(room_id, event, time.monotonic() - age_s)
        if since_ms is None:
            log.warning("cannot decrypt event %s in %s yet; waiting for its key", event.event_id, room_id)
            if self.ctx is not None:  # kept across a restart (IDs only; fetched again then)
                self.ctx.state.add_waiting_key(EventID(event.event_id), room_id, int(time.time() * 1000))
        return True

    def _done_waiting(self, event_id: str) -> None:
        del self._waiting[event_id]
        if self.ctx is not None:
            self.ctx.state.drop_waiting_key(EventID(event_id))

    async def _reload_waiting(self, ctx: BotContext, gateway: MatrixGateway) -> None:
        """The events that waited for keys before a restart: fetched again (no content was kept)."""
        for event_id, room_id, since in await ctx.state.waiting_keys():
            event = await gateway.fetch_event(room_id, event_id)
            if isinstance(event, MegolmEvent):
                self._wait_for_key(room_id, event, since)
            else:
                ctx.state.drop_waiting_key(event_id)
        if self._waiting:
            log.info("%d events from before the restart still wait for their keys", len(self._waiting))

    def _retry_decryption(self, gateway: MatrixGateway) -> list[Incoming]:
        recovered: list[Incoming] = []
        now = time.monotonic()
        for event_id, waiting in list(self._waiting.items()):
            try:
                event = gateway.client.decrypt_event(waiting.event)
            except Exception:  # nio raises EncryptionError while the key is missing
                event = None
            value = convert(waiting.room_id, event) if event is not None else None
            if value is not None and not isinstance(value, Undecryptable):
                recovered.append(value)
                self._done_waiting(event_id)
            elif now - waiting.since > self.settings.undecryptable_patience_seconds:
                log.warning("giving up on undecryptable event %s", event_id)
                self._done_waiting(event_id)
                # The worker asks the person to send it again (where the bot is spoken to).
                gave_up = convert(waiting.room_id, waiting.event)
                if isinstance(gave_up, Undecryptable):
                    recovered.append(gave_up)
        return recovered

    # -- handling --------------------------------------------------------------------------

    async def _work(self, ctx: BotContext, gateway: MatrixGateway) -> None:
        handled = 0
        while True:
            batch = await self.queue.get()
            if batch is None:
                await self._drain_saves()
                return
            await self._handle_batch(ctx, gateway, batch)
            handled += len(batch.items)
            if batch.token is not None and handled >= RELEASE_AFTER_ITEMS:
                _release_memory()  # after a catch-up: its pages are gone, give the memory back
            if batch.token is not None:
                handled = 0

    async def _handle_batch(self, ctx: BotContext, gateway: MatrixGateway, batch: Batch) -> None:
        # Metadata of every message-like event, never its body, readable or not: what retention
        # and erasure work from. One write for the batch, not awaited: the writer commits in
        # order, so it lands before the batch's sync token below.
        rows = [self._meta(ctx, item) for item in batch.items if isinstance(item, RecordedIn)]
        if rows:
            ctx.consent.record_events(rows)
        # Which events a run before a crash handled already: one query for the batch.
        handled = await ctx.state.handled_among(
            item.event_id
            for item in batch.items
            if isinstance(item, IncomingMessage | IncomingReaction | IncomingMembership)
            and item.event_id != _NO_EVENT
        )
        # Invitations take several round trips each (join, check the room, start the intake):
        # handled beside the rest, so that a command never waits behind a burst of them.
        invites = [item for item in batch.items if isinstance(item, IncomingInvite)]
        inviting: asyncio.Future[None] | None = None
        if invites:
            # Counted now, not when they first run: a batch of nothing but invitations must not
            # wait for its own token below.
            self._invites_in_flight += 1
            inviting = asyncio.ensure_future(self._invite_in_turn(ctx, gateway, self._last_inviting, invites))
            self._last_inviting = inviting
        for item in batch.items:
            if isinstance(item, IncomingInvite):
                continue
            if isinstance(item, RecordedIn):
                ctx.metrics.event("recorded", item.meta.timestamp_ms)
                continue
            if (
                isinstance(item, IncomingMessage | IncomingReaction | IncomingMembership)
                and item.event_id in handled
            ):
                ctx.metrics.event(_EVENT_KINDS.get(type(item), "other"), None)
                continue
            try:
                await self._handle(ctx, gateway, item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling %s failed", type(item).__name__)
                ctx.metrics.failure("handler")
        # An invitation is not in a later sync again: the token is saved once each one was
        # handled (and after the tokens before it). Meanwhile the worker goes on with the next
        # batches, so that commands do not wait behind a burst of invitations; without
        # invitations in flight it waits for the token as always, which is what stops the bot
        # when the store takes no writes.
        self._last_save = asyncio.ensure_future(self._save_token(ctx, self._last_save, inviting, batch.token))
        self._saves.append(self._last_save)
        while self._saves and (len(self._saves) > SAVES_AHEAD or not self._invites_in_flight):
            await self._saves.popleft()

    async def _save_token(
        self,
        ctx: BotContext,
        previous: asyncio.Future[None] | None,
        inviting: asyncio.Future[None] | None,
        token: str | None,
    ) -> None:
        if previous is not None:
            await previous
        if inviting is not None:
            await inviting
        if token is not None:
            # Everything queued before it (metadata, handled marks) is committed with it.
            await ctx.state.put(SYNC_TOKEN, token)

    async def _drain_saves(self) -> None:
        while self._saves:
            await self._saves.popleft()

    async def _invite_in_turn(
        self,
        ctx: BotContext,
        gateway: MatrixGateway,
        before: asyncio.Future[None] | None,
        invites: list[IncomingInvite],
    ) -> None:
        """A batch's invitations, after the earlier batches' ones (each inviter's chats open in
        the order they were asked for)."""
        try:
            if before is not None:
                await before  # never raises but on cancellation: each failure is logged below
            for invite in invites:
                try:
                    await self._handle(ctx, gateway, invite)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("handling an invitation failed")
                    ctx.metrics.failure("handler")
        finally:
            self._invites_in_flight -= 1

    @staticmethod
    def _meta(ctx: BotContext, item: RecordedIn) -> EventMeta:
        meta = item.meta
        return EventMeta(
            meta.event_id, item.room_id, ctx.subject(meta.sender), meta.timestamp_ms, meta.type, meta.media
        )

    async def _handle(self, ctx: BotContext, gateway: MatrixGateway, item: Incoming) -> None:
        ctx.metrics.event(
            _EVENT_KINDS.get(type(item), "other"),
            item.meta.timestamp_ms if isinstance(item, RecordedIn) else None,
        )
        if isinstance(item, IncomingInvite):
            await self._on_invite(ctx, gateway, item)
            return
        if isinstance(item, IncomingMessage):
            await self._on_message(ctx, gateway, item)
        elif isinstance(item, Undecryptable):
            await self._ask_to_resend(ctx, gateway, item)
        elif isinstance(item, IncomingReaction):
            await self._on_reaction(ctx, gateway, item)
        elif isinstance(item, IncomingMembership):
            await self._on_membership(ctx, gateway, item)

    async def _ask_to_resend(self, ctx: BotContext, gateway: MatrixGateway, item: Undecryptable) -> None:
        """A message the bot never got the key for: in a chat with the bot (where it was meant
        for the bot), ask the person to send it again; at most once an hour per chat."""
        if item.sender == gateway.user_id or await self._room_kind(ctx, item.room_id) not in (
            "intake",
            "direct",
        ):
            return
        lang = await ctx.language_of(item.sender) or ctx.catalog.default_language
        hour = str(int(time.time() // 3600))
        await gateway.send_text(
            item.room_id,
            ctx.catalog.text(lang, "dispatch.undecryptable"),
            txn_id_for(item.room_id, "resend", hour),
        )

    async def _room_kind(self, ctx: BotContext, room_id: RoomID) -> str:
        return ctx.configured_rooms.get(room_id) or await ctx.state.room_kind(room_id) or "group"

    async def _on_invite(self, ctx: BotContext, gateway: MatrixGateway, invite: IncomingInvite) -> None:
        decision = decide_invite(
            room_id=invite.room_id,
            inviter=invite.inviter,
            is_direct=invite.is_direct,
            own_server=ctx.settings.server_name,
            inviter_roles=await ctx.roles.roles(invite.inviter),
            configured_rooms=ctx.configured_rooms,
        )
        lang = await ctx.language_of(invite.inviter) or ctx.catalog.default_language
        if not decision.accept:
            assert decision.reason_key is not None
            log.info(
                "rejecting invite to %s from %s: %s",
                invite.room_id,
                ctx.log_tag(invite.inviter),
                decision.reason_key,
            )
            await gateway.leave(invite.room_id, ctx.catalog.text(lang, decision.reason_key))
            return
        assert decision.room_kind is not None
        if not await gateway.join(invite.room_id):
            return
        await ctx.state.set_room_kind(invite.room_id, decision.room_kind)
        ctx.scheduler.trigger("backfill")
        log.info(
            "joined %s room %s (invited by %s)",
            decision.room_kind,
            invite.room_id,
            ctx.log_tag(invite.inviter),
        )
        if decision.room_kind == "intake":
            if await ctx.consent.intake_by_room(invite.room_id) is None:
                await gateway.wait_for_room(invite.room_id)
                problem = await gateway.private_pair_problem(invite.room_id, invite.inviter)
                if problem is None and await runtime.has_open_intake(ctx, invite.inviter):
                    problem = "intake.limit.open"  # one conversation per person: the first one
                if problem is None and await runtime.erasing(ctx, invite.inviter):
                    problem = "intake.erasing"
                if problem is not None:
                    # Counselling starts only where nobody else can read along: say why, leave.
                    log.info("left a would-be intake room: %s", problem)
                    if await ctx.language_of(invite.inviter) is None:
                        text = runtime.in_every_language(ctx, problem)  # no language chosen yet
                    else:
                        text = ctx.catalog.text(lang, problem)
                    await gateway.send_text(invite.room_id, text, txn_id_for(invite.room_id, "not-private"))
                    await gateway.leave(invite.room_id, text)
                    await ctx.state.forget_room(invite.room_id)
                    return
                await runtime.start_intake(
                    ctx,
                    invite.room_id,
                    invite.inviter,
                    worker=None,
                    notify_room=None,
                    client_present=True,
                    # Someone invited may be about to send a pairing code: first hear what they say.
                    announce=not await onboarding.expects_pairing(ctx),
                )
            return
        key = "greeting.direct" if decision.room_kind == "direct" else "greeting.group"
        await gateway.send_text(
            invite.room_id, ctx.catalog.text(lang, key), txn_id_for(invite.room_id, "greeting")
        )

    async def _on_message(self, ctx: BotContext, gateway: MatrixGateway, msg: IncomingMessage) -> None:
        if msg.sender == gateway.user_id or msg.msgtype == "m.notice":
            return  # never answer ourselves or other bots' notices
        kind = await self._room_kind(ctx, msg.room_id)
        if msg.edit:
            # An edited "nein" must not become a "ja", nor an edited word a command: the bot
            # acts on new messages only, and says so where it is one of two in the chat.
            if kind in ("intake", "direct"):
                lang = await ctx.language_of(msg.sender) or ctx.catalog.default_language
                await gateway.send_text(
                    msg.room_id,
                    ctx.catalog.text(lang, "dispatch.edit_ignored"),
                    txn_id_for(msg.event_id, "edit"),
                    reply_to=msg.event_id,
                )
            _mark_handled(ctx, msg.event_id)
            return
        try:
            if kind == "intake" and await self._intake_text(ctx, msg):
                _mark_handled(ctx, msg.event_id)
                return
            if kind == "consultation":
                intake = await ctx.consent.intake_by_consultation(msg.room_id)
                if intake is not None and intake.subject == ctx.subject(msg.sender):
                    if client_rights_command(self.table, msg.body):
                        await self._rights_in_direct(ctx, gateway, msg, intake.room_id)
                        return
                    await runtime.remind_outdated_consent(ctx, intake, msg.event_id)
                    if not msg.body.lstrip().startswith("!"):
                        # No one in (after hours, holiday, the worker away): one answer per
                        # closed spell says when, who stands in, and whom to call if urgent.
                        await office.answer_if_closed(ctx, intake, msg.sender, msg.room_id)
                if not msg.body.lstrip().startswith("!"):
                    # The conversation itself is none of the bot's business.
                    _mark_handled(ctx, msg.event_id)
                    return
            reply = await handle_message(
                ctx,
                self.table,
                sender=msg.sender,
                room_id=msg.room_id,
                room_kind=kind,
                body=msg.body,
                event_id=msg.event_id,
            )
        except Exception:
            log.exception("message in %s failed", msg.room_id)
            lang = await ctx.language_of(msg.sender) or ctx.catalog.default_language
            reply = Reply(ctx.catalog.text(lang, "error.internal"))
        if reply is not None:
            await gateway.send_text(
                msg.room_id,
                reply.text,
                txn_id_for(msg.event_id, "reply"),
                reply_to=msg.event_id,
                html=to_html(reply.text) if reply.markdown else None,
            )
        _mark_handled(ctx, msg.event_id)

    async def _rights_in_direct(
        self, ctx: BotContext, gateway: MatrixGateway, msg: IncomingMessage, direct: RoomID
    ) -> None:
        """A client's rights command in the counselling room is carried out in their 1:1 chat
        (the worker need not read the answer); the counselling room gets a pointer there."""
        reply = await handle_message(
            ctx,
            self.table,
            sender=msg.sender,
            room_id=direct,
            room_kind="intake",
            body=msg.body,
            event_id=msg.event_id,
        )
        if reply is not None:
            html = to_html(reply.text) if reply.markdown else None
            await gateway.send_text(direct, reply.text, txn_id_for(msg.event_id, "reply"), html=html)
        lang = await ctx.language_of(msg.sender) or ctx.catalog.default_language
        await gateway.send_text(
            msg.room_id,
            ctx.catalog.text(lang, "rights.answered_in_direct"),
            txn_id_for(msg.event_id, "pointer"),
            reply_to=msg.event_id,
        )
        _mark_handled(ctx, msg.event_id)

    async def _intake_text(self, ctx: BotContext, msg: IncomingMessage) -> bool:
        """Route a client's text in their intake room to the consent flow; False for commands."""
        intake = await ctx.consent.intake_by_room(msg.room_id)
        if intake is None:
            # After an erasure the person first hears what happened and decides to start again.
            if await runtime.after_erasure(ctx, msg.room_id, msg.body, msg.event_id):
                return True
            await runtime.start_intake(
                ctx, msg.room_id, msg.sender, worker=None, notify_room=None, client_present=True
            )
            return True
        if intake.subject != ctx.subject(msg.sender):
            return True  # only the client talks to the flow here
        if await onboarding.on_client_text(ctx, intake, msg.body, msg.event_id):
            return True  # a pairing code from an invited client
        if is_command(self.table, msg.body, "intake"):
            return False
        if intake.state == "active" and await cases.is_closed(ctx, intake.intake_id):
            await cases.client_writes_after_close(ctx, intake, msg.event_id)
            return True
        await runtime.on_text(ctx, intake, msg.body, msg.event_id)
        return True

    async def _on_reaction(self, ctx: BotContext, gateway: MatrixGateway, item: IncomingReaction) -> None:
        if item.sender == gateway.user_id:
            return
        intake = await ctx.consent.intake_by_room(item.room_id)
        if intake is not None and intake.subject == ctx.subject(item.sender):
            await runtime.on_reaction(ctx, intake, item.key, item.relates_to, item.event_id)
        _mark_handled(ctx, item.event_id)

    async def _on_membership(self, ctx: BotContext, gateway: MatrixGateway, item: IncomingMembership) -> None:
        if item.room_id in ctx.roles.roster_rooms:
            ctx.roles.invalidate(item.room_id)
            left = item.membership in ("leave", "ban") and item.user_id != gateway.user_id
            if left and Role.WORKER not in await ctx.roles.roles(item.user_id):
                await runtime.worker_left(ctx, item.user_id, item.event_id)
        if item.user_id == gateway.user_id:
            if item.membership in ("leave", "ban"):
                await ctx.state.forget_room(item.room_id)
            return
        if item.membership != "join":
            return
        kind = await self._room_kind(ctx, item.room_id)
        subject = ctx.subject(item.user_id)
        if kind == "intake":
            intake = await ctx.consent.intake_by_room(item.room_id)
            if intake is not None and intake.subject == subject:
                await runtime.client_joined(ctx, intake, item.event_id)
        elif kind == "consultation":
            intake = await ctx.consent.intake_by_consultation(item.room_id)
            if intake is not None and intake.subject == subject:
                await runtime.welcome_in_consultation(ctx, intake, item.event_id)
            elif intake is not None:
                # A colleague the case was handed to joined: from now on it is theirs.
                await cases.complete_handover(ctx, intake, item.user_id, item.event_id)
        _mark_handled(ctx, item.event_id)

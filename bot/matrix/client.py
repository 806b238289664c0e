"""The bot's connection to its homeserver: login, E2EE store, sync, sending, raw requests.

Every request goes through :meth:`MatrixGateway.call` or :meth:`MatrixGateway.raw`, which
retry rate limits, server errors and transport errors according to one :class:`RetryPolicy`
(nio's own retrying is switched off so that there is exactly one policy). The sync loop
retries forever: a homeserver that is down is waited for, never given up on.

Login happens once. The session (user, device, token) is kept in the data directory and
restored on every later start, because every password login creates a new device: clients
then warn about an unknown device, and a new device cannot read earlier room keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import io
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinedMembersResponse,
    KeysQueryResponse,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    MessageDirection,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomGetStateResponse,
    RoomMessage,
    RoomMessagesResponse,
    RoomPreset,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomResolveAliasResponse,
    RoomSendResponse,
    RoomVisibility,
    SyncResponse,
    UploadResponse,
)
from nio.exceptions import LocalProtocolError

from bot.config import Settings
from bot.ids import EventID, RoomAlias, RoomID, UserID, txn_id_for
from bot.keyfiles import write_private
from bot.matrix import admin_api
from bot.matrix.cryptostore import WalStore
from bot.matrix.events import MESSAGE_TYPES, Recorded, recorded
from bot.matrix.keyshare import ShareGuard
from bot.matrix.retry import RetryPolicy, is_retryable_status
from bot.render import directional

log = logging.getLogger(__name__)

T = TypeVar("T")

# Timeline event types the bot needs. State types are listed too: a room that turns on
# encryption announces it in the timeline, and missing that would make the bot send in clear.
TIMELINE_TYPES = [
    "m.sticker",
    "m.room.message",
    "m.room.encrypted",
    "m.reaction",
    "m.room.member",
    "m.room.encryption",
    "m.room.create",
    "m.room.power_levels",
    "m.room.name",
    "m.room.tombstone",
    "m.room.retention",
]


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    return {
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": {"limit": timeline_limit, "types": TIMELINE_TYPES},
            "state": {"lazy_load_members": True},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    }


# First start: learn the rooms and the current position, but no history to replay.
FIRST_SYNC_FILTER = sync_filter(1)
# How long the bot's own device keys count as known (see MatrixGateway._spare_own_key_query).
OWN_KEYS_EVERY = 600.0


class MatrixError(Exception):
    """A request failed for good (not retryable, or retries exhausted)."""

    def __init__(self, what: str, status: int | None = None, errcode: str | None = None, detail: str = ""):
        super().__init__(f"{what} failed: {errcode or status or 'transport error'} {detail}".strip())
        self.status = status
        self.errcode = errcode


class SessionLost(RuntimeError):
    """The stored access token no longer works and there is no password to log in again."""


@dataclass(frozen=True)
class Session:
    user_id: UserID
    device_id: str
    access_token: str
    homeserver: str


def _write_private(path: Path, text: str) -> None:
    write_private(path, text.encode("utf-8"))


def _load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(32)
    _write_private(path, value + "\n")
    return value


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None if it is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _without_reply_fallback(body: str) -> str:
    """A reply's body quotes the message replied to (``> <@other:server> their text``): in a
    person's own export that would be someone else's words and ID."""
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    if lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


class MatrixGateway:
    def __init__(
        self,
        homeserver: str,
        user_id: UserID,
        data_dir: Path,
        *,
        password: str | None,
        access_token: str | None,
        device_name: str,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.homeserver = homeserver
        self.user_id = user_id
        self.data_dir = data_dir
        self._password = password
        self._configured_token = access_token
        self._device_name = device_name
        self.retry = retry or RetryPolicy()
        self.session_file = data_dir / "session.json"
        store_dir = data_dir / "nio-store"
        store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys_dir = data_dir / "keys"
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store_dir),
            config=AsyncClientConfig(
                encryption_enabled=True,
                store=WalStore,
                # We persist the sync token ourselves, after the events it covers are handled.
                store_sync_tokens=False,
                pickle_key=_load_or_create_secret(keys_dir / "store.key"),
                # One retry policy, ours: nio returns 429s and raises transport errors at once.
                max_limit_exceeded=0,
                max_timeouts=0,
                request_timeout=60,
            ),
        )
        self.online = True
        self._offline_since: float | None = None
        self._share_guard = ShareGuard()
        # When the bot's own device keys were last fetched (see crypto_housekeeping).
        self._own_keys_at: float | None = None
        # Told when the homeserver answers again after an outage (how many seconds it was away).
        self.on_back_online: Callable[[float], None] | None = None
        self._room_version: str | None = None
        # Names of rooms nio has not seen since this start (see room_name).
        self._room_names: dict[RoomID, str | None] = {}
        # Sync and sends wait out any outage: giving up would lose an event or a reply.
        self.persistent = RetryPolicy(base=self.retry.base, cap=self.retry.cap, max_attempts=None)

    @classmethod
    def from_settings(cls, s: Settings) -> MatrixGateway:
        return cls(
            s.homeserver.url,
            s.bot.uid,
            s.data_dir,
            password=s.bot.password.get_secret_value() if s.bot.password else None,
            access_token=s.bot.access_token.get_secret_value() if s.bot.access_token else None,
            device_name=s.bot.device_name,
        )

    # -- retries ---------------------------------------------------------------------------

    async def call(
        self, what: str, request: Callable[[], Awaitable[T]], policy: RetryPolicy | None = None
    ) -> T:
        """Run a nio request, retrying what is worth retrying; errors come back as values."""
        policy = policy or self.retry
        attempt = 0
        while True:
            attempt += 1
            retry_after: int | None = None
            try:
                resp = await request()
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                problem = type(exc).__name__
                status: int | None = None
            else:
                if not isinstance(resp, ErrorResponse):
                    self._mark_online(True)
                    return resp
                transport = resp.transport_response
                status = getattr(transport, "status", None)
                if not is_retryable_status(status, resp.status_code):
                    self._mark_online(True)
                    return resp
                retry_after = resp.retry_after_ms
                problem = f"{status} {resp.status_code or ''}".strip()
            if policy.gives_up_after(attempt):
                raise MatrixError(what, status, None, f"after {attempt} attempts ({problem})")
            if status != 429:
                self._mark_online(False)
            wait = policy.delay(attempt, retry_after)
            log.warning("%s: %s, retrying in %.1fs (attempt %d)", what, problem, wait, attempt)
            await asyncio.sleep(wait)

    def _mark_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            if online:
                away = time.monotonic() - (self._offline_since or time.monotonic())
                self._offline_since = None
                log.warning("homeserver reachable again after %.0f s", away)
                if self.on_back_online is not None:
                    self.on_back_online(away)
            else:
                self._offline_since = time.monotonic()
                log.warning("homeserver unreachable or failing; backing off")

    async def raw(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        what: str | None = None,
        ok_statuses: tuple[int, ...] = (200,),
        policy: RetryPolicy | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """A JSON request the nio API has no method for (admin API, cross-signing, …).

        Returns (status, body) for any status in ``ok_statuses`` or any non-retryable error;
        the caller decides what a 4xx means for it.
        """
        what = what or f"{method} {path.split('?')[0]}"
        policy = policy or self.retry
        headers = {"Content-Type": "application/json"}
        if self.client.access_token:
            headers["Authorization"] = f"Bearer {self.client.access_token}"
        data = json.dumps(body) if body is not None else None
        attempt = 0
        while True:
            attempt += 1
            retry_after = None
            try:
                resp = await self.client.send(method, path, data, headers)
                status = resp.status
                try:
                    payload = await resp.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    payload = {}
                finally:
                    resp.release()
                if not isinstance(payload, dict):
                    payload = {"value": payload}
                errcode = payload.get("errcode")
                if status in ok_statuses or not is_retryable_status(status, errcode):
                    self._mark_online(True)
                    return status, payload
                retry_after = payload.get("retry_after_ms")
                problem = f"{status} {errcode or ''}".strip()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, problem = None, type(exc).__name__
            if policy.gives_up_after(attempt):
                raise MatrixError(what, status, None, f"after {attempt} attempts ({problem})")
            if status != 429:
                self._mark_online(False)
            wait = policy.delay(attempt, retry_after)
            log.warning("%s: %s, retrying in %.1fs (attempt %d)", what, problem, wait, attempt)
            await asyncio.sleep(wait)

    # -- login -----------------------------------------------------------------------------

    def _load_session(self) -> Session | None:
        if not self.session_file.exists():
            return None
        data = json.loads(self.session_file.read_text(encoding="utf-8"))
        session = Session(
            UserID(data["user_id"]), data["device_id"], data["access_token"], data["homeserver"]
        )
        if session.user_id != self.user_id:
            raise SessionLost(f"{self.session_file} belongs to another account; move it away to log in anew")
        return session

    def _save_session(self, session: Session) -> None:
        _write_private(
            self.session_file,
            json.dumps(
                {
                    "user_id": session.user_id,
                    "device_id": session.device_id,
                    "access_token": session.access_token,
                    "homeserver": session.homeserver,
                }
            ),
        )

    async def connect(self) -> Session:
        """Restore the saved session, or log in once and save it."""
        session = self._load_session()
        if session is not None:
            self.client.restore_login(session.user_id, session.device_id, session.access_token)
            status, who = await self.raw("GET", "/_matrix/client/v3/account/whoami", what="whoami")
            if status == 200 and who.get("device_id") == session.device_id:
                log.info("restored session for device %s", session.device_id)
                return session
            if self._password is None:
                raise SessionLost(
                    "the saved access token was rejected and no password is configured; "
                    "set a new access token (bot.access_token) or a password"
                )
            log.warning("saved access token rejected (%s); logging in again as a new device", status)
            self.client.access_token = ""
        if self._configured_token is not None:
            self.client.access_token = self._configured_token
            status, who = await self.raw("GET", "/_matrix/client/v3/account/whoami", what="whoami")
            if status != 200 or not who.get("device_id"):
                raise SessionLost(f"the configured access token was rejected ({status} {who.get('errcode')})")
            session = Session(self.user_id, who["device_id"], self._configured_token, self.homeserver)
            self.client.restore_login(session.user_id, session.device_id, session.access_token)
        else:
            assert self._password is not None
            password = self._password
            resp = await self.call(
                "login", lambda: self.client.login(password, device_name=self._device_name)
            )
            if not isinstance(resp, LoginResponse):
                raise SessionLost(f"login failed: {resp}")
            session = Session(self.user_id, resp.device_id, resp.access_token, self.homeserver)
            log.info("logged in as new device %s", session.device_id)
        self._save_session(session)
        return session

    @property
    def device_id(self) -> str:
        return str(self.client.device_id)

    @property
    def password(self) -> str | None:
        return self._password

    async def exempt_from_rate_limits(self) -> bool:
        """Ask Synapse's admin API to lift message rate limits for the bot (needs server admin).

        Sweeps and busy rooms need more than the default 0.2 messages per second.
        """
        status, body = await self.raw(
            "POST",
            f"/_synapse/admin/v1/users/{quote(self.user_id)}/override_ratelimit",
            {"messages_per_second": 0, "burst_count": 0},
            what="rate-limit override",
        )
        if status != 200:
            log.info(
                "no rate-limit exemption (%s %s): the bot is not a server admin; it will pace itself on 429s",
                status,
                body.get("errcode"),
            )
            return False
        return True

    # -- sync ------------------------------------------------------------------------------

    async def upload_filter(
        self, timeline_limit: int, stored_id: str | None, stored_hash: str | None
    ) -> tuple[str, str]:
        """Upload the sync filter unless the stored one matches it; return (id, hash)."""
        definition = sync_filter(timeline_limit)
        digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
        if stored_id and stored_hash == digest:
            return stored_id, digest
        status, body = await self.raw(
            "POST",
            f"/_matrix/client/v3/user/{quote(self.user_id)}/filter",
            definition,
            what="upload filter",
        )
        if status != 200:
            raise MatrixError("upload filter", status, body.get("errcode"))
        return str(body["filter_id"]), digest

    async def sync(
        self, since: str | None, sync_filter: str | dict[str, Any], timeout_ms: int
    ) -> SyncResponse:
        """One sync, retried until it succeeds; then the E2EE housekeeping nio expects."""
        resp = await self.call(
            "sync",
            lambda: self.client.sync(
                timeout=timeout_ms, sync_filter=sync_filter, since=since, full_state=since is None
            ),
            self.persistent,
        )
        if not isinstance(resp, SyncResponse):
            if isinstance(resp, ErrorResponse) and resp.status_code == "M_UNKNOWN_TOKEN":
                raise SessionLost("the homeserver no longer accepts the bot's access token")
            raise MatrixError("sync", None, getattr(resp, "status_code", None), str(resp))
        await self.crypto_housekeeping()
        return resp

    async def crypto_housekeeping(self) -> None:
        c = self.client
        if c.should_upload_keys:
            await self.call("keys upload", c.keys_upload)
        self._spare_own_key_query()
        if c.should_query_keys:
            own = self.user_id in c.users_for_key_query
            resp = await self.call("keys query", c.keys_query)
            if own and isinstance(resp, KeysQueryResponse):
                self._own_keys_at = time.monotonic()
        if c.should_claim_keys:
            users = c.get_users_for_key_claiming()
            await self.call("keys claim", lambda: c.keys_claim(users))
        await self.call("to-device", c.send_to_device_messages)

    def _spare_own_key_query(self) -> None:
        """Ask for the bot's own device keys at most every ``OWN_KEYS_EVERY`` seconds.

        With lazy-loaded members, Synapse repeats the bot's own membership in a sync whenever the
        bot last wrote in another room (its "already sent" cache keeps one membership per
        user, not per room), and then lists the bot under ``device_lists.changed`` as if it
        had just joined. nio answers each time with a key query for the bot itself: during a
        sweep, one query per redaction, about a tenth more work for the homeserver (measured in
        bench_expiry). The bot's own devices only matter for sharing room keys with another
        login of the bot's account, which a bot does not have: a few minutes late is harmless."""
        pending = self.client.users_for_key_query
        fresh = self._own_keys_at is not None and time.monotonic() - self._own_keys_at < OWN_KEYS_EVERY
        if fresh and self.user_id in pending:
            pending.discard(self.user_id)

    async def backfill(
        self, room_id: RoomID, prev_batch: str, until: str, max_events: int = 2000
    ) -> list[Any]:
        """Events between ``until`` (the previous sync position) and ``prev_batch``, oldest first.

        A sync whose timeline is ``limited`` skipped these; without this, a burst of commands
        sent while the bot was away would be partly lost.
        """
        events: list[Any] = []
        start = prev_batch
        while len(events) < max_events:
            resp = await self.call(
                "backfill",
                lambda s=start: self.client.room_messages(  # type: ignore[misc]
                    room_id,
                    start=s,
                    end=until,
                    direction=MessageDirection.back,
                    limit=100,
                    message_filter={"types": TIMELINE_TYPES},
                ),
            )
            if not isinstance(resp, RoomMessagesResponse):
                log.warning("backfill of %s failed: %s", room_id, resp)
                break
            events.extend(resp.chunk)
            if not resp.chunk or not resp.end or resp.end == start:
                break
            start = resp.end
        events.reverse()
        return events

    # -- rooms -----------------------------------------------------------------------------

    async def join(self, room_id: RoomID) -> bool:
        resp = await self.call("join", lambda: self.client.join(room_id))
        if isinstance(resp, ErrorResponse):
            log.warning("joining %s failed: %s", room_id, resp.status_code)
            return False
        # Learn the room from the server now rather than from a later sync: the sync loop may
        # be waiting for this very worker (a burst of invitations), and whatever the bot says
        # next in the room would wait for it.
        await self._learn_room(room_id)
        return True

    async def leave(self, room_id: RoomID, reason: str | None = None) -> bool:
        """Leave a room or reject an invite, with a reason the inviter's client shows."""
        body = {"reason": reason} if reason else {}
        status, resp = await self.raw(
            "POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/leave", body, what="leave"
        )
        if status != 200:
            log.warning("leaving %s failed: %s %s", room_id, status, resp.get("errcode"))
            return False
        return True

    async def kick(self, room_id: RoomID, user_id: UserID, reason: str) -> bool:
        resp = await self.call("kick", lambda: self.client.room_kick(room_id, user_id, reason))
        if isinstance(resp, ErrorResponse):
            log.warning("removing a member from %s failed: %s", room_id, resp.status_code)
            return False
        return True

    async def joined_members(self, room_id: RoomID) -> set[UserID] | None:
        resp = await self.call("joined members", lambda: self.client.joined_members(room_id))
        if not isinstance(resp, JoinedMembersResponse):
            return None
        return {UserID(m.user_id) for m in resp.members}

    async def fetch_event(self, room_id: RoomID, event_id: EventID) -> Any:
        """One event as nio parses it (decrypted if the key is known), or None."""
        resp = await self.call("get event", lambda: self.client.room_get_event(room_id, event_id))
        return getattr(resp, "event", None)

    async def roster_members(self, room_id: RoomID) -> set[UserID] | None:
        """Members of a room that grants roles (workers, admins): only an invite-only room's
        local members. In a room anyone may join, or for users of other servers, membership
        proves nothing, so it grants nothing (None / filtered), and the log says why."""
        resp = await self.call("room state", lambda: self.client.room_get_state(room_id))
        if not isinstance(resp, RoomGetStateResponse):
            return None
        rule = next(
            (
                e.get("content", {}).get("join_rule")
                for e in resp.events
                if e.get("type") == "m.room.join_rules"
            ),
            None,
        )
        if rule != "invite":
            log.warning("room %s grants no roles: anyone can join it (join rule %s)", room_id, rule)
            return None
        own = self.user_id.split(":", 1)[1]
        return {
            UserID(e["state_key"])
            for e in resp.events
            if e.get("type") == "m.room.member"
            and e.get("content", {}).get("membership") == "join"
            and str(e.get("state_key", "")).endswith(f":{own}")
        }

    async def resolve_alias(self, alias: RoomAlias) -> RoomID | None:
        resp = await self.call("resolve alias", lambda: self.client.room_resolve_alias(alias))
        if not isinstance(resp, RoomResolveAliasResponse):
            return None
        return RoomID(resp.room_id)

    async def room_creator(self, room_id: RoomID, *, admin_api: bool) -> UserID | None:
        """Who created a room: the sender of its ``m.room.create`` event in the room state the
        homeserver returns (never ``content.creator``, which older room versions let the sender
        write freely). A room the bot is not in is read through Synapse's admin API when
        ``admin_api``; None when the state cannot be read."""
        events: Any = None
        resp = await self.call("room state", lambda: self.client.room_get_state(room_id))
        if isinstance(resp, RoomGetStateResponse):
            events = resp.events
        elif admin_api:
            status, body = await self.raw(
                "GET",
                f"/_synapse/admin/v1/rooms/{quote(room_id)}/state",
                what="room state (admin API)",
                ok_statuses=(200, 400, 403, 404),
            )
            events = body.get("state") if status == 200 else None
        for event in events if isinstance(events, list) else ():
            if (
                isinstance(event, dict)
                and event.get("type") == "m.room.create"
                and event.get("state_key") == ""
                and isinstance(event.get("sender"), str)
            ):
                return UserID(event["sender"])
        return None

    async def is_server_admin(self, user_id: UserID) -> bool | None:
        """Whether Synapse's admin API calls ``user_id`` a server admin; None if it does not
        answer (the bot is no server admin, or the user is unknown)."""
        status, body = await self.raw(
            "GET",
            f"/_synapse/admin/v2/users/{quote(user_id)}",
            what="user (admin API)",
            ok_statuses=(200, 403, 404),
        )
        if status != 200:
            return None
        return body.get("admin") in (True, 1)  # older Synapse versions answer 0 or 1

    async def wait_for_room(self, room_id: RoomID, timeout: float = 3.0) -> bool:
        """Make sure nio knows a room before sending to it (it must know whether to encrypt).

        A room the bot has just joined arrives with the next sync, so wait briefly for that.
        A room without activity since this start never appears in an incremental sync: learn
        it from the server instead (is the bot a member, is the room encrypted).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while room_id not in self.client.rooms:
            if loop.time() > deadline:
                return await self._learn_room(room_id)
            await asyncio.sleep(0.05)
        return True

    async def private_pair_problem(self, room_id: RoomID, client: UserID) -> str | None:
        """Why a room is not a private 1:1 between ``client`` and the bot (a catalog key), or
        None if it is: encrypted, invite-only, nobody else joined or invited. Read from the
        server's room state, not from what the invitation claimed (``is_direct``)."""
        resp = await self.call("room state", lambda: self.client.room_get_state(room_id))
        if not isinstance(resp, RoomGetStateResponse):
            return "intake.not_private.unknown"
        events = {(e.get("type"), e.get("state_key")): e.get("content") or {} for e in resp.events}
        if ("m.room.encryption", "") not in events:
            return "intake.not_private.unencrypted"
        if events.get(("m.room.join_rules", ""), {}).get("join_rule") != "invite":
            return "intake.not_private.open"
        members = {
            key
            for (kind, key), content in events.items()
            if kind == "m.room.member" and content.get("membership") in ("join", "invite")
        }
        if members != {client, self.user_id}:
            return "intake.not_private.others"
        return None

    async def server_time_ms(self) -> int | None:
        """The homeserver's clock (its HTTP Date header), to compare the local clock with."""
        try:
            resp = await self.client.send("GET", "/_matrix/client/versions")
            date = resp.headers.get("Date")
            resp.release()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None
        if not date:
            return None
        try:
            return int(email.utils.parsedate_to_datetime(date).timestamp() * 1000)
        except (TypeError, ValueError):
            return None

    async def request_key(self, event: MegolmEvent) -> None:
        """Ask the sender's devices (and our own) for the key of an event the bot cannot read."""
        try:
            resp = await self.client.request_room_key(event)
        except LocalProtocolError:
            return  # already asked for this session
        if isinstance(resp, ErrorResponse):
            log.info("asking for a room key failed: %s", resp.status_code)

    def is_encrypted(self, room_id: RoomID) -> bool:
        return room_id in self.client.encrypted_rooms

    def display_name(self, room_id: RoomID, user_id: UserID) -> str | None:
        """A member's name in a room, from the room state the server sent (not from what a
        message claims); None when the person is not a member there."""
        room = self.client.rooms.get(room_id)
        member = room.users.get(user_id) if room is not None else None
        if member is None:
            return None
        return str(member.display_name or user_id.split(":", 1)[0].lstrip("@"))

    def members(self, room_id: RoomID) -> list[UserID]:
        """Joined and invited members of a room the bot is in, from the synced room state."""
        room = self.client.rooms.get(room_id)
        if room is None:
            return []
        return [UserID(u) for u in (*room.users, *room.invited_users)]

    async def room_name(self, room_id: RoomID) -> str | None:
        """A room's name (``m.room.name``) as the homeserver sent it with the sync; a room that
        has been quiet since this start is asked for once (remembered until it speaks again)."""
        room = self.client.rooms.get(room_id)
        if room is not None and room.name:
            return str(room.name)
        if room_id in self._room_names:
            return self._room_names[room_id]
        resp = await self.call("room name", lambda: self.client.room_get_state_event(room_id, "m.room.name"))
        name = resp.content.get("name") if isinstance(resp, RoomGetStateEventResponse) else None
        self._room_names[room_id] = name if isinstance(name, str) and name.strip() else None
        return self._room_names[room_id]

    async def search_users(self, term: str, *, admin_api: bool) -> list[tuple[UserID, str | None]]:
        """Accounts on this homeserver matching ``term``: the user directory (whom the bot may
        see there) and, with the admin API, every active local account whose ID or display name
        contains it (a client the bot shares no room with yet). Remote users and guests are left
        out."""
        own = self.user_id.split(":", 1)[1]
        found: dict[UserID, str | None] = {}
        status, body = await self.raw(
            "POST",
            "/_matrix/client/v3/user_directory/search",
            {"search_term": term, "limit": 20},
            what="user directory",
            ok_statuses=(200, 400, 403, 429),
        )
        for row in body.get("results", []) if status == 200 else ():
            user, name = row.get("user_id"), row.get("display_name")
            if isinstance(user, str) and user.endswith(f":{own}"):
                found[UserID(user)] = name if isinstance(name, str) else None
        if admin_api:
            status, body = await self.raw(
                "GET",
                f"/_synapse/admin/v2/users?name={quote(term)}&guests=false&deactivated=false&limit=20",
                what="users (admin API)",
                ok_statuses=(200, 400, 403, 404),
            )
            for row in body.get("users", []) if status == 200 else ():
                user, name = row.get("name"), row.get("displayname")
                if isinstance(user, str) and user.endswith(f":{own}") and not row.get("deactivated"):
                    found.setdefault(UserID(user), name if isinstance(name, str) else None)
        found.pop(self.user_id, None)
        return list(found.items())

    async def _learn_room(self, room_id: RoomID) -> bool:
        encrypted = room_id in self.client.encrypted_rooms
        if not encrypted:
            resp = await self.call(
                "room encryption", lambda: self.client.room_get_state_event(room_id, "m.room.encryption")
            )
            if isinstance(resp, RoomGetStateEventResponse):
                encrypted = True
            elif getattr(resp, "status_code", None) != "M_NOT_FOUND":
                log.warning("room %s is not accessible: %s", room_id, getattr(resp, "status_code", resp))
                return False
        if room_id not in self.client.rooms:
            self.client.rooms[room_id] = MatrixRoom(room_id, self.user_id, encrypted)
            if encrypted:
                self.client.encrypted_rooms.add(room_id)
        return True

    # -- sending ---------------------------------------------------------------------------

    async def send_text(
        self,
        room_id: RoomID,
        body: str,
        txn_id: str,
        *,
        reply_to: EventID | None = None,
        html: str | None = None,
        notice: bool = True,
    ) -> EventID | None:
        # Arabic and Farsi laid out right to left, numbers and IDs in them left to right.
        body, html = directional(body, html)
        # m.notice: clients show it as the bot's voice, and other bots do not answer it.
        content: dict[str, Any] = {"msgtype": "m.notice" if notice else "m.text", "body": body}
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        return await self.send_event(room_id, "m.room.message", content, txn_id)

    async def send_event(
        self, room_id: RoomID, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventID | None:
        if not await self.wait_for_room(room_id):
            log.warning("not sending to %s: room not known after waiting", room_id)
            return None
        resp = await self.call(
            "send", lambda: self._room_send(room_id, event_type, content, txn_id), self.persistent
        )
        if isinstance(resp, RoomSendResponse):
            return EventID(resp.event_id)
        log.warning("send to %s failed: %s", room_id, getattr(resp, "status_code", resp))
        return None

    async def _room_send(self, room_id: RoomID, event_type: str, content: dict[str, Any], txn_id: str) -> Any:
        # Checked on every attempt, just before nio's send decides whether to share the room key.
        self._share_guard.before_send(self.client, room_id)
        return await self.client.room_send(
            room_id, event_type, content, tx_id=txn_id, ignore_unverified_devices=True
        )

    # -- rooms Lotse administers --------------------------------------------------------------

    async def default_room_version(self) -> str:
        if self._room_version is None:
            status, body = await self.raw("GET", "/_matrix/client/v3/capabilities", what="capabilities")
            versions = body.get("capabilities", {}).get("m.room_versions", {}) if status == 200 else {}
            self._room_version = str(versions.get("default", "10"))
        return self._room_version

    async def create_room(
        self,
        *,
        name: str | None,
        invite: list[UserID],
        is_direct: bool,
        moderators: Sequence[UserID] = (),
        locked_down: bool = True,
    ) -> RoomID | None:
        """An encrypted private room the bot administers: invited people only (``private_chat``),
        not in the room directory, no guests, history readable only from joining on.

        From room version 12 on, the creator's power is implicit and the creator must not be
        listed in ``users``; in older versions it must be listed with 100 or it loses power.
        """
        users: dict[str, int] = {u: 50 for u in moderators}
        version = await self.default_room_version()
        if not version.isdigit() or int(version) < 12:
            users[self.user_id] = 100
        power: dict[str, Any] = {"users": users}
        if locked_down:
            # Only the bot changes the room's settings (power, encryption) or invites; moderators
            # (the responsible worker) may redact and remove someone invited by mistake.
            power.update({"invite": 100, "state_default": 100, "kick": 50, "ban": 100, "redact": 50})
        resp = await self.call(
            "create room",
            lambda: self.client.room_create(
                visibility=RoomVisibility.private,
                preset=RoomPreset.private_chat,
                name=name,
                invite=list(invite),
                is_direct=is_direct,
                initial_state=[
                    {
                        "type": "m.room.encryption",
                        "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                    },
                    {
                        "type": "m.room.history_visibility",
                        "state_key": "",
                        "content": {"history_visibility": "joined"},
                    },
                    # private_chat would let guests join (can_join); nobody without an account.
                    {
                        "type": "m.room.guest_access",
                        "state_key": "",
                        "content": {"guest_access": "forbidden"},
                    },
                ],
                power_level_override=power,
            ),
            self.persistent,
        )
        if not isinstance(resp, RoomCreateResponse):
            log.warning("creating a room failed: %s", getattr(resp, "status_code", resp))
            return None
        await self._learn_room(RoomID(resp.room_id))  # as after a join: no wait for the sync
        return RoomID(resp.room_id)

    async def user_exists(self, user_id: UserID) -> bool:
        """Whether the account exists. A homeserver that shows profiles only to people who share a
        room (``limit_profile_requests_to_users_who_share_rooms``, as deploy/homeserver.yaml sets)
        answers 403 for someone the bot has never met: then the admin API is asked."""
        status, _ = await self.raw(
            "GET", f"/_matrix/client/v3/profile/{quote(user_id)}", what="profile", ok_statuses=(200, 403, 404)
        )
        if status == 403:
            return await self.is_server_admin(user_id) is not None
        return status == 200

    async def invite(self, room_id: RoomID, user_id: UserID) -> bool:
        resp = await self.call("invite", lambda: self.client.room_invite(room_id, user_id))
        return not isinstance(resp, ErrorResponse)

    async def change_power_levels(self, room_id: RoomID, changes: dict[str, Any]) -> bool:
        resp = await self.call(
            "get power levels", lambda: self.client.room_get_state_event(room_id, "m.room.power_levels")
        )
        if not isinstance(resp, RoomGetStateEventResponse):
            return False
        content = dict(resp.content)
        content.update(changes)
        put = await self.call(
            "set power levels",
            lambda: self.client.room_put_state(room_id, "m.room.power_levels", content),
            self.persistent,
        )
        return isinstance(put, RoomPutStateResponse)

    async def set_user_power(self, room_id: RoomID, user_id: UserID, level: int) -> bool:
        """One user's power level, the others' untouched (0: removed from the list)."""
        resp = await self.call(
            "get power levels", lambda: self.client.room_get_state_event(room_id, "m.room.power_levels")
        )
        if not isinstance(resp, RoomGetStateEventResponse):
            return False
        users = dict(resp.content.get("users") or {})
        if level == 0:
            users.pop(user_id, None)
        else:
            users[user_id] = level
        return await self.change_power_levels(room_id, {"users": users})

    async def set_room_state(self, room_id: RoomID, event_type: str, content: dict[str, Any]) -> bool:
        if event_type == "m.room.name":
            self._room_names.pop(room_id, None)
        resp = await self.call(
            "set state", lambda: self.client.room_put_state(room_id, event_type, content), self.persistent
        )
        if not isinstance(resp, RoomPutStateResponse):
            code = getattr(resp, "status_code", resp)
            # Not allowed is a setting for the admin (told once, in the admin room), not an error.
            level = logging.INFO if code == "M_FORBIDDEN" else logging.WARNING
            log.log(level, "setting %s in %s failed: %s", event_type, room_id, code)
            return False
        return True

    async def purge_history(self, room_id: RoomID, up_to_ms: int) -> bool:
        """Synapse's purge-history admin API, local events included; waits for the result."""
        status, body = await self.raw(
            "POST",
            f"/_synapse/admin/v1/purge_history/{quote(room_id)}",
            {"delete_local_events": True, "purge_up_to_ts": up_to_ms},
            what="purge history",
        )
        if status != 200 or "purge_id" not in body:
            log.warning("purge of %s refused: %s %s", room_id, status, body.get("errcode"))
            return False
        purge_id = body["purge_id"]
        for _ in range(120):
            status, state = await self.raw(
                "GET", f"/_synapse/admin/v1/purge_history_status/{quote(purge_id)}", what="purge status"
            )
            if state.get("status") == "complete":
                return True
            if state.get("status") == "failed" or status != 200:
                log.warning("purge of %s failed: %s", room_id, state.get("error") or status)
                return False
            await asyncio.sleep(0.5)
        log.warning("purge of %s did not finish in time", room_id)
        return False

    async def room_history(self, room_id: RoomID, max_events: int = 50_000) -> list[Recorded]:
        """Metadata of a room's message-like events up to now, for rooms older than the bot."""
        events: list[Any] = []
        token = self.client.next_batch
        while len(events) < max_events:
            resp = await self.call(
                "history",
                lambda t=token: self.client.room_messages(  # type: ignore[misc]
                    room_id,
                    start=t,
                    direction=MessageDirection.back,
                    limit=500,
                    message_filter={"types": list(MESSAGE_TYPES)},
                ),
            )
            if not isinstance(resp, RoomMessagesResponse) or not resp.chunk:
                break
            events.extend(resp.chunk)
            if not resp.end or resp.end == token:
                break
            token = resp.end
        return [r for r in (recorded(e) for e in events) if r is not None]

    async def messages_of(
        self, room_id: RoomID, sender: UserID, max_events: int = 10_000
    ) -> list[tuple[int, str]]:
        """One person's messages in a room as (time, text), oldest first: for that person's own
        data export only, read and decrypted now, never stored or logged."""
        found: list[tuple[int, str]] = []
        token = self.client.next_batch
        seen = 0
        while seen < max_events:
            resp = await self.call(
                "history",
                lambda t=token: self.client.room_messages(  # type: ignore[misc]
                    room_id, start=t, direction=MessageDirection.back, limit=500
                ),
            )
            if not isinstance(resp, RoomMessagesResponse) or not resp.chunk:
                break
            seen += len(resp.chunk)
            for event in resp.chunk:
                if getattr(event, "sender", None) != sender:
                    continue
                if isinstance(event, MegolmEvent):
                    found.append((int(event.server_timestamp), "[nicht entschlüsselbar / not decryptable]"))
                elif isinstance(event, RoomMessage):
                    body = event.source.get("content", {}).get("body")
                    if isinstance(body, str):
                        found.append((int(event.server_timestamp), _without_reply_fallback(body)))
            if not resp.end or resp.end == token:
                break
            token = resp.end
        return sorted(found)

    async def redact(self, room_id: RoomID, event_id: EventID, reason: str) -> bool:
        resp = await self.call(
            "redact",
            lambda: self.client.room_redact(room_id, event_id, reason, tx_id=txn_id_for(event_id, "redact")),
            self.persistent,
        )
        if isinstance(resp, RoomRedactResponse):
            return True
        code = getattr(resp, "status_code", resp)
        # Refused for lack of power: the caller falls back or reports it; not an error here.
        log.log(
            logging.INFO if code == "M_FORBIDDEN" else logging.WARNING,
            "redacting in %s failed: %s",
            room_id,
            code,
        )
        return False

    async def room_audience(self, room_id: RoomID) -> set[UserID] | None:
        """Who could still receive anything sent in the room, as the homeserver says (not the
        lazily loaded sync state): its joined and invited members. None if it did not answer."""
        status, body = await self.raw(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(room_id)}/members?not_membership=leave",
            what="room members",
            ok_statuses=(200, 403, 404),
        )
        chunk = body.get("chunk") if status == 200 else None
        if not isinstance(chunk, list):
            return None
        return {
            UserID(e["state_key"])
            for e in chunk
            if isinstance(e, dict)
            and isinstance(e.get("state_key"), str)
            and (e.get("content") or {}).get("membership") in ("join", "invite")
        }

    async def served_events(self, room_id: RoomID, limit: int = 100_000) -> set[EventID] | None:
        """IDs of the room's message-like events the homeserver still serves unredacted: what a
        purge left, read back before anything is marked gone. Plain JSON (nothing parsed or
        decrypted: only IDs are needed). None if the server did not answer, or the room holds
        more than ``limit`` such events (then the listing could not be complete)."""
        flt = quote(json.dumps({"types": list(MESSAGE_TYPES)}, separators=(",", ":")))
        found: set[EventID] = set()
        seen = 0
        token: str | None = None
        while seen <= limit:
            start = f"&from={quote(token)}" if token else ""
            status, body = await self.raw(
                "GET",
                f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=1000&filter={flt}{start}",
                what="history",
                ok_statuses=(200, 403, 404),
            )
            chunk = body.get("chunk") if status == 200 else None
            if not isinstance(chunk, list):
                return None
            for event in chunk:
                seen += 1
                if isinstance(event, dict) and not (event.get("unsigned") or {}).get("redacted_because"):
                    found.add(EventID(str(event.get("event_id"))))
            end = body.get("end")
            # No "end": the start of the room's history (what is left of it) was reached.
            if not isinstance(end, str) or end == token:
                return found
            token = end
        return None

    async def redact_as_user(
        self, user_id: UserID, rooms: list[RoomID], reason: str
    ) -> dict[EventID, str] | None:
        """Synapse's admin API redacts a local user's messages in the given rooms, acting as that
        user, so it works where the bot has no power (a 1:1 chat the client created).

        Returns the events it could not redact (with why), or None if the API refused or did not
        finish. Never called without rooms: an empty list means "every room" to Synapse.
        """
        if not rooms:
            return {}
        status, body = await self.raw(
            "POST",
            f"/_synapse/admin/v1/user/{quote(user_id)}/redact",
            {"rooms": list(rooms), "reason": reason, "limit": 100_000},
            what="redact as user",
        )
        if status != 200 or "redact_id" not in body:
            log.warning("redacting as the user refused: %s %s", status, body.get("errcode"))
            return None
        for _ in range(600):
            status, state = await self.raw(
                "GET",
                f"/_synapse/admin/v1/user/redact_status/{quote(str(body['redact_id']))}",
                what="redact status",
            )
            if status != 200 or state.get("status") == "failed":
                log.warning("redacting as the user failed: %s %s", status, state.get("errcode"))
                return None
            if state.get("status") == "complete":
                failed = state.get("failed_redactions") or {}
                return {EventID(k): str(v)[:200] for k, v in failed.items()}
            await asyncio.sleep(0.5)
        log.warning("redacting as the user did not finish in time")
        return None

    def identity_keys(self) -> dict[str, str] | None:
        """The bot's own olm account keys (ed25519, curve25519), from its encryption store."""
        olm = getattr(self.client, "olm", None)
        if olm is None:
            return None
        return {k: str(v) for k, v in olm.account.identity_keys.items()}

    async def media_uploader(self, mxc: str) -> UserID | None:
        """Who uploaded a media file, as the homeserver's media admin API says; None for a
        remote or unknown file (which Lotse never deletes)."""
        if not mxc.startswith("mxc://"):
            return None
        server, _, media_id = mxc[len("mxc://") :].partition("/")
        if server != self.user_id.split(":", 1)[1] or not media_id:
            return None
        status, body = await self.raw(
            "GET",
            f"/_synapse/admin/v1/media/{quote(server)}/{quote(media_id)}",
            what="media info",
            ok_statuses=(200, 404),
        )
        user = (body.get("media_info") or {}).get("user_id") if status == 200 else None
        return UserID(user) if isinstance(user, str) else None

    async def delete_media(self, mxc: str) -> bool:
        """Delete a local media file through Synapse's admin API (the bot must be an admin)."""
        if not mxc.startswith("mxc://"):
            return False
        server, _, media_id = mxc[len("mxc://") :].partition("/")
        status, body = await self.raw(
            "DELETE",
            f"/_synapse/admin/v1/media/{quote(server)}/{quote(media_id)}",
            what="delete media",
        )
        if status != 200:
            log.warning("deleting media failed: %s %s", status, body.get("errcode"))
        return status == 200

    async def create_registration_token(self, token: str, expiry_ms: int) -> bool:
        return await admin_api.create_registration_token(self.raw, token, expiry_ms)

    async def registration_token_uses(self) -> dict[str, int] | None:
        return await admin_api.registration_token_uses(self.raw)

    async def delete_registration_token(self, token: str) -> bool:
        return await admin_api.delete_registration_token(self.raw, token)

    async def send_file(
        self, room_id: RoomID, data: bytes, filename: str, mimetype: str, txn_id: str
    ) -> EventID | None:
        """Upload a file (encrypted, as the room is) and post it."""
        if not await self.wait_for_room(room_id):
            return None
        encrypted = self.client.rooms[room_id].encrypted

        upload, keys = await self.client.upload(
            io.BytesIO(data), content_type=mimetype, filename=filename, encrypt=encrypted, filesize=len(data)
        )
        if not isinstance(upload, UploadResponse):
            log.warning("upload failed: %s", getattr(upload, "status_code", upload))
            return None
        content: dict[str, Any] = {
            "msgtype": "m.file",
            "body": filename,
            "filename": filename,
            "info": {"mimetype": mimetype, "size": len(data)},
        }
        size = png_size(data) if mimetype == "image/png" else None
        if size is not None:
            # A picture, not a download: clients show it inline, in the right proportions.
            content["msgtype"] = "m.image"
            content["info"].update({"w": size[0], "h": size[1]})
        if encrypted and keys is not None:
            content["file"] = {"url": upload.content_uri, **keys}
        else:
            content["url"] = upload.content_uri
        return await self.send_event(room_id, "m.room.message", content, txn_id)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.close()

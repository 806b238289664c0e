"""The floor of the benchmarks that restart a bot: a bare matrix-nio bot with encryption.

What any nio bot must do at least: restore its session, sync with the filter Lotse uses, fill
the gaps of limited timelines, decrypt, join what it is invited to, answer ``hilfe``. It
imports nothing of Lotse, so that its process's memory is nio's alone (bench_footprint.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LoginResponse,
    MegolmEvent,
    RoomMessagesResponse,
    RoomMessageText,
    SyncResponse,
)

# Lotse's sync filter (bot/matrix/client.py: sync_filter, TIMELINE_TYPES), written out here so
# this module needs nothing of Lotse; bench_ingest.py checks that the two are the same.
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


FIRST_SYNC_FILTER = sync_filter(1)


class BareClient:
    """A minimal nio bot with encryption that keeps its device and sync token across restarts."""

    def __init__(self, url: str, user_id: str, password: str, store: Path) -> None:
        self.url = url
        self.user_id = user_id
        self.password = password
        self.store = store
        self.device_id: str | None = None
        self.access_token: str | None = None
        self.token: str | None = None
        self.client: AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        # Called with (room_id, event) for every decrypted text message, backlog included.
        self.on_text: Callable[[str, RoomMessageText], None] | None = None
        self.answer_hilfe = True
        self.joined = asyncio.Event()

    async def start(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        client = AsyncClient(
            self.url,
            self.user_id,
            store_path=str(self.store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
        )
        self.client = client
        if self.device_id is None:
            resp = await client.login(self.password, device_name="bare")
            assert isinstance(resp, LoginResponse), resp
            self.device_id, self.access_token = resp.device_id, resp.access_token
        else:
            assert self.access_token is not None
            client.restore_login(self.user_id, self.device_id, self.access_token)
        if self.token is None:
            # First start: the current position, pending invitations, no history replayed.
            first = await client.sync(timeout=0, sync_filter=FIRST_SYNC_FILTER, full_state=True)
            assert isinstance(first, SyncResponse), first
            await self._housekeeping()
            await self._invites(first)
            self.token = first.next_batch
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def _housekeeping(self) -> None:
        c = self.client
        assert c is not None
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())
        await c.send_to_device_messages()

    async def _invites(self, resp: SyncResponse) -> None:
        c = self.client
        assert c is not None
        for room_id, info in resp.rooms.invite.items():
            if any(
                isinstance(e, InviteMemberEvent) and e.state_key == self.user_id for e in info.invite_state
            ):
                await c.join(room_id)
                self.joined.set()

    async def _loop(self) -> None:
        c = self.client
        assert c is not None
        filt = sync_filter(50)
        while True:
            since = self.token
            resp = await c.sync(timeout=30_000, sync_filter=filt, since=since)
            if not isinstance(resp, SyncResponse):
                await asyncio.sleep(0.5)
                continue
            await self._housekeeping()
            await self._invites(resp)
            for room_id, info in resp.rooms.join.items():
                events: list[Any] = list(info.timeline.events)
                if info.timeline.limited and info.timeline.prev_batch and since:
                    events = await self._gap(room_id, info.timeline.prev_batch, since) + events
                for event in events:
                    await self._event(room_id, event)
            self.token = resp.next_batch

    async def _gap(self, room_id: str, start: str, until: str) -> list[Any]:
        c = self.client
        assert c is not None
        gap: list[Any] = []
        while True:
            resp = await c.room_messages(
                room_id, start=start, end=until, limit=100, message_filter={"types": TIMELINE_TYPES}
            )
            if not isinstance(resp, RoomMessagesResponse) or not resp.chunk:
                break
            gap.extend(resp.chunk)
            if not resp.end or resp.end == start:
                break
            start = resp.end
        gap.reverse()
        return gap

    async def _event(self, room_id: str, event: Any) -> None:
        if isinstance(event, MegolmEvent) or not isinstance(event, RoomMessageText):
            return
        if self.on_text is not None:
            self.on_text(room_id, event)
        body = event.body.strip().lower().lstrip("!")
        if self.answer_hilfe and event.sender != self.user_id and body == "hilfe":
            assert self.client is not None
            await self.client.room_send(
                room_id,
                "m.room.message",
                {
                    "msgtype": "m.notice",
                    "body": "Hilfe: …",
                    "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
                },
                ignore_unverified_devices=True,
            )

"""Real nio clients playing social worker, client and admin in the end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    MegolmEvent,
    RedactionEvent,
    RoomCreateResponse,
    RoomMessage,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)

from bot.devserver.synapse import Account

ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


@dataclass
class Seen:
    room_id: str
    event_id: str
    sender: str
    body: str
    encrypted: bool
    in_reply_to: str | None
    source: dict[str, Any]


class Persona:
    """One person's Matrix client: logs in once (the registration's device), syncs by hand."""

    def __init__(self, homeserver: str, account: Account, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.account = account
        self.user_id = account.user_id
        self.client = AsyncClient(
            homeserver,
            account.user_id,
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
        )
        assert account.access_token and account.device_id
        self.client.restore_login(account.user_id, account.device_id, account.access_token)
        self.messages: list[Seen] = []
        self.undecryptable = 0
        self.memberships: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self.invites: dict[str, str] = {}  # room → inviter
        self.redactions: dict[str, str] = {}  # redacted event → room
        self.redaction_counts: Counter[str] = Counter()

    async def sync(self, timeout_ms: int = 0) -> SyncResponse:
        c = self.client
        since = c.next_batch
        # Synapse caps the timeline at 100 events per room; gaps are filled from /messages below.
        resp = await c.sync(
            timeout=timeout_ms,
            full_state=c.next_batch is None,
            sync_filter={"room": {"timeline": {"limit": 1000}}},
        )
        assert isinstance(resp, SyncResponse), resp
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())
        await c.send_to_device_messages()
        for room_id, info in resp.rooms.join.items():
            if info.timeline.limited and since and info.timeline.prev_batch:
                await self._fill_gap(room_id, info.timeline.prev_batch, since)
            for ev in info.timeline.events:
                self._record(room_id, ev)
            for ev in info.state:
                self._record(room_id, ev)
        for room_id, info in resp.rooms.invite.items():
            for ev in info.invite_state:
                if (
                    getattr(ev, "state_key", None) == self.user_id
                    and getattr(ev, "membership", None) == "invite"
                ):
                    self.invites[room_id] = ev.sender
        for room_id, info in resp.rooms.leave.items():
            for ev in info.timeline.events:
                self._record(room_id, ev)
        return resp

    async def _fill_gap(self, room_id: str, start: str, until: str) -> None:
        gap: list[Any] = []
        while True:
            resp = await self.client.room_messages(room_id, start=start, end=until, limit=100)
            if not isinstance(resp, RoomMessagesResponse) or not resp.chunk:
                break
            gap.extend(resp.chunk)
            if not resp.end or resp.end == start:
                break
            start = resp.end
        for ev in reversed(gap):
            self._record(room_id, ev)

    def _record(self, room_id: str, ev: Any) -> None:
        if isinstance(ev, RedactionEvent):
            self.redactions[ev.redacts] = room_id
            self.redaction_counts[ev.redacts] += 1
            return
        if isinstance(ev, MegolmEvent):
            self.undecryptable += 1
            return
        if isinstance(ev, RoomMessage):
            content = ev.source.get("content", {})
            relates = content.get("m.relates_to") or {}
            reply_to = (relates.get("m.in_reply_to") or {}).get("event_id")
            self.messages.append(
                Seen(
                    room_id,
                    ev.event_id,
                    ev.sender,
                    content.get("body", ""),
                    bool(getattr(ev, "decrypted", False)),
                    reply_to,
                    ev.source,
                )
            )
        source = getattr(ev, "source", {}) or {}
        if source.get("type") == "m.room.member":
            self.memberships[(room_id, source.get("state_key", ""))] = (
                source.get("content", {}).get("membership", ""),
                source.get("content", {}),
            )

    async def create_room(
        self,
        *,
        invite: list[str],
        encrypted: bool = True,
        direct: bool = False,
        name: str | None = None,
        moderators: list[str] = (),  # type: ignore[assignment]
    ) -> str:
        # Room version 12: the creator's power is implicit and must not be listed.
        power = {"users": {m: 50 for m in moderators}} if moderators else None
        resp = await self.client.room_create(
            name=name,
            invite=invite,
            is_direct=direct,
            initial_state=[ENCRYPTION_STATE] if encrypted else [],
            power_level_override=power,
        )
        assert isinstance(resp, RoomCreateResponse), resp
        await self.sync()
        return str(resp.room_id)

    async def send(self, room_id: str, body: str) -> str:
        if room_id not in self.client.rooms or not self.client.rooms[room_id].users:
            await self.sync()
        resp = await self.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": body},
            ignore_unverified_devices=True,
        )
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)

    async def send_file(self, room_id: str, data: bytes, name: str = "bild.png") -> tuple[str, str]:
        """Upload (encrypted) and post a file; return (event ID, mxc URI)."""
        import io

        upload, keys = await self.client.upload(
            io.BytesIO(data), content_type="image/png", filename=name, encrypt=True, filesize=len(data)
        )
        assert keys is not None, upload
        content = {
            "msgtype": "m.image",
            "body": name,
            "info": {"mimetype": "image/png", "size": len(data)},
            "file": {"url": upload.content_uri, **keys},
        }
        resp = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id), str(upload.content_uri)

    async def media_exists(self, mxc: str) -> bool:
        server, media_id = mxc[len("mxc://") :].split("/", 1)
        resp = await self.client.download(server_name=server, media_id=media_id)
        return getattr(resp, "body", None) is not None

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        resp = await self.client.room_send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
            ignore_unverified_devices=True,
        )
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)

    async def join(self, room_id: str) -> None:
        resp = await self.client.join(room_id)
        assert not hasattr(resp, "status_code") or getattr(resp, "room_id", None), resp
        await self.sync()

    async def accept_invite_from(
        self, inviter: str, timeout: float = 30.0, exclude: set[str] | None = None
    ) -> str:
        """Wait for an invitation from ``inviter`` (not to a room in ``exclude``) and accept it."""
        skip = exclude or set()
        room: str = await self.wait_for(
            lambda: next((r for r, who in self.invites.items() if who == inviter and r not in skip), None),
            timeout,
            f"an invitation from {inviter}",
        )
        await self.join(room)
        return room

    async def download(self, content: dict[str, Any]) -> bytes:
        """Fetch (and decrypt, for encrypted rooms) the file a message refers to."""
        from nio.crypto import decrypt_attachment

        file_info = content.get("file")
        mxc = file_info["url"] if file_info else content["url"]
        server, media_id = mxc[len("mxc://") :].split("/", 1)
        resp = await self.client.download(server_name=server, media_id=media_id)
        data: bytes = resp.body
        if file_info:
            data = decrypt_attachment(
                data, file_info["key"]["k"], file_info["hashes"]["sha256"], file_info["iv"]
            )
        return data

    def bot_said(self, room_id: str, bot: str, text: str) -> Seen | None:
        return next((m for m in self.from_user(room_id, bot) if text in m.body), None)

    async def wait_for_text(self, room_id: str, sender: str, text: str, timeout: float = 30.0) -> Seen:
        found: Seen = await self.wait_for(
            lambda: self.bot_said(room_id, sender, text), timeout, f"“{text[:40]}”"
        )
        return found

    async def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "event") -> Any:
        """Sync until ``predicate()`` returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while True:
            found = predicate()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            await self.sync(timeout_ms=1000)

    def from_user(self, room_id: str, sender: str) -> list[Seen]:
        return [m for m in self.messages if m.room_id == room_id and m.sender == sender]

    async def wait_for_member(
        self, room_id: str, user_id: str, membership: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            state = self.memberships.get((room_id, user_id))
            return state[1] if state and state[0] == membership else None

        content: dict[str, Any] = await self.wait_for(check, timeout, f"{user_id} to {membership} {room_id}")
        return content

    async def close(self) -> None:
        await self.client.close()


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)

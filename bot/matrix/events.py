"""nio events → plain values the rest of Lotse understands.

The values carry only what the bot needs. A message body is kept in memory for parsing a
command and never stored or logged; ``repr`` hides it so that a stray log line cannot leak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nio import (
    InviteMemberEvent,
    MegolmEvent,
    ReactionEvent,
    RoomMemberEvent,
    RoomMessage,
    SyncResponse,
)

from bot.ids import EventID, RoomID, UserID


@dataclass(frozen=True)
class IncomingMessage:
    room_id: RoomID
    event_id: EventID
    sender: UserID
    timestamp_ms: int
    msgtype: str
    encrypted: bool
    body: str = field(repr=False)
    media: tuple[str, ...] = ()
    # An edit of an earlier message (m.replace): never a command or an answer of its own.
    edit: bool = False


@dataclass(frozen=True)
class IncomingReaction:
    room_id: RoomID
    event_id: EventID
    sender: UserID
    timestamp_ms: int
    relates_to: EventID
    key: str = field(repr=False)


@dataclass(frozen=True)
class IncomingMembership:
    room_id: RoomID
    event_id: EventID
    user_id: UserID
    membership: str


@dataclass(frozen=True)
class IncomingInvite:
    room_id: RoomID
    inviter: UserID
    is_direct: bool


@dataclass(frozen=True)
class Undecryptable:
    room_id: RoomID
    event_id: EventID
    sender: UserID
    session_id: str


# Events whose metadata retention and erasure work from.
MESSAGE_TYPES = ("m.room.message", "m.room.encrypted", "m.reaction", "m.sticker")


@dataclass(frozen=True)
class Recorded:
    """What retention needs to know of any message-like event: never its content."""

    event_id: EventID
    sender: UserID
    timestamp_ms: int
    type: str
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordedIn:
    room_id: RoomID
    meta: Recorded


Incoming = (
    IncomingMessage | IncomingReaction | IncomingMembership | IncomingInvite | Undecryptable | RecordedIn
)


def _is_edit(content: dict[str, Any]) -> bool:
    relation = content.get("m.relates_to")
    return isinstance(relation, dict) and relation.get("rel_type") == "m.replace"


def convert(room_id: RoomID, event: Any) -> Incoming | None:
    """One timeline event → a value, or None for what the bot does not act on."""
    if isinstance(event, MegolmEvent):
        return Undecryptable(room_id, EventID(event.event_id), UserID(event.sender), event.session_id)
    if isinstance(event, RoomMessage):
        source = event.source.get("content", {})
        body = source.get("body")
        if not isinstance(body, str):
            body = ""
        return IncomingMessage(
            room_id,
            EventID(event.event_id),
            UserID(event.sender),
            int(event.server_timestamp),
            str(source.get("msgtype", "")),
            bool(getattr(event, "decrypted", False)),
            body,
            media_uris(source),
            edit=_is_edit(source),
        )
    if isinstance(event, ReactionEvent):
        return IncomingReaction(
            room_id,
            EventID(event.event_id),
            UserID(event.sender),
            int(event.server_timestamp),
            EventID(event.reacts_to),
            event.key,
        )
    if isinstance(event, RoomMemberEvent):
        return IncomingMembership(room_id, EventID(event.event_id), UserID(event.state_key), event.membership)
    return None


def recorded(event: Any) -> Recorded | None:
    source = getattr(event, "source", None) or {}
    event_type = source.get("type")
    if event_type not in MESSAGE_TYPES or "state_key" in source or not getattr(event, "event_id", None):
        return None
    if source.get("unsigned", {}).get("redacted_because") or (
        event_type != "m.room.encrypted" and not source.get("content")
    ):
        return None  # already redacted
    content = source.get("content", {})
    if isinstance(event, RoomMessage):
        content = event.source.get("content", {})  # the decrypted content for encrypted events
        event_type = "m.room.message"
    return Recorded(
        EventID(event.event_id),
        UserID(event.sender),
        int(getattr(event, "server_timestamp", 0) or source.get("origin_server_ts", 0)),
        str(event_type),
        media_uris(content) if isinstance(content, dict) else (),
    )


def media_uris(content: dict[str, Any]) -> tuple[str, ...]:
    """The mxc:// URIs a message refers to: the file and its thumbnail, plain or encrypted."""
    found: list[str] = []
    info: dict[str, Any] = content["info"] if isinstance(content.get("info"), dict) else {}
    for holder, key in ((content, "url"), (info, "thumbnail_url")):
        value = holder.get(key)
        if isinstance(value, str) and value.startswith("mxc://"):
            found.append(value)
    for holder, key in ((content, "file"), (info, "thumbnail_file")):
        value = holder.get(key)
        if (
            isinstance(value, dict)
            and isinstance(value.get("url"), str)
            and value["url"].startswith("mxc://")
        ):
            found.append(value["url"])
    return tuple(dict.fromkeys(found))


def invites(response: SyncResponse, own_user: UserID) -> list[IncomingInvite]:
    found = []
    for room_id, info in response.rooms.invite.items():
        for event in info.invite_state:
            if (
                isinstance(event, InviteMemberEvent)
                and event.state_key == own_user
                and event.membership == "invite"
            ):
                is_direct = bool(event.content.get("is_direct", False))
                found.append(IncomingInvite(RoomID(room_id), UserID(event.sender), is_direct))
    return found

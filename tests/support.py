"""Test doubles shared by unit tests: a BotContext on a real store (SQLite, or PostgreSQL when the
test runs for both backends, see tests/conftest.py), a recording Matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.consent.notices import NoticeHolder
from bot.context import BotContext
from bot.i18n import Catalog
from bot.ids import EventID, RoomID, UserID
from bot.pseudonym import Pseudonymizer
from bot.retention.policy import PolicyHolder
from bot.roles import RoleResolver
from bot.sealing import Sealer
from bot.store.consent import ConsentStore
from bot.store.db import Database
from bot.store.retention import RetentionStore
from bot.store.state import StateStore
from bot.store.stats import StatsStore

REPO = Path(__file__).resolve().parent.parent
BOT = UserID("@lotse:example.org")


class StoreChoice:
    """The backend the running test's stores use (set per test by the ``store_backend`` fixture):
    SQLite in the test's folder, or a fresh schema on the session's throwaway PostgreSQL."""

    def __init__(self) -> None:
        self.backend = "sqlite"
        self.server: Any = None  # tests.postgres.ThrowawayPostgres
        self.schemas: dict[Path, tuple[str, bool]] = {}

    async def url(self, path: Path, *, migrated: bool = False) -> str:
        """The PostgreSQL schema standing in for the file ``path``: on first use a new one (empty,
        or ``migrated`` already when the caller migrates it anyway), released after the test."""
        if path not in self.schemas:
            self.schemas[path] = await self.server.create_schema(migrated=migrated)
        return str(self.server.url(self.schemas[path][0]))


STORE = StoreChoice()


async def open_test_store(path: Path, *, migrated: bool = False) -> Database:
    """A store for a test, as the test's backend keeps it: the SQLite file ``path``, or a
    PostgreSQL schema of its own for that path (opening the same path again reopens it).
    ``migrated``: the caller migrates it at once, so PostgreSQL may hand out one migrated
    already (much faster); the caller's ``migrate()`` then has nothing to do."""
    if STORE.backend == "postgresql":
        return await Database.connect(await STORE.url(path, migrated=migrated))
    return await Database.open(path)


@dataclass
class Sent:
    room_id: RoomID
    body: str
    txn_id: str
    reply_to: EventID | None = None
    filename: str | None = None
    data: bytes | None = None


@dataclass
class FakeMatrix:
    """Records what the bot would do on the homeserver, and answers like a healthy one."""

    online: bool = True
    user_id: UserID = BOT
    sent: list[Sent] = field(default_factory=list)
    # Room state as the fake server knows it: members and their display names.
    room_members: dict[RoomID, list[UserID]] = field(default_factory=dict)
    names: dict[UserID, str] = field(default_factory=dict)
    invites: list[tuple[RoomID, UserID]] = field(default_factory=list)
    kicks: list[tuple[RoomID, UserID]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    power: dict[RoomID, dict[str, Any]] = field(default_factory=dict)
    redacted: list[tuple[RoomID, EventID]] = field(default_factory=list)
    deleted_media: list[str] = field(default_factory=list)
    existing_users: set[str] | None = None  # None: every user exists
    refuse_redaction_in: set[RoomID] = field(default_factory=set)
    # The admin API that redacts as the user: None = refused; else events it fails on.
    as_user_fails: set[EventID] | None = None
    as_user_calls: list[tuple[UserID, list[RoomID]]] = field(default_factory=list)
    unencrypted: set[RoomID] = field(default_factory=set)
    refuse_media_files: set[str] = field(default_factory=set)
    server_time: int | None = None  # the homeserver's clock; None: unknown (no check)
    # mxc → who uploaded it, as the media admin API would say (absent: remote or unknown).
    uploaders: dict[str, UserID] = field(default_factory=dict)
    # (room, sender, ts, text): what the server would return for messages_of.
    history_texts: list[tuple[RoomID, UserID, int, str]] = field(default_factory=list)
    # Rooms' names (m.room.name) and the accounts a user search finds, with display names.
    room_names: dict[RoomID, str] = field(default_factory=dict)
    directory: dict[UserID, str | None] = field(default_factory=dict)
    state: list[tuple[RoomID, str, dict[str, Any]]] = field(default_factory=list)
    _counter: int = 0

    def _event(self) -> EventID:
        self._counter += 1
        return EventID(f"$fake{self._counter}")

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
        if any(s.txn_id == txn_id and s.room_id == room_id for s in self.sent):
            return None  # the homeserver deduplicates transaction IDs
        self.sent.append(Sent(room_id, body, txn_id, reply_to))
        return self._event()

    async def send_file(
        self, room_id: RoomID, data: bytes, filename: str, mimetype: str, txn_id: str
    ) -> EventID | None:
        self.sent.append(Sent(room_id, "", txn_id, None, filename, data))
        return self._event()

    async def create_room(
        self,
        *,
        name: str | None,
        invite: list[UserID],
        is_direct: bool,
        moderators: Any = (),
        locked_down: bool = True,
    ) -> RoomID | None:
        room = RoomID(f"!room{len(self.created) + 1}:example.org")
        self.created.append(
            {
                "room_id": room,
                "name": name,
                "invite": list(invite),
                "is_direct": is_direct,
                "moderators": list(moderators),
            }
        )
        return room

    async def invite(self, room_id: RoomID, user_id: UserID) -> bool:
        self.invites.append((room_id, user_id))
        return True

    async def kick(self, room_id: RoomID, user_id: UserID, reason: str) -> bool:
        self.kicks.append((room_id, user_id))
        members = self.room_members.get(room_id, [])
        if user_id in members:
            members.remove(user_id)
        return True

    async def user_exists(self, user_id: UserID) -> bool:
        return self.existing_users is None or user_id in self.existing_users

    async def change_power_levels(self, room_id: RoomID, changes: dict[str, Any]) -> bool:
        self.power.setdefault(room_id, {}).update(changes)
        return True

    async def set_user_power(self, room_id: RoomID, user_id: UserID, level: int) -> bool:
        self.power.setdefault(room_id, {}).setdefault("users", {})[user_id] = level
        return True

    async def redact(self, room_id: RoomID, event_id: EventID, reason: str) -> bool:
        if room_id in self.refuse_redaction_in:
            return False
        self.redacted.append((room_id, event_id))
        return True

    async def redact_as_user(
        self, user_id: UserID, rooms: list[RoomID], reason: str
    ) -> dict[EventID, str] | None:
        self.as_user_calls.append((user_id, list(rooms)))
        if self.as_user_fails is None:
            return None
        return {event: "refused" for event in self.as_user_fails}

    async def delete_media(self, mxc: str) -> bool:
        if mxc in self.refuse_media_files:
            return False
        self.deleted_media.append(mxc)
        return True

    async def server_time_ms(self) -> int | None:
        return self.server_time

    def is_encrypted(self, room_id: RoomID) -> bool:
        return room_id not in self.unencrypted

    def display_name(self, room_id: RoomID, user_id: UserID) -> str | None:
        if user_id not in self.room_members.get(room_id, ()):
            return None
        return self.names.get(user_id, user_id.split(":", 1)[0].lstrip("@"))

    def members(self, room_id: RoomID) -> list[UserID]:
        return list(self.room_members.get(room_id, ()))

    async def room_name(self, room_id: RoomID) -> str | None:
        return self.room_names.get(room_id)

    async def search_users(self, term: str, *, admin_api: bool) -> list[tuple[UserID, str | None]]:
        # Like Synapse's admin API: the term anywhere in the local part or the display name.
        word = term.casefold()
        return [
            (user, name)
            for user, name in self.directory.items()
            if word in user.split(":", 1)[0].casefold() or word in (name or "").casefold()
        ]

    async def set_room_state(self, room_id: RoomID, event_type: str, content: dict[str, Any]) -> bool:
        self.state.append((room_id, event_type, content))
        if event_type == "m.room.name":
            self.room_names[room_id] = str(content.get("name", ""))
        return True

    async def media_uploader(self, mxc: str) -> UserID | None:
        return self.uploaders.get(mxc)

    async def messages_of(
        self, room_id: RoomID, sender: UserID, max_events: int = 10_000
    ) -> list[tuple[int, str]]:
        return [(ts, text) for room, who, ts, text in self.history_texts if room == room_id and who == sender]

    def texts_to(self, room_id: RoomID) -> list[str]:
        return [s.body for s in self.sent if s.room_id == room_id and s.filename is None]


async def make_context(
    tmp_path: Path,
    *,
    workers: list[str] = (),  # type: ignore[assignment]
    admins: list[str] = (),  # type: ignore[assignment]
    rooms: dict[str, str] | None = None,
    policies_dir: Path | None = None,
    sqlite: bool = False,
    **settings: Any,
) -> tuple[BotContext, FakeMatrix, Database]:
    """A context with a migrated database in ``tmp_path`` (the test's store backend; ``sqlite``:
    SQLite whatever the backend). Close the database when done."""
    s = Settings(
        homeserver={"url": "http://127.0.0.1:1"},
        bot={"user_id": BOT, "password": "x"},
        data_dir=tmp_path / "data",
        roles={"workers": list(workers), "admins": list(admins)},
        rooms=rooms or {},
        policies_dir=policies_dir or REPO / "policies",
        **settings,
    )
    if sqlite:
        db = await Database.open(tmp_path / "lotse.db")
    else:
        db = await open_test_store(tmp_path / "lotse.db", migrated=True)
    await db.migrate()
    db.start_writer()
    matrix = FakeMatrix()

    async def no_members(room: RoomID) -> set[UserID] | None:
        return None

    configured: dict[RoomID, str] = {}
    for kind, ref in (rooms or {}).items():
        configured[RoomID(ref)] = kind
    consent_texts = NoticeHolder(s.policies_dir / "consent", ("de", "en"))
    rules_texts = NoticeHolder(s.policies_dir / "worker-rules", ("de", "en"))
    policies = PolicyHolder(s.policies_dir)
    assert consent_texts.reload() is None and rules_texts.reload() is None and policies.reload() is None
    ctx = BotContext(
        settings=s,
        catalog=Catalog(s.default_language),
        state=StateStore(db),
        pseudonyms=Pseudonymizer(b"k" * 32),
        roles=RoleResolver([UserID(u) for u in workers], [UserID(u) for u in admins], [], [], no_members),
        matrix=matrix,
        consent=ConsentStore(db),
        sealer=Sealer(b"s" * 32),
        consent_notices=consent_texts,
        worker_rules=rules_texts,
        retention=RetentionStore(db),
        policies=policies,
        stats=StatsStore(db),
        configured_rooms=configured,
    )
    return ctx, matrix, db


async def acknowledge_rules(ctx: BotContext, user: UserID, version: str | None = None) -> None:
    """A worker has acknowledged the usage rules (the current version unless another is named)."""
    await ctx.consent.append(
        subject=ctx.subject(user),
        scope="worker_rules",
        purpose="employment",
        notice_version=ctx.worker_rules.get().version if version is None else version,
        language="de",
        decision="acknowledged",
        method="command",
    )

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.ids import EventID, RoomID, UserID
from bot.roles import Role

if TYPE_CHECKING:
    from bot.commands.registry import CommandTable
    from bot.context import BotContext

NO_EVENT = EventID("")
# Rooms where the bot is the only other member: commands work without "!".
ONE_TO_ONE = frozenset({"direct", "intake"})
ALL_ROOM_KINDS = frozenset({"direct", "group", "admin", "leadership", "team", "intake", "consultation"})
ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Request:
    sender: UserID
    room_id: RoomID
    room_kind: str
    roles: frozenset[Role]
    language: str
    args: tuple[str, ...]
    table: CommandTable = field(repr=False)
    event_id: EventID = NO_EVENT


@dataclass(frozen=True)
class Reply:
    text: str
    # Markdown texts (notices, rules) also go out formatted.
    markdown: bool = False


class CommandError(Exception):
    """A problem the user can fix; the message is a catalog key plus values."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


# None: the handler has answered by itself (files, several messages, other rooms).
Handler = Callable[["BotContext", Request], Awaitable[Reply | None]]


@dataclass(frozen=True)
class Arg:
    # Catalog key of the argument's placeholder in the syntax line (e.g. "arg.language").
    label_key: str
    required: bool = True


@dataclass(frozen=True)
class Command:
    """One command. Help text is the catalog entry ``cmd.<key>.help``."""

    key: str
    names: dict[str, str]  # language → the word users type
    roles: frozenset[Role]
    room_kinds: frozenset[str]
    handler: Handler = field(repr=False)
    args: tuple[Arg, ...] = ()
    # More words that mean this command, in any language ("stop" for withdraw).
    aliases: tuple[str, ...] = ()
    # Social workers must have acknowledged the current usage rules first.
    requires_rules: bool = False

    def name(self, language: str) -> str:
        """The word in ``language``; a variant's (plain German, ``de@ls``) is its base
        language's; a language without its own word (Arabic: the word typed in Arabic is an
        alias) gets the English one, which works everywhere."""
        base = language.split("@", 1)[0]
        return self.names.get(language) or self.names.get(base) or self.names["en"]

    def allowed(self, roles: frozenset[Role], room_kind: str) -> bool:
        return bool(self.roles & roles) and room_kind in self.room_kinds

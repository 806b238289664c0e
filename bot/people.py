"""Finding a person from what someone typed: ``@kim:example.org``, ``kim``, ``@kim`` or the
name Element shows (``Kim Berger``, ``kim b``).

Names come from room state the homeserver sent (members of rooms the bot is in), never from
what a message claims. Only people in the rooms the caller names are candidates: a worker
looking for a colleague searches the team's rooms, not the whole server.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.context import BotContext
from bot.ids import RoomID, UserID, parse_user_id, server_name


@dataclass(frozen=True)
class Found:
    user: UserID
    name: str


class PersonNotFound(Exception):
    def __init__(self, typed: str) -> None:
        super().__init__(typed)
        self.typed = typed


class PersonAmbiguous(Exception):
    def __init__(self, typed: str, options: list[Found]) -> None:
        super().__init__(typed)
        self.typed = typed
        self.options = options


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).split())


def candidates(ctx: BotContext, rooms: Iterable[RoomID]) -> dict[UserID, str]:
    """Members of these rooms (not the bot) and the names they go by there."""
    out: dict[UserID, str] = {}
    for room in rooms:
        for user in ctx.matrix.members(room):
            if user != ctx.matrix.user_id and user not in out:
                out[user] = ctx.matrix.display_name(room, user) or user
    return out


def find_person(ctx: BotContext, typed: str, rooms: Iterable[RoomID]) -> Found:
    """The one person ``typed`` means among the members of ``rooms``."""
    typed = typed.strip().strip(",.;:")
    people = candidates(ctx, rooms)
    if typed.startswith("@") and ":" in typed:
        try:
            user = parse_user_id(typed)
        except ValueError:
            raise PersonNotFound(typed) from None
        if user in people:
            return Found(user, people[user])
        raise PersonNotFound(typed)
    wanted = _fold(typed.lstrip("@"))
    if not wanted:
        raise PersonNotFound(typed)
    local = [u for u in people if _fold(u.split(":", 1)[0][1:]) == wanted]
    exact = [u for u, name in people.items() if _fold(name) == wanted]
    for matches in (local, exact):
        if len(set(matches)) == 1:
            return Found(matches[0], people[matches[0]])
    if local or exact:
        options = sorted({*local, *exact})
        raise PersonAmbiguous(typed, [Found(u, people[u]) for u in options])
    # "kim" for "Kim Berger", "kim b" for "Kim Berger": every typed word starts a name word.
    words = wanted.split()
    partial = [
        u
        for u, name in people.items()
        if all(any(part.startswith(w) for part in _fold(name).split()) for w in words)
    ]
    if len(partial) == 1:
        return Found(partial[0], people[partial[0]])
    if partial:
        raise PersonAmbiguous(typed, [Found(u, people[u]) for u in sorted(partial)])
    raise PersonNotFound(typed)


# What a Matrix local part may hold (the spec's user ID grammar).
_LOCAL_PART = re.compile(r"[a-z0-9._=/+\-]+")


class ForeignAccount(Exception):
    """An ID on another homeserver: Lotse only brings in people of its own server."""


def _local_part(user: UserID) -> str:
    return user.split(":", 1)[0][1:]


async def find_account(ctx: BotContext, typed: str) -> Found:
    """The one account on this homeserver ``typed`` means, for someone Lotse shares no room
    with yet (a client a worker brings in with ``!neu``): ``@kim:example.org``, the bare local
    name ``kim`` (``@kim`` too), or a display name found through the user directory.

    Stricter than :func:`find_person`, because the wrong person would be asked about a
    counselling conversation: a local name and a different account whose display name is
    exactly that word are two matches, and two matches are asked back, never guessed.
    """
    typed = " ".join(typed.split()).strip(",.;:")
    own = ctx.settings.server_name
    if typed.startswith("@") and ":" in typed:
        try:
            user = parse_user_id(typed)
        except ValueError:
            raise PersonNotFound(typed) from None
        if server_name(user) != own:
            raise ForeignAccount(typed)
        if not await ctx.matrix.user_exists(user):
            raise PersonNotFound(typed)
        names = dict(
            await ctx.matrix.search_users(_local_part(user), admin_api=ctx.settings.homeserver.admin_api)
        )
        return Found(user, names.get(user) or _local_part(user))
    wanted = _fold(typed.lstrip("@"))
    if not wanted:
        raise PersonNotFound(typed)
    accounts: dict[UserID, str] = {}
    local: UserID | None = None
    local_name = typed.lstrip("@").casefold()
    candidate = UserID(f"@{local_name}:{own}") if _LOCAL_PART.fullmatch(local_name) else None
    if candidate is not None and candidate != ctx.matrix.user_id and await ctx.matrix.user_exists(candidate):
        local = candidate
        accounts[candidate] = _local_part(candidate)
    # The directory searches word by word; the longest typed word narrows it most.
    term = max(typed.lstrip("@").split(), key=len)
    for user, name in await ctx.matrix.search_users(term, admin_api=ctx.settings.homeserver.admin_api):
        if server_name(user) == own and user != ctx.matrix.user_id:
            accounts[user] = name or accounts.get(user) or _local_part(user)
    exact = {u for u, name in accounts.items() if _fold(name) == wanted}
    if local is not None:
        exact.add(local)
    if len(exact) == 1:
        user = exact.pop()
        return Found(user, accounts[user])
    if exact:
        raise PersonAmbiguous(typed, [Found(u, accounts[u]) for u in sorted(exact)])
    words = wanted.split()
    partial = sorted(
        u
        for u, name in accounts.items()
        if all(any(part.startswith(w) for part in _fold(name).split()) for w in words)
    )
    if len(partial) == 1:
        return Found(partial[0], accounts[partial[0]])
    if partial:
        raise PersonAmbiguous(typed, [Found(u, accounts[u]) for u in partial])
    raise PersonNotFound(typed)

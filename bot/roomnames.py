"""Rooms by what people call them, and rooms named in replies the way people know them.

A command that takes a room accepts:

- a room ID (``!abc:example.org``, or without ``:server`` from room version 12 on), as it is;
- an alias (``#team:example.org``), resolved by the homeserver;
- a case number: ``#3``, ``3``, ``Fall 3``, ``case 3``, ``Fall #3`` (the case's counselling
  room; before it exists, the case's 1:1 chat with Lotse);
- the room's name, as Element shows it, case-insensitive; every typed word may begin a word of
  the name (``wohnung`` finds "Fall 3 · Wohnungssuche"). Two matching rooms are asked back.

Candidates for names are the rooms Lotse knows (its room table and the configured rooms); their
names come from the room state the homeserver sent (``m.room.name``), never from a message.

A reply names a room by its case ("Fall #3"), by its name („Team“) or by its kind, never by its
room ID, which means nothing to a person (:func:`describe`).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.context import BotContext
from bot.ids import RoomAlias, RoomID, parse_room_id

# "#3", "3", "Fall 3", "case #3", "Nr. 3", "Anfrage 3", "Beratung #3" (the name rooms had before).
_CASE = re.compile(
    r"^(?:(?:fall|case|anfrage|request|beratung|counselling|nr\.?|no\.?)\s*)?#?\s*(\d{1,9})$", re.IGNORECASE
)
# Words that may stand before a case number as an argument of their own: "Fall 3".
CASE_WORDS = frozenset({"fall", "case", "anfrage", "request", "nr", "nr.", "no", "no."})


@dataclass(frozen=True)
class Option:
    room: RoomID
    label: str


class RoomNotFound(Exception):
    def __init__(self, typed: str) -> None:
        super().__init__(typed)
        self.typed = typed


class CaseUnknown(Exception):
    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


class RoomAmbiguous(Exception):
    def __init__(self, typed: str, rooms: list[RoomID]) -> None:
        super().__init__(typed)
        self.typed = typed
        self.rooms = rooms


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).split())


def case_number(typed: str) -> int | None:
    """The case number in ``#3``, ``3``, ``Fall 3``, ``case #3``; None if it is none."""
    m = _CASE.match(" ".join(typed.split()).strip(",.;:"))
    return int(m.group(1)) if m else None


def split_case(args: Sequence[str]) -> tuple[int | None, list[str]]:
    """A leading case number and the words after it: ``Fall 3 Wohnungssuche`` → (3, [...])."""
    words = list(args)
    if len(words) >= 2 and words[0].casefold() in CASE_WORDS and case_number(words[1]) is not None:
        return case_number(words[1]), words[2:]
    if words and case_number(words[0]) is not None:
        return case_number(words[0]), words[1:]
    return None, words


def _words(text: str) -> list[str]:
    # "Fall 3 · Wohnungssuche" → ["fall", "3", "wohnungssuche"], "kim.berger" → ["kim", "berger"].
    return [w for w in re.split(r"[\s·,;:()\[\]/|–—._-]+", fold(text)) if w]


async def known_rooms(ctx: BotContext) -> list[RoomID]:
    """Rooms a name may stand for: the configured ones and those Lotse knows, except the 1:1
    intake chats (nameless; a case number names them)."""
    rooms = [row.room_id for row in await ctx.retention.rooms() if row.kind != "intake"]
    return list(dict.fromkeys([*ctx.configured_rooms, *rooms]))


async def _names(ctx: BotContext, rooms: Sequence[RoomID]) -> dict[RoomID, str]:
    """The rooms' names, a few asked at once (a quiet room's name is asked once per start)."""
    out: dict[RoomID, str] = {}
    for i in range(0, len(rooms), 16):
        chunk = rooms[i : i + 16]
        for room, name in zip(
            chunk, await asyncio.gather(*(ctx.matrix.room_name(r) for r in chunk)), strict=True
        ):
            if name:
                out[room] = name
    return out


async def find_room(ctx: BotContext, typed: str) -> RoomID:
    """The one room ``typed`` means; raises RoomNotFound, CaseUnknown or RoomAmbiguous."""
    typed = " ".join(typed.split()).strip("\"'„“”‚‘’«»")
    if not typed:
        raise RoomNotFound(typed)
    if typed.startswith("!"):  # a room ID (from room version 12 on without ":server")
        try:
            return parse_room_id(typed)
        except ValueError:
            raise RoomNotFound(typed) from None
    if typed.startswith("#") and ":" in typed:
        room = await ctx.matrix.resolve_alias(RoomAlias(typed))
        if room is None:
            raise RoomNotFound(typed)
        return room
    number = case_number(typed)
    if number is not None:
        intake = await ctx.consent.intake_by_id(number)
        if intake is None:
            raise CaseUnknown(number)
        return intake.consultation_room or intake.room_id
    return await _by_name(ctx, typed)


async def _by_name(ctx: BotContext, typed: str) -> RoomID:
    wanted = fold(typed)
    names = await _names(ctx, await known_rooms(ctx))
    exact = [room for room, name in names.items() if fold(name) == wanted]
    if len(exact) == 1:
        return exact[0]
    if not exact:
        typed_words = _words(typed)
        exact = [
            room
            for room, name in names.items()
            if typed_words and all(any(w.startswith(t) for w in _words(name)) for t in typed_words)
        ]
        if len(exact) == 1:
            return exact[0]
    if not exact:
        raise RoomNotFound(typed)
    raise RoomAmbiguous(typed, exact)


async def options(ctx: BotContext, rooms: Sequence[RoomID], language: str) -> list[Option]:
    """Labels that tell the rooms apart: the label, then the kind; the room ID only where even
    that is the same (two rooms of one kind with one name)."""
    labelled = [Option(room, await describe(ctx, room, language)) for room in rooms]
    counts: dict[str, int] = {}
    for o in labelled:
        counts[o.label] = counts.get(o.label, 0) + 1
    out = []
    for o in labelled:
        label = o.label
        if counts[label] > 1:
            kind = await _kind(ctx, o.room)
            if kind is not None:
                label = f"{label} ({ctx.catalog.text(language, f'kind.{kind}')})"
        out.append(Option(o.room, label))
    seen: dict[str, int] = {}
    for o in out:
        seen[o.label] = seen.get(o.label, 0) + 1
    return [Option(o.room, f"{o.label} [{o.room}]" if seen[o.label] > 1 else o.label) for o in out]


async def _kind(ctx: BotContext, room: RoomID) -> str | None:
    return ctx.configured_rooms.get(room) or await ctx.state.room_kind(room)


async def describe(ctx: BotContext, room: RoomID, language: str) -> str:
    """How a reply names a room: "Fall #3", "Einzelchat zu Fall #3", „Team“, or its kind."""
    t = ctx.catalog.text
    intake = await ctx.consent.intake_by_consultation(room)
    if intake is not None:
        return t(language, "roomref.case", n=str(intake.intake_id))
    intake = await ctx.consent.intake_by_room(room)
    if intake is not None:
        return t(language, "roomref.intake_chat", n=str(intake.intake_id))
    name = await ctx.matrix.room_name(room)
    if name:
        return t(language, "roomref.named", name=" ".join(name.split())[:60])
    kind = await _kind(ctx, room)
    if kind is not None:
        return t(language, "roomref.unnamed", kind=t(language, f"kind.{kind}"))
    return t(language, "roomref.unknown")


# -- a case's short label: "Fall 3 · Wohnungssuche" ----------------------------------------------

# + case number → the label a worker gave before the counselling room exists (dropped once the
# room carries it in its name, and with the client's erasure).
LABEL_KEY = "case_label:"
LABEL_MAX = 40
_OFF = frozenset({"aus", "off", "-", "keiner", "keine", "none", "standard", "default"})


def clean_label(words: Sequence[str]) -> str:
    """A label as typed, safe for a room name: no control or invisible characters, one line,
    short (lock screens show room names)."""
    text = " ".join(" ".join(words).split())
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs"))
    text = text.strip("\"'„“”‚‘’«»·").strip()
    return text[:LABEL_MAX].rstrip()


def is_reset(label: str) -> bool:
    return label.casefold() in _OFF


def names_the_person(label: str, name: str | None, user: str) -> bool:
    """Whether a label holds the client's full display name or account name: the case label
    is shown on lock screens and in room lists, where a name does not belong."""
    folded = f" {' '.join(_words(label))} "
    # A first name alone ("kim") is no full name; "kim.berger" or "Kim Berger" is.
    full = [_words(user.split(":", 1)[0].lstrip("@")), _words(name or "")]
    return any(f" {' '.join(words)} " in folded for words in full if len(words) >= 2)


def consultation_name(ctx: BotContext, number: int, label: str | None) -> str:
    """The counselling room's name, in the organisation's language: "Fall 3" or
    "Fall 3 · Wohnungssuche". Never the client's name."""
    default = ctx.catalog.default_language
    if label:
        return ctx.catalog.text(default, "room.consultation.name_label", n=str(number), label=label)
    return ctx.catalog.text(default, "room.consultation.name", n=str(number))


async def pending_label(ctx: BotContext, number: int) -> str | None:
    return await ctx.state.get(f"{LABEL_KEY}{number}")


async def keep_label(ctx: BotContext, number: int, label: str | None) -> None:
    if label:
        await ctx.state.put(f"{LABEL_KEY}{number}", label)
    else:
        await ctx.state.delete(f"{LABEL_KEY}{number}")

"""Retention policies: TOML files an admin edits, validated before anything is enforced.

A file in ``policies/`` (any ``*.toml``) holds named policies and may name the default::

    default = "standard"

    [policy.beratung]
    description = "Beratungsräume"
    max_age = "90d"          # messages older than this are deleted
    min_age = "30d"          # documentation duty: nothing younger is deleted, whatever else says
    media_max_age = "30d"    # files and images may go earlier than the messages
    room_kinds = ["consultation", "intake"]
    rooms = ["!abc:example.org", "#alias:example.org"]

Durations: a number and a unit: ``s``, ``min``, ``h``, ``d``, ``w``, ``mo`` (30 days),
``y`` (365 days), e.g. ``90d``, ``12w``, ``1y``.

Every file is checked as a whole; a problem refuses the whole set with file, line and reason,
and the set in force stays as it was. Two policies may not claim the same room or the same
room kind, and there is at most one default: which policy applies must never be a guess.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.ids import parse_room_ref

RoomKind = Literal["intake", "consultation", "team", "admin", "leadership", "group", "direct"]
ROOM_KINDS: tuple[str, ...] = RoomKind.__args__  # type: ignore[attr-defined]

_UNITS = {
    "s": 1,
    "sec": 1,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 30 * 86400,
    "y": 365 * 86400,
}
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")


def parse_duration(value: object) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (examples: 90d, 12w, 1y, 6mo)")
    m = _DURATION.match(value.casefold())
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"{value!r} is not a duration (examples: 90d, 12w, 1y, 6mo)")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    if seconds > 200 * 365 * 86400:
        raise ValueError(f"{value!r} is longer than 200 years")
    return dt.timedelta(seconds=seconds)


def format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("y", "mo", "w", "d", "h", "min"):
        size = _UNITS[unit]
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]


def _room_ref(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a room ID or alias")
    return str(parse_room_ref(value))


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    max_age: Duration
    min_age: Duration | None = None
    media_max_age: Duration | None = None
    room_kinds: list[RoomKind] = Field(default_factory=list)
    rooms: list[Annotated[str, BeforeValidator(_room_ref)]] = Field(default_factory=list)


class PolicyFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str | None = None
    policy: dict[str, PolicyModel] = Field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    max_age: dt.timedelta
    min_age: dt.timedelta | None
    media_max_age: dt.timedelta | None
    room_kinds: tuple[str, ...]
    rooms: tuple[str, ...]
    source: str  # file name, for "why does this apply"

    @property
    def message_lifetime(self) -> dt.timedelta:
        """How old a message may get: max_age, but never less than min_age."""
        return max(self.max_age, self.min_age or dt.timedelta(0))

    @property
    def media_lifetime(self) -> dt.timedelta:
        return max(self.media_max_age or self.max_age, self.min_age or dt.timedelta(0))


@dataclass(frozen=True)
class PolicySet:
    policies: Mapping[str, Policy]
    default: str | None
    files: tuple[str, ...] = field(default=())

    def by_kind(self, kind: str) -> Policy | None:
        return next((p for p in self.policies.values() if kind in p.room_kinds), None)

    def listing_room(self, refs: set[str]) -> Policy | None:
        return next((p for p in self.policies.values() if refs & set(p.rooms)), None)


EMPTY = PolicySet({}, None)


class PolicyError(ValueError):
    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path.name}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


def _name(value: object) -> str:
    """A TOML key as it may be written: bare, "double" or 'single' quoted."""
    escaped = re.escape(str(value))
    return rf"(?:{escaped}|\"{escaped}\"|'{escaped}')"


def _line_of(text: str, loc: tuple[Any, ...]) -> int:
    """The line a pydantic error location points at, found in the TOML text.

    Policies may be written as tables (``[policy.name]`` then ``key = …``) or as dotted keys
    (``policy.name.key = …``); names may be quoted.
    """
    lines = text.splitlines()
    if not (len(loc) >= 2 and loc[0] == "policy"):
        key = re.compile(rf"^\s*{_name(loc[0]) if loc else ''}\s*=")
        return next((i + 1 for i, line in enumerate(lines) if key.match(line)), 1)
    name = _name(loc[1])
    header = re.compile(rf"^\s*\[\s*policy\s*\.\s*{name}\s*\]")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if len(loc) == 2:
        dotted_any = re.compile(rf"^\s*policy\s*\.\s*{name}\s*\.")
        first = (
            start if start is not None else next((i for i, ln in enumerate(lines) if dotted_any.match(ln)), 0)
        )
        return first + 1
    key_name = _name(loc[2])
    dotted = re.compile(rf"^\s*policy\s*\.\s*{name}\s*\.\s*{key_name}\s*=")
    found = next((i + 1 for i, line in enumerate(lines) if dotted.match(line)), None)
    if found is not None:
        return found
    if start is not None:
        plain = re.compile(rf"^\s*{key_name}\s*=")
        for i in range(start + 1, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if plain.match(lines[i]):
                return i + 1
        return start + 1
    return 1


def _message(error: Any) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    loc = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling)"
    if error["type"] == "missing":
        return f"{loc}: missing"
    if error["type"] == "literal_error":
        return f"{loc}: {error.get('input')!r} is not a room kind ({', '.join(ROOM_KINDS)})"
    return f"{loc}: {msg}"


def read_texts(directory: Path) -> dict[str, str]:
    """The policy files' texts by file name; a file that is not UTF-8 is refused."""
    texts = {}
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        try:
            texts[path.name] = path.read_text(encoding="utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise PolicyError(path, line, "not UTF-8 text (save the file as UTF-8)") from None
    return texts


def parse_file(path: Path, text: str) -> PolicyFileModel:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise PolicyError(
            path, int(m.group(1)) if m else len(text.splitlines()), f"TOML syntax: {exc}"
        ) from None
    try:
        return PolicyFileModel.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PolicyError(path, _line_of(text, tuple(first["loc"])), _message(first)) from None


def load_policies(directory: Path) -> PolicySet:
    """All ``*.toml`` files in ``directory`` as one checked set."""
    return parse_policies(read_texts(directory), directory)


def parse_policies(texts: Mapping[str, str], directory: Path = Path()) -> PolicySet:
    """Policy file texts (by file name) as one checked set."""
    policies: dict[str, Policy] = {}
    default: tuple[str, Path, str] | None = None
    kinds: dict[str, str] = {}
    rooms: dict[str, str] = {}
    for name_of_file, text in sorted(texts.items()):
        path = directory / name_of_file
        model = parse_file(path, text)
        if model.default is not None:
            if default is not None:
                raise PolicyError(
                    path, _line_of(text, ("default",)), f"a default is already set in {default[1].name}"
                )
            default = (model.default, path, text)
        for name, p in model.policy.items():
            line = _line_of(text, ("policy", name))
            if name in policies:
                raise PolicyError(
                    path, line, f"policy {name!r} is already defined in {policies[name].source}"
                )
            for kind in p.room_kinds:
                if kind in kinds:
                    raise PolicyError(
                        path, line, f"room kind {kind!r} is already covered by policy {kinds[kind]!r}"
                    )
                kinds[kind] = name
            for room in p.rooms:
                if room in rooms:
                    raise PolicyError(path, line, f"room {room} is already covered by policy {rooms[room]!r}")
                rooms[room] = name
            policies[name] = Policy(
                name,
                p.description,
                p.max_age,
                p.min_age,
                p.media_max_age,
                tuple(p.room_kinds),
                tuple(p.rooms),
                path.name,
            )
    if default is not None and default[0] not in policies:
        raise PolicyError(
            default[1], _line_of(default[2], ("default",)), f"default policy {default[0]!r} is not defined"
        )
    return PolicySet(policies, default[0] if default else None, tuple(sorted(texts)))


class PolicyHolder:
    """The policies in force. A failed reload keeps the last good set and says why.

    ``texts`` are the files the set in force was read from: the caller stores them, so that
    after a restart with a broken file the last good set can be restored from them.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.current: PolicySet = EMPTY
        self.texts: dict[str, str] = {}
        self.loaded = False
        self.error: PolicyError | None = None

    def reload(self) -> PolicyError | None:
        try:
            texts = read_texts(self.directory)
            self.current = parse_policies(texts, self.directory)
            self.texts = texts
            self.loaded = True
            self.error = None
        except PolicyError as exc:
            self.error = exc
        return self.error

    def restore(self, texts: Mapping[str, str]) -> bool:
        """Fall back to stored texts of an earlier good set (used at start-up only)."""
        try:
            self.current = parse_policies(texts, self.directory)
        except PolicyError:
            return False
        self.texts = dict(texts)
        self.loaded = True
        return True

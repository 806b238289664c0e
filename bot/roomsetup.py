"""``lotse setup``: the managed rooms (team, admin, leadership), made by the bot itself.

For each kind: a room the configuration names that exists is checked (the bot a member with
the power it needs); a configured alias on this server that does not exist yet, or a kind the
configuration leaves out, gets a new room under that alias (``#lotse-team:server`` etc.). The
bot creates it, so it holds all power (room version 12: as the creator; older versions: level
100): encrypted, invite-only, not in the directory, no guests, history from joining on. Only
the bot changes its settings; the people invited (admins to the admin and leadership rooms,
workers to the team room) are moderators who may invite, remove and redact. Running it again
changes nothing that is in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.config import Settings
from bot.opsclient import OpsClient
from bot.powerlevels import power_of

KINDS = ("team", "admin", "leadership")
NAMES = {
    "de": {"team": "Team", "admin": "Lotse-Admin", "leadership": "Leitung"},
    "en": {"team": "Team", "admin": "Lotse admin", "leadership": "Leadership"},
}
MODERATOR = 50


@dataclass
class Outcome:
    kind: str
    ref: str
    room_id: str | None
    action: str  # created | ok | joined | problem
    detail: str = ""


def _power_levels(bot: str, moderators: list[str], room_version: str) -> dict[str, Any]:
    users = {u: MODERATOR for u in moderators}
    if not room_version.isdigit() or int(room_version) < 12:
        users[bot] = 100  # before version 12 the creator's power is only what is listed
    return {
        "users": users,
        "users_default": 0,
        "events_default": 0,
        "state_default": 100,
        "invite": MODERATOR,
        "kick": MODERATOR,
        "ban": MODERATOR,
        "redact": MODERATOR,
        "events": {
            "m.room.retention": 100,
            "m.room.power_levels": 100,
            "m.room.encryption": 100,
            "m.room.history_visibility": 100,
            "m.room.join_rules": 100,
            "m.room.name": MODERATOR,
            "m.room.topic": MODERATOR,
            "m.room.avatar": MODERATOR,
        },
    }


def _invitees(settings: Settings, kind: str) -> list[str]:
    own = settings.server_name
    people = settings.roles.workers if kind == "team" else settings.roles.admins
    return sorted({u for u in people if u.endswith(f":{own}") and u != settings.bot.user_id})


async def _room_version(ops: OpsClient) -> str:
    answer = await ops.request("GET", "/_matrix/client/v3/capabilities")
    versions = answer.body.get("capabilities", {}).get("m.room_versions", {}) if answer.status == 200 else {}
    return str(versions.get("default", "10"))


async def _create(ops: OpsClient, settings: Settings, kind: str, alias: str, language: str) -> Outcome:
    invite = _invitees(settings, kind)
    body = {
        "name": NAMES.get(language, NAMES["en"])[kind],
        "preset": "private_chat",
        "visibility": "private",
        "room_alias_name": alias[1:].split(":", 1)[0],
        "invite": invite,
        "initial_state": [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "joined"},
            },
            {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
        ],
        "power_level_content_override": _power_levels(settings.bot.user_id, invite, await _room_version(ops)),
    }
    answer = await ops.request("POST", "/_matrix/client/v3/createRoom", body)
    if answer.status != 200:
        return Outcome(
            kind,
            alias,
            None,
            "problem",
            f"creating the room failed: {answer.status} {answer.body.get('errcode')} "
            f"{answer.body.get('error', '')}".strip(),
        )
    invited = f", invited {', '.join(invite)}" if invite else ""
    return Outcome(kind, alias, str(answer.body["room_id"]), "created", f"encrypted, invite-only{invited}")


async def _check(ops: OpsClient, settings: Settings, kind: str, ref: str, room_id: str) -> Outcome:
    bot = settings.bot.user_id
    state = await ops.state(room_id)
    action = "ok"
    if state is None:
        # Invited but not joined yet: accept the invitation (the bot would do so when it runs).
        joined = await ops.request("POST", f"/_matrix/client/v3/join/{quote(room_id)}", {})
        if joined.status != 200:
            return Outcome(
                kind,
                ref,
                room_id,
                "problem",
                "the bot is not a member: invite it to the room (then run lotse setup again)",
            )
        action, state = "joined", await ops.state(room_id) or []
    power = power_of(bot, state)
    if not power.enough:
        return Outcome(
            kind,
            ref,
            room_id,
            "problem",
            f"the bot has power level {power.has}, it needs {power.needs} (to set the retention "
            f"rule and redact): an admin of the room gives {bot} level 100",
        )
    return Outcome(kind, ref, room_id, action, "the bot is a member with the power it needs")


async def setup_rooms(ops: OpsClient, settings: Settings, language: str) -> list[Outcome]:
    own = settings.server_name
    configured = settings.rooms.configured()
    out = []
    for kind in KINDS:
        ref = str(configured.get(kind) or f"#lotse-{kind}:{own}")
        room_id = await ops.resolve(ref)
        if room_id is not None:
            out.append(await _check(ops, settings, kind, ref, room_id))
        elif ref.startswith("#") and ref.endswith(f":{own}"):
            out.append(await _create(ops, settings, kind, ref, language))
        else:
            out.append(
                Outcome(kind, ref, None, "problem", "this alias is on another server: create the room there")
            )
    return out

"""``lotse demo``: everything on one machine, for a first look and for development.

Starts a private Synapse on 127.0.0.1, creates the bot's account and three demo people (a
social worker, a client, an admin), the team, admin and leadership rooms (the bot holds the
power it needs in each), seeds twelve weeks of made-up activity for the leadership report,
writes a config for the bot and runs it. Ctrl-C stops the bot and the homeserver.

Running it again reuses the folder: same accounts, rooms, bot device and port, so logins in
Element keep working. A second start on the same folder while one runs is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from bot.devserver.chat import prepare_device
from bot.devserver.lock import DemoLock, DemoRunning, stop_orphaned_synapse
from bot.devserver.synapse import Account, SynapseServer, free_port, port_taken
from bot.devserver.tour import PEOPLE, TourState, banner

log = logging.getLogger(__name__)

DEFAULT_PORT = 8008
# The join page for invitations (!einladen), on loopback like the homeserver.
DEFAULT_PAGE_PORT = 8091
BOT = "lotse"
# (key in demo.json, owner, room name, kind in the bot's config)
ROOMS = (
    ("admin_room", "admin", "Lotse Admin", "admin"),
    ("team_room", "anna", "Team", "team"),
    ("lead_room", "admin", "Leitung", "leadership"),
)


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do, in plain words."""


def say(text: str) -> None:
    """Print for the person at the terminal; a closed pipe (``| tee`` after Ctrl-C) is no error."""
    try:
        print(text, flush=True)
    except (BrokenPipeError, OSError):
        # Nobody reads stdout any more: send the rest nowhere, so shutdown still completes.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2))
    path.chmod(0o600)


def choose_port(requested: int | None, recorded: int | None) -> int:
    """The recorded port keeps Element logins working; a taken one is refused, never swapped."""
    if requested is not None:
        if port_taken(requested):
            raise DemoError(
                f"Port {requested} on 127.0.0.1 is in use by another program. "
                "Choose another one, e.g. --port 8010."
            )
        return requested
    if recorded is not None:
        if port_taken(recorded):
            raise DemoError(
                f"The demo's homeserver uses port {recorded}, but another program is using it now.\n"
                f"Stop that program, or move the demo to another port (Element then needs the new "
                f"address):\n    python3 dev.py run --port {recorded + 2}"
            )
        return recorded
    return free_port(DEFAULT_PORT)


def prepare(directory: Path, server: SynapseServer, state_file: Path, state: dict[str, Any]) -> None:
    """Accounts, rooms and the bot's config, on a running homeserver. Idempotent."""
    passwords: dict[str, str] = state.setdefault("passwords", {})
    for name in [BOT, *PEOPLE]:
        passwords.setdefault(name, secrets.token_urlsafe(9))
    _save(state_file, state)
    server.register(BOT, passwords[BOT], admin=True, user_type="bot")
    accounts = {name: Account(f"@{name}:{server.server_name}", passwords[name]) for name in PEOPLE}
    for name in PEOPLE:
        server.register(name, passwords[name])
    bot_id = f"@{BOT}:{server.server_name}"
    for key, owner, name, _kind in ROOMS:
        token = server.login(accounts[owner].user_id, accounts[owner].password).access_token
        assert token is not None
        try:
            if key not in state:
                state[key] = _create_room(server, token, name, bot_id)
                _save(state_file, state)
            _give_bot_power(server, token, state[key], bot_id)
        finally:
            server.api("POST", "/_matrix/client/v3/logout", {}, token)

    for name, account in accounts.items():
        prepare_device(server.url, account.user_id, account.password, directory / "chat" / name)

    bot_dir = directory / "bot"
    bot_dir.mkdir(exist_ok=True, mode=0o700)
    (bot_dir / "password").write_text(passwords[BOT] + "\n")
    (bot_dir / "password").chmod(0o600)
    state["config"] = {
        "homeserver": {"url": server.url},
        "bot": {"user_id": bot_id, "password_file": str(bot_dir / "password")},
        "data_dir": str(bot_dir),
        "rooms": {kind: state[key] for key, _owner, _name, kind in ROOMS},
        "organisation": {
            "name": "Demo-Beratungsstelle",
            "controller": "Demo-Beratungsstelle e.V., Musterstraße 1, 12345 Musterstadt",
            "dpo_contact": "datenschutz@demo.invalid",
        },
        "consent": {"minimum_age": 16},
        "roles": {"workers": [accounts["anna"].user_id], "admins": [accounts["admin"].user_id]},
    }
    _save(state_file, state)


def _create_room(server: SynapseServer, token: str, name: str, bot_id: str) -> str:
    """An encrypted, invite-only room owned by a demo person, with the bot invited."""
    status, body = server.api(
        "POST",
        "/_matrix/client/v3/createRoom",
        {
            "name": name,
            "preset": "private_chat",
            "invite": [bot_id],
            "initial_state": [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        },
        token,
    )
    if status != 200:
        raise DemoError(f"creating the room {name!r} failed: {status} {body.get('errcode')}")
    return str(body["room_id"])


def _give_bot_power(server: SynapseServer, token: str, room_id: str, bot_id: str) -> None:
    """The bot administers the managed rooms (retention state, notices): as an operator would set up.

    Added to the existing power levels, so the creator keeps theirs in every room version.
    """
    path = f"/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/"
    status, levels = server.api("GET", path, None, token)
    if status != 200:
        raise DemoError(f"reading the power levels of {room_id} failed: {status} {levels.get('errcode')}")
    users = levels.setdefault("users", {})
    if users.get(bot_id, 0) >= 100:
        return
    users[bot_id] = 100
    status, body = server.api("PUT", path, levels, token)
    if status != 200:
        raise DemoError(f"giving the bot power in {room_id} failed: {status} {body.get('errcode')}")


async def _seed(settings: Any, team_room: str, client: str) -> TourState:
    """Seed the report's history once; tell the tour where the demo client stands."""
    from bot.devserver.seed import seed_demo_activity
    from bot.ids import RoomID, UserID
    from bot.offline import offline_context

    ctx, db = await offline_context(settings, create=True)
    try:
        result = await seed_demo_activity(ctx, RoomID(team_room))
        next_case = await db.fetchval("SELECT COALESCE(MAX(intake_id), 0) + 1 FROM intake")
        open_cases = [
            i for i in await ctx.consent.intakes_of(ctx.subject(UserID(client))) if i.state != "withdrawn"
        ]
    finally:
        await db.close()
    if result is not None:
        say(f"Seeded twelve weeks of made-up activity ({result.clients} clients) for the report.")
    return TourState(str(next_case), str(open_cases[-1].intake_id) if open_cases else None)


def run_demo(directory: Path, port: int | None) -> int:
    from bot import logsetup

    logsetup.configure("INFO")
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    lock = DemoLock(directory)
    try:
        lock.acquire()
    except DemoRunning as running:
        who = f" (process {running.pid})" if running.pid else ""
        port = _load(directory / "demo.json").get("port")
        where = f" at http://127.0.0.1:{port}" if port else ""
        print(
            f"A Lotse demo is already running{where} on {directory}{who}.\n"
            "Use that one, or stop it first with Ctrl-C in its terminal.",
            file=sys.stderr,
        )
        return 1
    try:
        return _run_locked(directory, port)
    except DemoError as err:
        print(f"The demo cannot start: {err}", file=sys.stderr)
        return 1
    finally:
        lock.release()


def _run_locked(directory: Path, port: int | None) -> int:
    from bot.config import load_settings

    orphan = stop_orphaned_synapse(directory / "synapse")
    if orphan is not None:
        say(f"Stopped a homeserver (process {orphan}) that an earlier demo had left running.")
    state_file = directory / "demo.json"
    state = _load(state_file)
    chosen = choose_port(port, state.get("port"))
    state["port"] = chosen
    _save(state_file, state)
    server = SynapseServer(directory / "synapse", chosen)
    say(f"Starting Synapse on {server.url} (data in {server.directory}) …")
    try:
        server.start()
        prepare(directory, server, state_file, state)
        state["page_port"] = free_port(state.get("page_port") or DEFAULT_PAGE_PORT)
        state["config"]["onboarding"] = {"page_port": state["page_port"]}
        _save(state_file, state)
        cfg_file = directory / "lotse.toml"
        cfg_file.write_text(_to_toml(state["config"]))
        settings = load_settings(cfg_file, env_file=None)
        tour = asyncio.run(_seed(settings, state["team_room"], f"@kim:{server.server_name}"))
        asyncio.run(_run_bot(settings, lambda: banner(server, state, directory, tour)))
    except KeyboardInterrupt:
        pass  # Ctrl-C before the bot was up: stop what was started
    finally:
        say("Stopping Synapse …")
        with contextlib.suppress(Exception):
            server.stop()
    say("Stopped. Run the same command again to continue where you left off.")
    return 0


async def _run_bot(settings: Any, tour: Any) -> None:
    from bot.app import Lotse

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP: the terminal was closed. All three stop the bot and then the homeserver.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    bot = Lotse(settings)
    task = asyncio.create_task(bot.run(stop))
    ready = asyncio.create_task(bot.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if bot.ready.is_set():
        say(tour())
    ready.cancel()
    await task


def _to_toml(config: dict[str, Any]) -> str:
    """The demo's config, as the TOML an operator would write by hand."""
    lines: list[str] = []
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    for key, value in scalars.items():
        lines.append(f"{key} = {json.dumps(value)}")
    for section, values in config.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            for key, value in values.items():
                lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"

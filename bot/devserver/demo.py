"""``lotse demo``: everything on one machine, for a first look and for development.

Starts a private Synapse on 127.0.0.1, creates the bot's account and three demo people (a
social worker, a client, an admin), an encrypted admin room, writes a config for the bot and
runs it. Ctrl-C stops the bot and the homeserver. Running it again reuses the folder: same
accounts, same rooms, same bot device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
from pathlib import Path
from typing import Any

from bot.devserver.synapse import Account, SynapseServer, free_port

log = logging.getLogger(__name__)

PEOPLE = {
    # localpart: (role shown to the newcomer, is a Synapse admin)
    "anna": ("social worker", False),
    "kim": ("client", False),
    "admin": ("Lotse admin", False),
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _save(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2))
    path.chmod(0o600)


def prepare(directory: Path, port: int) -> tuple[SynapseServer, dict[str, Any]]:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    state_file = directory / "demo.json"
    state = _load(state_file)
    server = SynapseServer(directory / "synapse", free_port(port))
    print(f"Starting Synapse on {server.url} (data in {server.directory}) …", flush=True)
    server.start()

    passwords: dict[str, str] = state.setdefault("passwords", {})
    for name in ["lotse", *PEOPLE]:
        passwords.setdefault(name, secrets.token_urlsafe(9))
    _save(state_file, state)
    server.register("lotse", passwords["lotse"], admin=True, user_type="bot")
    accounts: dict[str, Account] = {}
    for name in PEOPLE:
        server.register(name, passwords[name])
        accounts[name] = Account(f"@{name}:{server.server_name}", passwords[name])

    rooms = (
        ("admin_room", "admin", "Lotse Admin"),
        ("team_room", "anna", "Team"),
        ("lead_room", "admin", "Leitung"),
    )
    for key, owner, name in rooms:
        if key not in state:
            state[key] = _create_room(server, accounts[owner], name)
            _save(state_file, state)

    bot_dir = directory / "bot"
    bot_dir.mkdir(exist_ok=True, mode=0o700)
    (bot_dir / "password").write_text(passwords["lotse"] + "\n")
    (bot_dir / "password").chmod(0o600)
    state["config"] = {
        "homeserver": {"url": server.url},
        "bot": {
            "user_id": f"@lotse:{server.server_name}",
            "password_file": str(bot_dir / "password"),
        },
        "data_dir": str(bot_dir),
        "rooms": {"admin": state["admin_room"], "team": state["team_room"], "leadership": state["lead_room"]},
        "organisation": {
            "name": "Demo-Beratungsstelle",
            "controller": "Demo e.V., Musterstraße 1, 12345 Musterstadt",
            "dpo_contact": "datenschutz@demo.invalid",
        },
        "consent": {"minimum_age": 16},
        "roles": {"workers": [accounts["anna"].user_id], "admins": [accounts["admin"].user_id]},
    }
    _save(state_file, state)
    return server, state


def _create_room(server: SynapseServer, owner: Account, name: str) -> str:
    """An encrypted room owned by a demo person, with the bot invited."""
    login = server.login(owner.user_id, owner.password)
    status, body = server.api(
        "POST",
        "/_matrix/client/v3/createRoom",
        {
            "name": name,
            "preset": "private_chat",
            "invite": [f"@lotse:{server.server_name}"],
            "initial_state": [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        },
        login.access_token,
    )
    server.api("POST", "/_matrix/client/v3/logout", {}, login.access_token)
    if status != 200:
        raise RuntimeError(f"creating the room {name!r} failed: {status} {body.get('errcode')}")
    return str(body["room_id"])


def banner(server: SynapseServer, state: dict[str, Any], directory: Path) -> str:
    pw = state["passwords"]
    sn = server.server_name
    rows = "\n".join(
        f"    {role:<14} {f'@{name}:{sn}':<20} password: {pw[name]}" for name, (role, _) in PEOPLE.items()
    )
    return f"""
========================================================================
 Lotse demo is running
------------------------------------------------------------------------
 Homeserver   Synapse at {server.url}  (127.0.0.1 only, server name "{sn}")
 Bot          @lotse:{sn}  (end-to-end encryption on, device cross-signed)
 Data         {directory.resolve()}  (delete it to start from scratch)

 Log in with Element (Web, Desktop or mobile on this machine) or any Matrix
 client: choose "custom homeserver" {server.url} and one of
{rows}

 Try first (a client's first contact, consent, and the worker taking over):
  1. As kim (client): start a direct chat with @lotse:{sn}. Lotse offers
     languages, asks for kim's age and consent ("ja"/"yes", or react ✅).
  2. As anna (social worker): open the room "Team". Lotse announced the new
     request there. Write !bestätigen (usage rules), then !übernehmen 1:
     a counselling room for anna and kim opens.
  3. As kim, in the chat with Lotse: meine-daten (your data as files),
     widerruf (withdraw consent), löschen (erase your messages).
  4. As anna: !neu @kim:{sn} starts an intake from the worker's side;
     !hilfe lists everything.
  5. As admin, in "Lotse Admin": !richtlinien (retention), !probelauf,
     !statistik (posts the anonymous report with chart to "Leitung").

 No Matrix client at hand? In a second terminal, chat as a demo person:
    .venv/bin/lotse chat anna      (or kim, admin)

 Ctrl-C stops the bot and the homeserver; running the command again
 reuses the same accounts, rooms and bot device.
========================================================================
"""


def run_demo(directory: Path, port: int) -> int:
    from bot import logsetup
    from bot.app import Lotse
    from bot.config import load_settings

    logsetup.configure("INFO")
    server, state = prepare(directory, port)
    try:
        cfg_file = directory / "lotse.toml"
        cfg_file.write_text(_to_toml(state["config"]))
        settings = load_settings(cfg_file, env_file=None)

        async def go() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            bot = Lotse(settings)
            task = asyncio.create_task(bot.run(stop))
            ready = asyncio.create_task(bot.ready.wait())
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            if bot.ready.is_set():
                print(banner(server, state, directory), flush=True)
            ready.cancel()
            await task

        asyncio.run(go())
    finally:
        print("Stopping Synapse …", flush=True)
        with contextlib.suppress(Exception):
            server.stop()
    print("Stopped. Run the same command again to continue where you left off.")
    return 0


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

"""``lotse chat NAME``: a minimal terminal Matrix client for the demo people.

For a first look without Element: it logs in as a demo person (once; the session and the
encryption keys stay in the demo folder), opens an encrypted 1:1 chat with the bot and shows
what the bot answers. Lines typed are sent as messages. Ctrl-D or Ctrl-C ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessage,
    SyncResponse,
)

ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


async def _sync(client: AsyncClient, timeout_ms: int) -> SyncResponse | None:
    resp = await client.sync(timeout=timeout_ms)
    if not isinstance(resp, SyncResponse):
        return None
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    await client.send_to_device_messages()
    return resp


async def chat(directory: Path, name: str) -> int:
    state: dict[str, Any] = json.loads((directory / "demo.json").read_text())
    password = state["passwords"].get(name)
    if password is None:
        print(f"No demo person {name!r}; choose one of: anna, kim, admin", file=sys.stderr)
        return 2
    url = state["config"]["homeserver"]["url"]
    server_name = state["config"]["bot"]["user_id"].split(":", 1)[1]
    bot_id = state["config"]["bot"]["user_id"]
    user_id = f"@{name}:{server_name}"
    home = directory / "chat" / name
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    session_file = home / "session.json"
    client = AsyncClient(
        url,
        user_id,
        store_path=str(home),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
    )
    try:
        if session_file.exists():
            s = json.loads(session_file.read_text())
            client.restore_login(user_id, s["device_id"], s["access_token"])
        else:
            resp = await client.login(password, device_name="lotse chat")
            if not isinstance(resp, LoginResponse):
                print(f"Login failed: {resp}", file=sys.stderr)
                return 1
            session_file.write_text(
                json.dumps({"device_id": resp.device_id, "access_token": resp.access_token})
            )
            session_file.chmod(0o600)
        await _sync(client, 0)
        room_file = home / "room"
        room_id = room_file.read_text().strip() if room_file.exists() else None
        if room_id is None or room_id not in client.rooms:
            created = await client.room_create(invite=[bot_id], is_direct=True, initial_state=[ENCRYPTION])
            if not isinstance(created, RoomCreateResponse):
                print(f"Could not open a chat with the bot: {created}", file=sys.stderr)
                return 1
            room_id = created.room_id
            room_file.write_text(room_id)
        print(f"Chatting with {bot_id} as {user_id}. Type a message (try: hilfe). Ctrl-D ends.")

        async def receive() -> None:
            while True:
                resp = await _sync(client, 30_000)
                if resp is None:
                    await asyncio.sleep(2)
                    continue
                info = resp.rooms.join.get(room_id)
                for event in info.timeline.events if info else []:
                    if isinstance(event, MegolmEvent):
                        print("[a message I cannot decrypt yet]")
                    elif isinstance(event, RoomMessage) and event.sender != user_id:
                        who = "Lotse" if event.sender == bot_id else event.sender
                        text = event.source.get("content", {}).get("body", "")
                        print(
                            f"\n[{who}] " + text.replace("\n", "\n    ") + "\n> ",
                            end="",
                            flush=True,
                        )

        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if line.strip():
                await client.room_send(
                    room_id,
                    "m.room.message",
                    {"msgtype": "m.text", "body": line.strip()},
                    ignore_unverified_devices=True,
                )
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    finally:
        await client.close()
    return 0

"""``lotse chat NAME``: a small terminal Matrix client for the demo people.

For trying Lotse without Element: it logs in as a demo person (once; the session and the
encryption keys stay in the demo folder), opens an encrypted 1:1 chat with the bot if there
is none, and shows every room the person is in. New messages from all rooms appear as
``[Room] Sender: text``; what you type goes to the current room. Lines starting with ``/``
are the client's own commands (``/help`` lists them). Ctrl-D or Ctrl-C ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    JoinResponse,
    LoginResponse,
    MatrixRoom,
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
HELP = """Commands of this little client (everything else is sent to the current room):
  /rooms           your rooms and invitations, with numbers
  /go NAME or N    switch to a room (a part of its name is enough)
  /join NAME or N  accept an invitation and switch to that room
  /react [EMOJI]   react to the last message here from someone else (default ✅)
  /help            this text
  /quit            end (Ctrl-D and Ctrl-C work too)"""


async def _sync(client: AsyncClient, timeout_ms: int, *, full_state: bool = False) -> SyncResponse | None:
    resp = await client.sync(timeout=timeout_ms, full_state=full_state)
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


@dataclass
class ChatSession:
    client: AsyncClient
    user_id: str
    bot_id: str
    current: str | None = None
    # The last message from someone else per room: what /react answers.
    last_other: dict[str, str] = field(default_factory=dict)
    interactive: bool = False

    # -- rooms -------------------------------------------------------------------------------

    def name(self, room: MatrixRoom) -> str:
        if room.name:
            return str(room.name)
        others = set(room.users) - {self.user_id}
        if others == {self.bot_id} or (not others and room.room_id in self.client.invited_rooms):
            return "Lotse"
        return str(room.display_name)

    def listing(self) -> list[tuple[str, MatrixRoom, bool]]:
        """(name, room, is an invitation), in a stable order: joined rooms first, then invitations."""
        joined = sorted(((self.name(r), r, False) for r in self.client.rooms.values()), key=lambda t: t[0])
        invited = sorted(
            ((self.name(r), r, True) for r in self.client.invited_rooms.values()), key=lambda t: t[0]
        )
        return joined + invited

    def find(self, query: str, *, invitations: bool) -> MatrixRoom | None:
        rooms = [(n, r) for n, r, inv in self.listing() if inv == invitations]
        everything = self.listing()
        if query.isdigit() and 0 < int(query) <= len(everything):
            _, room, invited = everything[int(query) - 1]
            return room if invited == invitations else None
        q = query.casefold().lstrip("#")
        exact = [r for n, r in rooms if n.casefold() == q]
        if exact:
            return exact[0]
        partial = [r for n, r in rooms if q and q in n.casefold()]
        return partial[0] if len(partial) == 1 else None

    def dm_with_bot(self) -> str | None:
        for room in self.client.rooms.values():
            if not room.name and set(room.users) == {self.user_id, self.bot_id}:
                return str(room.room_id)
        return None

    # -- output ------------------------------------------------------------------------------

    def prompt(self) -> None:
        if self.interactive:
            room = self.client.rooms.get(self.current or "")
            out(f"{self.name(room) if room else '-'}> ", end="")

    def say(self, text: str) -> None:
        """A line from elsewhere: in a terminal it replaces the prompt line, which comes back after."""
        out(("\r\x1b[K" if self.interactive else "") + text)

    def show_sync(self, resp: SyncResponse, *, last: int | None = None) -> None:
        """New events, every room; ``last``: only that many per room (what happened before)."""
        for room_id, info in resp.rooms.join.items():
            room = self.client.rooms.get(room_id)
            label = self.name(room) if room else room_id
            events = [e for e in info.timeline.events if isinstance(e, MegolmEvent | RoomMessage)]
            for event in events[-last:] if last else events:
                if isinstance(event, MegolmEvent):
                    self.say(f"[{label}] (a message that cannot be decrypted yet)")
                elif event.sender != self.user_id:
                    who = "Lotse" if event.sender == self.bot_id else self.display(room, event.sender)
                    self.say(f"[{label}] {who}: " + self.body(event).replace("\n", "\n    "))
                    self.last_other[room_id] = event.event_id
        for room_id, invite in resp.rooms.invite.items():
            inviter = next(
                (e.sender for e in invite.invite_state if isinstance(e, InviteMemberEvent)), "someone"
            )
            room = self.client.invited_rooms.get(room_id)
            name = self.name(room) if room else room_id
            who = "Lotse" if inviter == self.bot_id else inviter
            self.say(f"[invitation] {who} invites you to “{name}”: type /join {name}")

    @staticmethod
    def body(event: RoomMessage) -> str:
        content = event.source.get("content", {})
        kind = {"m.image": "picture", "m.file": "file", "m.audio": "audio", "m.video": "video"}.get(
            str(content.get("msgtype"))
        )
        body = str(content.get("body", ""))
        # A terminal cannot show a picture; Element shows it in the same room.
        return f"({kind}: {body} — open it in Element)" if kind else body

    def display(self, room: MatrixRoom | None, user_id: str) -> str:
        if room is not None and user_id in room.users:
            return str(room.users[user_id].display_name or user_id)
        return user_id

    # -- commands ----------------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """One typed line; False ends the session."""
        if not line.startswith("/"):
            if self.current is None:
                out("No room chosen: /rooms lists them, /go NAME picks one.")
                return True
            await self.client.room_send(
                self.current,
                "m.room.message",
                {"msgtype": "m.text", "body": line},
                ignore_unverified_devices=True,
            )
            return True
        command, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if command in ("quit", "exit", "q"):
            return False
        if command == "rooms":
            for i, (name, room, invited) in enumerate(self.listing(), start=1):
                mark = " ← here" if room.room_id == self.current else ""
                out(f"  {i}. {name}{'  (invitation: /join ' + str(i) + ')' if invited else ''}{mark}")
        elif command == "go":
            room = self.find(arg, invitations=False)
            if room is None:
                out(f"No room “{arg}” (or more than one): /rooms lists them.")
            else:
                self.current = room.room_id
                out(f"Now in “{self.name(room)}”.")
        elif command == "join":
            await self.join(arg)
        elif command == "react":
            await self.react(arg or "✅")
        else:
            out(HELP)
        return True

    async def join(self, arg: str) -> None:
        room = self.find(arg, invitations=True)
        if room is None:
            out(f"No invitation “{arg}”: /rooms lists them.")
            return
        name = self.name(room)
        resp = await self.client.join(room.room_id)
        if not isinstance(resp, JoinResponse):
            out(f"Could not join “{name}”: {getattr(resp, 'message', resp)}")
            return
        await _sync(self.client, 0)
        self.current = room.room_id
        out(f"Joined “{name}”; you are now there.")

    async def react(self, key: str) -> None:
        target = self.last_other.get(self.current or "")
        if self.current is None or target is None:
            out("Nothing to react to here yet.")
            return
        await self.client.room_send(
            self.current,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}},
            ignore_unverified_devices=True,
        )


def out(text: str, end: str = "\n") -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        print(text, end=end, flush=True)


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Read lines in a daemon thread: it never keeps the process alive after Ctrl-C or /quit."""

    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="stdin", daemon=True).start()


async def _login(client: AsyncClient, home: Path, user_id: str, password: str) -> bool:
    session_file = home / "session.json"
    if session_file.exists():
        s = json.loads(session_file.read_text())
        client.restore_login(user_id, s["device_id"], s["access_token"])
        return True
    resp = await client.login(password, device_name="lotse chat")
    if not isinstance(resp, LoginResponse):
        print(f"Login failed: {resp}", file=sys.stderr)
        return False
    session_file.write_text(json.dumps({"device_id": resp.device_id, "access_token": resp.access_token}))
    session_file.chmod(0o600)
    return True


async def chat(directory: Path, name: str) -> int:
    # nio's warnings (undecryptable events, key sharing) would drown the conversation.
    logging.basicConfig(level=logging.ERROR, force=True)
    state_file = directory / "demo.json"
    if not state_file.exists():
        print(f"No demo in {directory}: start it first with: python3 dev.py run", file=sys.stderr)
        return 2
    state: dict[str, Any] = json.loads(state_file.read_text())
    password = state["passwords"].get(name)
    if password is None:
        print(f"No demo person {name!r}; choose one of: anna, kim, admin", file=sys.stderr)
        return 2
    url = state["config"]["homeserver"]["url"]
    bot_id = state["config"]["bot"]["user_id"]
    user_id = f"@{name}:{bot_id.split(':', 1)[1]}"
    home = directory / "chat" / name
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    client = AsyncClient(
        url,
        user_id,
        store_path=str(home),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
    )
    session = ChatSession(client, user_id, bot_id, interactive=sys.stdin.isatty())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not await _login(client, home, user_id, password):
            return 1
        first = await _sync(client, 0, full_state=True)
        if first is None:
            print(f"The homeserver at {url} does not answer: is the demo running?", file=sys.stderr)
            return 1
        session.current = session.dm_with_bot()
        if session.current is None:
            created = await client.room_create(invite=[bot_id], is_direct=True, initial_state=[ENCRYPTION])
            if not isinstance(created, RoomCreateResponse):
                print(f"Could not open a chat with the bot: {created}", file=sys.stderr)
                return 1
            await _sync(client, 0)
            session.current = created.room_id
        out(f"You are {user_id}. Recent messages:")
        session.show_sync(first, last=3)
        out("Your rooms:")
        await session.handle("/rooms")
        out("You are in your chat with Lotse. Type a message (try: hilfe) or /help.")
        session.prompt()
        await _converse(session, stop)
    finally:
        await client.close()
    out("Bye.")
    return 0


async def _converse(session: ChatSession, stop: asyncio.Event) -> None:
    async def receive() -> None:
        while True:
            resp = await _sync(session.client, 30_000)
            if resp is None:
                await asyncio.sleep(2)
                continue
            if resp.rooms.join or resp.rooms.invite:
                session.show_sync(resp)
                session.prompt()

    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _stdin_lines(asyncio.get_running_loop(), lines)
    receiver = asyncio.create_task(receive())
    stopped = asyncio.create_task(stop.wait())
    try:
        while True:
            line_task = asyncio.create_task(lines.get())
            done, _ = await asyncio.wait({line_task, stopped, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if line_task not in done:
                line_task.cancel()
                break
            line = line_task.result()
            if line is None:  # Ctrl-D
                break
            if line.strip() and not await session.handle(line.strip()):
                break
            session.prompt()
    finally:
        for task in (receiver, stopped):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver

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
    downloads: Path
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
        """A room by number, name or a part of it; says what is wrong when it finds none."""
        rooms = [(n, r) for n, r, inv in self.listing() if inv == invitations]
        everything = self.listing()
        what = "invitation" if invitations else "room"
        if not query:
            example = rooms[0][0] if rooms else "Team"
            out(f"Which {what}? For example: /{'join' if invitations else 'go'} {example}")
            return None
        if query.isdigit() and 0 < int(query) <= len(everything):
            _, room, invited = everything[int(query) - 1]
            if invited == invitations:
                return room
        q = query.casefold().lstrip("#")
        exact = [r for n, r in rooms if n.casefold() == q]
        if exact:
            return exact[0]
        partial = [(n, r) for n, r in rooms if q and q in n.casefold()]
        if len(partial) == 1:
            return partial[0][1]
        if partial:
            out(f"“{query}” fits more than one {what}: " + ", ".join(n for n, _ in partial))
        else:
            out(f"No {what} “{query}”: /rooms lists them.")
        return None

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

    async def show_sync(self, resp: SyncResponse, *, last: int | None = None) -> int:
        """New events, every room; ``last``: only that many per room (what happened before).
        Returns how many lines were shown."""
        shown = 0
        for room_id, info in resp.rooms.join.items():
            room = self.client.rooms.get(room_id)
            label = self.name(room) if room else room_id
            events = [e for e in info.timeline.events if isinstance(e, MegolmEvent | RoomMessage)]
            for event in events[-last:] if last else events:
                if isinstance(event, MegolmEvent):
                    self.say(f"[{label}] (a message that cannot be decrypted yet)")
                    shown += 1
                elif event.sender != self.user_id:
                    who = "Lotse" if event.sender == self.bot_id else self.display(room, event.sender)
                    self.say(f"[{label}] {who}: " + (await self.body(event)).replace("\n", "\n    "))
                    self.last_other[room_id] = event.event_id
                    shown += 1
        for room_id, invite in resp.rooms.invite.items():
            inviter = next(
                (e.sender for e in invite.invite_state if isinstance(e, InviteMemberEvent)), "someone"
            )
            room = self.client.invited_rooms.get(room_id)
            name = self.name(room) if room else room_id
            who = "Lotse" if inviter == self.bot_id else inviter
            self.say(f"[invitation] {who} invites you to “{name}”: type /join {name}")
            shown += 1
        return shown

    async def body(self, event: RoomMessage) -> str:
        content = event.source.get("content", {})
        kind = {"m.image": "picture", "m.file": "file", "m.audio": "audio", "m.video": "video"}.get(
            str(content.get("msgtype"))
        )
        body = str(content.get("body", ""))
        if kind:
            saved = await self.save_file(content, body)
            return f"({kind} {body}, saved as {saved})" if saved else f"({kind}: {body} — open it in Element)"
        # The terminal shows Markdown's emphasis marks literally: drop them.
        return body.replace("**", "")

    async def save_file(self, content: dict[str, Any], name: str) -> str | None:
        """Download (and decrypt) a file the bot sent, into the person's demo folder."""
        from nio.crypto import decrypt_attachment

        try:
            info = content.get("file")
            mxc = str(info["url"] if info else content["url"])
            server, media_id = mxc[len("mxc://") :].split("/", 1)
            resp = await self.client.download(server_name=server, media_id=media_id)
            data: bytes = resp.body
            if info:
                data = decrypt_attachment(data, info["key"]["k"], info["hashes"]["sha256"], info["iv"])
        except Exception:  # a damaged or foreign file: say where to see it instead
            return None
        self.downloads.mkdir(exist_ok=True)
        target = self.downloads / Path(name).name
        target.write_bytes(data)
        try:
            return str(target.relative_to(Path.cwd()))
        except ValueError:
            return str(target)

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
            if room is not None:
                self.current = room.room_id
                out(f"Now in “{self.name(room)}”.")
        elif command == "join":
            await self.join(arg)
        elif command == "react":
            await self.react(arg or "✅")
        elif command == "help":
            out(HELP)
        else:
            out(f"/{command} is not a command of this client.\n{HELP}")
        return True

    async def join(self, arg: str) -> None:
        room = self.find(arg, invitations=True)
        if room is None:
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
        out(f"Reacted {key} to the last message here.")


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


def new_client(url: str, user_id: str, home: Path) -> AsyncClient:
    # No stored sync token: every start is an initial sync, which shows the last messages.
    return AsyncClient(
        url,
        user_id,
        store_path=str(home),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
    )


def prepare_device(url: str, user_id: str, password: str, home: Path) -> None:
    """Log a demo person's terminal device in and publish its keys before the bot starts, so
    that the bot encrypts for it from the first message on (a device that appears later cannot
    read what was sent before it existed)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (home / "session.json").exists():
        return

    async def go() -> None:
        client = new_client(url, user_id, home)
        try:
            if await login(client, home, user_id, password):
                await _sync(client, 0)
        finally:
            await client.close()

    asyncio.run(go())


async def login(client: AsyncClient, home: Path, user_id: str, password: str) -> bool:
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
    client = new_client(url, user_id, home)
    session = ChatSession(client, user_id, bot_id, home / "downloads", interactive=sys.stdin.isatty())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not await login(client, home, user_id, password):
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
        if not await session.show_sync(first, last=3):
            out("  (none)")
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
            if (resp.rooms.join or resp.rooms.invite) and await session.show_sync(resp):
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

"""The homeserver as ``lotse setup`` and ``lotse doctor`` see it: plain HTTP with the bot's token.

These commands may run while the bot runs, so they never open the bot's encryption store.
They use the bot's saved session (``session.json``) or configured access token; only when
neither exists (the bot never ran) do they log in with the password, as a short-lived device
that is logged out (deleted) again when they finish, so no stray device stays behind.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.config import Settings


class OpsError(Exception):
    """The homeserver cannot be used (unreachable, or the bot cannot log in)."""


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    elapsed_ms: float


class OpsClient:
    def __init__(self, settings: Settings, *, device_name: str = "Lotse (setup/doctor)") -> None:
        self.settings = settings
        self.base = settings.homeserver.url
        self.user_id = settings.bot.user_id
        self.device_name = device_name
        self.token: str | None = None
        self.device_id: str | None = None
        # "session" (the bot's own device), "token" (configured), "temporary" (logged in now)
        self.source: str | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OpsClient:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.source == "temporary" and self.token is not None:
                await self.request("POST", "/_matrix/client/v3/logout", {})
        except (OpsError, aiohttp.ClientError, TimeoutError):
            pass
        finally:
            if self._http is not None:
                await self._http.close()

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True
    ) -> Answer:
        assert self._http is not None
        headers = {"Content-Type": "application/json"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        started = time.monotonic()
        try:
            async with self._http.request(
                method, self.base + path, data=None if body is None else json.dumps(body), headers=headers
            ) as resp:
                raw = await resp.read()
                try:
                    payload = json.loads(raw) if raw else {}
                except ValueError:
                    payload = {}
                return Answer(
                    resp.status,
                    payload if isinstance(payload, dict) else {"value": payload},
                    dict(resp.headers),
                    (time.monotonic() - started) * 1000,
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OpsError(f"{self.base} cannot be reached ({type(exc).__name__}: {exc})") from None

    async def login(self) -> str:
        """Use the bot's session, its configured token, or a temporary login; return which."""
        session_file = self.settings.data_dir / "session.json"
        candidates: list[tuple[str, str]] = []
        try:
            session = json.loads(session_file.read_text(encoding="utf-8"))
            if session.get("user_id") == self.user_id and session.get("access_token"):
                candidates.append(("session", str(session["access_token"])))
        except (OSError, ValueError):
            pass
        if self.settings.bot.access_token is not None:
            candidates.append(("token", self.settings.bot.access_token.get_secret_value()))
        for source, token in candidates:
            self.token = token
            who = await self.request("GET", "/_matrix/client/v3/account/whoami")
            if who.status == 200:
                self.source, self.device_id = source, who.body.get("device_id")
                return source
        self.token = None
        if self.settings.bot.password is None:
            raise OpsError("the bot's saved session and access token were refused, and no password is set")
        answer = await self.request(
            "POST",
            "/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.user_id},
                "password": self.settings.bot.password.get_secret_value(),
                "initial_device_display_name": self.device_name,
            },
            auth=False,
        )
        if answer.status != 200:
            raise OpsError(
                f"the bot cannot log in as {self.user_id}: {answer.status} {answer.body.get('errcode')}"
            )
        self.token, self.source = str(answer.body["access_token"]), "temporary"
        self.device_id = answer.body.get("device_id")
        return "temporary"

    async def resolve(self, ref: str) -> str | None:
        """A room ID for a room ID or alias; None if the alias does not exist."""
        if ref.startswith("!"):
            return ref
        answer = await self.request("GET", f"/_matrix/client/v3/directory/room/{quote(ref)}")
        room = answer.body.get("room_id") if answer.status == 200 else None
        return str(room) if isinstance(room, str) else None

    async def state(self, room_id: str) -> list[dict[str, Any]] | None:
        """The room's current state, or None if the bot may not read it (not a member)."""
        answer = await self.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state")
        value = answer.body.get("value") if answer.status == 200 else None
        return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else None

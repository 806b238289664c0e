"""Inviting a client who has no account (the WhatsApp switch), end to end on a real Synapse.

A worker types ``!einladen en`` in their 1:1 chat with the bot; a new person registers with
the token (once: the second use fails), writes the pairing code to the bot, and the consent
intake runs with that worker responsible. The join page is opened in headless Chromium (the
distribution's package; ``python3 dev.py test`` installs it) in German and English, revoked
and expired.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.devserver.synapse import Account, SynapseServer
from bot.i18n import Catalog
from bot.matrix.client import png_size
from bot.onboarding.qr import qr_png
from tests.e2e.conftest import BotHarness, PersonaFactory, unique
from tests.e2e.personas import Persona, Seen

pytestmark = pytest.mark.e2e

CAT = Catalog("de")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=360,1600",  # a small phone
)


def frag(lang: str, key: str) -> str:
    """The catalog text up to its first placeholder: what a test can look for."""
    return CAT.text(lang, key).split("{")[0].strip().splitlines()[0]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: `python3 dev.py test` installs it with apt-get (as root)")
        pytest.skip("no chromium here (Debian: apt-get install chromium; `python3 dev.py test` does it)")
    return path


async def browse(url: str, profile: Path, screenshot: Path | None = None) -> str:
    """What a browser shows for ``url``: the DOM after loading (no JavaScript on the page)."""
    profile.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a test helper, once per page
    args = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    # Not blocking: the bot serving the page runs in this same event loop.
    proc = await asyncio.create_subprocess_exec(
        *args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def http_get(url: str) -> tuple[int, dict[str, str], str]:
    def fetch() -> tuple[int, dict[str, str], str]:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()

    return await asyncio.to_thread(fetch)


def register(synapse: SynapseServer, token: str | None) -> tuple[int, dict[str, Any]]:
    """Register a new account as Element does: user-interactive auth with the token stage."""
    localpart, password = unique("neu"), uuid.uuid4().hex
    body: dict[str, Any] = {
        "username": localpart,
        "password": password,
        "initial_device_display_name": "Phone",
    }
    status, resp = synapse.api("POST", "/_matrix/client/v3/register", body)
    assert status == 401 and "session" in resp, resp
    session = resp["session"]
    for _ in range(3):
        stages = {s for flow in resp.get("flows", []) for s in flow["stages"]} - set(
            resp.get("completed", [])
        )
        if token is not None and "m.login.registration_token" in stages:
            auth = {"type": "m.login.registration_token", "token": token, "session": session}
        else:
            auth = {"type": "m.login.dummy", "session": session}
        status, resp = synapse.api("POST", "/_matrix/client/v3/register", {**body, "auth": auth})
        if status != 401 or "errcode" in resp:
            break
    if status == 200:
        resp["password"] = password
    return status, resp


def token_valid(synapse: SynapseServer, token: str) -> bool:
    status, resp = synapse.api(
        "GET", f"/_matrix/client/v1/register/m.login.registration_token/validity?token={quote(token)}"
    )
    assert status == 200, resp
    return bool(resp["valid"])


@dataclass
class Invitation:
    text: str
    token: str
    code: str
    url: str
    image: Seen


@dataclass
class Setup:
    bot: BotHarness
    worker: Persona
    team: str
    chat: str  # the worker's 1:1 with the bot

    async def command(self, text: str) -> str:
        event = await self.worker.send(self.chat, text)
        replies = await self.worker.wait_for(
            lambda: [m for m in self.worker.from_user(self.chat, self.bot.user_id) if m.in_reply_to == event],
            30,
            f"reply to {text}",
        )
        return str(replies[0].body)

    async def invite(self, args: str = "") -> Invitation:
        bot = self.bot.user_id
        before = len(self.worker.from_user(self.chat, bot))
        await self.worker.send(self.chat, f"einladen {args}".strip())

        def arrived() -> list[Seen] | None:
            new = self.worker.from_user(self.chat, bot)[before:]
            return new if len(new) >= 3 else None

        note, text, image = await self.worker.wait_for(arrived, 30, "the invitation")
        assert note.body.startswith("Einladung #"), note.body
        token = re.search(r"(?:token|Token ein): ([a-z0-9]{12})", text.body)
        code = re.search(r"\b([A-Z0-9]{3}-[A-Z0-9]{3})\b", text.body)
        url = re.search(r"(http://127\.0\.0\.1:\d+/j/[A-Za-z0-9_-]{24})", text.body)
        assert token and code and url, text.body
        return Invitation(text.body, token.group(1), code.group(1), url.group(1), image)


@pytest.fixture
async def setup(bot: BotHarness, persona: PersonaFactory) -> AsyncIterator[Setup]:
    worker = await persona("worker")
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    bot.workers = [worker.user_id]
    bot.rooms = {"team": team}
    bot.extra = {"onboarding": {"page_port": 0}, "organisation": {"name": "Beratung Nord"}}
    await bot.start()
    await worker.wait_for_member(team, bot.user_id, "join")
    chat = await worker.create_room(invite=[bot.user_id], direct=True)
    await worker.wait_for_member(chat, bot.user_id, "join")
    s = Setup(bot, worker, team, chat)
    assert frag("de", "rules.acknowledged") in await s.command("bestätigen")
    yield s


async def test_a_client_without_an_account_is_invited_registers_and_is_paired(
    setup: Setup, synapse: SynapseServer, tmp_path: Path
) -> None:
    bot, worker = setup.bot.user_id, setup.worker
    # The team room is no place for tokens.
    assert frag("de", "dispatch.wrong_room") in await _team_command(setup, "!einladen")
    # Registration without a token is refused: the homeserver is not open.
    status, resp = register(synapse, None)
    assert status == 401 and "access_token" not in resp
    assert all("m.login.registration_token" in f["stages"] for f in resp.get("flows", [{"stages": []}]))

    invitation = await setup.invite("en")
    assert invitation.text.startswith("An invitation from Beratung Nord")
    assert synapse.url in invitation.text and bot in invitation.text
    # The QR code arrives as a picture (encrypted, like everything in this chat).
    content = invitation.image.source["content"]
    assert content["msgtype"] == "m.image" and content["info"]["mimetype"] == "image/png"
    png = await worker.download(content)
    assert png_size(png) == (content["info"]["w"], content["info"]["h"])
    assert png == qr_png(invitation.url)  # the same picture: the code opens the join page
    # The link in the text opens the join page, with the token on it, never cached.
    status, headers, html = await http_get(invitation.url)
    assert status == 200 and invitation.token in html and invitation.code in html
    assert headers["Cache-Control"].startswith("no-store") and headers["Referrer-Policy"] == "no-referrer"
    # What a client's browser shows (English, the invitation's language).
    dom = await browse(invitation.url, tmp_path / "chromium")
    assert '<html lang="en">' in dom and "Install Element" in dom and "Create an account" in dom
    assert f'value="{invitation.token}"' in dom and f'value="{invitation.code}"' in dom
    assert "This invitation is valid until" in dom
    assert token_valid(synapse, invitation.token)

    # The new person registers with the token, once.
    status, account = register(synapse, invitation.token)
    assert status == 200, account
    status, resp = register(synapse, invitation.token)
    assert status != 200 and "access_token" not in resp
    assert not token_valid(synapse, invitation.token)

    client = Persona(
        synapse.url,
        Account(account["user_id"], account["password"], account["access_token"], account["device_id"]),
        tmp_path / "store-new-client",
    )
    try:
        await client.sync()
        room = await client.create_room(invite=[bot], direct=True)
        await client.wait_for_text(room, bot, "1. Deutsch")
        await client.send(room, f"Hello, my code is {invitation.code}")
        await client.wait_for_text(room, bot, frag("en", "onboarding.paired.client"))
        await client.wait_for_text(room, bot, "Are you 16 years or older?")
        told = await worker.wait_for_text(setup.chat, bot, "Deine Einladung #1 ist angekommen")
        assert "Anfrage #1" in told.body
        # The worker is responsible: after consent, their shared room opens by itself.
        await client.send(room, "yes")
        await client.wait_for_text(room, bot, frag("en", "intake.consent.question"))
        await client.send(room, "yes")
        consultation = await worker.accept_invite_from(bot, exclude={setup.team, setup.chat})
        assert await client.accept_invite_from(bot, exclude={room}) == consultation
        # The team never heard of an anonymous request: it was the inviting worker's from the start.
        await worker.sync()
        assert not worker.bot_said(setup.team, bot, frag("de", "notify.new_intake"))
    finally:
        await client.close()

    # The invitation is used: its page is gone.
    status, _, html = await http_get(invitation.url)
    assert status == 410 and "This invitation has expired" in html


async def test_open_invitations_are_listed_revoked_and_expire(
    setup: Setup, synapse: SynapseServer, tmp_path: Path
) -> None:
    assert await setup.command("einladungen") == CAT.text("de", "onboarding.list.none")
    revoked = await setup.invite()
    kept = await setup.invite("de")
    assert revoked.text.startswith("Einladung von Beratung Nord")
    listing = await setup.command("!einladungen")
    assert "#1 · Deutsch" in listing and "#2 · Deutsch" in listing and "noch kein Konto" in listing

    # The German page, as a phone shows it.
    dom = await browse(kept.url, tmp_path / "chromium")
    assert '<html lang="de">' in dom and "Element installieren" in dom and "Konto erstellen" in dom
    assert f'value="{kept.token}"' in dom and "Was dann passiert" in dom
    shot = tmp_path / "join-page-de.png"
    await browse(kept.url, tmp_path / "chromium", screenshot=shot)
    assert png_size(shot.read_bytes()) == (360, 1600)

    # Revoked: the token no longer registers anyone, the page says the invitation expired.
    assert await setup.command("zurückziehen 1") == CAT.text("de", "onboarding.revoke.done", n="1")
    assert not token_valid(synapse, revoked.token)
    status, _ = register(synapse, revoked.token)
    assert status != 200
    dom = await browse(revoked.url, tmp_path / "chromium")
    assert "Diese Einladung ist abgelaufen" in dom and revoked.token not in dom
    listing = await setup.command("einladungen")
    assert "#1" not in listing and "#2" in listing

    # Expired: the page says so (the homeserver's token expires at the same moment).
    with sqlite3.connect(setup.bot.data_dir / "lotse.db") as db:
        db.execute("UPDATE invitation SET expires_at = 1000 WHERE invitation_id = 2")
    dom = await browse(kept.url, tmp_path / "chromium")
    assert "Diese Einladung ist abgelaufen" in dom and kept.token not in dom
    assert await setup.command("einladungen") == CAT.text("de", "onboarding.list.none")


async def _team_command(setup: Setup, text: str) -> str:
    event = await setup.worker.send(setup.team, text)
    replies = await setup.worker.wait_for(
        lambda: [m for m in setup.worker.from_user(setup.team, setup.bot.user_id) if m.in_reply_to == event],
        30,
        f"reply to {text}",
    )
    return str(replies[0].body)

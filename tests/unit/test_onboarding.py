"""Invitations for clients without an account: codes, the store, the commands, pairing, the page."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.consent import rights, runtime
from bot.context import BotContext
from bot.i18n import Catalog
from bot.ids import EventID, RoomID, UserID
from bot.matrix.client import png_size
from bot.onboarding import codes, service
from bot.onboarding.page import CONTENT_SECURITY_POLICY, STYLE, STYLE_HASH
from bot.roles import Role
from bot.store.consent import Intake
from bot.web.joinpage import JoinPageServer
from tests.support import FakeMatrix, make_context

WORKER = UserID("@worker:example.org")
COLLEAGUE = UserID("@colleague:example.org")
CLIENT = UserID("@new-client:example.org")
WORKER_CHAT = RoomID("!worker-chat:example.org")
TEAM = RoomID("!team:example.org")
INTAKE_ROOM = RoomID("!intake:example.org")
CATALOG = Catalog("de")
T0 = 1_800_000_000.0
_EVENTS = itertools.count(1)


def event() -> EventID:
    return EventID(f"$ev{next(_EVENTS)}")


@dataclass
class TokenMatrix(FakeMatrix):
    """FakeMatrix plus Synapse's registration-token admin API."""

    tokens: dict[str, int] = field(default_factory=dict)  # token → uses
    expiries: dict[str, int] = field(default_factory=dict)
    refuse_tokens: bool = False

    async def create_registration_token(self, token: str, expiry_ms: int) -> bool:
        if self.refuse_tokens:
            return False
        self.tokens[token] = 0
        self.expiries[token] = expiry_ms
        return True

    async def registration_token_uses(self) -> dict[str, int] | None:
        return None if self.refuse_tokens else dict(self.tokens)

    async def delete_registration_token(self, token: str) -> bool:
        self.tokens.pop(token, None)
        return True


@dataclass
class Env:
    ctx: BotContext
    matrix: TokenMatrix
    now: list[float]

    async def command(self, text: str, sender: UserID = WORKER, room: RoomID = WORKER_CHAT) -> str | None:
        reply = await handle_message(
            self.ctx, COMMANDS, sender=sender, room_id=room, room_kind="direct", body=text, event_id=event()
        )
        return None if reply is None else reply.text

    async def invite(self, language: str = "") -> tuple[str, str]:
        """!einladen: the invitation's text and the join page's secret."""
        before = len(self.matrix.sent)
        assert await self.command(f"einladen {language}".strip()) is None
        texts = [s.body for s in self.matrix.sent[before:] if s.filename is None]
        match = re.search(r"/j/([A-Za-z0-9_-]{24})", texts[1])
        assert match, texts
        return texts[1], match.group(1)

    async def new_client(self, room: RoomID = INTAKE_ROOM, client: UserID = CLIENT) -> Intake:
        """The new account opens its 1:1 chat with the bot (as app.py does)."""
        return await runtime.start_intake(
            self.ctx,
            room,
            client,
            worker=None,
            notify_room=None,
            client_present=True,
            announce=not await service.expects_pairing(self.ctx),
        )

    async def client_says(self, text: str, room: RoomID = INTAKE_ROOM) -> bool:
        intake = await self.ctx.consent.intake_by_room(room)
        assert intake is not None
        return await service.on_client_text(self.ctx, intake, text, event())


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ctx, _, db = await make_context(
        tmp_path, workers=[WORKER, COLLEAGUE], rooms={"team": TEAM}, organisation={"name": "Beratung Nord"}
    )
    matrix = TokenMatrix()
    ctx.matrix = matrix
    now = [T0]
    ctx.clock = lambda: now[0]
    ctx.join_page_url = "http://127.0.0.1:8091"
    for worker in (WORKER, COLLEAGUE):
        await ctx.consent.append(
            subject=ctx.subject(worker),
            scope="worker_rules",
            purpose="employment",
            notice_version=ctx.worker_rules.get().version,
            language="de",
            decision="acknowledged",
            method="command",
        )
    try:
        yield Env(ctx, matrix, now)
    finally:
        await db.close()


# -- codes ------------------------------------------------------------------------------------


def test_secrets_follow_from_the_page_secret() -> None:
    one = codes.new_invitation()
    again = codes.derive(one.page_secret)
    assert again == one
    assert codes.is_page_secret(one.page_secret)
    assert len(one.token) == codes.TOKEN_LENGTH and set(one.token) <= set(codes.TOKEN_ALPHABET)
    assert len(one.pairing_code) == 6 and set(one.pairing_code) <= set(codes.PAIRING_ALPHABET)
    assert any(ch.isdigit() for ch in one.pairing_code)
    assert re.fullmatch(r"[A-Z0-9]{3}-[A-Z0-9]{3}", one.pairing_display)
    # Nothing that is stored reveals a secret.
    assert one.page_secret not in one.page_key and one.token not in one.token_hash
    other = codes.new_invitation()
    assert other.page_secret != one.page_secret and other.token != one.token


def test_no_lookalike_characters() -> None:
    for ch in "0O1lI":
        assert ch not in codes.TOKEN_ALPHABET and ch not in codes.PAIRING_ALPHABET


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("K7M-4PX", ["K7M4PX"]),
        ("k7m4px", ["K7M4PX"]),
        ("K7M 4PX", ["K7M4PX"]),
        ("Hallo, mein Code ist K7M-4PX.", ["K7M4PX"]),
        ("Hallo", []),
        ("Termin", []),  # six letters, no digit: a word, not a code
        ("ja", []),
        ("1", []),
    ],
)
def test_pairing_candidates(text: str, found: list[str]) -> None:
    assert codes.pairing_candidates(text) == found


def test_only_a_code() -> None:
    assert codes.only_a_code("K7M-4PX") and codes.only_a_code(" k7m 4px ")
    assert not codes.only_a_code("Hallo K7M-4PX") and not codes.only_a_code("Deutsch")


# -- the commands -------------------------------------------------------------------------------


def test_the_commands_are_for_workers_in_their_own_chat() -> None:
    for word in (
        "einladen",
        "invite",
        "einladungen",
        "invitations",
        "zurückziehen",
        "zurueckziehen",
        "revoke",
    ):
        found = COMMANDS.lookup(word)
        assert found is not None, word
        cmd = found[0]
        assert cmd.roles == frozenset({Role.WORKER}) and cmd.room_kinds == frozenset({"direct"})
        assert cmd.requires_rules
        assert not cmd.allowed(frozenset({Role.WORKER}), "team")
        assert not cmd.allowed(frozenset({Role.CLIENT}), "direct")


async def test_invite_posts_a_note_the_invitation_and_a_qr_code(env: Env) -> None:
    text, secret = await env.invite("en")
    sent = env.matrix.sent
    assert [s.room_id for s in sent] == [WORKER_CHAT] * 3
    note, invitation, image = sent
    assert note.body.startswith("Einladung #1 (English) ist bereit")  # the worker's language
    assert invitation.body.startswith("An invitation from Beratung Nord")  # the client's
    token = codes.derive(secret).token
    assert env.matrix.tokens == {token: 0}
    assert env.matrix.expiries[token] == int(T0 * 1000) + 7 * service.DAY_MS
    assert token in text and codes.derive(secret).pairing_display in text
    assert "http://127.0.0.1:1" in text  # the homeserver clients type into Element
    assert str(env.matrix.user_id) in text
    assert f"http://127.0.0.1:8091/j/{secret}" in text
    assert image.filename == "invitation-qr.png" and image.data is not None
    size = png_size(image.data)
    assert size is not None and size[0] == size[1] >= 200
    # The store keeps no secret in clear.
    rows = await env.ctx.consent.db.fetchall("SELECT * FROM invitation")
    assert len(rows) == 1
    stored = " ".join(str(v) for v in tuple(rows[0]))
    for clear in (secret, token, codes.derive(secret).pairing_code, str(WORKER)):
        assert clear not in stored


async def test_invite_in_the_default_language_and_unknown_languages(env: Env) -> None:
    text, _ = await env.invite()
    assert text.startswith("Einladung von Beratung Nord")
    reply = await env.command("einladen klingonisch")
    assert reply is not None and "klingonisch" in reply and "de, en" in reply


async def test_without_the_admin_api_the_worker_is_told(env: Env) -> None:
    env.matrix.refuse_tokens = True
    reply = await env.command("einladen")
    assert reply == CATALOG.text("de", "onboarding.invite.failed")
    assert await env.ctx.consent.db.fetchval("SELECT COUNT(*) FROM invitation") == 0


async def test_without_the_page_the_invitation_goes_out_without_qr(env: Env) -> None:
    env.ctx.join_page_url = None
    assert await env.command("einladen") is None
    assert [s.filename for s in env.matrix.sent] == [None, None]
    assert CATALOG.text("de", "onboarding.invite.no_page") in env.matrix.sent[0].body


async def test_list_and_revoke(env: Env) -> None:
    assert await env.command("einladungen") == CATALOG.text("de", "onboarding.list.none")
    _, first = await env.invite("en")
    await env.invite()
    env.matrix.tokens[codes.derive(first).token] = 1  # someone registered with the first
    listing = await env.command("einladungen")
    assert listing is not None
    lines = listing.splitlines()
    assert lines[1].startswith("#1 · English") and "Konto angelegt" in lines[1]
    assert lines[2].startswith("#2 · Deutsch") and "noch kein Konto" in lines[2]
    # Someone else's invitation cannot be revoked, nor an unknown one.
    assert await env.command("zurückziehen 1", sender=COLLEAGUE) == CATALOG.text(
        "de", "onboarding.revoke.unknown", n="1"
    )
    assert await env.command("zurückziehen 9") == CATALOG.text("de", "onboarding.revoke.unknown", n="9")
    assert await env.command("zurückziehen x") == CATALOG.text("de", "onboarding.revoke.usage")
    assert await env.command("zurückziehen 1") == CATALOG.text("de", "onboarding.revoke.done", n="1")
    assert codes.derive(first).token not in env.matrix.tokens
    assert await env.command("zurückziehen 1") == CATALOG.text("de", "onboarding.revoke.unknown", n="1")
    listing = await env.command("invitations")
    assert listing is not None and "#1" not in listing and "#2" in listing
    # Expired invitations are no longer listed.
    env.now[0] += 8 * 86400
    assert await env.command("einladungen") == CATALOG.text("de", "onboarding.list.none")


# -- pairing ------------------------------------------------------------------------------------


async def test_the_pairing_code_links_the_new_account_to_the_inviting_worker(env: Env) -> None:
    _, secret = await env.invite("en")
    env.matrix.sent.clear()
    intake = await env.new_client()
    # An invitation is open: the team does not hear of an anonymous request yet.
    assert env.matrix.texts_to(TEAM) == []
    code = codes.derive(secret).pairing_display
    assert await env.client_says(f"Hi, my code is {code.lower()}")
    paired = await env.ctx.consent.intake_by_id(intake.intake_id)
    assert paired is not None
    assert paired.worker == env.ctx.subject(WORKER) and paired.notify_room == WORKER_CHAT
    # The intake goes on in the invitation's language, with the age question.
    assert await env.ctx.language_of(CLIENT) == "en"
    assert paired.state == "age"
    client_texts = env.matrix.texts_to(INTAKE_ROOM)
    assert CATALOG.text("en", "onboarding.paired.client") in client_texts
    assert client_texts[-1].startswith("Are you 16 years or older?")
    assert env.matrix.texts_to(WORKER_CHAT) == [
        CATALOG.text("de", "onboarding.paired.worker", i="1", n=str(intake.intake_id))
    ]
    assert env.matrix.texts_to(TEAM) == []
    row = await env.ctx.consent.db.fetchone("SELECT state, client FROM invitation")
    assert row is not None and tuple(row) == ("used", env.ctx.subject(CLIENT))
    # Used: the code does not pair again, and the page is gone.
    assert not await service.expects_pairing(env.ctx)


async def test_a_first_message_without_a_code_announces_the_request(env: Env) -> None:
    await env.invite()
    env.matrix.sent.clear()
    intake = await env.new_client()
    assert not await env.client_says("Deutsch")
    assert env.matrix.texts_to(TEAM) == [CATALOG.text("de", "notify.new_intake", n=str(intake.intake_id))]
    assert not await env.client_says("noch was")
    assert len(env.matrix.texts_to(TEAM)) == 1  # once


async def test_without_open_invitations_nothing_changes(env: Env) -> None:
    intake = await env.new_client()
    assert env.matrix.texts_to(TEAM) == [CATALOG.text("de", "notify.new_intake", n=str(intake.intake_id))]
    assert not await env.client_says("K7M-4PX")  # no invitation: the flow reads it


async def test_wrong_codes_are_answered_and_limited(env: Env) -> None:
    _, secret = await env.invite()
    await env.new_client()
    wrong = "ZZZ-999"
    for _ in range(service.MAX_WRONG_CODES):
        assert await env.client_says(wrong)
        assert CATALOG.text("de", "onboarding.code.unknown") in env.matrix.texts_to(INTAKE_ROOM)[-1]
    # Enough guessing: even the right code is not looked up for this person any more.
    assert await env.client_says(codes.derive(secret).pairing_display)
    assert CATALOG.text("de", "onboarding.code.too_many") in env.matrix.texts_to(INTAKE_ROOM)[-1]
    intake = await env.ctx.consent.intake_by_room(INTAKE_ROOM)
    assert intake is not None and intake.worker is None


async def test_an_expired_invitation_pairs_only_if_its_token_was_used_in_time(env: Env) -> None:
    _, first = await env.invite()
    _, second = await env.invite()
    env.matrix.tokens[codes.derive(first).token] = 1
    env.now[0] += 7 * 86400 + 60
    await env.new_client()
    assert await env.client_says(codes.derive(second).pairing_display)  # unknown now
    assert CATALOG.text("de", "onboarding.code.unknown") in env.matrix.texts_to(INTAKE_ROOM)[-1]
    assert await env.client_says(codes.derive(first).pairing_display)
    intake = await env.ctx.consent.intake_by_room(INTAKE_ROOM)
    assert intake is not None and intake.worker == env.ctx.subject(WORKER)


async def test_long_expired_invitations_are_closed_and_their_tokens_deleted(env: Env) -> None:
    _, old = await env.invite()
    env.now[0] += 86400
    _, young = await env.invite()
    env.now[0] += 6 * 86400 + 60  # the first expired a minute ago, the second not yet
    assert await service.close_expired(env.ctx) == 0  # within the grace for pairing
    env.now[0] += 7 * 86400
    assert await service.close_expired(env.ctx) == 1
    assert set(env.matrix.tokens) == {codes.derive(young).token}
    row = await env.ctx.consent.db.fetchone("SELECT state FROM invitation WHERE invitation_id = 1")
    assert row is not None and row[0] == "expired"
    assert codes.derive(old).token not in env.matrix.tokens


async def test_a_request_a_colleague_took_stays_theirs(env: Env) -> None:
    _, secret = await env.invite()
    intake = await env.new_client()
    await runtime.worker_claims(env.ctx, intake, COLLEAGUE, TEAM, "$claim")
    env.matrix.sent.clear()
    assert await env.client_says(codes.derive(secret).pairing_display)
    fresh = await env.ctx.consent.intake_by_room(INTAKE_ROOM)
    assert fresh is not None and fresh.worker == env.ctx.subject(COLLEAGUE)
    assert env.matrix.texts_to(WORKER_CHAT) == [
        CATALOG.text("de", "onboarding.paired.taken", i="1", n=str(intake.intake_id))
    ]


async def test_the_team_hears_a_request_is_taken_if_it_was_announced(env: Env) -> None:
    intake = await env.new_client()  # announced: no invitation was open yet
    _, secret = await env.invite("en")
    env.matrix.sent.clear()
    assert await env.client_says(codes.derive(secret).pairing_display)
    assert env.matrix.texts_to(TEAM) == [
        CATALOG.text("de", "onboarding.team.paired", n=str(intake.intake_id))
    ]


async def test_the_invitation_is_in_the_clients_export_and_goes_with_an_erasure(env: Env) -> None:
    _, secret = await env.invite("en")
    await env.new_client()
    assert await env.client_says(codes.derive(secret).pairing_display)
    subject = env.ctx.subject(CLIENT)
    data = await rights.collect(env.ctx, subject)
    day = dt.datetime.fromtimestamp(T0, dt.UTC).date().isoformat()
    assert data["invitation"] == [{"number": 1, "language": "en", "created": day, "used": day}]
    assert env.ctx.subject(WORKER) not in json.dumps(data)  # the worker's data is not the client's
    intake = await env.ctx.consent.intake_by_room(INTAKE_ROOM)
    assert intake is not None
    await rights.erase(env.ctx, intake, "$erase")
    assert await env.ctx.invitations.of_client(subject) == []
    assert "invitation" not in await rights.collect(env.ctx, subject)


# -- the join page ------------------------------------------------------------------------------


@pytest.fixture
async def page(env: Env) -> AsyncIterator[TestClient[object, object]]:
    server = JoinPageServer(env.ctx)
    async with TestClient(TestServer(server.app)) as client:
        yield client


async def test_the_join_page_in_the_invitations_language(env: Env, page: TestClient[object, object]) -> None:
    _, secret = await env.invite("en")
    resp = await page.get(f"/j/{secret}")
    assert resp.status == 200
    html = await resp.text()
    assert '<html lang="en">' in html and "Install Element" in html
    secrets = codes.derive(secret)
    assert f'value="{secrets.token}"' in html and f'value="{secrets.pairing_display}"' in html
    assert 'value="http://127.0.0.1:1"' in html
    assert "play.google.com" in html and "f-droid.org" in html and "apps.apple.com" in html
    assert "<script" not in html and "<img" not in html and "<form" not in html
    assert resp.headers["Cache-Control"].startswith("no-store")
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert f"<style>{STYLE}</style>" in html and STYLE_HASH in CONTENT_SECURITY_POLICY

    _, german = await env.invite()
    html = await (await page.get(f"/j/{german}")).text()
    assert '<html lang="de">' in html and "Element installieren" in html


async def test_the_page_expires_with_the_invitation(env: Env, page: TestClient[object, object]) -> None:
    _, revoked = await env.invite("en")
    _, expired = await env.invite()
    assert await env.command("zurückziehen 1") is not None
    resp = await page.get(f"/j/{revoked}")
    assert resp.status == 410
    html = await resp.text()
    assert "This invitation has expired" in html and codes.derive(revoked).token not in html
    env.now[0] += 8 * 86400
    resp = await page.get(f"/j/{expired}")
    assert resp.status == 410 and "Diese Einladung ist abgelaufen" in await resp.text()
    for address in ("/j/nonsense", f"/j/{codes.new_invitation().page_secret}"):
        resp = await page.get(address)
        assert resp.status == 404
        html = await resp.text()
        assert "Diese Einladung ist abgelaufen" in html and "This invitation has expired" in html
    resp = await page.get("/")
    assert resp.status == 404 and resp.headers["Cache-Control"].startswith("no-store")


async def test_the_page_server_listens_and_stops(env: Env) -> None:
    env.ctx.settings = env.ctx.settings.model_copy(
        update={"onboarding": env.ctx.settings.onboarding.model_copy(update={"page_port": 0})}
    )
    server = JoinPageServer(env.ctx)
    url = await server.start()
    try:
        assert url is not None and url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    finally:
        await server.stop()

"""Synapse's admin API: registration tokens (invitations for people without an account).

The functions take the gateway's ``raw`` request (retries, one policy) so they can be tested
with a recording stand-in. The bot must be a server admin; without that, each returns what a
refusal means (False, None) and logs why, never the token itself.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol
from urllib.parse import quote

log = logging.getLogger(__name__)

TOKENS = "/_synapse/admin/v1/registration_tokens"


class Raw(Protocol):
    async def __call__(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        what: str | None = None,
        ok_statuses: tuple[int, ...] = (200,),
    ) -> tuple[int, dict[str, Any]]: ...


async def create_registration_token(raw: Raw, token: str, expiry_ms: int) -> bool:
    """A token that registers exactly one account until ``expiry_ms``."""
    status, body = await raw(
        "POST",
        f"{TOKENS}/new",
        {"token": token, "uses_allowed": 1, "expiry_time": expiry_ms},
        what="create registration token",
        ok_statuses=(200, 400, 403, 404),
    )
    if status != 200:
        log.warning(
            "creating a registration token refused: %s %s (the bot must be a server admin, and "
            "Synapse needs registration_requires_token)",
            status,
            body.get("errcode"),
        )
        return False
    return True


async def registration_token_uses(raw: Raw) -> dict[str, int] | None:
    """Every registration token the homeserver knows, with how many accounts registered with it
    (completed plus pending), or None if the API refused."""
    status, body = await raw("GET", TOKENS, what="list registration tokens", ok_statuses=(200, 403, 404))
    tokens = body.get("registration_tokens") if status == 200 else None
    if not isinstance(tokens, list):
        log.warning("listing registration tokens refused: %s %s", status, body.get("errcode"))
        return None
    out: dict[str, int] = {}
    for entry in tokens:
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            out[entry["token"]] = int(entry.get("completed") or 0) + int(entry.get("pending") or 0)
    return out


async def delete_registration_token(raw: Raw, token: str) -> bool:
    """Delete a token; one that is gone already counts as deleted."""
    status, body = await raw(
        "DELETE",
        f"{TOKENS}/{quote(token, safe='')}",
        what="delete registration token",
        ok_statuses=(200, 403, 404),
    )
    if status not in (200, 404):
        log.warning("deleting a registration token refused: %s %s", status, body.get("errcode"))
        return False
    return True

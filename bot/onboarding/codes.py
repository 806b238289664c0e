"""The secrets of one invitation, all derived from one random value.

An invitation is a secret ``page_secret`` (the last part of the join page's address). From it
follow the registration token (typed into Element once) and the pairing code (sent to the bot
as the first message). The bot's message and the join page are the only places they are
written: the store keeps a hash of the page secret (to find the page), a hash of the token (to
find it among the homeserver's tokens for revoking) and a keyed hash of the pairing code (short,
so a plain hash could be guessed through).

Both codes avoid characters that are confused when read out or typed on a phone (0/O, 1/l/I).
The token is lowercase (phones start lowercase in a login form, and the homeserver compares
exactly); the pairing code is matched ignoring case, spaces and dashes, and always holds a
digit so that no everyday word can be taken for one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from bot.render import strip_bidi_marks

TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 - an alphabet, not a secret
TOKEN_LENGTH = 12
PAIRING_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
PAIRING_LENGTH = 6
_PAIRING_DIGITS = frozenset("34679")
# A page secret: 18 random bytes, 24 URL-safe characters (144 bits).
PAGE_SECRET_BYTES = 18
_PAGE_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{24}$")


@dataclass(frozen=True)
class InvitationSecrets:
    page_secret: str
    token: str
    pairing_code: str  # without the dash; shown as "K7M-4PX"

    @property
    def page_key(self) -> str:
        return page_key(self.page_secret)

    @property
    def token_hash(self) -> str:
        return token_hash(self.token)

    @property
    def pairing_display(self) -> str:
        return display_pairing(self.pairing_code)


def _encode(digest: bytes, alphabet: str, length: int) -> str:
    number = int.from_bytes(digest, "big")
    out = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        out.append(alphabet[index])
    return "".join(out)


def _derive(page_secret: str, label: str) -> bytes:
    return hmac.new(page_secret.encode(), label.encode(), hashlib.sha256).digest()


def derive(page_secret: str) -> InvitationSecrets:
    token = _encode(_derive(page_secret, "lotse-token"), TOKEN_ALPHABET, TOKEN_LENGTH)
    counter = 0
    while True:
        code = _encode(_derive(page_secret, f"lotse-pairing-{counter}"), PAIRING_ALPHABET, PAIRING_LENGTH)
        if set(code) & _PAIRING_DIGITS:
            break
        counter += 1
    return InvitationSecrets(page_secret, token, code)


def new_invitation() -> InvitationSecrets:
    return derive(secrets.token_urlsafe(PAGE_SECRET_BYTES))


def is_page_secret(text: str) -> bool:
    return bool(_PAGE_SECRET_RE.match(text))


def page_key(page_secret: str) -> str:
    return hashlib.sha256(b"lotse-page\x00" + page_secret.encode()).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(b"lotse-token\x00" + token.encode()).hexdigest()


def display_pairing(code: str) -> str:
    return f"{code[:3]}-{code[3:]}"


def _normal(word: str) -> str:
    return word.upper().replace("-", "").replace("‐", "").replace("–", "")


def _looks_like_code(word: str) -> bool:
    return (
        len(word) == PAIRING_LENGTH and word.isascii() and word.isalnum() and any(ch.isdigit() for ch in word)
    )


def pairing_candidates(text: str) -> list[str]:
    """Pairing codes a message may hold, normalised: "k7m-4px", "K7M 4PX", "Mein Code: K7M4PX".

    Only words of the code's shape count (six letters or digits, a digit among them); a code
    typed with a lookalike character (0 for O) is not guessed at, it simply does not match.
    """
    words = [w.strip(".,;:!?()[]\"'«»„“”") for w in strip_bidi_marks(text).split()]
    words = [w for w in words if w]
    found: list[str] = []
    for i, word in enumerate(words):
        options = [_normal(word)]
        if i + 1 < len(words):
            options.append(_normal(word + words[i + 1]))  # "K7M 4PX"
        for option in options:
            if _looks_like_code(option) and option not in found:
                found.append(option)
    return found


def only_a_code(text: str) -> bool:
    """The message is nothing but something shaped like a pairing code."""
    compact = _normal("".join(strip_bidi_marks(text).split())).strip(".!")
    return _looks_like_code(compact)

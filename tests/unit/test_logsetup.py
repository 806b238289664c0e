"""Library log records never carry message text or user IDs."""

from __future__ import annotations

import logging

import pytest

from bot.logsetup import LibraryRedactor

MARKER = "geheim-7f3a"


def _record(name: str, msg: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    ("name", "msg", "args"),
    [
        # nio/events/misc.py: the validation error prints the event, body included.
        (
            "nio.events.misc",
            "Error validating event: %s",
            ({"type": "m.room.message", "sender": "@kim:example.org", "content": {"body": MARKER}},),
        ),
        ("nio.responses", "Error validating response: 'body' %s is not valid", (MARKER,)),
        ("nio.crypto.log", "Received a request for key from @kim:example.org for %s", ({"body": MARKER},)),
        ("aiohttp.client", "payload {'content': {'body': '%s'}}", (MARKER,)),
    ],
)
def test_library_records_lose_content_and_user_ids(name: str, msg: str, args: tuple[object, ...]) -> None:
    record = _record(name, msg, *args)
    assert LibraryRedactor().filter(record)
    text = record.getMessage()
    assert MARKER not in text and "@kim:example.org" not in text and "kim" not in text


def test_user_ids_in_plain_library_lines_are_replaced() -> None:
    record = _record("nio.crypto.log", "Olm session for @anna:server.example:8448 device X wedged")
    assert LibraryRedactor().filter(record)
    assert record.getMessage() == "Olm session for @… device X wedged"


def test_routine_crypto_chatter_is_dropped_and_own_records_untouched() -> None:
    assert not LibraryRedactor().filter(_record("nio.crypto.log", "Missing session for device ABC"))
    own = _record("bot.app", "intake #%d started", 3)
    assert LibraryRedactor().filter(own) and own.getMessage() == "intake #3 started"


def test_validation_chatter_is_information_not_a_warning() -> None:
    record = _record("nio.responses", "Error validating response: %s", "'x' is a required property")
    assert LibraryRedactor().filter(record)
    assert record.levelno == logging.INFO and record.levelname == "INFO"

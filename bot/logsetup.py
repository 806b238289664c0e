"""Logging that cannot leak message text or user IDs, also from the libraries.

Our own code logs only pseudonyms and counts. Libraries are not so careful: matrix-nio's
"Error validating event" warning prints the whole event (message text included, also of
decrypted events) and its crypto warnings name users and devices in clear. Every handler
therefore gets :class:`LibraryRedactor`, which rewrites library records before they are
written: Matrix user IDs become ``@…``, anything after an event's content is cut, and nio's
routine crypto chatter (an olm session being set up) is dropped.
"""

from __future__ import annotations

import logging
import re

# nio logs whole sync responses at DEBUG, aiosqlite logs statements and their parameters.
_CHATTY = ("nio", "peewee", "aiosqlite", "aiohttp", "asyncio")
_LIBRARIES = ("nio", "peewee", "aiosqlite", "aiohttp", "asyncio", "synapse", "twisted")
# Part of normal operation (the next to-device exchange fixes it); a warning per device is noise.
_ROUTINE = (
    re.compile(r"^Missing session for device"),
    re.compile(r"^Sharing group session for room"),
)
# nio's schema checks fail on harmless extensions of newer servers; with the details withheld
# such a line is nothing an operator can act on, so it is information, not a warning.
_VALIDATION = re.compile(r"^Error validating (?:event|response)")
_USER_ID = re.compile(r"@[^\s:'\"]{1,255}:[A-Za-z0-9.\-]+(?::\d+)?")
# Where a library starts printing an event or a validation error about one.
_CONTENT = re.compile(
    r"(Error validating (?:event|response|decrypted Olm event)[^:]*:|'content'|\"content\"|\{)"
)


class LibraryRedactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_LIBRARIES):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a library's broken format string: log that it happened, nothing else
            message = str(record.msg)
        if record.levelno < logging.ERROR and any(p.match(message) for p in _ROUTINE):
            return False
        if record.levelno == logging.WARNING and _VALIDATION.match(message):
            record.levelno, record.levelname = logging.INFO, "INFO"
        cut = _CONTENT.search(message)
        if cut is not None:
            message = message[: cut.end() if cut.group(0).endswith(":") else cut.start()].rstrip()
            message += " (details withheld: they may contain message text)"
        record.msg = _USER_ID.sub("@…", message)
        record.args = None
        record.exc_info = None  # tracebacks of library errors can carry event dicts too
        record.exc_text = None
        return True


def configure(level: str = "INFO", *, nio_debug: bool = False) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(LibraryRedactor())
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    if nio_debug:
        logging.getLogger("nio").setLevel(logging.DEBUG)

"""Logging that cannot leak message text: libraries that log bodies stay above DEBUG."""

from __future__ import annotations

import logging

# nio logs whole sync responses at DEBUG, aiosqlite logs statements and their parameters.
_CHATTY = ("nio", "peewee", "aiosqlite", "aiohttp", "asyncio")


def configure(level: str = "INFO", *, nio_debug: bool = False) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        force=True,
    )
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    if nio_debug:
        logging.getLogger("nio").setLevel(logging.DEBUG)

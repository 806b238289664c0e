"""Deleting a message's media, and only media that may be deleted.

A message's media references (``url``, ``file.url``, thumbnails) are the sender's word: anyone
can post an ``m.image`` whose URL is a colleague's avatar or a file from a room under a legal
hold. So a file is deleted only when the homeserver's media admin API says the message's own
sender uploaded it (a local upload), and no message in a room under a legal hold refers to it.
Everything else is left alone and not retried: it is not this message's to delete.
"""

from __future__ import annotations

import enum
import logging

from bot.context import BotContext
from bot.ids import RoomID

log = logging.getLogger(__name__)


class MediaOutcome(enum.Enum):
    DELETED = "deleted"
    NOT_THEIRS = "not_theirs"  # uploaded by someone else, remote, unknown, or needed under a hold
    FAILED = "failed"  # ours to delete, but the homeserver did not: try again later


async def delete_senders_media(
    ctx: BotContext, room_id: RoomID, sender: str, mxc: str, at_ms: int
) -> MediaOutcome:
    """``sender``: the store's pseudonym of the message's sender."""
    if await ctx.retention.media_held_elsewhere(mxc, at_ms):
        log.info("media in %s is also referenced from a room under a legal hold: kept", room_id)
        return MediaOutcome.NOT_THEIRS
    uploader = await ctx.matrix.media_uploader(mxc)
    if uploader is None or ctx.subject(uploader) != sender:
        log.warning("media referenced in %s was uploaded by someone else: not deleted", room_id)
        return MediaOutcome.NOT_THEIRS
    return MediaOutcome.DELETED if await ctx.matrix.delete_media(mxc) else MediaOutcome.FAILED

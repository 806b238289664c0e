"""Arguments several commands share, turned into answers that say what to type instead."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.types import CommandError
from bot.context import BotContext
from bot.ids import RoomID
from bot.people import ForeignAccount, Found, PersonAmbiguous, PersonNotFound, find_account
from bot.roomnames import CaseUnknown, RoomAmbiguous, RoomNotFound, find_room, options


async def room_argument(ctx: BotContext, typed: str, language: str) -> RoomID:
    """:func:`find_room` for a command: what went wrong becomes an answer that says what to
    type instead."""
    try:
        return await find_room(ctx, typed)
    except CaseUnknown as err:
        raise CommandError("roomref.no_case", n=str(err.number)) from None
    except RoomAmbiguous as err:
        names = ", ".join(o.label for o in await options(ctx, err.rooms[:6], language))
        raise CommandError("roomref.ambiguous", word=err.typed[:40], options=names) from None
    except RoomNotFound as err:
        raise CommandError("roomref.not_found", word=err.typed[:60]) from None


# A person's name is at most this many words ("Kim Berger", "Anna Maria von Stein").
NAME_WORDS = 4


async def account_and_rest(ctx: BotContext, args: Sequence[str]) -> tuple[Found, list[str]]:
    """The account the first words name (``@kim:server``, ``kim`` or ``Kim Berger``) and the
    words after them: the longest leading words that name someone win, so ``!neu Kim Berger
    Wohnungssuche`` is Kim Berger with the label "Wohnungssuche"."""
    for k in range(min(len(args), NAME_WORDS), 0, -1):
        try:
            return await find_account(ctx, " ".join(args[:k])), list(args[k:])
        except PersonNotFound:
            continue
        except ForeignAccount:
            raise CommandError("intake.new.foreign", server=ctx.settings.server_name) from None
        except PersonAmbiguous as err:
            raise ambiguous(err) from None
    typed = " ".join(args[:NAME_WORDS])
    raise CommandError("intake.new.not_found", word=typed[:60], server=ctx.settings.server_name)


def ambiguous(err: PersonAmbiguous) -> CommandError:
    """Asked back: who the typed words could mean, each with the ID that names them for sure."""
    names = ", ".join(f"{o.name} ({o.user})" for o in err.options[:5])
    return CommandError("person.ambiguous", word=err.typed[:40], options=names)

"""THE command table. The dispatcher, the help text and the authorisation tests all read it.

Each command names the word to type in German and in English, which roles may use it, in
which kinds of room, its arguments, and its handler. Help texts live in the catalogs under
``cmd.<key>.help``.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence

from bot.commands.handlers import (
    cases,
    consent,
    general,
    lifecycle,
    office,
    onboarding,
    retention,
    rooms,
    stats,
)
from bot.commands.types import ALL_ROLES, ALL_ROOM_KINDS, Arg, Command
from bot.roles import Role

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def normalize_word(word: str) -> str:
    """Case- and accent-insensitive form of a typed command word (``Hilfe``, ``HILFE!``)."""
    word = unicodedata.normalize("NFKD", word.strip().casefold())
    word = "".join(ch for ch in word if not unicodedata.combining(ch))
    return word.strip("!?.,;:")


def spellings(word: str) -> set[str]:
    """The forms a word may be typed in: ``übernehmen``, ``uebernehmen`` (no umlaut keys),
    ``ubernehmen`` (umlaut dropped)."""
    folded = unicodedata.normalize("NFC", word.strip().casefold())
    return {normalize_word(folded), normalize_word(folded.translate(_UMLAUTS))}


class CommandTable:
    def __init__(
        self, commands: Iterable[Command], most_used: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.commands = tuple(commands)
        self.most_used = dict(most_used or {})
        self._by_word: dict[str, tuple[Command, str]] = {}
        for cmd in self.commands:
            words = [*cmd.names.items(), *((next(iter(cmd.names)), a) for a in cmd.aliases)]
            for lang, name in words:
                for word in spellings(name):
                    existing = self._by_word.get(word)
                    if existing is not None and existing[0] is not cmd:
                        raise ValueError(f"command word {name!r} is used twice")
                    # The first language listed wins for words shared by languages ("status").
                    self._by_word.setdefault(word, (cmd, lang))

    def lookup(self, word: str) -> tuple[Command, str] | None:
        """The command a typed word names, and the language that word belongs to."""
        for form in spellings(word):
            if form in self._by_word:
                return self._by_word[form]
        return None

    def closest(self, word: str) -> tuple[Command, str] | None:
        """The command a mistyped word most likely meant ("übernehmn"), if any is close."""
        match = difflib.get_close_matches(normalize_word(word), list(self._by_word), n=1, cutoff=0.75)
        return self._by_word[match[0]] if match else None

    def __iter__(self) -> Iterator[Command]:
        return iter(self.commands)

    def visible(self, roles: frozenset[Role], room_kind: str) -> list[Command]:
        return [c for c in self.commands if c.allowed(roles, room_kind)]

    def top(self, roles: frozenset[Role], room_kind: str, n: int = 3) -> list[Command]:
        """The ``n`` commands most used in this kind of room that these roles may use there;
        filled up in table order when fewer are listed (help itself never counts)."""
        visible = [c for c in self.visible(roles, room_kind) if c.key != "help"]
        order = list(self.most_used.get(room_kind, ()))
        ranked = sorted(visible, key=lambda c: order.index(c.key) if c.key in order else len(order))
        return ranked[:n]


STAFF = frozenset({Role.WORKER, Role.ADMIN})
STAFF_ROOMS = frozenset({"direct", "group", "team", "admin", "leadership"})
CLIENT_ROOMS = frozenset({"intake"})
ADMINS = frozenset({Role.ADMIN})
ADMIN_ROOM = frozenset({"admin"})
# A worker's own 1:1 chat with the bot: invitations carry a token, not for the team room.
WORKER_CHAT = frozenset({"direct"})

# What people do most in each kind of room, most used first: ``hilfe`` shows the first three
# the sender may use there, each with an example (``cmd.<key>.example``), before the rest.
MOST_USED: dict[str, tuple[str, ...]] = {
    "intake": ("language", "my_data", "withdraw", "delete"),
    "direct": ("new_intake", "cases", "invite", "away", "status", "language"),
    "team": ("claim", "cases", "new_intake", "away", "office_hours"),
    "group": ("cases", "new_intake", "away", "office_hours"),
    "consultation": ("case_label", "handover", "close_case", "language"),
    "admin": ("room_policy", "dry_run", "hold", "stats_report", "status"),
    "leadership": ("language",),
}
# A case's own counselling room (the case is the room) and where staff talk about cases.
CASE_ROOMS = STAFF_ROOMS | {"consultation"}

COMMANDS = CommandTable(
    [
        Command(
            key="help",
            names={"de": "hilfe", "en": "help"},
            # The words of the client languages (ar, fa, tr, uk, ru): a client types them.
            aliases=("مساعدة", "مساعده", "راهنما", "yardım", "yardim", "допомога", "помощь"),
            roles=ALL_ROLES,
            room_kinds=ALL_ROOM_KINDS,
            handler=general.help_command,
            args=(Arg("arg.command", required=False),),
        ),
        Command(
            key="language",
            names={"de": "sprache", "en": "language"},
            aliases=("اللغة", "لغة", "زبان", "dil", "мова", "язык"),
            roles=ALL_ROLES,
            room_kinds=ALL_ROOM_KINDS,
            handler=general.language_command,
            args=(Arg("arg.language", required=False),),
        ),
        Command(
            key="new_intake",
            names={"de": "neu", "en": "new"},
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=consent.new_intake,
            args=(Arg("arg.person"), Arg("arg.label", required=False)),
            requires_rules=True,
        ),
        Command(
            key="case_label",
            names={"de": "fallname", "en": "case-name"},
            aliases=("fall-name", "case-label", "caselabel", "casename"),
            roles=frozenset({Role.WORKER}),
            # In the case's own counselling room the number may be left out.
            room_kinds=STAFF_ROOMS | {"consultation"},
            handler=rooms.case_label,
            args=(Arg("arg.case_number"), Arg("arg.label")),
            requires_rules=True,
        ),
        Command(
            key="claim",
            names={"de": "übernehmen", "en": "claim"},
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=consent.claim,
            args=(Arg("arg.number"),),
            requires_rules=True,
        ),
        Command(
            key="cases",
            names={"de": "fälle", "en": "cases"},
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=cases.my_cases,
            requires_rules=True,
        ),
        Command(
            key="handover",
            names={"de": "übergabe", "en": "handover"},
            aliases=("übergeben", "uebergeben"),
            roles=STAFF,
            room_kinds=CASE_ROOMS,
            handler=lifecycle.handover,
            args=(Arg("arg.case_and_person"),),
            requires_rules=True,
        ),
        Command(
            key="close_case",
            names={"de": "abschluss", "en": "close"},
            aliases=("abschließen", "abschliessen", "schließen"),
            roles=STAFF,
            room_kinds=CASE_ROOMS,
            handler=lifecycle.close_case,
            args=(Arg("arg.case", required=False),),
            requires_rules=True,
        ),
        Command(
            key="office_hours",
            names={"de": "sprechzeiten", "en": "office-hours"},
            aliases=("sprechzeit", "officehours", "hours"),
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=office.office_hours,
            args=(Arg("arg.hours", required=False),),
            requires_rules=True,
        ),
        Command(
            key="quiet",
            names={"de": "ruhe", "en": "quiet"},
            aliases=("stumm", "mute"),
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=office.quiet,
            args=(Arg("arg.on_off", required=False),),
            requires_rules=True,
        ),
        Command(
            key="away",
            names={"de": "abwesend", "en": "away"},
            aliases=("urlaub", "abwesenheit", "absent"),
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=office.away,
            args=(Arg("arg.absence", required=False),),
            requires_rules=True,
        ),
        Command(
            key="guardian",
            names={"de": "vormund", "en": "guardian"},
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=consent.guardian,
            args=(Arg("arg.number"), Arg("arg.note")),
            requires_rules=True,
        ),
        Command(
            key="answer",
            names={"de": "antwort", "en": "answer"},
            roles=frozenset({Role.WORKER}),
            room_kinds=STAFF_ROOMS,
            handler=consent.answer,
            args=(Arg("arg.number"), Arg("arg.text")),
            requires_rules=True,
        ),
        Command(
            key="withdraw",
            names={"de": "widerruf", "en": "withdraw"},
            aliases=("widerrufen", "stop", "stopp", "انسحاب", "انصراف", "vazgeç", "відкликати", "отозвать"),
            roles=ALL_ROLES,
            room_kinds=CLIENT_ROOMS,
            handler=consent.withdraw,
        ),
        Command(
            key="my_data",
            names={"de": "meine-daten", "en": "my-data"},
            aliases=(
                "auskunft",
                "meinedaten",
                "mydata",
                "بياناتي",
                "اطلاعات-من",
                "اطلاعاتم",
                "verilerim",
                "мої-дані",
                "мои-данные",
            ),
            roles=ALL_ROLES,
            room_kinds=CLIENT_ROOMS,
            handler=consent.my_data,
        ),
        Command(
            key="delete",
            names={"de": "löschen", "en": "delete"},
            aliases=("loeschen", "حذف", "sil", "видалити", "удалить"),
            roles=ALL_ROLES,
            room_kinds=CLIENT_ROOMS,
            handler=consent.delete,
        ),
        Command(
            key="invite",
            names={"de": "einladen", "en": "invite"},
            roles=frozenset({Role.WORKER}),
            room_kinds=WORKER_CHAT,
            handler=onboarding.invite,
            args=(Arg("arg.language", required=False),),
            requires_rules=True,
        ),
        Command(
            key="invitations",
            names={"de": "einladungen", "en": "invitations"},
            roles=frozenset({Role.WORKER}),
            room_kinds=WORKER_CHAT,
            handler=onboarding.invitations,
            requires_rules=True,
        ),
        Command(
            key="revoke_invitation",
            names={"de": "zurückziehen", "en": "revoke"},
            roles=frozenset({Role.WORKER}),
            room_kinds=WORKER_CHAT,
            handler=onboarding.revoke,
            args=(Arg("arg.number"),),
            requires_rules=True,
        ),
        Command(
            key="rules",
            names={"de": "regeln", "en": "rules"},
            roles=STAFF,
            room_kinds=STAFF_ROOMS,
            handler=consent.rules,
        ),
        Command(
            key="acknowledge",
            names={"de": "bestätigen", "en": "acknowledge"},
            roles=STAFF,
            room_kinds=STAFF_ROOMS,
            handler=consent.acknowledge,
        ),
        Command(
            key="reload",
            names={"de": "neu-laden", "en": "reload"},
            roles=frozenset({Role.ADMIN}),
            room_kinds=frozenset({"admin"}),
            handler=consent.reload_texts,
        ),
        Command(
            key="hold",
            names={"de": "aufbewahren", "en": "hold"},
            roles=frozenset({Role.ADMIN}),
            room_kinds=frozenset({"admin"}),
            handler=consent.hold,
            args=(Arg("arg.room"), Arg("arg.date_or_off")),
        ),
        Command(
            key="policies",
            names={"de": "richtlinien", "en": "policies"},
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=retention.list_policies,
        ),
        Command(
            key="policy",
            names={"de": "richtlinie", "en": "policy"},
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=retention.show_policy,
            args=(Arg("arg.policy"),),
        ),
        Command(
            key="room_policy",
            names={"de": "raumregel", "en": "room-policy"},
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=retention.room_policy,
            args=(Arg("arg.room"),),
        ),
        Command(
            key="assign",
            names={"de": "zuweisen", "en": "assign"},
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=retention.assign,
            args=(Arg("arg.room"), Arg("arg.policy")),
        ),
        Command(
            key="dry_run",
            names={"de": "probelauf", "en": "dry-run"},
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=retention.dry_run,
        ),
        Command(
            key="sweep",
            names={"de": "löschlauf", "en": "sweep"},
            aliases=("loeschlauf",),
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=retention.sweep_now,
        ),
        Command(
            key="report",
            names={"de": "löschbericht", "en": "retention-report"},
            aliases=("loeschbericht",),
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=retention.show_report,
            args=(Arg("arg.days", required=False),),
        ),
        Command(
            key="stats_report",
            names={"de": "statistik", "en": "stats"},
            roles=ADMINS,
            room_kinds=ADMIN_ROOM,
            handler=stats.post_report,
            args=(Arg("arg.period", required=False),),
        ),
        Command(
            key="status",
            names={"de": "status", "en": "status"},
            roles=frozenset({Role.ADMIN}),
            room_kinds=frozenset({"admin", "direct"}),
            handler=general.status_command,
        ),
    ],
    most_used=MOST_USED,
)

"""Which texts a client reads, and whether every language offered to clients has them.

A client-facing text is one a client (not a worker or an admin) reads: the language menu, the
age and consent questions, the answers to their rights (withdrawal, access, erasure), the
automatic answer outside office hours, the invitation and its join page, the help in their
chat. Every language a client can choose must have all of them (a test fails otherwise), so a
new client text cannot ship without all languages; worker and admin texts stay German and
English.

The list is kept here, in one place. A key is client-facing if it is named in
:data:`CLIENT_KEYS` or starts with one of :data:`CLIENT_PREFIXES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.i18n import Catalog, base_language, is_variant

# Whole families of keys only clients read.
CLIENT_PREFIXES = (
    "answer.",  # the words that count as yes, no, "full text" in the client's language
    "export.",  # the access request's answer and its files (Art. 15)
    "decision.",  # … which name consent decisions
    "method.",  # … and how they were given
    "withdraw.",  # withdrawal (Art. 7(3))
    "page.",  # the invitation's join page
    "office.when.",  # "on Monday, 7 December, from 9:00" in the automatic answer
)

CLIENT_KEYS = frozenset(
    {
        # The language itself: its name, other names people use for it, the menu.
        "language.name",
        "language.other_names",
        "language.menu",
        "language.set",
        "language.unknown",
        "intake.language.choose",
        "intake.language.again",
        # The intake: age, consent, what happens next.
        "intake.age.question",
        "intake.age.again",
        "intake.consent.question",
        "intake.consent.again",
        "intake.consent.again_after_answer",
        "intake.consent.question_forwarded",
        "intake.consent.renewed",
        "intake.consent.waiting_for_worker",
        "intake.declined",
        "intake.guardian.pending",
        "intake.ask_again",
        "intake.active.hint",
        "intake.notice_changed",
        "intake.room_ready",
        "intake.answer_from_team",
        "intake.erasing",
        "intake.after_erasure",
        "intake.after_erasure.kept",
        "intake.limit.open",
        "intake.not_private.open",
        "intake.not_private.others",
        "intake.not_private.unencrypted",
        "intake.not_private.unknown",
        "consent.retention",
        # The counselling room.
        "room.consultation.welcome",
        "room.closed",
        "room.reconsent_pending",
        "case.closed_for_client",
        "case.closed_client_writes",
        "case.handed_over",
        # Erasure (Art. 17) and rights asked for in the wrong room.
        "erase.confirm",
        "erase.cancelled",
        "erase.done",
        "erase.held",
        "erase.limits",
        "erase.retrying",
        "rights.answered_in_direct",
        "rights.not_yours",
        # The automatic answer when no one is in.
        "office.closed",
        "office.away",
        "office.substitute",
        "office.answer_from",
        "office.no_need_to_repeat",
        "office.emergency",
        # The invitation (read out, printed or forwarded to the client) and pairing.
        "onboarding.invite.message",
        "onboarding.invite.page",
        "onboarding.invite.valid",
        "onboarding.qr.filename",
        "onboarding.paired.client",
        "onboarding.paired.connected",
        "onboarding.code.unknown",
        "onboarding.code.too_many",
        # Help and replies in the client's chat.
        "help.header",
        "help.top",
        "help.more",
        "help.example",
        "help.footer.direct",
        "help.unknown_topic",
        "cmd.help.help",
        "cmd.help.example",
        "cmd.language.help",
        "cmd.language.example",
        "cmd.withdraw.help",
        "cmd.withdraw.example",
        "cmd.my_data.help",
        "cmd.my_data.example",
        "cmd.delete.help",
        "cmd.delete.example",
        "arg.command",
        "arg.language",
        "dispatch.not_understood",
        "dispatch.edit_ignored",
        "dispatch.undecryptable",
        "dispatch.did_you_mean",
        "dispatch.unknown",
        "dispatch.wrong_room",
        "dispatch.forbidden",
        "error.internal",
    }
)

# The commands a client uses: their words exist in every client language (registry aliases),
# and their help and example texts are client-facing.
CLIENT_COMMANDS = ("help", "language", "withdraw", "my_data", "delete")


def is_client_key(key: str) -> bool:
    return key in CLIENT_KEYS or key.startswith(CLIENT_PREFIXES)


def client_keys(catalog: Catalog) -> set[str]:
    """The client-facing keys of the default language's catalog (which has every key)."""
    return {k for k in catalog.keys(catalog.default_language) if is_client_key(k)}


@dataclass(frozen=True)
class LanguageStatus:
    code: str
    name: str
    review: str | None  # why the whole catalog needs review, or None if confirmed
    missing: list[str]  # client-facing keys it lacks (a variant: those its base lacks too)
    fuzzy: list[str]  # entries a translator marked as needing work
    notice_missing: bool  # a notice folder was given and has no notice in this language
    notice_review: str | None  # the notice's own review note
    notice_outdated: str | None = None  # its version, when another one is in force

    @property
    def complete(self) -> bool:
        notice = self.notice_missing or self.notice_review or self.notice_outdated
        return not (self.missing or self.review or self.fuzzy or notice)


def status(catalog: Catalog, notices: Path | None = None) -> list[LanguageStatus]:
    """Per language (menu order): missing client texts, and what still needs a native
    speaker's review. ``notices``: the consent notice folder (``policies/consent``)."""
    from bot.consent.notices import NoticeError, load_notices, parse_notice

    wanted = client_keys(catalog)
    outdated: dict[str, str] = {}
    in_force = ""
    if notices is not None:
        try:
            notice_set = load_notices(notices, ("de", "en"))
            outdated, in_force = dict(notice_set.outdated), notice_set.version
        except NoticeError:
            pass  # each file is read on its own below; check-config names the problem
    out = []
    for language in catalog.languages:
        have = catalog.keys(language.code)
        if is_variant(language.code):
            # A variant may take a text from its base language on purpose.
            have |= catalog.keys(base_language(language.code))
        notice_missing = False
        notice_review: str | None = None
        if notices is not None:
            path = notices / f"{language.code}.md"
            if not path.is_file():
                notice_missing = True
            else:
                try:
                    notice_review = parse_notice(path, path.read_text(encoding="utf-8")).review
                except (NoticeError, UnicodeDecodeError) as exc:
                    notice_review = f"cannot be read: {exc}"
        out.append(
            LanguageStatus(
                code=language.code,
                name=language.native_name,
                review=catalog.review_note(language.code),
                missing=sorted(wanted - have),
                fuzzy=sorted(catalog.fuzzy_keys(language.code) & wanted),
                notice_missing=notice_missing,
                notice_review=notice_review,
                notice_outdated=(
                    f"version {outdated[language.code]}, in force is {in_force}"
                    if language.code in outdated
                    else None
                ),
            )
        )
    return out


def status_text(statuses: list[LanguageStatus], *, only_problems: bool) -> str:
    """``lotse texts [--missing]``: one block per language."""
    lines = []
    for s in statuses:
        if only_problems and s.complete:
            continue
        state = "needs review" if s.review or s.notice_review or s.fuzzy or s.notice_outdated else "complete"
        if s.missing:
            state = f"{len(s.missing)} client texts missing"
        lines.append(f"{s.code} ({s.name}): {state}")
        if s.review:
            lines.append(f"  catalog: {s.review}")
        for key in s.missing:
            lines.append(f"  missing: {key}")
        for key in s.fuzzy:
            lines.append(f"  marked fuzzy (needs work): {key}")
        if s.notice_missing:
            lines.append(
                f"  consent notice: no {s.code}.md (clients who choose it read the default language's)"
            )
        elif s.notice_outdated:
            lines.append(
                f"  consent notice {s.code}.md: {s.notice_outdated} (set aside until it is translated)"
            )
        elif s.notice_review:
            lines.append(f"  consent notice {s.code}.md: {s.notice_review}")
    if not lines:
        return "All client texts are present and reviewed in every language."
    return "\n".join(lines)

"""The intake state machine: from a client's first message to an open consultation room.

States (``intake.state``)::

    waiting ─(client joins)─▶ language ─▶ age ─▶ consent ─┬─ yes, adult ─▶ active
                               (menu)    (only if a        ├─ yes, minor ─▶ guardian ─(worker
                                          minimum age      │                confirms)─▶ active
                                          is configured)   └─ no ─▶ declined
    active ─(withdraw)─▶ withdrawn;  declined/withdrawn ─(writes again)─▶ consent
    active ─(notice version changed, client writes)─▶ consent
    any ─(erasure requested)─▶ erase_confirm ─(not confirmed)─▶ back where it was

Until the state is ``active`` and a worker is responsible, no worker is in a room with the
client and nothing the client wrote reaches anybody: the bot keeps no message content.

:func:`on_client_text` and :func:`on_reaction` are pure: they take the intake's current
values and return :class:`Effect` values; the runtime executes them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.consent.answers import YesNo, normalize


@dataclass(frozen=True)
class IntakeView:
    intake_id: int
    state: str
    language: str | None
    minor: bool | None
    worker_assigned: bool
    has_consultation: bool
    consent_version: str | None  # the notice version of the consent currently given
    prior_state: str | None = None
    pending: str | None = None  # an action waiting for confirmation ("withdraw")


# -- effects --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """A text from the catalog, to the client in the intake room."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShowLanguageMenu:
    pass


@dataclass(frozen=True)
class AskAge:
    pass


@dataclass(frozen=True)
class AskConsent:
    """The summary and the question (the runtime remembers its event for reactions)."""


@dataclass(frozen=True)
class AskConsentAgain:
    """The short re-ask after an unclear answer (a ✅ on it counts like one on the question)."""

    key: str = "intake.consent.again"


@dataclass(frozen=True)
class ForwardQuestion:
    """The client asked something before deciding: the team gets the question, not the client."""

    text: str


@dataclass(frozen=True)
class SetPending:
    """An action that waits for the client's one-word confirmation, or None to clear it."""

    action: str | None


@dataclass(frozen=True)
class ShowFullNotice:
    pass


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class SetState:
    state: str
    minor: bool | None = None


@dataclass(frozen=True)
class Record:
    scope: str  # client | guardian
    decision: str  # given | declined | withdrawn | confirmed
    method: str  # text | number | reaction | command


@dataclass(frozen=True)
class OpenConsultation:
    pass


@dataclass(frozen=True)
class CloseConsultation:
    pass


@dataclass(frozen=True)
class NotifyWorker:
    key: str


@dataclass(frozen=True)
class StartErasure:
    pass


Effect = (
    Say
    | ShowLanguageMenu
    | AskAge
    | AskConsent
    | AskConsentAgain
    | ForwardQuestion
    | SetPending
    | ShowFullNotice
    | SetLanguage
    | SetState
    | Record
    | OpenConsultation
    | CloseConsultation
    | NotifyWorker
    | StartErasure
)


@dataclass(frozen=True)
class Vocabulary:
    """What the client's words mean, in the client's language (from the catalog)."""

    yes_no: Callable[[str], YesNo | None]
    choose_language: Callable[[str], str | None]
    is_full_text_request: Callable[[str], bool]
    minimum_age: int  # 0: do not ask
    is_question: Callable[[str], bool] = lambda _text: False
    # "ok?", "klar?", "y": answer-like words that are not a clear yes (re-asked, not forwarded).
    is_casual_answer: Callable[[str], bool] = lambda _text: False


def _method(text: str) -> str:
    return "number" if normalize(text) in ("1", "2") else "text"


def after_language(view: IntakeView, vocab: Vocabulary) -> list[Effect]:
    if vocab.minimum_age > 0 and view.minor is None:
        return [SetState("age"), AskAge()]
    return [SetState("consent"), AskConsent()]


def _consent_given(view: IntakeView, method: str) -> list[Effect]:
    effects: list[Effect] = [Record("client", "given", method)]
    if view.minor:
        return [
            *effects,
            SetState("guardian"),
            Say("intake.guardian.pending"),
            NotifyWorker("notify.guardian_needed"),
        ]
    effects.append(SetState("active"))
    if view.has_consultation:
        return [*effects, Say("intake.consent.renewed")]
    if view.worker_assigned:
        return [*effects, OpenConsultation()]
    return [
        *effects,
        Say("intake.consent.waiting_for_worker"),
        NotifyWorker("notify.ready_unclaimed"),
    ]


def _declined(method: str) -> list[Effect]:
    return [
        Record("client", "declined", method),
        SetState("declined"),
        Say("intake.declined"),
        NotifyWorker("notify.declined"),
    ]


def on_client_text(view: IntakeView, text: str, vocab: Vocabulary, current_version: str) -> list[Effect]:
    state = view.state
    if view.pending == "withdraw":
        # A slip of the thumb must not end a counselling relationship: only a clear yes does.
        if vocab.yes_no(text) is YesNo.YES:
            return _withdrawal(view)
        return [SetPending(None), Say("withdraw.cancelled")]
    if state == "waiting":
        return [ShowLanguageMenu(), SetState("language")]
    if state == "language":
        code = vocab.choose_language(text)
        if code is None:
            return [Say("intake.language.again"), ShowLanguageMenu()]
        return [SetLanguage(code), *after_language(view, vocab)]
    if state == "age":
        answer = vocab.yes_no(text)
        if answer is None:
            return [Say("intake.age.again"), AskAge()]
        minor = answer is YesNo.NO
        return [SetState("consent", minor=minor), AskConsent()]
    if state == "consent":
        if vocab.is_full_text_request(text):
            return [ShowFullNotice(), AskConsent()]
        answer = vocab.yes_no(text)
        if answer is YesNo.YES:
            return _consent_given(view, _method(text))
        if answer is YesNo.NO:
            return _declined(_method(text))
        if vocab.is_question(text) and not vocab.is_casual_answer(text):
            # "ja, aber was passiert mit meinen Fotos?": a person answers; the question stays open.
            return [Say("intake.consent.question_forwarded"), ForwardQuestion(text)]
        return [AskConsentAgain()]
    if state == "guardian":
        return [Say("intake.guardian.pending")]
    if state in ("declined", "withdrawn"):
        return [Say("intake.ask_again"), SetState("consent"), AskConsent()]
    if state == "active":
        if view.consent_version != current_version:
            return [Say("intake.notice_changed"), SetState("consent"), AskConsent()]
        return [Say("intake.active.hint" if view.has_consultation else "intake.consent.waiting_for_worker")]
    if state == "erase_confirm":
        if vocab.yes_no(text) is YesNo.YES:
            return [StartErasure()]
        return [Say("erase.cancelled"), SetState(view.prior_state or "withdrawn")]
    return []


def on_reaction(view: IntakeView, answer: YesNo) -> list[Effect]:
    """A ✅/❌ on the consent question counts like the words."""
    if view.state != "consent":
        return []
    if answer is YesNo.YES:
        return _consent_given(view, "reaction")
    return _declined("reaction")


def on_withdraw(view: IntakeView) -> list[Effect]:
    """The command asks once; the same command again, or a yes, confirms it."""
    if view.state not in ("active", "guardian") and view.consent_version is None:
        return [Say("withdraw.nothing")]
    if view.pending != "withdraw":
        return [SetPending("withdraw"), Say("withdraw.confirm")]
    return _withdrawal(view)


def _withdrawal(view: IntakeView) -> list[Effect]:
    effects: list[Effect] = [
        SetPending(None),
        Record("client", "withdrawn", "command"),
        SetState("withdrawn"),
    ]
    if view.has_consultation:
        effects.append(CloseConsultation())
    return [*effects, Say("withdraw.done"), NotifyWorker("notify.withdrawn")]


def on_guardian_confirmed(view: IntakeView) -> list[Effect]:
    if view.state != "guardian":
        return []
    return [Record("guardian", "confirmed", "command"), SetState("active"), OpenConsultation()]


def on_worker_assigned(view: IntakeView) -> list[Effect]:
    """A worker claimed the intake; if the client already consented, the room opens now."""
    if view.state == "active" and not view.has_consultation:
        return [OpenConsultation()]
    return []

"""bot/consent/flow.py: the intake state machine, as pure functions from a view to effects."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.consent.answers import YesNo
from bot.consent.flow import (
    AskAge,
    AskConsent,
    AskConsentAgain,
    CloseConsultation,
    Effect,
    ForwardQuestion,
    IntakeView,
    NotifyWorker,
    OpenConsultation,
    Record,
    Say,
    SetLanguage,
    SetPending,
    SetState,
    ShowFullNotice,
    ShowLanguageMenu,
    StartErasure,
    Vocabulary,
    after_language,
    on_client_text,
    on_guardian_confirmed,
    on_reaction,
    on_withdraw,
    on_worker_assigned,
)
from tests.support import REPO

VERSION = "2"
SCHEMA = (REPO / "migrations" / "0002_consent.sql").read_text(encoding="utf-8")


def _check_list(column: str) -> set[str]:
    m = re.search(rf"{column}\s+TEXT NOT NULL CHECK \({column} IN\s*\(([^)]*)\)\)", SCHEMA)
    assert m, column
    return set(re.findall(r"'([a-z_]+)'", m.group(1)))


STATES = sorted(_check_list("state"))
DECISIONS = _check_list("decision")
METHODS = _check_list("method")
SCOPES = _check_list("scope")

_ANSWERS = {"ja": YesNo.YES, "1": YesNo.YES, "1.": YesNo.YES, "nein": YesNo.NO, "2": YesNo.NO}
_LANGUAGES = {"1": "de", "2": "en", "deutsch": "de", "english": "en"}


def vocab(minimum_age: int = 16) -> Vocabulary:
    return Vocabulary(
        yes_no=lambda text: _ANSWERS.get(text.strip().casefold()),
        choose_language=lambda text: _LANGUAGES.get(text.strip().casefold()),
        is_full_text_request=lambda text: text.strip().casefold() == "volltext",
        minimum_age=minimum_age,
        is_question=lambda text: "?" in text,
        is_casual_answer=lambda text: text.strip(" ?").casefold() in {"ja", "ok", "klar"},
    )


def view(state: str, **changes: object) -> IntakeView:
    base = IntakeView(
        intake_id=7,
        state=state,
        language="de",
        minor=False,
        worker_assigned=True,
        has_consultation=False,
        consent_version=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def text(v: IntakeView, said: str, *, minimum_age: int = 16) -> list[Effect]:
    return on_client_text(v, said, vocab(minimum_age), VERSION)


def test_schema_lists_were_found() -> None:
    # Guard for the parser above: the lists are the ones the flow writes into.
    assert {"waiting", "language", "age", "consent", "active", "erase_confirm"} <= set(STATES)
    assert {"given", "declined", "withdrawn", "confirmed"} <= DECISIONS
    assert sorted(METHODS) == ["command", "number", "reaction", "text"]


# --- waiting and language ------------------------------------------------------------------


def test_waiting_client_writes_gets_the_language_menu() -> None:
    assert text(view("waiting", minor=None), "hallo") == [ShowLanguageMenu(), SetState("language")]


def test_language_chosen_then_age_asked() -> None:
    effects = text(view("language", language=None, minor=None), "2")
    assert effects == [SetLanguage("en"), SetState("age"), AskAge()]


def test_language_chosen_without_minimum_age_goes_to_consent() -> None:
    effects = text(view("language", language=None, minor=None), "deutsch", minimum_age=0)
    assert effects == [SetLanguage("de"), SetState("consent"), AskConsent()]


def test_language_chosen_when_age_already_known_goes_to_consent() -> None:
    effects = text(view("language", minor=True), "1")
    assert effects == [SetLanguage("de"), SetState("consent"), AskConsent()]


@pytest.mark.parametrize("said", ["", "klingonisch", "3", "ja"])
def test_language_not_recognised_shows_the_menu_again(said: str) -> None:
    assert text(view("language", minor=None), said) == [Say("intake.language.again"), ShowLanguageMenu()]


def test_after_language() -> None:
    assert after_language(view("language", minor=None), vocab(16)) == [SetState("age"), AskAge()]
    assert after_language(view("language", minor=None), vocab(0)) == [SetState("consent"), AskConsent()]
    assert after_language(view("language", minor=False), vocab(16)) == [SetState("consent"), AskConsent()]


# --- age -----------------------------------------------------------------------------------


def test_age_yes_is_an_adult() -> None:
    effects = text(view("age", minor=None), "ja")
    assert effects == [SetState("consent", minor=False), AskConsent()]


def test_age_no_is_a_minor() -> None:
    effects = text(view("age", minor=None), "2")
    assert effects == [SetState("consent", minor=True), AskConsent()]


@pytest.mark.parametrize("said", ["", "vielleicht", "17"])
def test_age_unclear_asks_again(said: str) -> None:
    assert text(view("age", minor=None), said) == [Say("intake.age.again"), AskAge()]


# --- consent -------------------------------------------------------------------------------


def test_consent_yes_adult_with_worker_opens_the_room() -> None:
    effects = text(view("consent", worker_assigned=True), "ja")
    assert effects == [Record("client", "given", "text"), SetState("active"), OpenConsultation()]


@pytest.mark.parametrize(("said", "method"), [("1", "number"), ("1.", "number"), ("ja", "text")])
def test_consent_method_is_recorded(said: str, method: str) -> None:
    assert text(view("consent"), said)[0] == Record("client", "given", method)


def test_consent_yes_without_worker_waits_and_tells_the_team() -> None:
    effects = text(view("consent", worker_assigned=False), "ja")
    assert effects == [
        Record("client", "given", "text"),
        SetState("active"),
        Say("intake.consent.waiting_for_worker"),
        NotifyWorker("notify.ready_unclaimed"),
    ]
    assert OpenConsultation() not in effects


def test_consent_yes_with_room_already_open_renews() -> None:
    effects = text(view("consent", has_consultation=True, consent_version="1"), "ja")
    assert effects == [Record("client", "given", "text"), SetState("active"), Say("intake.consent.renewed")]


@pytest.mark.parametrize("worker", [True, False])
def test_consent_yes_minor_waits_for_the_guardian(worker: bool) -> None:
    effects = text(view("consent", minor=True, worker_assigned=worker), "ja")
    assert effects == [
        Record("client", "given", "text"),
        SetState("guardian"),
        Say("intake.guardian.pending"),
        NotifyWorker("notify.guardian_needed"),
    ]
    assert OpenConsultation() not in effects
    assert SetState("active") not in effects


@pytest.mark.parametrize(("said", "method"), [("nein", "text"), ("2", "number")])
@pytest.mark.parametrize("worker", [True, False])
def test_consent_no_is_declined(said: str, method: str, worker: bool) -> None:
    effects = text(view("consent", worker_assigned=worker), said)
    assert effects == [
        Record("client", "declined", method),
        SetState("declined"),
        Say("intake.declined"),
        NotifyWorker("notify.declined"),
    ]
    assert OpenConsultation() not in effects


@pytest.mark.parametrize("said", ["", "vielleicht", "ja nein", "3", "ja?", "ok?", "klar"])
def test_consent_unclear_is_asked_again_gently(said: str) -> None:
    effects = text(view("consent"), said)
    assert effects == [AskConsentAgain()]


@pytest.mark.parametrize("said", ["was heißt das?", "ja, aber was passiert mit meinen Fotos?"])
def test_a_question_before_consent_goes_to_a_person_and_the_question_stays_open(said: str) -> None:
    effects = text(view("consent"), said)
    assert effects == [Say("intake.consent.question_forwarded"), ForwardQuestion(said)]


def test_consent_full_text_on_request() -> None:
    assert text(view("consent"), "Volltext") == [ShowFullNotice(), AskConsent()]


# --- guardian, declined, withdrawn ---------------------------------------------------------


@pytest.mark.parametrize("said", ["ja", "nein", "hallo"])
def test_guardian_pending_whatever_is_written(said: str) -> None:
    assert text(view("guardian", minor=True), said) == [Say("intake.guardian.pending")]


@pytest.mark.parametrize("state", ["declined", "withdrawn"])
def test_writing_again_after_no_or_withdrawal_asks_again(state: str) -> None:
    effects = text(view(state), "hallo")
    assert effects == [Say("intake.ask_again"), SetState("consent"), AskConsent()]


def test_guardian_confirmation() -> None:
    effects = on_guardian_confirmed(view("guardian", minor=True, consent_version=VERSION))
    assert effects == [Record("guardian", "confirmed", "command"), SetState("active"), OpenConsultation()]


@pytest.mark.parametrize("state", [s for s in STATES if s != "guardian"])
def test_guardian_confirmation_only_while_waiting_for_it(state: str) -> None:
    assert on_guardian_confirmed(view(state, minor=True)) == []


# --- active --------------------------------------------------------------------------------


def test_active_with_room_points_to_the_room() -> None:
    v = view("active", has_consultation=True, consent_version=VERSION)
    assert text(v, "hallo?") == [Say("intake.active.hint")]


def test_active_without_room_is_still_waiting_for_a_worker() -> None:
    v = view("active", worker_assigned=False, consent_version=VERSION)
    assert text(v, "hallo?") == [Say("intake.consent.waiting_for_worker")]


@pytest.mark.parametrize("old", ["1", None])
def test_active_after_a_version_bump_asks_again(old: str | None) -> None:
    v = view("active", has_consultation=True, consent_version=old)
    assert text(v, "hallo") == [Say("intake.notice_changed"), SetState("consent"), AskConsent()]


def test_worker_assigned_opens_the_room_once_consent_is_there() -> None:
    assert on_worker_assigned(view("active", consent_version=VERSION)) == [OpenConsultation()]
    assert on_worker_assigned(view("active", has_consultation=True)) == []
    for state in STATES:
        if state != "active":
            assert on_worker_assigned(view(state)) == [], state


# --- reactions -----------------------------------------------------------------------------


def test_reaction_yes_in_consent() -> None:
    effects = on_reaction(view("consent"), YesNo.YES)
    assert effects == [Record("client", "given", "reaction"), SetState("active"), OpenConsultation()]


def test_reaction_no_in_consent() -> None:
    effects = on_reaction(view("consent"), YesNo.NO)
    assert effects[:2] == [Record("client", "declined", "reaction"), SetState("declined")]
    assert NotifyWorker("notify.declined") in effects


@pytest.mark.parametrize("state", [s for s in STATES if s != "consent"])
@pytest.mark.parametrize("answer", list(YesNo))
def test_reaction_counts_only_in_consent(state: str, answer: YesNo) -> None:
    assert on_reaction(view(state), answer) == []


# --- withdrawal ----------------------------------------------------------------------------


def test_withdraw_asks_once_before_it_closes_anything() -> None:
    effects = on_withdraw(view("active", has_consultation=True, consent_version=VERSION))
    assert effects == [SetPending("withdraw"), Say("withdraw.confirm")]


@pytest.mark.parametrize("said", ["nein", "hallo", "", "ok"])
def test_withdraw_not_confirmed_changes_nothing(said: str) -> None:
    v = view("active", has_consultation=True, consent_version=VERSION, pending="withdraw")
    assert text(v, said) == [SetPending(None), Say("withdraw.cancelled")]


def test_withdraw_confirmed_with_yes_or_the_command_again() -> None:
    v = view("active", has_consultation=True, consent_version=VERSION, pending="withdraw")
    assert text(v, "ja") == on_withdraw(v)
    assert Record("client", "withdrawn", "command") in on_withdraw(v)


def test_withdraw_from_active_closes_the_room() -> None:
    effects = on_withdraw(view("active", has_consultation=True, consent_version=VERSION, pending="withdraw"))
    assert effects == [
        SetPending(None),
        Record("client", "withdrawn", "command"),
        SetState("withdrawn"),
        CloseConsultation(),
        Say("withdraw.done"),
        NotifyWorker("notify.withdrawn"),
    ]


def test_withdraw_without_a_room() -> None:
    effects = on_withdraw(view("active", consent_version=VERSION, pending="withdraw"))
    assert CloseConsultation() not in effects
    assert effects[1:3] == [Record("client", "withdrawn", "command"), SetState("withdrawn")]


def test_withdraw_while_waiting_for_the_guardian() -> None:
    effects = on_withdraw(view("guardian", minor=True, consent_version=VERSION, pending="withdraw"))
    assert effects[1:3] == [Record("client", "withdrawn", "command"), SetState("withdrawn")]


def test_withdraw_while_asked_again_after_a_version_bump() -> None:
    # The old consent is still in force until the client answers: it can be withdrawn.
    effects = on_withdraw(view("consent", has_consultation=True, consent_version="1", pending="withdraw"))
    assert Record("client", "withdrawn", "command") in effects
    assert CloseConsultation() in effects


@pytest.mark.parametrize("state", ["waiting", "language", "age", "consent", "declined", "withdrawn"])
def test_nothing_to_withdraw(state: str) -> None:
    assert on_withdraw(view(state, consent_version=None)) == [Say("withdraw.nothing")]


# --- erasure confirmation ------------------------------------------------------------------


@pytest.mark.parametrize("said", ["ja", "1"])
def test_erase_confirmed(said: str) -> None:
    assert text(view("erase_confirm", prior_state="active"), said) == [StartErasure()]


@pytest.mark.parametrize("said", ["nein", "2", "", "doch nicht"])
@pytest.mark.parametrize("prior", ["active", "consent", "declined", "guardian"])
def test_erase_not_confirmed_goes_back(said: str, prior: str) -> None:
    effects = text(view("erase_confirm", prior_state=prior), said)
    assert effects == [Say("erase.cancelled"), SetState(prior)]


def test_erase_not_confirmed_without_prior_state() -> None:
    effects = text(view("erase_confirm", prior_state=None), "nein")
    assert effects == [Say("erase.cancelled"), SetState("withdrawn")]


# --- properties over all states and texts --------------------------------------------------

_VIEWS = st.builds(
    IntakeView,
    intake_id=st.integers(1, 10_000),
    state=st.sampled_from(STATES),
    language=st.sampled_from([None, "de", "en"]),
    minor=st.sampled_from([None, False, True]),
    worker_assigned=st.booleans(),
    has_consultation=st.booleans(),
    consent_version=st.sampled_from([None, "1", VERSION]),
    prior_state=st.sampled_from([None, *STATES]),
    pending=st.sampled_from([None, "withdraw"]),
)
_TEXTS = st.one_of(st.sampled_from([*_ANSWERS, *_LANGUAGES, "volltext", ""]), st.text(max_size=30))


@given(v=_VIEWS, said=_TEXTS, minimum_age=st.sampled_from([0, 16]))
def test_property_client_text_always_gets_an_answer(v: IntakeView, said: str, minimum_age: int) -> None:
    effects = text(v, said, minimum_age=minimum_age)
    assert effects, "the client must never be left without an answer"
    visible = (
        Say,
        ShowLanguageMenu,
        AskAge,
        AskConsent,
        AskConsentAgain,
        ShowFullNotice,
        OpenConsultation,
        StartErasure,
    )
    assert any(isinstance(e, visible) for e in effects)
    for e in effects:
        if isinstance(e, Say):
            assert e.key
        if isinstance(e, SetState):
            assert e.state in STATES
        if isinstance(e, Record):
            assert (e.scope, e.decision, e.method) in {
                (s, d, m) for s in SCOPES for d in DECISIONS for m in METHODS
            }
    # Only an adult's consent, with a worker, opens the room from a client's message.
    if OpenConsultation() in effects:
        assert effects[0] == Record("client", "given", effects[0].method)  # type: ignore[union-attr]
        assert not v.minor and v.worker_assigned and not v.has_consultation


@given(v=_VIEWS, answer=st.sampled_from(list(YesNo)))
def test_property_reactions_outside_consent_do_nothing(v: IntakeView, answer: YesNo) -> None:
    effects = on_reaction(v, answer)
    assert (effects != []) == (v.state == "consent")
    if effects:
        assert effects[0].method == "reaction"  # type: ignore[union-attr]

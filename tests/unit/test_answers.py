"""bot/consent/answers.py: a yes or a no from what a person types or taps, in their language."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.consent.answers import (
    NO_EMOJI,
    YES_EMOJI,
    YesNo,
    is_question,
    matches_any,
    normalize,
    parse_yes_no,
    reaction_answer,
    word_set,
)
from bot.i18n import Catalog

CATALOG = Catalog("de")


def words(language: str, key: str) -> frozenset[str]:
    return word_set(CATALOG.text(language, key))


DE_YES, DE_NO = words("de", "answer.yes"), words("de", "answer.no")
EN_YES, EN_NO = words("en", "answer.yes"), words("en", "answer.no")

YES, NO = YesNo.YES, YesNo.NO


def de(text: str) -> YesNo | None:
    return parse_yes_no(text, DE_YES, DE_NO)


def en(text: str) -> YesNo | None:
    return parse_yes_no(text, EN_YES, EN_NO)


def test_word_sets_come_from_the_catalog() -> None:
    # Guard for the fixtures: the catalog has the words these tests rely on.
    assert {"ja", "nein", "no"} <= DE_YES | DE_NO
    assert "ja" in DE_YES and "nein" in DE_NO
    assert "yes" in EN_YES and "no" in EN_NO
    assert not DE_YES & DE_NO
    assert not EN_YES & EN_NO


def test_word_set_normalises_entries() -> None:
    assert word_set(" Ja , NÖ,,  Ich  stimme zu!, ") == {"ja", "no", "ich stimme zu"}
    assert word_set(["Yes.", "", "  "]) == {"yes"}


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("ja", YES),
        ("JA.", YES),
        (" Ja! ", YES),
        ("Ja 👍", YES),
        ("ＪＡ", YES),  # full-width letters from some phone keyboards
        ("1", YES),
        ("1.", YES),
        ("１", YES),  # full-width digit
        ("2", NO),
        ("2.", NO),
        ("nein", NO),
        ("Nein.", NO),
        ("Nö!", NO),
        ("nee", NO),
        ("✅", YES),
        ("👍🏿 ja", YES),  # the word decides; the thumb adds nothing
        ("✔️", YES),  # with emoji variation selector
        ("❌", NO),
        ("nein ❌", NO),
        ("Ich bin einverstanden.", YES),
        ("ja, ich bin einverstanden", YES),
        ("„Ja“", YES),
        ("(ja)", YES),
        ("*ja*", YES),
        ("ja…", YES),
    ],
)
def test_german_answers(text: str, answer: YesNo) -> None:
    assert de(text) is answer


@pytest.mark.parametrize(
    "text",
    [
        "ja ❌",  # contradicts itself
        "ja 👎",
        "✅❌",
        "👍 👎",
        "vielleicht",
        "ja vielleicht",
        "",
        "   ",
        "\n\t",
        "?",
        "3",
        "12",
        "jaein",
        "ja nein",
        "nein ja",
    ],
)
def test_no_answer_in_german(text: str) -> None:
    assert de(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "ja?",
        "Ja ?",
        "¿ja?",
        "ja؟",
        "ok",
        "ok?",
        "OK 👍",
        "klar",
        "klar?",
        "jo",
        "j",
        "y",
        "👍",
        "👍🏽",
        "🆗",
        "ja??",
    ],
)
def test_a_question_or_a_casual_word_is_not_consent(text: str) -> None:
    """Explicit consent (GDPR Art. 9(2)(a)): asking back, "ok" and a thumb are not a yes."""
    assert de(text) is None


@pytest.mark.parametrize("text", ["yes?", "y", "ok", "sure", "OK 👍", "yeah", "👍"])
def test_a_question_or_a_casual_word_is_not_consent_in_english(text: str) -> None:
    assert en(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "\tja\t",
        "\u00a0ja\u00a0",  # non-breaking spaces
        "\u2003ja\u3000",  # em space, ideographic space
        "ja\u200d",  # zero-width joiner
        "j\u200da",
        "\u200bja\u200b",  # zero-width space
        "\ufeffja",  # byte order mark / zero-width no-break space
        "ja\r\n",
    ],
)
def test_odd_whitespace_is_ignored(text: str) -> None:
    assert de(text) is YES


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("ja\u0301", YES),  # combining acute accent
        ("já", YES),  # precomposed
        ("JÄ", YES),
        ("no\u0308", NO),  # "nö" with a combining diaeresis
        ("nö", NO),
        ("NEİN", NO),  # Turkish dotted capital I (casefolds with a combining dot)
    ],
)
def test_accents_and_combining_marks(text: str, answer: YesNo) -> None:
    assert de(text) is answer


@pytest.mark.parametrize("text", ["yes", "Yes!", "I agree", "i consent", "nope", "nah", "decline"])
def test_english_words_are_not_german_answers(text: str) -> None:
    assert en(text) is not None, "guard: the word is an English answer"
    assert de(text) is None


@pytest.mark.parametrize("text", ["ja", "JA!", "ich stimme zu", "einverstanden", "nein", "nee", "ablehnen"])
def test_german_words_are_not_english_answers(text: str) -> None:
    assert de(text) is not None, "guard: the word is a German answer"
    assert en(text) is None


@pytest.mark.parametrize(("text", "answer"), [("Yes 👍", YES), ("YES.", YES), ("no", NO), ("No!", NO)])
def test_english_answers(text: str, answer: YesNo) -> None:
    assert en(text) is answer


@pytest.mark.parametrize(("text", "answer"), [("1", YES), ("2", NO), ("✅", YES), ("❌", NO)])
def test_numbers_and_emoji_work_in_every_language(text: str, answer: YesNo) -> None:
    assert de(text) is answer
    assert en(text) is answer
    assert parse_yes_no(text, frozenset(), frozenset()) is answer


def test_markdown_underscore_emphasis_is_a_yes() -> None:
    assert de("_ja_") is YES


# --- reactions -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [*sorted(YES_EMOJI), "✔️", "✅\ufe0f", " ✅ "])
def test_reaction_yes(key: str) -> None:
    assert reaction_answer(key) is YES


@pytest.mark.parametrize("key", [*sorted(NO_EMOJI), "👎🏾", "❌\ufe0f"])
def test_reaction_no(key: str) -> None:
    assert reaction_answer(key) is NO


@pytest.mark.parametrize("key", ["", "❤️", "😀", "ja", "yes", "1", "👍👎", "✅ ❌", "👍👍"])
def test_reaction_other(key: str) -> None:
    assert reaction_answer(key) is None


def test_emoji_sets_are_disjoint() -> None:
    assert not YES_EMOJI & NO_EMOJI


# --- helpers -------------------------------------------------------------------------------


def test_normalize() -> None:
    assert normalize("  Ich   STIMME\tzu!! ") == "ich stimme zu"
    assert normalize("ＦＵＬＬ\u00a0Text") == "full text"
    assert normalize("Volltext.") == "volltext"


def test_matches_any() -> None:
    full = words("de", "answer.full_text")
    assert matches_any(" Volltext! ", full)
    assert matches_any("GANZER  TEXT", full)
    assert not matches_any("volltext bitte nicht", full)


# --- properties ----------------------------------------------------------------------------


@given(st.text(max_size=200))
@example("\ud7ff")
@example("\u0000ja")
@example("👍" * 50 + "❌")
def test_property_never_raises(text: str) -> None:
    for yes, no in ((DE_YES, DE_NO), (EN_YES, EN_NO), (frozenset(), frozenset())):
        assert parse_yes_no(text, yes, no) in (YES, NO, None)
    assert reaction_answer(text) in (YES, NO, None)


def _wrapping_char(ch: str) -> bool:
    # Punctuation (connector punctuation such as "_" included) and white space.
    category = unicodedata.category(ch)
    return category[0] in "PZ" or ch in "\t\n\r"


# A question mark makes any answer a question ("ja?"): tested on its own above.
_WRAP = st.text(
    alphabet=st.characters(categories=["P", "Z", "Cc"]).filter(
        lambda ch: _wrapping_char(ch) and not is_question(ch)
    ),
    max_size=5,
)


@given(before=_WRAP, word=st.sampled_from(sorted(DE_YES)), after=_WRAP)
def test_property_punctuation_around_a_yes_word_keeps_yes(before: str, word: str, after: str) -> None:
    assert de(before + word + after) is YES
    assert de(before + word.upper() + after) is YES


@given(before=_WRAP, word=st.sampled_from(sorted(EN_NO)), after=_WRAP)
def test_property_punctuation_around_a_no_word_keeps_no(before: str, word: str, after: str) -> None:
    assert en(before + word + after) is NO


@given(st.sampled_from(sorted(DE_YES)), st.sampled_from(sorted(NO_EMOJI)))
def test_property_yes_word_with_no_emoji_is_no_answer(word: str, emoji: str) -> None:
    assert de(f"{word} {emoji}") is None
